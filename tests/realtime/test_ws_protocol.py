"""The lean WebSocket protocol (``realtime/ws_protocol.py``): its inbox and write gate, and a
real uvicorn server speaking it (handshake released, messages in order, backpressure)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from liveshop.realtime.ws_protocol import WS_PROTOCOL, Gate, Inbox, LeanWebSocketProtocol


async def test_inbox_is_fifo_and_a_waiting_reader_gets_the_next_item() -> None:
    inbox = Inbox()
    assert inbox.empty()
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.qsize() == 2
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not reader.done()
    inbox.put_nowait(3)
    assert await reader == 3
    assert inbox.empty()


async def test_a_cancelled_reader_passes_its_item_on() -> None:
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("x")  # wakes the first reader ...
    first.cancel()  # ... which is cancelled before it runs
    assert await second == "x"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert inbox.empty()


async def test_gate_wait_does_not_suspend_when_open_and_releases_every_waiter() -> None:
    gate = Gate()
    steps = gate.wait().__await__()
    with pytest.raises(StopIteration):
        steps.send(None)  # open: done without yielding to the loop
    gate.clear()
    assert not gate.is_set()
    waiters = [asyncio.create_task(gate.wait()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters)
    gate.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    cancelled = None
    gate.clear()
    cancelled = asyncio.create_task(gate.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    gate.set()  # no waiter left behind to trip over


class _Echo:
    """Accepts, then echoes every text message; ``flood`` sends N messages without reading."""

    def __init__(self) -> None:
        self.sent = 0
        self.flood_done = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message["text"]
            if text.startswith("flood "):
                for i in range(int(text.split()[1])):
                    await send({"type": "websocket.send", "text": f"{i:08d}" + "x" * 16000})
                    self.sent += 1
                self.flood_done.set()
            else:
                await send({"type": "websocket.send", "text": text})


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[uvicorn.Server, _Echo, int]]:
    app = _Echo()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_level="warning", ws=WS_PROTOCOL
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield server, app, port
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)


def _protocols(server: uvicorn.Server) -> list[LeanWebSocketProtocol]:
    return [p for p in server.server_state.connections if isinstance(p, LeanWebSocketProtocol)]


async def test_a_real_server_speaks_it_and_releases_the_handshake(
    echo_server: tuple[uvicorn.Server, _Echo, int],
) -> None:
    server, _, port = echo_server
    async with connect(
        f"ws://127.0.0.1:{port}/any", additional_headers={"X-Big": "y" * 2000}
    ) as ws:
        for i in range(20):
            await ws.send(f"m{i}")
        assert [await ws.recv() for _ in range(20)] == [f"m{i}" for i in range(20)]
        (protocol,) = _protocols(server)
        assert isinstance(protocol.queue, Inbox) and isinstance(protocol.writable, Gate)
        assert protocol.request is None and protocol.response is None
        assert protocol.queue.empty()


async def _raw_client(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A WebSocket client that reads only when told to (a phone on a bad network)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /any HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def _masked_text(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return (
        bytes([0x81, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


async def test_a_reader_that_stops_reading_holds_the_writer_until_it_reads_again(
    echo_server: tuple[uvicorn.Server, _Echo, int],
) -> None:
    server, app, port = echo_server
    count = 2000  # about 32 MB: far past the socket buffers
    reader, writer = await _raw_client(port)
    writer.write(_masked_text(f"flood {count}"))
    await asyncio.sleep(0.5)
    (protocol,) = _protocols(server)
    assert not app.flood_done.is_set() and app.sent < count  # paused, waiting on the gate
    assert not protocol.writable.is_set()
    total = 0
    while not app.flood_done.is_set():  # read again: the writer goes on to the end
        total += len(await asyncio.wait_for(reader.read(1 << 20), 5))
    assert app.sent == count and total > 0
    writer.close()
