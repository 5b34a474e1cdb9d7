// Node's socket.io 4.8 server for chanio's sio benchmarks: the same
// application as bench/sioserver. On "/", every socket joins "room";
// "echo" p is acknowledged with p; "bcast" p emits "b" p to the room.
// Prints "listening on http://127.0.0.1:PORT/socket.io/" once ready.
const http = require("http");
const { Server } = require("socket.io");

const httpServer = http.createServer();
const io = new Server(httpServer, { serveClient: false });
io.on("connection", (socket) => {
  socket.join("room");
  socket.on("echo", (p, cb) => cb(p));
  socket.on("bcast", (p) => io.to("room").emit("b", p));
});
httpServer.listen(0, "127.0.0.1", () => {
  console.log("listening on http://127.0.0.1:" + httpServer.address().port + "/socket.io/");
});
process.on("SIGTERM", () => process.exit(0));
