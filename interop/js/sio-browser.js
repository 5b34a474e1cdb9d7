// sio-page.html in headless Chromium (Debian's chromium, driven by
// playwright-core): the official socket.io-client bundle runs the checks of
// sio-checks.js against chanio's sio server.
// Usage: node sio-browser.js <base-url> <polling|websocket|upgrade> <recovery:0|1> <screenshot.png>
// Prints the checks' JSON summary.
const { chromium } = require("playwright-core");

const [base, mode, recovery, screenshot] = process.argv.slice(2);

async function main() {
  let summary = { error: null };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => { summary.error = summary.error || "page error: " + e.message; });
    await page.goto(base + "/js/sio-page.html?mode=" + mode + "&recovery=" + recovery);
    await page.waitForFunction(() => window.result !== null, null, { timeout: 60000 });
    summary = Object.assign(await page.evaluate(() => window.result), summary.error ? { error: summary.error } : {});
    await page.screenshot({ path: screenshot, fullPage: true });
  } catch (e) {
    summary.error = summary.error || String(e && e.message ? e.message : e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });
