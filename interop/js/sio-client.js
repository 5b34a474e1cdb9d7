// The official socket.io-client (npm, pinned) against chanio's sio server.
// Usage: node sio-client.js <url> <polling|websocket|upgrade> [recovery|cluster]
// Prints the JSON summary of sio-checks.js.
const { io } = require("socket.io-client");
const runChecks = require("./sio-checks.js");

const [url, mode, recovery] = process.argv.slice(2);
const timer = setTimeout(() => { console.log(JSON.stringify({ error: "timeout after 60s" })); process.exit(0); }, 60000);
const run = recovery === "cluster" ? runChecks.cluster(io, url, mode) : runChecks(io, url, mode, recovery === "recovery");
run.then((summary) => {
  clearTimeout(timer);
  console.log(JSON.stringify(summary));
  process.exit(0);
});
