// The admin console in a real browser (headless Chromium, driven by playwright-core): testuser
// (role admin) signs in through Portcullis's own sign-in, creates a user and a client, rotates
// the client's secret, revokes a session and reads the audit log; guest (role user) is refused.
// Screenshots of each page go to OUT_DIR.
//
// Usage: node console.mjs ADMIN_URL PASSWORD OUT_DIR
import { fail, launch, screenshots, submit } from "./support.mjs";

const [admin, password, outDir] = process.argv.slice(2);
const shot = screenshots(outDir);

async function signIn(browser, username) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${admin}/console/users`);
  await page.waitForSelector('input[name="password"]');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  await submit(page, 'button[type="submit"]');
  return { context, page };
}

const browser = await launch();
try {
  const refused = await signIn(browser, "guest");
  await refused.page.waitForSelector("text=Only administrators and auditors");
  await shot(refused.page, "console-refused", "console: a non-admin is refused");

  const { page } = await signIn(browser, "testuser");
  await page.waitForSelector("h1:has-text('Users')");
  if (!(await page.isVisible("text=guest"))) fail("the users page does not list guest");
  await shot(page, "console-users", "console: users");

  await page.fill("#username", "carol");
  await page.fill("#email", "carol@example.com");
  await page.fill("#roles", "user");
  await page.fill("#password", "correct horse battery staple");
  await submit(page, "text=Create user");
  await page.waitForSelector("h1:has-text('User carol')");
  await shot(page, "console-user", "console: a new user");

  await page.goto(`${admin}/console/clients`);
  await page.fill("#id", "billing");
  await page.fill("#grants", "client_credentials");
  await page.fill("#scopes", "products:read");
  await submit(page, "button:has-text(\"Register\")");
  await page.waitForSelector(".secret");
  await shot(page, "console-client", "console: a client's secret, shown once");
  await page.goto(`${admin}/console/clients/billing`);
  await submit(page, "text=Rotate secret");
  await page.waitForSelector("h1:has-text('Are you sure?')");
  await submit(page, "text=Yes, do it");
  await page.waitForSelector("h1:has-text('Secret rotated')");
  await shot(page, "console-rotated", "console: the rotated secret");

  // Revoke guest's session (left by guest's refused sign-in above): revoking testuser's own
  // session would, rightly, sign the console out.
  await page.goto(`${admin}/console/sessions`);
  const before = await page.locator("tbody tr").count();
  const guestRow = "tbody tr:has-text('guest')";
  if ((await page.locator(guestRow).count()) < 1) fail("guest's session is not listed");
  await submit(page, `${guestRow} >> text=Revoke`);
  await submit(page, "text=Yes, do it");
  await page.waitForSelector("h1:has-text('Sessions')");
  const after = await page.locator("tbody tr").count();
  if (after !== before - 1) fail(`revoking left ${after} of ${before} sessions`);
  if ((await page.locator(guestRow).count()) !== 0) fail("guest's session is still listed");
  await shot(page, "console-sessions", "console: a session revoked");

  await page.goto(`${admin}/console/audit?kind=admin_action`);
  for (const action of ["user.create", "client.create", "client.rotate_secret", "session.revoke"]) {
    if (!(await page.isVisible(`text=${action}`))) fail(`the audit log lacks ${action}`);
  }
  await shot(page, "console-audit", "console: the audit log");

} finally {
  await browser.close();
}
