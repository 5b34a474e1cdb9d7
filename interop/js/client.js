// A real engine.io-client session against a server, for chanio's interop
// tests. Usage: node client.js <url> <polling|websocket|upgrade> [count]
//
// It sends a text and a binary message, then <count> numbered text messages
// (some while the upgrade is under way), expects each echoed back exactly
// once and in order, closes, and prints one JSON summary line that the Go
// test asserts on.
const { Socket } = require("engine.io-client");

const [url, mode, countArg] = process.argv.slice(2);
const count = Number(countArg || 100);
const socket = new Socket(url, {
  transports: mode === "websocket" ? ["websocket"] : ["polling", "websocket"],
  upgrade: mode === "upgrade",
});

const summary = { openTransport: null, upgradedTo: null, text: null, binary: null, inOrder: 0, duplicates: 0, outOfOrder: 0, finalTransport: null, closeReason: null };
let next = 0;
const seen = new Set();
let done = false;

const timer = setTimeout(() => finish("timeout"), 20000);

function finish(err) {
  if (done) return;
  done = true;
  clearTimeout(timer);
  summary.error = err || null;
  summary.finalTransport = socket.transport ? socket.transport.name : null;
  socket.off("close");
  socket.on("close", (reason) => {
    summary.closeReason = reason;
    console.log(JSON.stringify(summary));
    process.exit(0);
  });
  socket.close();
}

socket.on("open", () => {
  summary.openTransport = socket.transport.name;
  socket.send("hello é 😀");
  socket.send(new Uint8Array([1, 2, 3, 255]));
  for (let i = 0; i < count; i++) socket.send("n:" + i);
});
socket.on("upgrade", (t) => { summary.upgradedTo = t.name; });
socket.on("message", (data) => {
  if (typeof data !== "string") {
    summary.binary = Array.from(new Uint8Array(data));
  } else if (data.startsWith("n:")) {
    const i = Number(data.slice(2));
    if (seen.has(i)) summary.duplicates++;
    seen.add(i);
    if (i === next) { summary.inOrder++; next++; } else summary.outOfOrder++;
  } else {
    summary.text = data;
  }
  const upgradeSettled = mode !== "upgrade" || summary.upgradedTo;
  if (summary.text && summary.binary && seen.size === count && upgradeSettled) finish();
});
socket.on("upgradeError", (e) => { summary.upgradeError = String(e); });
socket.on("close", (reason, desc) => {
  summary.closeReason = reason;
  finish("closed early: " + reason + " " + (desc && desc.message ? desc.message : ""));
});
