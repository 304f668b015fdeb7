// A real browser through the real pages: headless Chromium (Debian's), driven by playwright-core,
// signs in to `portcullis up`, consents, lands on a small local app (the OAuth client, a loopback
// redirect per RFC 8252) that exchanges the code with PKCE and calls a protected route through the
// gateway. Screenshots of the sign-in, consent and final pages go to OUT_DIR for a person to see.
//
// Usage: node signin.mjs ISSUER GATEWAY PASSWORD OUT_DIR
import crypto from "node:crypto";
import http from "node:http";
import { mkdirSync } from "node:fs";
import { fail, launch } from "./support.mjs";

const [issuer, gateway, password, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const base64url = (bytes) => Buffer.from(bytes).toString("base64url");
const verifier = base64url(crypto.randomBytes(32));
const challenge = base64url(crypto.createHash("sha256").update(verifier).digest());
const escape = (text) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
// The client application: receives the code, redeems it, calls the API through the gateway.
const app = http.createServer(async (request, response) => {
  const url = new URL(request.url, "http://127.0.0.1");
  if (url.pathname !== "/callback") {
    response.writeHead(404).end();
    return;
  }
  const tokens = await (
    await fetch(`${issuer}/token`, {
      method: "POST",
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: url.searchParams.get("code") ?? "",
        redirect_uri: redirectUri,
        client_id: "demo-cli",
        code_verifier: verifier,
      }),
    })
  ).json();
  const me = await fetch(`${gateway}/users/me`, {
    headers: { authorization: `Bearer ${tokens.access_token}` },
  });
  const body = await me.text();
  response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  response.end(
    `<!doctype html><title>Signed in</title><h1>Protected route through the gateway</h1>` +
      `<p>status <b id="status">${me.status}</b></p><pre id="body">${escape(body)}</pre>`,
  );
});
await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
const redirectUri = `http://127.0.0.1:${app.address().port}/callback`;

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 720 } });
  const authorize = new URL(`${issuer}/authorize`);
  for (const [name, value] of Object.entries({
    response_type: "code",
    client_id: "demo-cli",
    redirect_uri: redirectUri,
    scope: "openid profile products:read",
    state: base64url(crypto.randomBytes(12)),
    code_challenge: challenge,
    code_challenge_method: "S256",
  })) {
    authorize.searchParams.set(name, value);
  }
  await page.goto(authorize.href);
  if (!(await page.isVisible('input[name="password"]'))) fail("no sign-in form");
  await page.screenshot({ path: `${outDir}/signin.png`, fullPage: true });
  console.log(`ok: sign-in page (${outDir}/signin.png)`);

  await page.fill('input[name="username"]', "testuser");
  await page.fill('input[name="password"]', password);
  await Promise.all([page.waitForLoadState("load"), page.click('button[type="submit"]')]);
  await page.waitForSelector('button[name="decision"][value="allow"]');
  await page.screenshot({ path: `${outDir}/consent.png`, fullPage: true });
  console.log(`ok: consent page (${outDir}/consent.png)`);

  await page.click('button[name="decision"][value="allow"]');
  await page.waitForURL(/\/callback\?/);
  await page.waitForSelector("#status");
  const status = await page.textContent("#status");
  const body = await page.textContent("#body");
  await page.screenshot({ path: `${outDir}/protected.png`, fullPage: true });
  if (status !== "200") fail(`protected route answered ${status}: ${body}`);
  const identity = JSON.parse(body);
  if (identity.client_id !== "demo-cli" || !identity.roles.includes("admin")) {
    fail(`the service did not get testuser's identity: ${body}`);
  }
  console.log(`ok: protected route through the gateway (${outDir}/protected.png)`);
} finally {
  await browser.close();
  app.close();
}
