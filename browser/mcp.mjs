// The official MCP TypeScript SDK's client (npm @modelcontextprotocol/sdk), unmodified, against
// the MCP example server behind `portcullis up`'s gateway. Given nothing but the server's URL it
// is refused (401), reads the protected resource metadata (RFC 9728) named in the challenge,
// then the auth server's metadata (RFC 8414), registers itself (RFC 7591), and sends the user to
// the authorization endpoint with PKCE and `resource` (RFC 8707): headless Chromium signs in as
// testuser and allows it; the SDK redeems the code at its loopback callback and calls the tools.
// Tokens and the registration are kept in STORE, as an MCP client keeps them between runs.
//
// Usage: node mcp.mjs GATEWAY PASSWORD OUT_DIR STORE first|again|refresh
//   first   — the whole sign-in, in the browser;
//   again   — a second run: the stored access token is used, no browser;
//   refresh — the stored access token is made unusable first: the SDK refreshes it with the
//             stored refresh token (rotated), still without a browser.
import http from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { fail, launch, screenshots, submit } from "./support.mjs";

const [gateway, password, outDir, storePath, mode] = process.argv.slice(2);
const shot = screenshots(outDir);
const mcpUrl = new URL(`${gateway}/mcp`);

const load = () => {
  try {
    return JSON.parse(readFileSync(storePath, "utf8"));
  } catch {
    return {};
  }
};
const save = (patch) => writeFileSync(storePath, JSON.stringify({ ...load(), ...patch }, null, 2));

// The OAuth redirect lands here (a loopback redirect URI, RFC 8252 §7.3).
let receiveCode;
const codeArrived = new Promise((resolve, reject) => {
  receiveCode = { resolve, reject };
});
const callback = http.createServer((request, response) => {
  const url = new URL(request.url, "http://127.0.0.1");
  const code = url.searchParams.get("code");
  response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  response.end(`<!doctype html><title>MCP client</title><h1 id="result">${code ? "Signed in" : "Refused"}</h1>`);
  if (code) receiveCode.resolve(code);
  else receiveCode.reject(new Error(`authorization refused: ${url.searchParams.get("error")}`));
});
await new Promise((resolve) => callback.listen(0, "127.0.0.1", resolve));
const redirectUrl = `http://127.0.0.1:${callback.address().port}/callback`;

let authorizationUrl;
/** The SDK's OAuthClientProvider, keeping everything in STORE. */
const provider = {
  get redirectUrl() {
    return redirectUrl;
  },
  get clientMetadata() {
    return {
      client_name: "MCP SDK client (Portcullis CI)",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  clientInformation: () => load().client,
  saveClientInformation: (client) => save({ client }),
  tokens: () => load().tokens,
  saveTokens: (tokens) => save({ tokens }),
  redirectToAuthorization: (url) => {
    authorizationUrl = url;
  },
  saveCodeVerifier: (verifier) => save({ verifier }),
  codeVerifier: () => load().verifier,
  invalidateCredentials: (scope) => {
    const stored = load();
    if (scope === "all" || scope === "client") delete stored.client;
    if (scope === "all" || scope === "tokens") delete stored.tokens;
    writeFileSync(storePath, JSON.stringify(stored, null, 2));
  },
};

const newTransport = () => new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
const connect = async (transport) => {
  const client = new Client({ name: "portcullis-ci", version: "1.0.0" });
  await client.connect(transport);
  return client;
};

/** Chromium signs in at the authorization URL the SDK chose, and allows the client. */
const signInInBrowser = async (url) => {
  if (url.searchParams.get("code_challenge_method") !== "S256") fail(`no PKCE: ${url}`);
  if (url.searchParams.get("resource") !== mcpUrl.href) fail(`no resource indicator: ${url}`);
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 760 } });
    await page.goto(url.href);
    if (!(await page.isVisible('input[name="password"]'))) fail("no sign-in form");
    await page.fill('input[name="username"]', "testuser");
    await page.fill('input[name="password"]', password);
    await shot(page, "mcp-signin", "MCP client: the sign-in page its authorization URL opened");
    await submit(page, 'button[type="submit"]');
    await page.waitForSelector('button[name="decision"][value="allow"]');
    const consent = await page.textContent("main");
    if (!consent.includes("MCP SDK client (Portcullis CI)")) fail(`consent page: ${consent}`);
    if (!consent.includes("a program on this computer")) fail(`no loopback warning: ${consent}`);
    await shot(page, "mcp-consent", "MCP client: the consent page naming the self-registered client");
    await page.click('button[name="decision"][value="allow"]');
    await page.waitForSelector("#result");
    await shot(page, "mcp-callback", "MCP client: back at its loopback callback");
  } finally {
    await browser.close();
  }
};

const callTools = async (client) => {
  const { tools } = await client.listTools();
  const names = tools.map((tool) => tool.name).sort().join(",");
  if (names !== "list_products,whoami") fail(`tools: ${names}`);
  const whoami = await client.callTool({ name: "whoami", arguments: {} });
  const text = whoami.content?.[0]?.text ?? "";
  if (whoami.isError || !text.includes("You are testuser")) fail(`whoami: ${JSON.stringify(whoami)}`);
  const products = await client.callTool({ name: "list_products", arguments: {} });
  if (products.isError || !products.content?.[0]?.text?.includes("Drawbridge")) {
    fail(`list_products: ${JSON.stringify(products)}`);
  }
  console.log(`ok: ${mode}: tools called through the gateway: ${text}`);
};

try {
  const before = load().tokens;
  if (mode === "refresh") {
    if (!before?.refresh_token) fail("no stored refresh token");
    save({ tokens: { ...before, access_token: "no-longer-valid" } });
  }
  let client;
  const transport = newTransport();
  try {
    client = await connect(transport);
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    if (mode !== "first") fail(`${mode}: the SDK wanted a new sign-in instead of its stored tokens`);
    if (!authorizationUrl) fail("the SDK did not send the user to sign in");
    await signInInBrowser(authorizationUrl);
    // The transport that was refused redeems the code (it knows the metadata it found).
    await transport.finishAuth(await codeArrived);
    client = await connect(newTransport());
  }
  if (mode === "first" && !load().client?.client_id?.startsWith("dyn-")) {
    fail(`not registered dynamically: ${JSON.stringify(load().client)}`);
  }
  await callTools(client);
  const after = load().tokens;
  if (mode === "again" && after.access_token !== before.access_token) {
    fail("again: the stored access token was not reused");
  }
  if (mode === "refresh" && (after.refresh_token === before.refresh_token || after.access_token === "no-longer-valid")) {
    fail("refresh: the tokens were not refreshed and rotated");
  }
  if (mode === "refresh") console.log("ok: refresh: a new access token and a rotated refresh token");
  await client.close();
} catch (error) {
  fail(`${mode}: ${error?.stack ?? error}`);
} finally {
  callback.close();
}
