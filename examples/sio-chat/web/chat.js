// The chat page: the official socket.io-client (global io from
// /socket.io.min.js) talking to examples/sio-chat. window.chat holds the
// page's state for tests.
(function () {
  const params = new URLSearchParams(location.search);
  const forced = params.get("transport"); // "polling", "websocket" or null
  const $ = (id) => document.getElementById(id);
  const state = (window.chat = { connected: false, name: null, room: null, transport: null, messages: [], notices: [], socket: null });

  function line(text, cls) {
    const p = document.createElement("p");
    p.textContent = text;
    if (cls) p.className = cls;
    $("log").appendChild(p);
    $("log").scrollTop = $("log").scrollHeight;
    return p;
  }
  function showRooms(rooms) {
    $("rooms").textContent = rooms && rooms.length ? "rooms: " + rooms.sort().join(", ") : "";
  }

  function connect(name) {
    const socket = io({
      auth: { name },
      transports: forced ? [forced] : ["polling", "websocket"],
      upgrade: !forced,
    });
    state.socket = socket;
    state.name = name;
    socket.on("connect", () => {
      state.connected = true;
      $("state").textContent = socket.recovered ? "connected again (recovered)" : "connected as " + name;
      state.transport = socket.io.engine.transport.name;
      $("transport").textContent = state.transport;
      socket.io.engine.once("upgrade", (t) => { state.transport = t.name; $("transport").textContent = t.name; });
      socket.emit("rooms", showRooms);
    });
    socket.on("connect_error", (err) => {
      $("state").textContent = "refused: " + err.message;
      if (!socket.active) { socket.disconnect(); $("login").style.display = ""; }
    });
    socket.on("disconnect", (reason) => {
      state.connected = false;
      $("state").textContent = "disconnected (" + reason + ")";
    });
    socket.on("said", (m) => {
      state.messages.push(m);
      line(m.name + ": " + m.text);
    });
    socket.on("joined", (who, room, count) => {
      if (who === name) { state.room = room; $("room").textContent = room; }
      state.notices.push({ joined: who, room });
      line(who + " joined " + room + " (" + count + " here)", "sys");
    });
    socket.on("left", (who, room, count) => {
      state.notices.push({ left: who, room });
      line(who + " left " + room + " (" + count + " here)", "sys");
    });
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("name").value.trim();
    if (!name) return;
    $("login").style.display = "none";
    connect(name);
  });
  $("joinform").addEventListener("submit", (e) => {
    e.preventDefault();
    const room = $("newroom").value.trim();
    if (!room || !state.socket) return;
    state.socket.emit("join", room, showRooms);
    $("newroom").value = "";
  });
  $("form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value;
    if (!text.trim() || !state.socket) return;
    // The server acknowledges each message; until then it shows as sent.
    state.socket.timeout(5000).emit("say", text, (err, ok) => {
      if (err || !ok) line("(not delivered: " + text + ")", "sys");
    });
    $("text").value = "";
  });
  if (params.get("name")) { $("name").value = params.get("name"); $("login").requestSubmit(); }
})();
