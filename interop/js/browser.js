// Two pages of the chat example in headless Chromium (Debian's chromium,
// driven by playwright-core) chat with each other through a chanio server.
// Usage: node browser.js <chat-url> <polling|websocket|upgrade|webtransport|webtransport-default> <screenshot.png>
// (webtransport forces it with ?transport=; webtransport-default opens the
// page as it is, which a server offering WebTransport opens on it).
//
// Prints one JSON summary line that the Go test asserts on.
const { chromium } = require("playwright-core");

const [base, mode, screenshot] = process.argv.slice(2);

async function main() {
  const summary = { a: null, b: null, aGotB: false, bGotA: false, binary: null, inOrder: 0, largeOK: false,
    leftByServer: null, leftByClient: null, ownClose: null, screenshot: null, error: null };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // QUIC stays off but for WebTransport, which is HTTP/3.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"]
      .concat(mode.startsWith("webtransport") ? [] : ["--disable-quic"]),
  });
  try {
    const url = mode === "upgrade" || mode === "webtransport-default" ? base : base + "?transport=" + mode;
    const pages = [];
    for (let i = 0; i < 3; i++) {
      const page = await browser.newPage();
      page.on("pageerror", (e) => {
        // engine.io-client leaves the promise of its WebTransport stream's
        // pipeTo unhandled, so a session's end, however clean, shows as
        // this page error: not the page's fault.
        if (mode.startsWith("webtransport") && e.message === "The session is closed.") return;
        summary.error = summary.error || "page error: " + e.message;
      });
      await page.goto(url);
      await page.waitForFunction(() => window.chat && window.chat.connected && window.chat.name, null, { timeout: 15000 });
      if (mode === "webtransport-default") {
        await page.waitForFunction(() => window.chat.transport === "webtransport", null, { timeout: 15000 });
      }
      if (mode === "upgrade") {
        await page.waitForFunction(() => window.chat.upgraded && window.chat.transport === "websocket", null, { timeout: 15000 });
      }
      pages.push(page);
    }
    const [a, b, c] = pages;
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

    // 1,000 numbered lines from A reach B once each, in order.
    await a.evaluate(() => { for (let i = 0; i < 1000; i++) window.chat.send("n:" + i); });
    await b.waitForFunction((n) => window.chat.messages.filter((m) => m.name === n && m.text.startsWith("n:")).length >= 1000, aName, { timeout: 30000 });
    summary.inOrder = await b.evaluate((n) => {
      const got = window.chat.messages.filter((m) => m.name === n && m.text.startsWith("n:")).map((m) => Number(m.text.slice(2)));
      let ok = 0;
      for (let i = 0; i < got.length; i++) if (got[i] === i) ok++;
      return got.length === 1000 ? ok : -got.length;
    }, aName);

    // A 900 KB line arrives whole.
    await a.evaluate(() => window.chat.send("L".repeat(900000)));
    await b.waitForFunction((n) => window.chat.messages.some((m) => m.name === n && m.text.length === 900000), aName, { timeout: 30000 });
    summary.largeOK = await b.evaluate((n) => window.chat.messages.some((m) => m.name === n && m.text === "L".repeat(900000)), aName);
    await a.screenshot({ path: screenshot, fullPage: true });
    summary.screenshot = screenshot;

    // The server shows B out; A closes itself. C sees both leave, with the
    // server's reasons; each page sees its own close.
    await b.evaluate(() => window.chat.send("/leave"));
    await b.waitForFunction(() => window.chat.closed !== null, null, { timeout: 10000 });
    await c.waitForFunction((n) => window.chat.leaves.some((l) => l.name === n), bName, { timeout: 10000 });
    summary.leftByServer = await c.evaluate((n) => window.chat.leaves.find((l) => l.name === n).text, bName);
    await a.evaluate(() => window.chat.close());
    await c.waitForFunction((n) => window.chat.leaves.some((l) => l.name === n), aName, { timeout: 10000 });
    summary.leftByClient = await c.evaluate((n) => window.chat.leaves.find((l) => l.name === n).text, aName);
    summary.ownClose = { a: await a.evaluate(() => window.chat.closed), b: await b.evaluate(() => window.chat.closed) };
  } catch (e) {
    summary.error = summary.error || String(e && e.message ? e.message : e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });
