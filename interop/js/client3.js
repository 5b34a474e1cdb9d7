// A real engine.io-client 3.x session (the Socket.IO 2 era client; npm
// aliases engine.io-client-v3.5 and -v3.4) against an echo server, run by
// Node. The session itself is eio3-session.js, which browser3.js runs in
// Chromium too. Usage:
//
//	node client3.js <url> <3.5|3.4> <polling|websocket|upgrade> <forceBase64 0|1>
//	                <count> <largeBytes> <pongs>
//
// It prints one JSON summary line that the Go test asserts on.
const runSession = require("./eio3-session.js");

const [url, version, mode, force, count, large, pongs] = process.argv.slice(2);
const Socket = require(version === "3.4" ? "engine.io-client-v3.4" : "engine.io-client-v3.5");

const opts = {
  transports: mode === "websocket" ? ["websocket"] : mode === "polling" ? ["polling"] : ["polling", "websocket"],
  upgrade: mode === "upgrade",
  forceBase64: force === "1",
};
const params = { count: Number(count), large: Number(large), pongs: Number(pongs), upgrade: mode === "upgrade" };
// No process.exit: the client emits "close" before it writes its close
// packet (or closes its WebSocket), and that must still reach the server.
// Node exits once the client has let go of every connection.
runSession(Socket, url, opts, params, (summary) => {
  console.log(JSON.stringify(summary));
});
