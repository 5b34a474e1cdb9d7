// A real engine.io-client session against a server, for chanio's interop
// tests. Usage:
//
//	node client.js <url> <polling|websocket|upgrade> [count] [largeBytes] [client|server|nopong]
//
// It sends a text and a binary message, a large text message (largeBytes,
// default none), then <count> numbered text messages (some while the
// upgrade is under way), expects each echoed back exactly once and in
// order, and ends: by closing itself ("client"), by asking examples/echo
// to disconnect it ("server": the "disconnect:" command), or by no longer
// answering pings ("nopong") until the server times it out. It prints one
// JSON summary line that the Go test asserts on.
const { Socket } = require("engine.io-client");

const [url, mode, countArg, largeArg, endArg] = process.argv.slice(2);
const count = Number(countArg || 100);
const large = Number(largeArg || 0);
const end = endArg || "client";
const socket = new Socket(url, {
  transports: mode === "websocket" ? ["websocket"] : ["polling", "websocket"],
  upgrade: mode === "upgrade",
});

const summary = { openTransport: null, upgradedTo: null, text: null, binary: null, largeOK: large === 0, inOrder: 0, duplicates: 0, outOfOrder: 0, finalTransport: null, closeReason: null };
const largeMsg = large ? "L".repeat(large) : null;
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
  if (err || end === "client") {
    socket.close();
  } else if (end === "server") {
    socket.send("disconnect:");
  } else {
    // Stop answering pings: the server must time this session out.
    socket._sendPacket = ((orig) => function (type, ...rest) {
      if (type === "pong") return;
      return orig.call(this, type, ...rest);
    })(socket._sendPacket);
  }
  setTimeout(() => { summary.error = "no close within 20s after " + end; console.log(JSON.stringify(summary)); process.exit(0); }, 20000);
}

socket.on("open", () => {
  summary.openTransport = socket.transport.name;
  socket.send("hello é 😀");
  socket.send(new Uint8Array([1, 2, 3, 255]));
  if (largeMsg) socket.send(largeMsg);
  for (let i = 0; i < count; i++) socket.send("n:" + i);
});
socket.on("upgrade", (t) => { summary.upgradedTo = t.name; });
socket.on("message", (data) => {
  if (typeof data !== "string") {
    summary.binary = Array.from(new Uint8Array(data));
  } else if (largeMsg && data.length === large) {
    summary.largeOK = data === largeMsg;
  } else if (data.startsWith("n:")) {
    const i = Number(data.slice(2));
    if (seen.has(i)) summary.duplicates++;
    seen.add(i);
    if (i === next) { summary.inOrder++; next++; } else summary.outOfOrder++;
  } else {
    summary.text = data;
  }
  const upgradeSettled = mode !== "upgrade" || summary.upgradedTo;
  if (summary.text && summary.binary && summary.largeOK && seen.size === count && upgradeSettled) finish();
});
socket.on("upgradeError", (e) => { summary.upgradeError = String(e); });
socket.on("close", (reason, desc) => {
  summary.closeReason = reason;
  finish("closed early: " + reason + " " + (desc && desc.message ? desc.message : ""));
});
