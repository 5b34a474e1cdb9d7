// The chat page: the official engine.io-client (global eio from
// /engine.io.js) talking to examples/chat. window.chat holds the page's
// state for the browser tests.
(function () {
  const params = new URLSearchParams(location.search);
  const forced = params.get("transport"); // "polling", "websocket", "webtransport" or null
  // /webtransport.js sets chatWebTransport: null when the server offers no
  // WebTransport, else {hash}: the base64 SHA-256 of its self-signed
  // development certificate ("" for a certificate browsers trust).
  const wt = window.chatWebTransport || null;
  const opts = {
    transports: forced ? [forced] : ["polling", "websocket"],
    upgrade: !forced,
  };
  if (wt) {
    if (!forced) {
      // WebTransport first; a browser without it falls back to polling.
      opts.transports = ["webtransport", "polling", "websocket"];
      opts.tryAllTransports = true;
    }
    if (wt.hash) {
      const value = Uint8Array.from(atob(wt.hash), (c) => c.charCodeAt(0));
      opts.transportOptions = { webtransport: { serverCertificateHashes: [{ algorithm: "sha-256", value }] } };
    }
  }
  const socket = eio(opts);
  const state = (window.chat = {
    connected: false, transport: null, upgraded: false, name: null,
    messages: [], binary: [], leaves: [], closed: null,
    send(text) { socket.send(text); },
    close() { socket.close(); },
    sendBytes(bytes) { socket.send(new Uint8Array(bytes).buffer); },
  });
  const log = document.getElementById("log");
  const transportEl = document.getElementById("transport");

  function line(text, cls) {
    const p = document.createElement("p");
    p.textContent = text;
    if (cls) p.className = cls;
    log.appendChild(p);
    log.scrollTop = log.scrollHeight;
  }
  // here says how many are in the room: on the whole server, or on the
  // cluster node of the person who joined or left (examples/cluster).
  function here(n) {
    return n.count + (n.node ? " on node " + n.node : " here");
  }
  function showTransport() {
    state.transport = socket.transport.name;
    transportEl.textContent = state.transport;
  }

  const stateEl = document.getElementById("state");
  socket.on("open", () => {
    state.connected = true;
    stateEl.textContent = "connected,";
    showTransport();
    line("connected over " + state.transport, "sys");
  });
  socket.on("upgrade", () => {
    state.upgraded = true;
    showTransport();
    line("upgraded to " + state.transport, "sys");
  });
  socket.binaryType = "arraybuffer";
  socket.on("message", (data) => {
    if (typeof data !== "string") {
      const bytes = Array.from(new Uint8Array(data));
      state.binary.push(bytes);
      line("bytes came back: [" + bytes.join(", ") + "]", "sys");
      return;
    }
    const n = JSON.parse(data);
    switch (n.type) {
      case "welcome":
        state.name = n.name;
        document.getElementById("me").textContent = "— you are " + n.name + (n.node ? " on node " + n.node : "");
        break;
      case "join": line(n.name + " joined (" + here(n) + ")", "sys"); break;
      case "leave":
        state.leaves.push(n);
        line(n.name + " left: " + n.text + " (" + here(n) + ")", "sys");
        break;
      case "chat":
        state.messages.push(n);
        line(n.name + ": " + (n.text.length > 200 ? n.text.slice(0, 200) + "… (" + n.text.length + " characters)" : n.text));
        break;
    }
  });
  socket.on("close", (reason) => {
    state.connected = false;
    state.closed = reason;
    stateEl.textContent = "disconnected,";
    transportEl.textContent = "closed (" + reason + ")";
  });

  document.getElementById("form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = document.getElementById("text");
    if (input.value) socket.send(input.value);
    input.value = "";
  });
  document.getElementById("bytes").addEventListener("click", () => {
    state.sendBytes([1, 2, 3, 250]);
  });
})();
