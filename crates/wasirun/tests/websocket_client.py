"""A real WebSocket client (Python's `websockets`) for wasirun's WebSocket
tests (`websocket.rs`): `websocket_client.py MODE URI [ARG]`, one line per
result on stdout, a non-zero exit on a failure it can tell.
"""

import asyncio
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatusCode


async def echo(uri, count):
    """Sends `count` messages, text and binary in turn, while reading the
    echoes, which must come back in order."""
    async with websockets.connect(uri, subprotocols=["echo"], max_size=None) as ws:
        assert ws.subprotocol == "echo", ws.subprotocol
        sent = [f"message {i} " + "x" * (i % 200) if i % 2 == 0
                else bytes([i % 256]) * (i % 300 + 1) for i in range(count)]

        async def send():
            for message in sent:
                await ws.send(message)

        sender = asyncio.create_task(send())
        for i, message in enumerate(sent):
            back = await ws.recv()
            if back != message:
                sys.exit(f"message {i}: sent {message!r:.60}, got {back!r:.60}")
        await sender
        print(f"echoed {count}")


async def ping(uri):
    async with websockets.connect(uri) as ws:
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        # The guest never sees the ping: the next message is the echo.
        await ws.send("after the ping")
        print("pong", await ws.recv())


async def closed_after(uri, message):
    """Sends `message` (if any) and prints the close the server sends."""
    async with websockets.connect(uri, max_size=None) as ws:
        start = time.monotonic()
        if message is not None:
            await ws.send(message)
        try:
            while True:
                print("message", await ws.recv())
        except ConnectionClosed:
            pass
        print(f"closed {ws.close_code} {ws.close_reason} {time.monotonic() - start:.1f}s")


async def ask(uri, message):
    """Sends `message`, prints the first answer (binary: its length)."""
    async with websockets.connect(uri, max_size=None) as ws:
        await ws.send(message)
        answer = await ws.recv()
        print(f"binary {len(answer)}" if isinstance(answer, bytes) else f"text {answer}")


async def abrupt(uri):
    """Drops the connection without a close."""
    ws = await websockets.connect(uri)
    await ws.send("hi")
    print("echo", await ws.recv())
    ws.transport.abort()
    print("aborted")


async def status(uri):
    """Prints the status of a refused handshake."""
    try:
        async with websockets.connect(uri):
            print("open")
    except InvalidStatusCode as refused:
        print(f"status {refused.status_code}")


async def count(uri, n):
    """Opens `n` WebSockets, holds them, and tries one more."""
    held = [await websockets.connect(uri) for _ in range(n)]
    print(f"open {n}")
    await status(uri)
    for ws in held:
        await ws.close()
    # Once they end, there is room again.
    await asyncio.sleep(0.5)
    await status(uri)


async def chat(uri):
    """Two clients in one room take turns."""
    async with websockets.connect(uri) as a, websockets.connect(uri) as b:
        for client, name, line in [(a, "a", "hello from a"), (b, "b", "hello from b"),
                                   (a, "a", "bye from a")]:
            await client.send(line)
            print(name, repr(await client.recv()))


async def wait_close(uri):
    """Says it is open, then waits for the server's close (shutdown)."""
    async with websockets.connect(uri) as ws:
        print("open", flush=True)
        try:
            await asyncio.wait_for(ws.recv(), 60)
        except ConnectionClosed:
            pass
        print(f"closed {ws.close_code}")


def main():
    mode, uri, *args = sys.argv[1:]
    run = {
        "echo": lambda: echo(uri, int(args[0])),
        "ping": lambda: ping(uri),
        "send": lambda: closed_after(uri, args[0] if args else None),
        "oversize": lambda: closed_after(uri, b"\0" * int(args[0])),
        "ask": lambda: ask(uri, args[0]),
        "ask-binary": lambda: ask(uri, b"\0" * int(args[0])),
        "abrupt": lambda: abrupt(uri),
        "status": lambda: status(uri),
        "count": lambda: count(uri, int(args[0])),
        "chat": lambda: chat(uri),
        "wait-close": lambda: wait_close(uri),
    }[mode]
    # A server that stops answering fails the test rather than hang it.
    asyncio.run(asyncio.wait_for(run(), 60))


if __name__ == "__main__":
    main()
