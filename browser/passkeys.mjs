// Passkeys in a real browser (headless Chromium through playwright-core) with a virtual WebAuthn
// authenticator (the DevTools protocol's WebAuthn domain: CTAP2, internal, resident keys, user
// verification): testuser signs in with the password and adds a passkey on the account page,
// signs out, is signed in with the passkey alone by the sign-in page's autofill (conditional
// mediation: no username, no password, no click), signs out again, and signs in with the
// password, then the passkey as the second factor. The account page's session
// list shows how each session signed in (RFC 8176 amr). Last, a security key that cannot verify
// the user cannot be added (the default policy requires it). Screenshots go to OUT_DIR.
//
// Usage: node passkeys.mjs ISSUER PASSWORD OUT_DIR   (ISSUER on a domain name, e.g. localhost)
import { fail, launch, screenshots, submit } from "./support.mjs";

const [issuer, password, outDir] = process.argv.slice(2);
const shot = screenshots(outDir);

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  // How this browser's session signed in, as the account page lists it.
  const sessionMethods = async () =>
    (await page.textContent("#sessions li:has-text('(this browser)') code")) ?? "";

  // 1. Password sign-in, then a passkey added on the account page.
  await page.goto(`${issuer}/account`);
  await page.waitForSelector("#passkey-sign-in");
  await shot(page, "passkey-signin", "passkeys: the sign-in page offers a passkey and the autofill");
  await page.fill("#username", "testuser");
  await page.fill("#password", password);
  await submit(page, 'button:has-text("Sign in")');
  await page.waitForSelector("#passkeys:not([hidden])");
  await page.fill("#passkey-name", "Laptop");
  await page.fill("#passkey-password", password);
  await shot(page, "passkey-account", "passkeys: the account page offers to add one");
  await Promise.all([page.waitForURL(`${issuer}/account`), page.click("#passkey-add")]);
  await page.waitForSelector("#passkey-list >> text=Laptop");
  await shot(page, "passkey-added", "passkeys: one registered, named Laptop");

  // 2. Signed out, then in with the passkey alone: the sign-in page asks the browser for
  // passkeys through the username's autofill (conditional mediation), and the virtual
  // authenticator answers at once, so the page signs in without a click, username or password.
  await context.clearCookies();
  await page.goto(`${issuer}/account`);
  if (!page.url().startsWith(`${issuer}/account`)) await page.waitForURL(`${issuer}/account`);
  await page.waitForSelector("h1:has-text('Your account')");
  const passwordless = await sessionMethods();
  if (passwordless !== "swk user pin mfa")
    fail(`the passwordless session should show swk user pin mfa: ${passwordless}`);
  await shot(page, "passkey-passwordless", "passkeys: signed in with no password (amr swk user pin mfa)");

  // 3. Signed out, then the password and the passkey as the second factor. The authenticator
  // stops answering by itself meanwhile, so the autofill waits instead of signing in.
  const presence = (enabled) =>
    cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled });
  await presence(false);
  await context.clearCookies();
  await page.goto(`${issuer}/account`);
  await page.waitForSelector('input[name="username"]');
  await page.fill("#username", "testuser");
  await page.fill("#password", password);
  await submit(page, 'button:has-text("Sign in")');
  await page.waitForSelector("#passkey-verify");
  await shot(page, "passkey-second-factor", "passkeys: asked for after the password");
  await presence(true);
  await Promise.all([page.waitForURL(`${issuer}/account`), page.click("#passkey-verify")]);
  await page.waitForSelector("h1:has-text('Your account')");
  const both = await sessionMethods();
  if (both !== "pwd swk user pin mfa")
    fail(`the second-factor session should show pwd swk user pin mfa: ${both}`);
  await shot(page, "passkey-two-factors", "passkeys: signed in with the password and a passkey");

  // 4. User verification is required by default: a security key that cannot verify the user
  // (no PIN, no biometric) cannot be added.
  await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "usb",
      hasResidentKey: true,
      hasUserVerification: false,
      automaticPresenceSimulation: true,
    },
  });
  await page.fill("#passkey-name", "Key without PIN");
  await page.fill("#passkey-password", password);
  await page.click("#passkey-add");
  await page.waitForSelector("#passkey-status:has-text('did not work')");
  if (await page.isVisible("#passkey-list >> text=Key without PIN"))
    fail("a key without user verification was added under the required policy");
  await shot(page, "passkey-no-pin-refused", "passkeys: a key without a PIN is refused (user verification required)");
} finally {
  await browser.close();
}
