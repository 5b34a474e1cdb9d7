// The engine.io-client 3.x browser bundles (engine.io.js of the npm
// aliases engine.io-client-v3.5 and -v3.4) in headless Chromium (Debian's
// chromium, driven by playwright-core), each running eio3-session.js
// against an echo server of another origin, in three ways:
//
//	jsonp    JSONP polling (jsonp: true, forceJSONP: true): script tags for
//	         GETs, form posts into an iframe for POSTs, binary as base64
//	polling  XHR2 polling: binary payloads (application/octet-stream) both ways
//	upgrade  XHR2 polling, then the upgrade to WebSocket
//
// Usage: node browser3.js <server-url> <count> <largeBytes> <pongs>
// (ONLY_VERSION=3.5 and ONLY_MODE=jsonp in the environment narrow the runs,
// for debugging)
//
// It serves the page itself, on a loopback port of its own, and prints one
// JSON line: {"runs": {"3.5/jsonp": summary, ...}, "error": ...}. Each
// summary is eio3-session.js's, with what Chromium saw of the requests to
// the server: GETs and POSTs by kind (script, xhr, document: a form post)
// and the GETs answered with a binary payload.
const fs = require("fs");
const http = require("http");
const path = require("path");
const { chromium } = require("playwright-core");

const [serverURL, count, large, pongs] = process.argv.slice(2);

const bundles = {
  "3.5": require.resolve("engine.io-client-v3.5/engine.io.js"),
  "3.4": require.resolve("engine.io-client-v3.4/engine.io.js"),
};
const modes = {
  jsonp: { transports: ["polling"], jsonp: true, forceJSONP: true },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"], upgrade: true },
};
// The 3.x browser client base64-encodes binary with
// String.fromCharCode.apply(null, bytes), which overflows Chromium's stack
// somewhere past 100 KB: a client that sends base64 (JSONP) can send no
// larger binary message, whatever the server.
const maxBase64Binary = 50000;

function page(version) {
  return `<!doctype html><meta charset="utf-8"><title>engine.io-client ${version}</title>
<script src="/engine.io-${version}.js"></script><script src="/eio3-session.js"></script><body></body>`;
}

const pages = http.createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  const m = /^\/engine\.io-(3\.[45])\.js$/.exec(u.pathname);
  let body, type;
  if (u.pathname === "/" && bundles[u.searchParams.get("v")]) {
    body = page(u.searchParams.get("v"));
    type = "text/html; charset=utf-8";
  } else if (m) {
    body = fs.readFileSync(bundles[m[1]]);
    type = "text/javascript";
  } else if (u.pathname === "/eio3-session.js") {
    body = fs.readFileSync(path.join(__dirname, "eio3-session.js"));
    type = "text/javascript";
  } else {
    res.writeHead(404);
    res.end();
    return;
  }
  res.writeHead(200, { "Content-Type": type, "Cache-Control": "no-store" });
  res.end(body);
});

async function main() {
  const out = { runs: {}, error: null };
  await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${pages.address().port}/`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    for (const version of (process.env.ONLY_VERSION ? [process.env.ONLY_VERSION] : Object.keys(bundles))) {
      for (const [mode, opts] of Object.entries(modes).filter(([m]) => !process.env.ONLY_MODE || m === process.env.ONLY_MODE)) {
        const p = await browser.newPage();
        const requests = { get: {}, post: {}, binaryGets: 0, closeSent: false };
        // The session's end: the client's close packet POSTed and answered
        // (polling), or its WebSocket closed.
        let sent;
        const closeSent = new Promise((resolve) => { sent = resolve; });
        p.on("response", async (r) => {
          const req = r.request();
          if (!req.url().startsWith(serverURL)) return;
          const kind = req.method() === "GET" ? requests.get : req.method() === "POST" ? requests.post : null;
          if (!kind) return;
          const type = req.resourceType();
          kind[type] = (kind[type] || 0) + 1;
          if (req.method() === "GET" && r.headers()["content-type"] === "application/octet-stream") requests.binaryGets++;
          if (req.method() === "POST" && ["1:1", "d=1%3A1"].includes(req.postData()) && r.status() === 200) sent();
        });
        p.on("websocket", (ws) => ws.on("close", sent));
        let pageError = null;
        p.on("pageerror", (e) => { pageError = pageError || e.message; });
        await p.goto(base + "?v=" + version);
        const params = { count: Number(count), large: Number(large), pongs: Number(pongs), upgrade: mode === "upgrade" };
        if (opts.forceJSONP) params.largeBinary = Math.min(params.large, maxBase64Binary);
        const summary = await p.evaluate(
          ([url, opts, params]) => new Promise((resolve) => runSession(eio, url, opts, params, resolve)),
          [serverURL, opts, params],
        );
        requests.closeSent = await Promise.race([closeSent.then(() => true), new Promise((r) => setTimeout(() => r(false), 10000))]);
        summary.requests = requests;
        if (pageError) summary.error = "page error: " + pageError + (summary.error ? "; then " + summary.error : "");
        out.runs[version + "/" + mode] = summary;
        await p.close();
      }
    }
  } catch (e) {
    out.error = String(e && e.message ? e.message : e);
  } finally {
    await browser.close();
    pages.close();
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(0); });
