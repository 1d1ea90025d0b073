#!/usr/bin/python3
"""tests/interop/ws_python.py — weft's WebSocket against the Python `websockets`
library (Debian python3-websockets), an implementation we did not write.

    /usr/bin/python3 tests/interop/ws_python.py PORT WS_ECHO_BINARY

PORT: a running build/examples/ws_echo. Its Python client side talks to our
server (/echo: text, empty, UTF-8, binary, a 100 KB compressible text with
permessage-deflate, a fragmented message, ping/pong, a clean close with code
and reason; /chat between two clients); its server side (a websockets echo
server, with and without compression) is the peer of our client
(ws_echo --echo-client). Ends with "ws_python: N passed, N failed".
"""
import asyncio
import os
import sys

import websockets

PORT = int(sys.argv[1])
BINARY = sys.argv[2]
passed = failed = 0


def result(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok   {name}")
    else:
        failed += 1
        print(f"  FAIL {name}: {why}")


async def python_client_echo():
    uri = f"ws://127.0.0.1:{PORT}/echo"
    async with websockets.connect(uri, compression="deflate", max_size=2**21) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        result("python client: permessage-deflate negotiated", "permessage-deflate" in ext, ext)
        cases = [
            ("text", "hello"),
            ("empty text", ""),
            ("utf-8 text", "κόσμε 😀"),
            ("binary 70 KB", os.urandom(70000)),
            ("compressible text 100 KB", "compress me " * 8334),
        ]
        for name, msg in cases:
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 5)
            result(f"python client: echo {name}", got == msg, f"{len(got)} vs {len(msg)}")
        await ws.send(["frag", "men", "ted"])  # one message in three frames
        got = await asyncio.wait_for(ws.recv(), 5)
        result("python client: fragmented message", got == "fragmented", repr(got))
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        result("python client: ping answered", True)
        await ws.close(4000, "done")
        result("python client: clean close", ws.close_code == 4000, f"code {ws.close_code}")


async def recv_until(ws, want, secs=10):
    """The room's messages on ws until want (others skipped): want, or the
    last one seen (None: none) when want did not come within secs."""
    last = None

    async def loop():
        nonlocal last
        while last != want:
            last = await ws.recv()
        return last

    try:
        return await asyncio.wait_for(loop(), secs)
    except asyncio.TimeoutError:
        return last


async def python_client_chat():
    uri = f"ws://127.0.0.1:{PORT}/chat"
    async with websockets.connect(uri) as a, websockets.connect(uri) as b:
        # b is in the room once its own message comes back (the server
        # subscribes a connection after the 101, before it reads from it; a
        # 0.2 s sleep stood here, short on a loaded machine); a's message
        # below is read by its own server task after a subscribed
        await b.send("b here")
        joined = await recv_until(b, "b here")
        await a.send("hi from a")
        got_a = await recv_until(a, "hi from a")
        got_b = await recv_until(b, "hi from a")
        result("python clients: chat room", joined == "b here" and got_a == got_b == "hi from a",
               f"{joined!r} {got_a!r} {got_b!r}")


async def our_client(compression):
    async def echo(ws, path=None):
        async for m in ws:
            await ws.send(m)

    async with websockets.serve(echo, "127.0.0.1", 0, compression=compression,
                                max_size=2**21) as srv:
        port = srv.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            BINARY, "--echo-client", f"ws://127.0.0.1:{port}/",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        text = out.decode(errors="replace")
        result(f"our client vs python server (compression={compression})",
               proc.returncode == 0 and "ws_echo echo-client: ok" in text, text.strip())


async def main():
    for step in (python_client_echo, python_client_chat,
                 lambda: our_client("deflate"), lambda: our_client(None)):
        try:
            await step()
        except Exception as e:  # a failure of one step is reported, the rest still run
            result(getattr(step, "__name__", "step"), False, repr(e))


asyncio.run(main())
print(f"ws_python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
