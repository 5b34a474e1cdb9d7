// The official engine.io-client bundle in headless Chromium (Debian's
// chromium, driven by playwright-core) opens WebTransport to an Engine.IO
// echo server and exchanges messages with it.
//
// Usage: node webtransport-browser.js <page-url> <engine.io-url> <trust> <client|server> [transports]
//   page-url: an http:// page of the test server that loads the bundle as
//     /engine.io.js; engine.io-url: the https:// URL of its WebTransport
//     endpoint; trust: how the browser trusts its self-signed certificate,
//     "hash:<base64 SHA-256 of the certificate>" (the page pins it with
//     serverCertificateHashes) or "spki:<base64 SHA-256 of its public
//     key>" (Chromium's --ignore-certificate-errors-spki-list, with
//     --origin-to-force-quic-on for the endpoint's origin); who closes the
//     session at the end; transports: the client's transports, comma
//     separated, "webtransport" by default ("polling,webtransport" opens on
//     polling and upgrades).
//
// Prints one JSON summary line that the Go test asserts on.
const { chromium } = require("playwright-core");

// The flags that make headless Chromium here speak WebTransport to a
// loopback HTTP/3 server: QUIC must not be disabled (the other browser
// tests pass --disable-quic), and the network-quietening flags keep it
// from reaching for Google's hosts on this closed network.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const [pageURL, eioURL, trust, closer, transportList] = process.argv.slice(2);
const transports = (transportList || "webtransport").split(",");
const [trustKind, trustValue] = [trust.slice(0, trust.indexOf(":")), trust.slice(trust.indexOf(":") + 1)];

async function main() {
  const summary = { transport: null, open: false, text: null, binary: null, inOrder: 0, largeOK: false,
    closeReason: null, closeDesc: null, closePageErrors: [], error: null };
  // engine.io-client leaves the promise of its stream's pipeTo unhandled,
  // so the session's end shows as a page error ("The session is closed.")
  // however it ends; page errors from then on are reported, not failed.
  let closing = false;
  const extra = process.env.CHROMIUM_EXTRA_ARGS ? process.env.CHROMIUM_EXTRA_ARGS.split(" ") : [];
  if (trustKind === "spki") {
    extra.push("--ignore-certificate-errors-spki-list=" + trustValue, "--origin-to-force-quic-on=" + new URL(eioURL).host);
  }
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ARGS.concat(extra) });
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => {
      if (closing) summary.closePageErrors.push(e.message);
      else summary.error = summary.error || "page error: " + e.message;
    });
    await page.goto(pageURL);
    await page.evaluate(({ eioURL, hash, transports }) => {
      const t = window.t = { messages: [], closed: null, errors: [] };
      const opts = { transports };
      if (hash) {
        const value = Uint8Array.from(atob(hash), (c) => c.charCodeAt(0));
        opts.transportOptions = { webtransport: { serverCertificateHashes: [{ algorithm: "sha-256", value }] } };
      }
      const socket = t.socket = eio(eioURL, opts);
      socket.binaryType = "arraybuffer";
      socket.on("open", () => { t.open = true; t.transport = socket.transport.name; });
      socket.on("upgrade", (tr) => { t.transport = tr.name; });
      socket.on("message", (m) => t.messages.push(m));
      socket.on("error", (e) => t.errors.push(String(e && e.message || e)));
      socket.on("close", (reason, desc) => { t.closed = reason; t.closeDesc = String(desc && (desc.description || desc.message) || desc || ""); });
    }, { eioURL, hash: trustKind === "hash" ? trustValue : null, transports });
    await page.waitForFunction(() => window.t.open || window.t.closed, null, { timeout: 15000 });
    if (transports.length > 1) {
      // Opened on the first: wait for the upgrade to the last.
      await page.waitForFunction((last) => window.t.transport === last || window.t.closed, transports[transports.length - 1], { timeout: 15000 });
    }
    const opened = await page.evaluate(() => ({ open: !!window.t.open, transport: window.t.transport, closed: window.t.closed,
      desc: window.t.closeDesc, errors: window.t.errors }));
    if (!opened.open) {
      throw new Error("no session: " + JSON.stringify(opened));
    }
    summary.open = true;
    summary.transport = opened.transport;

    // Text both ways: the server echoes.
    await page.evaluate(() => window.t.socket.send("hello ✓"));
    await page.waitForFunction(() => window.t.messages.length >= 1, null, { timeout: 10000 });
    summary.text = await page.evaluate(() => window.t.messages.shift());

    // An ArrayBuffer comes back as one.
    await page.evaluate(() => window.t.socket.send(new Uint8Array([1, 2, 3, 250]).buffer));
    await page.waitForFunction(() => window.t.messages.length >= 1, null, { timeout: 10000 });
    summary.binary = await page.evaluate(() => {
      const m = window.t.messages.shift();
      return m instanceof ArrayBuffer ? Array.from(new Uint8Array(m)) : null;
    });

    // 1,000 numbered messages come back once each, in order.
    await page.evaluate(() => { for (let i = 0; i < 1000; i++) window.t.socket.send("n:" + i); });
    await page.waitForFunction(() => window.t.messages.length >= 1000, null, { timeout: 30000 });
    summary.inOrder = await page.evaluate(() => {
      const got = window.t.messages.splice(0, 1000);
      let ok = 0;
      for (let i = 0; i < got.length; i++) if (got[i] === "n:" + i) ok++;
      return ok;
    });

    // A 900 KB message comes back whole.
    await page.evaluate(() => window.t.socket.send("L".repeat(900000)));
    await page.waitForFunction(() => window.t.messages.length >= 1, null, { timeout: 30000 });
    summary.largeOK = await page.evaluate(() => window.t.messages.shift() === "L".repeat(900000));

    // The end: the page closes, or asks the server to.
    closing = true;
    if (closer === "client") {
      await page.evaluate(() => window.t.socket.close());
    } else {
      await page.evaluate(() => window.t.socket.send("close me"));
    }
    await page.waitForFunction(() => window.t.closed !== null, null, { timeout: 10000 });
    summary.closeReason = await page.evaluate(() => window.t.closed);
    summary.closeDesc = await page.evaluate(() => window.t.closeDesc);
  } catch (e) {
    summary.error = summary.error || String(e && e.message ? e.message : e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });
