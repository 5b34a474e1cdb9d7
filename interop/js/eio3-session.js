// One engine.io-client 3.x session against an echo server (examples/echo
// -eio3, or server.js version=3), the same in Node (client3.js) and in
// Chromium (browser3.js loads it after the client's bundle).
//
// runSession(Socket, url, opts, params, done) opens new Socket(url, opts)
// and then:
//  1. sends params.count messages, text and binary by turns (some text
//     with characters outside the BMP, some binary with bytes that look
//     like payload framing), and expects each echoed once, in order, with
//     its type; with params.upgrade it also waits for the upgrade;
//  2. sends a text message of params.large UTF-16 units, then, once it is
//     back, a binary one of params.largeBinary bytes (params.large if
//     unset);
//  3. waits until the client has had params.pongs answers to its pings;
//  4. closes the session.
// It calls done(summary) once, with what it saw: the transports, the
// counts, and what each transport delivered (binary frames or payloads,
// text, base64 text), for the Go test to assert on.
(function (root) {
  function toBytes(d) {
    if (typeof d === "string") return null;
    if (d instanceof ArrayBuffer) return new Uint8Array(d);
    if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    return null;
  }

  function sameBytes(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function describe(d) {
    if (typeof d === "string") return "text " + JSON.stringify(d.length > 40 ? d.slice(0, 40) + "..." : d);
    const b = toBytes(d);
    return b ? "binary [" + Array.from(b.slice(0, 8)).join(",") + (b.length > 8 ? ",..." : "") + "] (" + b.length + " bytes)" : String(d);
  }

  function runSession(Socket, url, opts, params, done) {
    const summary = {
      openTransport: null, upgradedTo: null, finalTransport: null,
      echoed: 0, largeText: false, largeBinary: false, pongs: 0,
      received: {}, closeReason: null, error: null,
    };
    let phase = "open";
    let finished = false;
    const expected = [];
    const largeText = params.large ? "😀é" + "L".repeat(params.large - 3) : null;
    let largeBinary = null;
    if (params.large) {
      largeBinary = new Uint8Array(params.largeBinary || params.large);
      for (let i = 0; i < largeBinary.length; i++) largeBinary[i] = (i * 7) & 0xff;
    }

    const socket = new Socket(url, opts);
    const timer = setTimeout(() => fail("timeout in phase " + phase), params.timeout || 30000);

    function finish() {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      done(summary);
    }

    // fail records the first error and closes the socket; its close event
    // (or, failing that, a timer) ends the run.
    function fail(err) {
      if (finished || summary.error) return;
      summary.error = err;
      summary.finalTransport = socket.transport ? socket.transport.name : null;
      socket.close();
      setTimeout(finish, 2000);
    }

    // watch counts what a transport delivers, before the client decodes it.
    function watch(t) {
      if (!t || t.__watched) return;
      t.__watched = true;
      const onData = t.onData;
      t.onData = function (d) {
        const r = summary.received[t.name] || (summary.received[t.name] = { binary: 0, text: 0, base64: 0 });
        if (typeof d !== "string") r.binary++;
        else if (t.name === "websocket" ? d[0] === "b" : /\d:b\d/.test(d)) r.base64++;
        else r.text++;
        return onData.call(this, d);
      };
    }

    function sendNumbered() {
      for (let i = 0; i < params.count; i++) {
        let m;
        if (i % 2 === 0) {
          m = "n:" + i + (i % 10 === 0 ? " é😀" : "");
        } else {
          m = new Uint8Array([i & 0xff, 0, 0xff, 0x1e, 0x3a, 0x62, 0x34]).buffer; // ... 0x1e ':' 'b' '4'
        }
        expected.push(m);
        socket.send(m);
      }
    }

    function advance() {
      if (phase === "numbered" && summary.echoed === params.count && (!params.upgrade || summary.upgradedTo)) {
        phase = "large-text";
        if (!params.large) return advance2();
        socket.send(largeText);
      }
    }

    function advance2() {
      phase = "pings";
      checkPongs();
    }

    function checkPongs() {
      if (phase !== "pings" || summary.pongs < params.pongs) return;
      phase = "end";
      summary.finalTransport = socket.transport.name;
      socket.close();
    }

    socket.on("open", () => {
      summary.openTransport = socket.transport.name;
      watch(socket.transport);
      phase = "numbered";
      sendNumbered();
    });
    socket.on("upgrading", (t) => watch(t));
    socket.on("upgrade", (t) => {
      summary.upgradedTo = t.name;
      advance();
    });
    socket.on("upgradeError", (e) => fail("upgrade error: " + String(e && e.message ? e.message : e)));
    socket.on("pong", () => {
      summary.pongs++;
      checkPongs();
    });
    socket.on("message", (data) => {
      switch (phase) {
        case "numbered": {
          const want = expected[summary.echoed];
          const ok = typeof want === "string" ? data === want : sameBytes(toBytes(data), new Uint8Array(want));
          if (!ok) return fail("message " + summary.echoed + ": got " + describe(data) + ", want " + describe(want));
          summary.echoed++;
          return advance();
        }
        case "large-text":
          summary.largeText = data === largeText;
          if (!summary.largeText) return fail("large text came back as " + describe(data));
          phase = "large-binary";
          return socket.send(largeBinary.buffer);
        case "large-binary":
          summary.largeBinary = sameBytes(toBytes(data), largeBinary);
          if (!summary.largeBinary) return fail("large binary came back as " + describe(data));
          return advance2();
        default:
          return fail("unexpected message in phase " + phase + ": " + describe(data));
      }
    });
    socket.on("error", (e) => fail("socket error: " + String(e && e.message ? e.message : e)));
    socket.on("close", (reason, desc) => {
      summary.closeReason = reason;
      if (phase !== "end" && !summary.error) {
        summary.error = "closed in phase " + phase + ": " + reason + (desc && desc.message ? " (" + desc.message + ")" : "");
      }
      finish();
    });
  }

  if (typeof module === "object" && module.exports) module.exports = runSession;
  else root.runSession = runSession;
})(this);
