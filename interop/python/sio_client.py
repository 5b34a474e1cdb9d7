"""python-socketio's client (Debian's python3-socketio) against chanio's sio
server (the application in interop/sioapp_test.go), for the interop tests.

Usage: python3 sio_client.py <url> <polling|websocket|upgrade>

It checks auth accepted and refused, namespaces on one connection, events
with text, numbers, nested JSON and binary, acknowledgements both ways and
their timeouts, rooms with a broadcast and acknowledgements from many
sockets, 1,000 numbered events each way in order, and a disconnect by the
server; it prints one JSON summary line that the Go test asserts on.
"""
import json
import sys
import threading
import time

import socketio

from inorder import handle_in_order

url, mode = sys.argv[1], sys.argv[2]
transports = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}[mode]
# python-engineio 4.3.4 (Debian 12) posts polling bodies as Latin-1 (see
# client.py): over polling the text stays ASCII.
text = "text ascii" if mode == "polling" else "text é 😀"
summary = {"error": None}
clients = []


class Waiter:
    """Collects events by name; wait() returns the next one's arguments."""

    def __init__(self):
        self.cond = threading.Condition()
        self.got = {}

    def put(self, name, args):
        with self.cond:
            self.got.setdefault(name, []).append(args)
            self.cond.notify_all()

    def wait(self, name, timeout=10):
        with self.cond:
            if not self.cond.wait_for(lambda: self.got.get(name), timeout):
                raise RuntimeError("timeout waiting for " + name)
            return self.got[name].pop(0)


def client(namespaces, auth=None, handlers=None):
    c = socketio.Client(request_timeout=10)
    handle_in_order(c.eio)
    w = Waiter()
    for ns in namespaces:
        for name in ["welcome", "echo", "answer-was", "room-msg", "room-ack-result", "disconnect-seen"]:
            c.on(name, (lambda n: lambda *args: w.put(n, list(args)))(name), namespace=ns)
        c.on("connect_error", lambda data=None, ns=ns: w.put("connect_error" + ns, data), namespace=ns)
        for name, fn in (handlers or {}).items():
            c.on(name, fn, namespace=ns)
    clients.append(c)
    return c, w


def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return {"bin": list(v)}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(v[k]) for k in sorted(v)}
    return v


try:
    # Connect with an auth payload.
    a, wa = client(["/"], handlers={"question": lambda q: ("answer:" + q, b"\x07")})
    a.connect(url, auth={"token": "t1"}, transports=transports, namespaces=["/"], wait_timeout=10)
    w = wa.wait("welcome")[0]
    summary["welcome"] = w["id"] == a.get_sid("/") and w["auth"] == {"token": "t1"} and w["ns"] == "/"
    summary["transport"] = a.transport()

    # Events with text, numbers, nested JSON and binary.
    sent = [text, 42, -3.5, True, None, {"a": {"b": [1, "x", {"c": None}]}}, b"\x01\x02\x03", {"nested": b"\x06", "list": [b"\x07"]}]
    a.emit("echo", tuple(sent))
    summary["echo"] = plain(wa.wait("echo")) == plain(sent)

    # Acknowledgements both ways, with binary, and their timeouts.
    summary["clientAck"] = plain(a.call("ack", ("a", 1, b"\x09"), timeout=5)) == plain(["a", 1, b"\x09"])
    a.emit("ask", "why")
    summary["serverAck"] = plain(wa.wait("answer-was")) == plain(["answer:why", b"\x07"])
    try:
        a.call("silent", timeout=0.3)
        summary["clientAckTimeout"] = "answered"
    except socketio.exceptions.TimeoutError:
        summary["clientAckTimeout"] = "timeout"
    # python-socketio acknowledges an event it has no handler for: this one
    # answers after the server's 300 ms.
    a.on("question-silent", lambda q: time.sleep(1))
    a.emit("ask-silent", "q")
    summary["serverAckTimeout"] = wa.wait("answer-was")[0]

    # Namespaces: refused and accepted by the middleware, and several on
    # one connection.
    r, wr = client(["/admin"])
    try:
        r.connect(url, auth={"token": "bad"}, transports=transports, namespaces=["/admin"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        pass
    summary["refused"] = wr.wait("connect_error/admin")
    m, wm = client(["/", "/admin", "/custom"])
    m.connect(url, auth={"token": "secret"}, transports=transports, namespaces=["/", "/admin", "/custom"], wait_timeout=10)
    welcomes = sorted(wm.wait("welcome")[0]["ns"] for _ in range(3))
    summary["multiplexed"] = welcomes == ["/", "/admin", "/custom"] and len(set(m.get_sid(ns) for ns in ["/", "/admin", "/custom"])) == 3
    m.emit("echo", "in custom", namespace="/custom")
    summary["customEcho"] = wm.wait("echo")[0]

    # Rooms: a and b in room r, m not.
    b, wb = client(["/"], handlers={"room-question": lambda: "b"})
    b.connect(url, transports=transports, namespaces=["/"], wait_timeout=10)
    a.on("room-question", lambda: "a")
    a.call("join", "r", timeout=5)
    b.call("join", "r", timeout=5)
    a.call("to-room", ("r", "hi"), timeout=5)
    got = {"a": wa.wait("room-msg")[0], "b": wb.wait("room-msg")[0]}
    m.emit("echo", "marker")
    wm.wait("echo")
    got["c"] = len(wm.got.get("room-msg", []))
    summary["rooms"] = {"a": int(got["a"] == "hi"), "b": int(got["b"] == "hi"), "c": got["c"]}
    a.emit("room-ack", "r")
    summary["roomAck"] = wa.wait("room-ack-result")

    # 1,000 numbered events each way, in order.
    back = []
    all_back = threading.Event()
    nums = []
    all_nums = threading.Event()

    def on_back(i):
        back.append(i)
        if len(back) == 1000:
            all_back.set()

    def on_num(i):
        nums.append(i)
        if len(nums) == 1000:
            all_nums.set()

    a.on("numbered-back", on_back)
    a.on("num", on_num)
    for i in range(1000):
        a.emit("numbered", i)
    if not all_back.wait(30):
        raise RuntimeError("numbered-back: %d of 1000" % len(back))
    summary["serverInOrder"] = a.call("numbered-done", timeout=5)
    summary["clientInOrder"] = sum(1 for i, v in enumerate(back) if i == v)
    a.emit("send-numbered", 1000)
    if not all_nums.wait(30):
        raise RuntimeError("num: %d of 1000" % len(nums))
    summary["numInOrder"] = sum(1 for i, v in enumerate(nums) if i == v)

    # The server disconnects b.
    gone = threading.Event()
    b.on("disconnect", lambda: gone.set())
    b.emit("disconnect-me")
    summary["serverDisconnect"] = "io server disconnect" if gone.wait(10) else "none"
    summary["finalTransport"] = a.transport()
except Exception as e:  # noqa: BLE001 - any failure goes in the summary
    summary["error"] = "%s: %s" % (type(e).__name__, e)
finally:
    for c in clients:
        try:
            c.disconnect()
        except Exception:  # noqa: BLE001
            pass
print(json.dumps(summary))
sys.stdout.flush()
