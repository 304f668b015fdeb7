// Two-step verification in a real browser (headless Chromium, driven by playwright-core): guest
// signs in to the account page, sets up an authenticator app (the QR code and the typed-in
// secret, confirmed with a code computed here by an RFC 6238 implementation of our own, and the
// password), is shown the recovery codes, then signs in again in a fresh browser and is asked
// for the code after the password. Screenshots of each page go to OUT_DIR.
//
// Usage: node two_step.mjs ISSUER PASSWORD OUT_DIR
import { createHmac } from "node:crypto";
import { fail, launch, screenshots, submit } from "./support.mjs";

const [issuer, password, outDir] = process.argv.slice(2);
const shot = screenshots(outDir);

// RFC 4648 base32 without padding, decoded.
function base32(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of text.replace(/\s/g, "")) {
    const value = alphabet.indexOf(char);
    if (value < 0) fail(`not base32: ${text}`);
    bits += value.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

// The RFC 6238 code (SHA-1, 6 digits, 30-second steps) of `secret` at Unix time `seconds`.
function totp(secret, seconds) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / 30)));
  const digest = createHmac("sha1", secret).update(counter).digest();
  const offset = digest[digest.length - 1] & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}

async function signIn(page) {
  await page.goto(`${issuer}/account`);
  await page.waitForSelector('input[name="username"]');
  await page.fill("#username", "guest");
  await page.fill("#password", password);
  await submit(page, 'button:has-text("Sign in")');
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  await signIn(page);
  await page.waitForSelector("text=Set up an authenticator app");
  await submit(page, "text=Set up an authenticator app");
  await page.waitForSelector("figure svg");
  const secret = base32(await page.textContent("#totp-secret"));
  await shot(page, "two-step-setup", "two-step: the QR code and the secret to type in");
  const now = Date.now() / 1000;
  await page.fill("#code", totp(secret, now));
  await page.fill("#current_password", password);
  await submit(page, 'button:has-text("Confirm")');
  await page.waitForSelector("#recovery-codes");
  const codes = await page.$$eval("#recovery-codes code", (items) => items.length);
  if (codes !== 10) fail(`expected 10 recovery codes, saw ${codes}`);
  await shot(page, "two-step-recovery-codes", "two-step: the recovery codes, shown once");

  // A fresh browser: the password is not enough any more.
  const fresh = await (await browser.newContext({ viewport: { width: 900, height: 700 } })).newPage();
  await signIn(fresh);
  await fresh.waitForSelector('input[autocomplete="one-time-code"]');
  await shot(fresh, "two-step-code", "two-step: the code is asked for after the password");
  // The next step's code: the setup used this one, and a code is good once.
  await fresh.fill("#code", totp(secret, Date.now() / 1000 + 30));
  await submit(fresh, 'button:has-text("Verify")');
  await fresh.waitForSelector("h1:has-text('Your account')");
  if (!(await fresh.isVisible("text=On: sign-in asks for a code")))
    fail("the account page does not show two-step verification on");
  await shot(fresh, "two-step-account", "two-step: signed in with both factors");
} finally {
  await browser.close();
}
