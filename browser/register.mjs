// Self-service registration in a real browser (headless Chromium, driven by playwright-core):
// a visitor asks for their account page, is sent to sign in, follows "Create an account",
// registers, opens the confirmation link from the message the SMTP server (aiosmtpd, on
// loopback) stored in its Maildir, confirms with the password chosen (which creates the account
// and signs in), and lands on the account page with the address verified. Screenshots of each
// page go to OUT_DIR.
//
// Usage: node register.mjs ISSUER MAILDIR OUT_DIR
import { readdirSync, readFileSync } from "node:fs";
import { fail, launch, screenshots, submit } from "./support.mjs";

const [issuer, maildir, outDir] = process.argv.slice(2);
const shot = screenshots(outDir);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The confirmation link of the newest message to `to`, from the Maildir (quoted-printable).
async function verificationLink(to) {
  for (let attempt = 0; attempt < 100; attempt++) {
    let files = [];
    try {
      files = readdirSync(`${maildir}/new`).map((name) => `${maildir}/new/${name}`);
    } catch {}
    for (const file of files) {
      const raw = readFileSync(file, "utf8");
      if (!raw.includes(`To: ${to}`)) continue;
      const text = raw
        .replace(/=\r?\n/g, "")
        .replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      const link = text.match(/http:\/\/\S+\/verify-email\?token=[A-Za-z0-9_-]+/);
      if (link) return link[0];
    }
    await sleep(200);
  }
  fail(`no verification message to ${to} arrived`);
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 900, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${issuer}/account`);
  await page.waitForSelector("text=Create an account");
  await shot(page, "register-signin", "registration: the sign-in page offers an account");
  await submit(page, "text=Create an account");
  await page.waitForSelector('input[name="email"]');
  await page.fill("#username", "nora");
  await page.fill("#email", "nora@example.com");
  await page.fill("#password", "velvet otter juggles quinces");
  await shot(page, "register-form", "registration: the form");
  await submit(page, 'button:has-text("Create the account")');
  await page.waitForSelector("text=We sent a message to nora@example.com");
  await shot(page, "register-sent", "registration: check your email");

  await page.goto(await verificationLink("nora@example.com"));
  await page.waitForSelector("text=to confirm that");
  await page.fill('input[name="password"]', "velvet otter juggles quinces");
  await shot(page, "register-confirm", "registration: the emailed link asks for the password");
  await submit(page, 'button:has-text("Confirm")');
  await page.waitForSelector("h1:has-text('Your account')");
  if (!(await page.isVisible("text=nora@example.com, verified")))
    fail("the account page does not show the verified address");
  await shot(page, "register-account", "registration: signed in, back on the account page");
} finally {
  await browser.close();
}
