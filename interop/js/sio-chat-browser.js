// Two pages of examples/sio-chat in headless Chromium (driven by
// playwright-core), with the official socket.io-client bundle: Ada and Bob
// chat in the lobby, Bob moves to another room where Ada no longer hears
// him, and Ada's page survives its connection being dropped (connection
// state recovery). Usage: node sio-chat-browser.js <url> <mode> <screenshot.png>
// Prints one JSON summary line that the Go test asserts on.
const { chromium } = require("playwright-core");

const [base, mode, screenshot] = process.argv.slice(2);

async function main() {
  const summary = { error: null };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const open = async (name) => {
      const page = await browser.newPage();
      page.on("pageerror", (e) => { summary.error = summary.error || "page error: " + e.message; });
      const q = (mode === "upgrade" ? "?" : "?transport=" + mode + "&") + "name=" + name;
      await page.goto(base + q);
      await page.waitForFunction(() => window.chat.connected && window.chat.room === "lobby", null, { timeout: 15000 });
      if (mode === "upgrade") await page.waitForFunction(() => window.chat.transport === "websocket", null, { timeout: 15000 });
      return page;
    };
    const ada = await open("Ada");
    const bob = await open("Bob");
    summary.transport = await ada.evaluate(() => window.chat.transport);
    await ada.fill("#text", "hello Bob");
    await ada.click("#send");
    await bob.waitForFunction(() => window.chat.messages.some((m) => m.name === "Ada" && m.text === "hello Bob"), null, { timeout: 10000 });
    summary.bobHeardAda = true;
    await bob.fill("#newroom", "garden");
    await bob.click("#joinform button");
    await bob.waitForFunction(() => window.chat.room === "garden", null, { timeout: 10000 });
    await ada.waitForFunction(() => window.chat.notices.some((n) => n.left === "Bob"), null, { timeout: 10000 });
    await bob.fill("#text", "only the garden hears this");
    await bob.click("#send");
    await bob.waitForFunction(() => window.chat.messages.some((m) => m.text === "only the garden hears this"), null, { timeout: 10000 });
    // Ada's own next message proves the garden one had its chance to reach her.
    await ada.fill("#text", "still in the lobby");
    await ada.click("#send");
    await ada.waitForFunction(() => window.chat.messages.some((m) => m.text === "still in the lobby"), null, { timeout: 10000 });
    summary.adaHeardGarden = await ada.evaluate(() => window.chat.messages.some((m) => m.text === "only the garden hears this"));
    // Drop Ada's connection: she comes back recovered, in the lobby.
    await ada.evaluate(() => window.chat.socket.io.engine.close());
    await ada.waitForFunction(() => window.chat.connected && window.chat.socket.recovered, null, { timeout: 15000 });
    summary.recovered = true;
    summary.adaRoom = await ada.evaluate(() => window.chat.room);
    await ada.screenshot({ path: screenshot, fullPage: true });
  } catch (e) {
    summary.error = summary.error || String(e && e.message ? e.message : e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });
