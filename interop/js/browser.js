// Two pages of the chat example in headless Chromium (Debian's chromium,
// driven by playwright-core) chat with each other through a chanio server.
// Usage: node browser.js <chat-url> <polling|websocket|upgrade> <screenshot.png>
//
// Prints one JSON summary line that the Go test asserts on.
const { chromium } = require("playwright-core");

const [base, mode, screenshot] = process.argv.slice(2);

async function main() {
  const summary = { a: null, b: null, aGotB: false, bGotA: false, binary: null, screenshot: null, error: null };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const url = mode === "upgrade" ? base : base + "?transport=" + mode;
    const pages = [];
    for (let i = 0; i < 2; i++) {
      const page = await browser.newPage();
      page.on("pageerror", (e) => { summary.error = summary.error || "page error: " + e.message; });
      await page.goto(url);
      await page.waitForFunction(() => window.chat && window.chat.connected && window.chat.name, null, { timeout: 15000 });
      if (mode === "upgrade") {
        await page.waitForFunction(() => window.chat.upgraded && window.chat.transport === "websocket", null, { timeout: 15000 });
      }
      pages.push(page);
    }
    const [a, b] = pages;
    const aName = await a.evaluate(() => window.chat.name);
    const bName = await b.evaluate(() => window.chat.name);
    await a.evaluate(() => window.chat.send("hello from A ✓"));
    await b.waitForFunction((n) => window.chat.messages.some((m) => m.name === n && m.text === "hello from A ✓"), aName, { timeout: 10000 });
    summary.bGotA = true;
    await b.fill("#text", "hello from B");
    await b.click("#send");
    await a.waitForFunction((n) => window.chat.messages.some((m) => m.name === n && m.text === "hello from B"), bName, { timeout: 10000 });
    summary.aGotB = true;
    await a.click("#bytes");
    await a.waitForFunction(() => window.chat.binary.length > 0, null, { timeout: 10000 });
    summary.binary = await a.evaluate(() => window.chat.binary[0]);
    summary.a = await a.evaluate(() => ({ transport: window.chat.transport, upgraded: window.chat.upgraded }));
    summary.b = await b.evaluate(() => ({ transport: window.chat.transport, upgraded: window.chat.upgraded }));
    await a.screenshot({ path: screenshot, fullPage: true });
    summary.screenshot = screenshot;
  } catch (e) {
    summary.error = summary.error || String(e && e.message ? e.message : e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });
