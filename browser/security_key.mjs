// A security key without a PIN under `auth.passkey_user_verification = "preferred"`, in headless
// Chromium with a virtual authenticator (a FIDO U2F key over USB: no user verification, no
// discoverable credentials):
// testuser adds it on the account page, signs out, signs in with the password and the key as the
// second factor (amr pwd swk user mfa: possession, no `pin`), signs out again, and the key alone
// cannot sign in (a sign-in with a passkey alone always needs user verification). Screenshots go
// to OUT_DIR.
//
// Usage: node security_key.mjs ISSUER PASSWORD OUT_DIR   (a stack with that policy, on a domain)
import { fail, launch, screenshots, submit } from "./support.mjs";

const [issuer, password, outDir] = process.argv.slice(2);
const shot = screenshots(outDir);

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "u2f",
      transport: "usb",
      hasResidentKey: false,
      hasUserVerification: false,
      automaticPresenceSimulation: true,
    },
  });
  const sessionMethods = async () =>
    (await page.textContent("#sessions li:has-text('(this browser)') code")) ?? "";
  const signInWithPassword = async () => {
    await page.goto(`${issuer}/account`);
    await page.waitForSelector('input[name="username"]');
    await page.fill("#username", "testuser");
    await page.fill("#password", password);
    await submit(page, 'button:has-text("Sign in")');
  };

  // 1. The key is added on the account page although it cannot verify the user.
  await signInWithPassword();
  await page.waitForSelector("#passkeys:not([hidden])");
  await page.fill("#passkey-name", "Security key");
  await page.fill("#passkey-password", password);
  await page.click("#passkey-add");
  const added = page.waitForSelector("#passkey-list >> text=Security key");
  const refused = page.waitForSelector("#passkey-status:not(:empty)");
  if ((await Promise.race([added.then(() => null), refused])) !== null)
    fail(`the key without a PIN was not added: ${await page.textContent("#passkey-status")}`);
  await shot(page, "security-key-added", "security key: added without a PIN (user verification preferred)");

  // 2. Password, then the key as the second factor: possession proven, the user not verified.
  await context.clearCookies();
  await signInWithPassword();
  await page.waitForSelector("#passkey-verify");
  await Promise.all([page.waitForURL(`${issuer}/account`), page.click("#passkey-verify")]);
  await page.waitForSelector("h1:has-text('Your account')");
  const methods = await sessionMethods();
  if (methods !== "pwd swk user mfa")
    fail(`a key without a PIN after the password should show pwd swk user mfa: ${methods}`);
  await shot(page, "security-key-second-factor", "security key: the second factor (amr pwd swk user mfa)");

  // 3. The key alone does not sign in: that always needs user verification.
  await context.clearCookies();
  await page.goto(`${issuer}/signin`);
  await page.waitForSelector("#passkey-sign-in");
  await page.click("#passkey-sign-in");
  await page.waitForSelector("#passkey-status:has-text('did not work')");
  if (!page.url().startsWith(`${issuer}/signin`)) fail(`the key alone signed in: ${page.url()}`);
  await shot(page, "security-key-alone-refused", "security key: cannot sign in alone without user verification");
} finally {
  await browser.close();
}
