"""A real python-socketio server for the interop tests of chanio's Go
Socket.IO client (package sio). Run it with Debian's /usr/bin/python3
(python3-socketio, python3-aiohttp).

Usage: python3 sioclient_server.py [port=0] [pingInterval=ms] [pingTimeout=ms]

It behaves as js/sioclient_server.js does (see there for the namespaces,
the events and the JSON lines it prints), except that python-socketio 5.7
has no connection state recovery: "ticks" emits to the connected socket
only.
"""

import asyncio
import json
import os
import sys

import socketio
from aiohttp import web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server import parse_args, read_bodies_whole, serve  # noqa: E402  (shared with the Engine.IO peer)


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


stats = {}


def setup(sio, ns):
    async def connect(sid, environ, auth=None):
        if ns == "/admin" and not (isinstance(auth, dict) and auth.get("token") == "secret"):
            raise socketio.exceptions.ConnectionRefusedError("not authorized", {"reason": "bad token"})
        out({"ev": "connect", "nsp": ns, "sid": sid, "auth": auth, "recovered": False})
        await sio.emit("welcome", {"nsp": ns, "sid": sid, "auth": auth, "recovered": False}, to=sid, namespace=ns)

    def disconnect(sid):
        out({"ev": "disconnect", "nsp": ns, "sid": sid, "reason": "disconnect"})

    async def catch_all(event, sid, *args):
        if event == "echo":
            await sio.emit("echo", args, to=sid, namespace=ns)
        elif event == "ack":
            return args
        elif event == "noack":
            # python-socketio acknowledges whatever a handler returns,
            # except this.
            return sio.not_handled
        elif event == "ask":
            ms, rest = args[0], args[1:]
            sio.start_background_task(ask, sid, ms, rest)
        elif event == "count":
            n = args[0]
            s = stats.setdefault(sid, {"count": 0, "next": 0, "inOrder": 0, "outOfOrder": 0, "duplicates": 0, "seen": set()})
            s["count"] += 1
            if n in s["seen"]:
                s["duplicates"] += 1
            s["seen"].add(n)
            if n == s["next"]:
                s["inOrder"] += 1
                s["next"] += 1
            else:
                s["outOfOrder"] += 1
                s["next"] = n + 1
            out({"ev": "count", "nsp": ns, "sid": sid, "n": n})
            return n
        elif event == "stats":
            s = stats.get(sid, {"count": 0, "inOrder": 0, "outOfOrder": 0, "duplicates": 0})
            return {k: s[k] for k in ("count", "inOrder", "outOfOrder", "duplicates")}
        elif event == "burst":
            for i in range(args[0]):
                await sio.emit("n", i, to=sid, namespace=ns)
        elif event == "ticks":
            sio.start_background_task(ticks, sid, args[0])
        elif event == "kick":
            sio.start_background_task(sio.disconnect, sid, ns)
        elif event == "drop":
            eio_sid = sio.manager.eio_sid_from_sid(sid, ns)
            sio.start_background_task(sio.eio.disconnect, eio_sid)

    async def ask(sid, ms, rest):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def answered(*answer):
            if not fut.done():
                fut.set_result(list(answer))

        await sio.emit("question", tuple(rest), to=sid, namespace=ns, callback=answered)
        try:
            answer = await asyncio.wait_for(fut, ms / 1000)
            await sio.emit("answer", {"answer": answer}, to=sid, namespace=ns)
        except asyncio.TimeoutError:
            await sio.emit("answer", {"error": "operation has timed out"}, to=sid, namespace=ns)

    async def ticks(sid, ms):
        i = 0
        while sio.manager.is_connected(sid, ns) and i < 6000:
            await sio.emit("tick", i, to=sid, namespace=ns)
            i += 1
            await asyncio.sleep(ms / 1000)

    sio.on("connect", connect, namespace=ns)
    sio.on("disconnect", disconnect, namespace=ns)
    sio.on("*", catch_all, namespace=ns)


async def main():
    args = parse_args(sys.argv[1:])
    read_bodies_whole()
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        ping_interval=int(args.get("pingInterval", "25000")) / 1000,
        ping_timeout=int(args.get("pingTimeout", "20000")) / 1000,
        max_http_buffer_size=10_000_000,
        # Events of one client are handled in order, one at a time.
        async_handlers=False,
    )
    app = web.Application()
    sio.attach(app)
    for ns in ("/", "/chat", "/admin"):
        setup(sio, ns)

    await serve(app, args)


if __name__ == "__main__":
    asyncio.run(main())
