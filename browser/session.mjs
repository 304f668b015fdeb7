// The gateway as the backend of a browser front end (session mode), in Debian's Chromium: a page
// load of a session route without a token is sent to sign in, comes back signed in, and the
// service behind the gateway sees testuser's identity, while the browser holds only an HttpOnly
// cookie (no token for a script to read). A form on another origin of the same site (the auth
// server's), whose POST carries the SameSite=Lax cookie, is refused; the short-lived access token
// is refreshed before it expires; logout ends the session here and at the auth server, and
// signing out at the auth server ends it here (its back-channel logout token reaches the gateway).
//
// Usage: node session.mjs ISSUER GATEWAY PASSWORD OUT_DIR GATEWAY_METRICS_URL
import { fail, launch, screenshots, submit } from "./support.mjs";

const [issuer, gateway, password, outDir, metricsUrl] = process.argv.slice(2);
const shot = screenshots(outDir);
/** How many browser-session events of `kind` the gateway has counted. */
const sessionEvents = async (kind) => {
  const text = await (await fetch(metricsUrl)).text();
  const line = text
    .split("\n")
    .find((entry) => entry.startsWith(`portcullis_gateway_session_events_total{reason="${kind}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
};
const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 720 } });
  const page = await context.newPage();
  await page.goto(`${gateway}/users/me`);
  if (!page.url().startsWith(`${issuer}/`)) fail(`not sent to sign in: ${page.url()}`);
  await page.waitForSelector('input[name="password"]');
  await shot(page, "session-signin", "the gateway sent the browser to sign in");

  await page.fill('input[name="username"]', "testuser");
  await page.fill('input[name="password"]', password);
  await submit(page, 'button[type="submit"]');
  await page.waitForURL(`${gateway}/users/me`);
  const body = await page.textContent("body");
  const identity = JSON.parse(body);
  if (identity.client_id !== "up-gateway-session" || identity.username !== "testuser") {
    fail(`the service did not get testuser's session identity: ${body}`);
  }
  await shot(page, "session-signed-in", "back at the page, the service sees testuser");

  // The browser holds one opaque HttpOnly cookie, which no script can read.
  const cookies = await context.cookies(gateway);
  const session = cookies.find((cookie) => cookie.name === "portcullis_gw");
  if (!session || !session.httpOnly || session.sameSite !== "Lax" || session.value.startsWith("ey")) {
    fail(`the session cookie is not an opaque HttpOnly Lax cookie: ${JSON.stringify(session)}`);
  }
  const visible = await page.evaluate(() => document.cookie);
  if (visible.includes("portcullis_gw")) fail("a script can read the session cookie");
  const call = await page.evaluate(
    async () => (await fetch("/users/me", { headers: { accept: "application/json" } })).status,
  );
  if (call !== 200) fail(`a same-origin script call with the session got ${call}`);
  console.log("ok: the browser holds only an HttpOnly cookie; same-origin calls pass");

  // The access token lives 35 s and is refreshed 30 s before it expires: by now it is due.
  await new Promise((resolve) => setTimeout(resolve, 6000));
  await page.reload();
  const again = JSON.parse(await page.textContent("body"));
  if (again.username !== "testuser") fail(`after the refresh: ${JSON.stringify(again)}`);
  if ((await sessionEvents("refreshed")) < 1) fail("the gateway did not refresh the token");
  console.log("ok: the session's access token was refreshed before it expired");

  // CSRF: another origin of the same site posts to the gateway; SameSite=Lax lets the cookie
  // through, the Origin check does not.
  const other = await context.newPage();
  await other.goto(`${issuer}/.well-known/openid-configuration`);
  await other.setContent(
    `<form method="post" action="${gateway}/users/me"><button id="go">post</button></form>`,
  );
  await submit(other, "#go");
  const refused = await other.textContent("body");
  if (!refused.includes("access_denied")) fail(`a cross-origin POST was not refused: ${refused}`);
  await shot(other, "session-csrf-refused", "a POST from another origin is refused (403)");

  // Logout: the session ends here and at the auth server, then the browser lands on /public.
  await page.goto(`${gateway}/_portcullis/logout`);
  await page.waitForSelector('button[type="submit"]');
  await shot(page, "session-logout", "the auth server confirms the logout");
  await submit(page, 'button[type="submit"]');
  await page.waitForURL(`${gateway}/public`);
  const left = (await context.cookies(gateway)).find((cookie) => cookie.name === "portcullis_gw");
  if (left) fail("the session cookie survived the logout");
  await page.goto(`${gateway}/users/me`);
  if (!(await page.isVisible('input[name="password"]'))) {
    fail(`after logout the page did not ask to sign in again: ${page.url()}`);
  }
  console.log("ok: logout ended the gateway session and the auth server's");

  // Signing out at the auth server itself ends the gateway session too: the auth server posts a
  // logout token to the gateway (the revocation feed would tell it as well).
  await page.fill('input[name="username"]', "testuser");
  await page.fill('input[name="password"]', password);
  await submit(page, 'button[type="submit"]');
  await page.waitForURL(`${gateway}/users/me`);
  const logoutTokens = await sessionEvents("backchannel_logout");
  await page.goto(`${issuer}/logout`);
  await submit(page, 'button[type="submit"]');
  let signedOut = false;
  for (let attempt = 0; attempt < 20 && !signedOut; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await page.goto(`${gateway}/users/me`);
    signedOut = await page.isVisible('input[name="password"]');
  }
  if (!signedOut) fail("signing out at the auth server left the gateway session working");
  const delivered = async () => (await sessionEvents("backchannel_logout")) > logoutTokens;
  for (let attempt = 0; attempt < 20 && !(await delivered()); attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (!(await delivered())) fail("no logout token reached the gateway");
  await shot(page, "session-ended-at-provider", "signing out at the auth server ended the gateway session");
} finally {
  await browser.close();
}
