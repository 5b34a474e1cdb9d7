// Node's engine.io 6.6 server for chanio's benchmarks (bench/): the same
// application as examples/echo, so that the two are measured doing the
// same work. Every message comes back to its sender with its type (text
// or binary); the text message "broadcast:<payload>" is sent as <payload>
// to every open socket instead.
//
// Usage: node --expose-gc eio-bench-server.js [debug=127.0.0.1:PORT]
//
// It prints "listening on http://127.0.0.1:PORT/engine.io/" once ready.
// With debug=ADDR it answers, there, the two requests the benchmarks make
// of a Go server's debug address: /debug/pprof/heap?gc=1 (a full garbage
// collection, when node runs with --expose-gc) and /debug/vars (the live
// heap, V8's and Buffers', as memstats.HeapAlloc, and goroutines 0). Options are engine.io's
// defaults: pingInterval 25 s, pingTimeout 20 s, no permessage-deflate.
const http = require("http");
const { Server } = require("engine.io");

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const i = a.indexOf("=");
    return i < 0 ? [a, ""] : [a.slice(0, i), a.slice(i + 1)];
  }),
);

const httpServer = http.createServer();
const server = new Server();
server.attach(httpServer);

const prefix = "broadcast:";
server.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (typeof data === "string" && data.startsWith(prefix)) {
      const payload = data.slice(prefix.length);
      for (const id in server.clients) {
        server.clients[id].send(payload);
      }
      return;
    }
    socket.send(data);
  });
});

if (args.debug) {
  const [host, port] = args.debug.split(":");
  const debug = http.createServer((req, res) => {
    if (req.url.startsWith("/debug/pprof/heap")) {
      if (global.gc) global.gc();
      res.end("ok");
      return;
    }
    if (req.url.startsWith("/debug/vars")) {
      res.setHeader("Content-Type", "application/json");
      // V8's heap and the memory of Buffers outside it.
      const m = process.memoryUsage();
      res.end(JSON.stringify({ goroutines: 0, memstats: { HeapAlloc: m.heapUsed + m.external } }));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  debug.listen(Number(port), host);
}

httpServer.listen(0, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}/engine.io/`);
});
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
