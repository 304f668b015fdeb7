// What the browser runs share: Debian's Chromium launched headless through playwright-core, a
// failure that ends the run, screenshots a person can look at, and a click that waits for the
// page it loads.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

/** Ends the run with a message. */
export const fail = (message) => {
  console.error(`FAIL: ${message}`);
  process.exit(1);
};

/** A function saving a full-page screenshot `name` of a page into `outDir`, saying what it shows. */
export const screenshots = (outDir) => {
  mkdirSync(outDir, { recursive: true });
  return async (page, name, what) => {
    await page.screenshot({ path: `${outDir}/${name}.png`, fullPage: true });
    console.log(`ok: ${what} (${outDir}/${name}.png)`);
  };
};

/** Clicks `selector` and waits for the page it loads. */
export const submit = (page, selector) =>
  Promise.all([page.waitForLoadState("load"), page.click(selector)]);

/** Debian's Chromium (or $CHROMIUM), headless. */
export const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
