// A real Socket.IO (4.8) server for the interop tests of chanio's Go
// Socket.IO client (package sio).
//
// Usage: node sioclient_server.js [port=0] [pingInterval=ms] [pingTimeout=ms]
//                                 [recovery=ms]
//
// It prints "listening on http://127.0.0.1:PORT" once ready, then one JSON
// line per thing the tests count: {"ev":"connect",...}, {"ev":"count",...},
// {"ev":"disconnect",...}. recovery=ms turns connection state recovery on
// with that maxDisconnectionDuration.
//
// Namespaces: "/" and "/chat" accept everyone; "/admin" wants the auth
// payload {"token":"secret"} and refuses others with the message "not
// authorized" and the data {"reason":"bad token"}. Other namespaces do not
// exist. On connect the server emits "welcome" {nsp, sid, auth, recovered}.
//
// Events (in every namespace):
//   echo ...args          emits "echo" ...args back
//   ack ...args, cb       answers cb(...args)
//   noack ..., cb         never answers
//   ask ms, ...args       emits "question" ...args with an ack and a timeout
//                         of ms; then emits "answer" {answer: [...]} or
//                         {error: message}
//   count n, cb?          prints {"ev":"count","nsp","n"} and answers cb(n);
//                         "stats" then answers what arrived
//   stats cb              answers {count, inOrder, outOfOrder, duplicates}
//   burst n               emits "n" 0..n-1
//   ticks ms              emits "tick" 0, 1, ... to the socket's room every
//                         ms, also while it is disconnected (so that a
//                         recovered socket gets those it missed)
//   kick                  disconnects the socket from the namespace
//   drop                  closes its Engine.IO connection (transport close)
const http = require("http");
const { Server } = require("socket.io");

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const i = a.indexOf("=");
    return i < 0 ? [a, ""] : [a.slice(0, i), a.slice(i + 1)];
  }),
);
const num = (name, def) => (args[name] !== undefined ? Number(args[name]) : def);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const httpServer = http.createServer();
const opts = {
  pingInterval: num("pingInterval", 25000),
  pingTimeout: num("pingTimeout", 20000),
  maxHttpBufferSize: 1e7,
};
if (num("recovery", 0) > 0) {
  opts.connectionStateRecovery = { maxDisconnectionDuration: num("recovery", 0), skipMiddlewares: true };
}
const io = new Server(httpServer, opts);

const stats = new Map(); // sid -> {count, next, inOrder, outOfOrder, duplicates, seen}

function setup(nsp) {
  nsp.on("connection", (socket) => {
    const auth = socket.handshake.auth;
    print({ ev: "connect", nsp: nsp.name, sid: socket.id, auth, recovered: socket.recovered });
    socket.emit("welcome", { nsp: nsp.name, sid: socket.id, auth, recovered: socket.recovered });

    socket.on("echo", (...a) => socket.emit("echo", ...a));
    socket.on("ack", (...a) => {
      const cb = a.pop();
      cb(...a);
    });
    socket.on("noack", () => {});
    socket.on("ask", (ms, ...a) => {
      socket.timeout(ms).emit("question", ...a, (err, ...answer) => {
        socket.emit("answer", err ? { error: err.message } : { answer });
      });
    });
    socket.on("count", (n, cb) => {
      let s = stats.get(socket.id);
      if (!s) {
        s = { count: 0, next: 0, inOrder: 0, outOfOrder: 0, duplicates: 0, seen: new Set() };
        stats.set(socket.id, s);
      }
      s.count++;
      if (s.seen.has(n)) s.duplicates++;
      s.seen.add(n);
      if (n === s.next) {
        s.inOrder++;
        s.next++;
      } else {
        s.outOfOrder++;
        s.next = n + 1;
      }
      if (typeof cb === "function") cb(n);
      print({ ev: "count", nsp: nsp.name, sid: socket.id, n });
    });
    socket.on("stats", (cb) => {
      const s = stats.get(socket.id) || { count: 0, inOrder: 0, outOfOrder: 0, duplicates: 0 };
      cb({ count: s.count, inOrder: s.inOrder, outOfOrder: s.outOfOrder, duplicates: s.duplicates });
    });
    socket.on("burst", (n) => {
      for (let i = 0; i < n; i++) socket.emit("n", i);
    });
    socket.on("ticks", (ms) => {
      // To the room, not the socket: the room outlives a disconnection,
      // and recovery replays what was sent to it.
      const room = socket.id;
      let i = 0;
      const timer = setInterval(() => nsp.to(room).emit("tick", i++), ms);
      socket.on("stop-ticks", () => clearInterval(timer));
      setTimeout(() => clearInterval(timer), 60000).unref();
    });
    socket.on("kick", () => socket.disconnect());
    socket.on("drop", () => socket.conn.close());
    socket.on("disconnect", (reason) => print({ ev: "disconnect", nsp: nsp.name, sid: socket.id, reason }));
  });
}

setup(io.of("/"));
setup(io.of("/chat"));
const admin = io.of("/admin");
admin.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { reason: "bad token" };
  next(err);
});
setup(admin);

httpServer.listen(num("port", 0), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});

const stop = () => {
  io.close();
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
