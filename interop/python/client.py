"""A real python-engineio client session against a server, for chanio's
interop tests.

Usage: python3 client.py <url> <polling|websocket|upgrade> [count] [large_bytes]

It sends a text and a binary message, a large text message of large_bytes
(default 0: none), then <count> numbered text messages, expects each echoed
back exactly once and in order, asks the server to disconnect it
("disconnect:" command of examples/echo) or closes itself, and prints one
JSON summary line that the Go test asserts on.
"""
import json
import sys
import threading

import engineio

from inorder import handle_in_order

url, mode = sys.argv[1], sys.argv[2]
count = int(sys.argv[3]) if len(sys.argv) > 3 else 100
large = int(sys.argv[4]) if len(sys.argv) > 4 else 0
close_by = sys.argv[5] if len(sys.argv) > 5 else "client"

transports = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}[mode]
eio = engineio.Client(request_timeout=10)
handle_in_order(eio)
summary = {"openTransport": None, "finalTransport": None, "text": None, "binary": None,
           "largeOK": large == 0, "inOrder": 0, "duplicates": 0, "outOfOrder": 0,
           "disconnected": False, "error": None}
seen = set()
state = {"next": 0}
all_echoed = threading.Event()
disconnected = threading.Event()
large_msg = "L" * large if large else None
# python-engineio 4.3.4 (Debian 12) posts polling bodies as Latin-1 and its
# write loop dies on anything else, so over polling the text is ASCII.
text = "hello ascii" if mode == "polling" else "hello é 😀"


def check_done():
    if summary["text"] and summary["binary"] and summary["largeOK"] and len(seen) == count:
        all_echoed.set()


@eio.on("message")
def on_message(data):
    if isinstance(data, bytes):
        summary["binary"] = list(data)
    elif data.startswith("n:"):
        i = int(data[2:])
        if i in seen:
            summary["duplicates"] += 1
        seen.add(i)
        if i == state["next"]:
            summary["inOrder"] += 1
            state["next"] += 1
        else:
            summary["outOfOrder"] += 1
    elif large_msg is not None and len(data) == large:
        summary["largeOK"] = data == large_msg
    else:
        summary["text"] = data
    check_done()


@eio.on("disconnect")
def on_disconnect():
    summary["disconnected"] = True
    disconnected.set()


try:
    eio.connect(url, transports=transports)
    summary["openTransport"] = eio.transport()
    eio.send(text)
    eio.send(b"\x01\x02\x03\xff")
    if large_msg is not None:
        eio.send(large_msg)
    for i in range(count):
        eio.send("n:%d" % i)
    if not all_echoed.wait(30):
        summary["error"] = "timeout waiting for echoes"
    summary["finalTransport"] = eio.transport()
    if close_by == "server":
        eio.send("disconnect:")
        if not disconnected.wait(10):
            summary["error"] = summary["error"] or "server did not disconnect us"
    else:
        eio.disconnect()
except Exception as e:  # noqa: BLE001 - report anything to the Go test
    summary["error"] = "%s: %s" % (type(e).__name__, e)
    try:
        eio.disconnect()
    except Exception:  # noqa: BLE001
        pass
print(json.dumps(summary), flush=True)
