"""A real python-engineio server that echoes every message, for chanio's
interop tests of eio.Client. Run it with Debian's /usr/bin/python3
(python3-engineio, python3-aiohttp).

Usage: python3 server.py [port=0] [pingInterval=ms] [pingTimeout=ms]
                         [maxHttpBufferSize=bytes]

(aiohttp always accepts permessage-deflate, so perMessageDeflate=1 is
accepted and changes nothing.)

It prints "listening on http://127.0.0.1:PORT" once ready. Text and binary
messages come back as they came; the text message "close" makes the server
close that socket instead (a server-initiated close). A handshake carrying
the header X-Refuse is refused.
"""

import asyncio
import signal
import sys

import engineio
from aiohttp import web


def read_bodies_whole():
    """Work around python-engineio 4.3.4's aiohttp driver: a polling POST
    is read with one wsgi.input.read(length), and aiohttp's stream returns
    only what has arrived so far, so a large POST body (hundreds of KB) is
    cut short and its last message truncated. Make read(n) read n bytes, as
    the WSGI contract the driver emulates promises."""
    from engineio.async_drivers import aiohttp as driver

    class WholeReader:
        def __init__(self, stream):
            self.stream = stream

        async def read(self, n=-1):
            if n is None or n < 0:
                return await self.stream.read()
            try:
                return await self.stream.readexactly(n)
            except asyncio.IncompleteReadError as e:
                return e.partial

    translate = driver.translate_request

    def translate_request(request):
        environ = translate(request)
        environ["wsgi.input"] = WholeReader(environ["wsgi.input"])
        return environ

    driver._async["translate_request"] = translate_request


def parse_args(argv):
    args = {}
    for a in argv:
        name, _, value = a.partition("=")
        args[name] = value
    return args


async def main():
    args = parse_args(sys.argv[1:])
    read_bodies_whole()
    eio = engineio.AsyncServer(
        async_mode="aiohttp",
        ping_interval=int(args.get("pingInterval", "25000")) / 1000,
        ping_timeout=int(args.get("pingTimeout", "20000")) / 1000,
        max_http_buffer_size=int(args.get("maxHttpBufferSize", "1000000")),
        # Messages of one session are handled in order, one at a time.
        async_handlers=False,
    )
    app = web.Application()
    eio.attach(app)

    @eio.on("connect")
    def connect(sid, environ):
        # A handshake with the header X-Refuse is refused (401).
        return "HTTP_X_REFUSE" not in environ

    async def disconnect_soon(sid):
        # python-engineio 4.3.4 answers a polling GET that arrives between
        # its close and the removal of the session with a 500 (KeyError
        # "Session is disconnected") instead of the queued close packet.
        # The client always has a GET held, but the POST that carried
        # "close" can overtake a GET just sent; wait for it to be held.
        await asyncio.sleep(0.2)
        await eio.disconnect(sid)

    @eio.on("message")
    async def message(sid, data):
        if data == "close":
            # In the background: disconnect waits for the close packet to
            # be sent, which the handler must not hold up.
            eio.start_background_task(disconnect_soon, sid)
            return
        await eio.send(sid, data)

    await serve(app, args)


async def serve(app, args):
    """Serve app on 127.0.0.1 at args["port"] (0: any free port), print
    "listening on URL", and return after SIGTERM or SIGINT."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(args.get("port", "0")))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
