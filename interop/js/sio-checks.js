// The checks a real socket.io-client runs against chanio's sio server (the
// application in interop/sioapp_test.go). The same file runs in Node
// (require) and in Chromium (a <script> after the official bundle):
//
//	runChecks(io, url, mode, recovery) -> Promise<summary>
//
// mode is polling, websocket or upgrade. With recovery, it checks
// connection state recovery instead: the server drops the connection, the
// client reconnects, and must come back with its id, rooms and the events
// it missed, once each. The summary is one JSON object the Go test asserts
// on; a failed step sets summary.error and stops.
(function (root) {
  function bytes(arr) { return new Uint8Array(arr); }
  function arrayBuffer(arr) { return new Uint8Array(arr).buffer; }
  // toPlain turns what a handler got into JSON-comparable values, binary
  // as {bin: [...]}.
  function toPlain(v) {
    if (v === null || v === undefined) return v === undefined ? null : v;
    if (typeof ArrayBuffer !== "undefined" && (v instanceof ArrayBuffer || ArrayBuffer.isView(v))) {
      const u = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      return { bin: Array.from(u) };
    }
    if (Array.isArray(v)) return v.map(toPlain);
    if (typeof v === "object") {
      const o = {};
      for (const k of Object.keys(v).sort()) o[k] = toPlain(v[k]);
      return o;
    }
    return v;
  }
  function same(a, b) { return JSON.stringify(toPlain(a)) === JSON.stringify(toPlain(b)); }
  // withTimeout rejects after ms; a promise made early and awaited later
  // must not count as an unhandled rejection when an earlier step failed.
  function withTimeout(p, ms, what) {
    let timer;
    const r = Promise.race([p, new Promise((_, rej) => { timer = setTimeout(() => rej(new Error("timeout: " + what)), ms); })]);
    r.then(() => clearTimeout(timer), () => {});
    return r;
  }
  function once(sock, ev, ms) {
    return withTimeout(new Promise((res) => sock.once(ev, (...args) => res(args))), ms || 5000, ev);
  }
  function transportsFor(mode) {
    return mode === "polling" ? ["polling"] : mode === "websocket" ? ["websocket"] : ["polling", "websocket"];
  }

  async function runChecks(io, url, mode, recovery) {
    const summary = { transport: null, error: null };
    const opened = [];
    const open = (path, opts) => {
      const s = io(url + path, Object.assign({ transports: transportsFor(mode), upgrade: mode === "upgrade", reconnectionDelay: 100, reconnectionDelayMax: 200 }, opts || {}));
      opened.push(s);
      return s;
    };
    const connected = async (s) => {
      if (!s.connected) await once(s, "connect");
      if (mode === "upgrade" && s.io.engine.transport.name !== "websocket") {
        await withTimeout(new Promise((res) => s.io.engine.once("upgrade", res)), 5000, "upgrade");
      }
    };
    try {
      if (recovery) {
        await recoveryChecks(open, connected, summary);
      } else {
        await mainChecks(io, url, open, connected, summary, opened);
      }
    } catch (e) {
      summary.error = String(e && e.stack || e);
    }
    for (const s of opened) s.disconnect();
    return summary;
  }

  async function mainChecks(io, url, open, connected, summary, opened) {
    // Connect with an auth payload; the server's welcome carries the id.
    const a = open("/", { auth: { token: "t1" } });
    const welcome = once(a, "welcome");
    await connected(a);
    const [w] = await welcome;
    summary.welcome = w.id === a.id && w.ns === "/" && same(w.auth, { token: "t1" }) && w.recovered === false;
    summary.transport = a.io.engine.transport.name;

    // Events with text, numbers, nested JSON and binary, both ways.
    const sent = ["text é 😀", 42, -3.5, true, null, { a: { b: [1, "x", { c: null }] } }, bytes([1, 2, 3]), arrayBuffer([4, 5, 255]), { nested: bytes([6]), list: [arrayBuffer([7])] }];
    if (typeof Buffer !== "undefined") sent.push(Buffer.from([8, 9]));
    const echo = once(a, "echo");
    a.emit("echo", ...sent);
    summary.echo = same(await echo, sent);

    // Acknowledgements: the client asks, with binary.
    summary.clientAck = await new Promise((res) => a.timeout(5000).emit("ack", "a", 1, bytes([9]), (err, ...args) => res(!err && same(args, ["a", 1, bytes([9])]))));
    // ... the server asks; the client answers with text and binary.
    a.on("question", (q, cb) => cb("answer:" + q, bytes([7])));
    const answer = once(a, "answer-was");
    a.emit("ask", "why");
    summary.serverAck = same(await answer, ["answer:why", bytes([7])]);
    // ... timeouts both ways.
    summary.clientAckTimeout = await new Promise((res) => a.timeout(200).emit("silent", (err) => res(err ? "timeout" : "answered")));
    const silentAnswer = once(a, "answer-was");
    a.emit("ask-silent", "q");
    summary.serverAckTimeout = (await silentAnswer)[0];

    // Namespaces: refused and accepted by the middleware, multiplexed on
    // one connection; leaving one keeps the others.
    const refused = open("/admin", { auth: { token: "bad" }, forceNew: true });
    const [cerr] = await once(refused, "connect_error");
    summary.refused = { message: cerr.message, data: cerr.data };
    refused.disconnect();
    const unknown = open("/nope", { forceNew: true });
    summary.unknownNamespace = (await once(unknown, "connect_error"))[0].message;
    unknown.disconnect();
    // On a's own connection, through its Manager.
    const admin = a.io.socket("/admin", { auth: { token: "secret" } });
    opened.push(admin);
    admin.connect();
    const adminWelcome = once(admin, "welcome");
    await connected(admin);
    summary.adminWelcome = (await adminWelcome)[0].ns;
    const custom = open("/custom");
    await connected(custom);
    const customEcho = once(custom, "echo");
    custom.emit("echo", "in custom");
    summary.customEcho = (await customEcho)[0];
    summary.multiplexed = admin.io === a.io && custom.io === a.io;
    admin.disconnect();
    const stillEcho = once(a, "echo");
    a.emit("echo", "still here");
    summary.afterLeaving = (await stillEcho)[0] === "still here" && custom.connected;

    // Rooms and broadcast: a and b in room r, c not.
    const b = open("/", { forceNew: true });
    const c = open("/", { forceNew: true });
    await connected(b);
    await connected(c);
    await a.timeout(5000).emitWithAck("join", "r");
    await b.timeout(5000).emitWithAck("join", "r");
    const got = { a: 0, b: 0, c: 0 };
    for (const [name, s] of [["a", a], ["b", b], ["c", c]]) s.on("room-msg", (p) => { if (p === "hi") got[name]++; });
    const bGot = once(b, "room-msg");
    await a.timeout(5000).emitWithAck("to-room", "r", "hi");
    await bGot;
    // c must not have it: its own echo comes after the room message would.
    const cEcho = once(c, "echo");
    c.emit("echo", "marker");
    await cEcho;
    summary.rooms = got;
    // Acknowledgements from many sockets.
    a.on("room-question", (cb) => cb("a"));
    b.on("room-question", (cb) => cb("b"));
    const result = once(a, "room-ack-result");
    a.emit("room-ack", "r");
    summary.roomAck = toPlain(await result);

    // 1,000 numbered events each way, in order.
    let back = 0, backInOrder = 0, num = 0, numInOrder = 0;
    const allBack = new Promise((res) => a.on("numbered-back", (i) => { if (i === back) backInOrder++; back++; if (back === 1000) res(); }));
    for (let i = 0; i < 1000; i++) a.emit("numbered", i);
    await withTimeout(allBack, 30000, "numbered-back");
    summary.serverInOrder = await a.timeout(5000).emitWithAck("numbered-done");
    summary.clientInOrder = backInOrder;
    const allNum = new Promise((res) => a.on("num", (i) => { if (i === num) numInOrder++; num++; if (num === 1000) res(); }));
    a.emit("send-numbered", 1000);
    await withTimeout(allNum, 30000, "num");
    summary.numInOrder = numInOrder;

    // The server disconnects c from its namespace.
    const cGone = once(c, "disconnect");
    c.emit("disconnect-me");
    summary.serverDisconnect = (await cGone)[0];
    summary.finalTransport = a.io.engine.transport.name;
  }

  async function recoveryChecks(open, connected, summary) {
    const a = open("/");
    const welcome = once(a, "welcome");
    await connected(a);
    await welcome; // an event with an offset: the client now has one
    const firstID = a.id;
    await a.timeout(5000).emitWithAck("join", "r");
    const missed = [];
    a.on("missed", (i) => missed.push(i));
    const gone = once(a, "disconnect");
    a.emit("drop-me");
    summary.dropReason = (await gone)[0];
    await once(a, "connect", 10000);
    summary.recovered = a.recovered;
    summary.sameID = a.id === firstID;
    // The missed events come right after the CONNECT answer; an echo after
    // them proves they are all in.
    const echo = once(a, "echo");
    a.emit("echo", "after");
    await echo;
    summary.missed = missed;
    // The recovered socket is still in room r.
    const roomMsg = once(a, "room-msg");
    await a.timeout(5000).emitWithAck("to-room", "r", "back");
    summary.roomAfter = (await roomMsg)[0];
  }

  // clusterChecks runs through a round-robin balancer in front of three
  // nodes: three clients (on whichever nodes the balancer picks) join room
  // r; a room message from one reaches all three, and a broadcast with
  // acknowledgements gets all three answers.
  async function clusterChecks(io, url, mode) {
    const summary = { error: null };
    const socks = [];
    try {
      for (let i = 0; i < 3; i++) {
        const s = io(url, { transports: transportsFor(mode), upgrade: mode === "upgrade", forceNew: true });
        socks.push(s);
        if (!s.connected) await once(s, "connect");
        if (mode === "upgrade" && s.io.engine.transport.name !== "websocket") {
          await withTimeout(new Promise((res) => s.io.engine.once("upgrade", res)), 5000, "upgrade");
        }
        await s.timeout(5000).emitWithAck("join", "r");
        s.on("room-question", (cb) => cb("s" + i));
      }
      summary.nodes = socks.map((s) => s.io.engine.id.split(".").pop()).sort();
      const got = socks.map((s) => once(s, "room-msg"));
      await socks[0].timeout(5000).emitWithAck("to-room", "r", "hi");
      summary.roomMsgs = (await Promise.all(got)).map((a) => a[0]);
      const result = once(socks[1], "room-ack-result");
      socks[1].emit("room-ack", "r");
      summary.roomAck = toPlain(await result);
      // 1,000 numbered events each way, in order, through the balancer.
      let back = 0, inOrder = 0;
      const all = new Promise((res) => socks[2].on("numbered-back", (i) => { if (i === back) inOrder++; back++; if (back === 1000) res(); }));
      for (let i = 0; i < 1000; i++) socks[2].emit("numbered", i);
      await withTimeout(all, 30000, "numbered-back");
      summary.inOrder = inOrder;
      summary.serverInOrder = await socks[2].timeout(5000).emitWithAck("numbered-done");
    } catch (e) {
      summary.error = String(e && e.stack || e);
    }
    for (const s of socks) s.disconnect();
    return summary;
  }
  runChecks.cluster = clusterChecks;

  if (typeof module !== "undefined" && module.exports) module.exports = runChecks;
  else root.runChecks = runChecks;
})(typeof window !== "undefined" ? window : globalThis);
