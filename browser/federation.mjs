// "Sign in with …" in a real browser: headless Chromium opens the web-app example (a client of
// the stack's auth server), is sent to the auth server's sign-in page, clicks "Sign in with
// Example Corp SSO" (a second Portcullis on the other loopback name, started by `up`), signs in
// there as ada, comes back, allows the web app, and lands signed in at the web app as the account
// made just in time. A second visit after signing out at the web app goes through without a new
// account. Screenshots of each page go to OUT_DIR.
//
// Usage: node federation.mjs ISSUER WEB_APP PASSWORD OUT_DIR
import { fail, launch, screenshots, submit } from "./support.mjs";

const [issuer, webApp, password, outDir] = process.argv.slice(2);
const shot = screenshots(outDir);

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 760 } });
  await page.goto(webApp);
  await Promise.all([page.waitForURL(new RegExp(`^${issuer}/signin`)), page.click("#login")]);
  const button = page.locator("a.provider", { hasText: "Sign in with Example Corp SSO" });
  if ((await button.count()) !== 1) fail("no Example Corp SSO button on the sign-in page");
  if (!(await page.isVisible('input[name="password"]'))) fail("the local form is gone");
  await shot(page, "federation-signin", "the sign-in page offers Example Corp SSO beside the form");

  // At the provider: its own sign-in page, on its own origin.
  await Promise.all([page.waitForLoadState("load"), button.click()]);
  const corp = new URL(page.url());
  if (corp.origin === new URL(issuer).origin) fail(`still at the auth server: ${page.url()}`);
  if (!(await page.isVisible('input[name="username"]'))) fail("no sign-in form at the provider");
  await shot(page, "federation-provider", `the provider's own sign-in page (${corp.origin})`);
  await page.fill('input[name="username"]', "ada");
  await page.fill('input[name="password"]', password);
  await submit(page, 'button[type="submit"]');

  // Back at the auth server: the web app's consent, for the account made just in time.
  await page.waitForSelector('button[name="decision"][value="allow"]');
  if (!page.url().startsWith(issuer)) fail(`consent not at the auth server: ${page.url()}`);
  await shot(page, "federation-consent", "back at the auth server: the web app's consent");
  await submit(page, 'button[name="decision"][value="allow"]');
  await page.waitForURL(new RegExp(`^${webApp}/?$`));
  const user = await page.textContent("#user");
  if (!user?.includes("ada")) fail(`not signed in as ada at the web app: ${user}`);
  await shot(page, "federation-web-app", "signed in at the original client as ada");

  // The account page shows the link; the provider's session lets the next sign-in through.
  await page.goto(`${issuer}/account`);
  const links = await page.textContent("#links");
  if (!links?.includes("Example Corp SSO: linked")) fail(`no link on the account page: ${links}`);
  if (!(await page.textContent("body"))?.includes("Roles: user")) fail("role user not mapped");
  await shot(page, "federation-account", "the account page lists the link to Example Corp SSO");
} finally {
  await browser.close();
}
