// A real engine.io server that echoes every message, for chanio's interop
// tests of eio.Client.
//
// Usage: node server.js [port=0] [pingInterval=ms] [pingTimeout=ms]
//                       [maxHttpBufferSize=bytes] [perMessageDeflate=1]
//                       [version=3]
//
// version=3 runs the protocol 3 server of the Socket.IO 2 era, engine.io
// 3.6.2 (npm alias engine.io-v3), instead of the current one.
//
// It prints "listening on http://127.0.0.1:PORT" once ready. Text and
// binary messages come back as they came; the text message "close" makes
// the server close that socket instead (a server-initiated close). A
// handshake carrying the header X-Refuse is refused.
const http = require("http");

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const i = a.indexOf("=");
    return i < 0 ? [a, ""] : [a.slice(0, i), a.slice(i + 1)];
  }),
);
const num = (name, def) => (args[name] !== undefined ? Number(args[name]) : def);
const { Server } = require(args.version === "3" ? "engine.io-v3" : "engine.io");

const httpServer = http.createServer();
const server = new Server({
  pingInterval: num("pingInterval", 25000),
  pingTimeout: num("pingTimeout", 20000),
  maxHttpBufferSize: num("maxHttpBufferSize", 1e6),
  // perMessageDeflate=1 lets WebSocket clients negotiate compression.
  perMessageDeflate: args.perMessageDeflate === "1" ? { threshold: 1024 } : false,
  // A handshake with the header X-Refuse is refused (403, code 4).
  allowRequest: (req, callback) => callback("refused", !req.headers["x-refuse"]),
});
server.attach(httpServer);

server.on("connection", (socket) => {
  socket.on("message", (data) => {
    if (data === "close") {
      socket.close();
      return;
    }
    socket.send(data);
  });
});

httpServer.listen(num("port", 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

const stop = () => {
  server.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
