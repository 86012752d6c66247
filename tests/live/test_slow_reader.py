"""A slow reader on a real socket: it stops reading during a chat flood. Everyone else gets
every message; the slow one keeps only priority events, then is closed with 4008 and resyncs.

Small queue bounds and a short tick make the bounds reachable in a test's time."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from liveshop.config import Settings
from liveshop.deps import Runtime
from liveshop.live.events import parse_server_message
from tests.live.conftest import LiveServer, Room

pytestmark = pytest.mark.usefixtures("backend")

CHATS = 6_000
TEXT = "x" * 2_000  # 6,000 x 2 KB: more than the kernel's socket buffers hold


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"hub_tick_ms": 20, "hub_queue_soft": 2, "hub_queue_hard": 6})


async def test_a_slow_reader_is_dropped_to_priority_then_closed_and_others_get_everything(
    live_room: Room, open_room: Any, client: Any, runtime: Runtime, live_server: LiveServer
) -> None:
    fast = await open_room(live_room.id)
    slow = await SlowReader.open(live_server, live_room.id)  # reads nothing until told
    base = f"/live/sessions/{live_room.id}"
    pins = [live_room.item_ids[i % 2] for i in range(CHATS // 200)]

    async def flood() -> None:
        for i in range(CHATS):
            message = {
                "type": "chat",
                "id": f"m{i:05d}",
                "text": TEXT,
                "user": {"id": "u", "name": "u"},
                "at": "2026-01-01T00:00:00+00:00",
            }
            await runtime.rooms.publish_chat(live_room.id, message)
            if i % 200 == 0:
                j = i // 200
                if j < len(pins):
                    r = await client.post(
                        f"{base}/pin", json={"item_id": pins[j]}, headers=live_room.anchor.headers
                    )
                    assert r.status_code == 200
                await asyncio.sleep(0.03)  # a few ticks: frames pile up for the slow reader

    await flood()
    # the slow one reads again now: the server gives a stuck socket 2 s to take the close
    # frame, and on a busy machine the fast reader's 12 MB can take longer than that
    slow_closed = asyncio.create_task(slow.read_to_close(within=30))
    await fast.wait_for(lambda e: e.get("id") == f"m{CHATS - 1:05d}", within=30)
    fast_chat = [e["id"] for e in fast.events() if e.get("type") == "chat"]
    assert fast_chat == [f"m{i:05d}" for i in range(CHATS)]
    fast_pins = [e for e in fast.events() if e.get("type") == "product.pinned"]
    assert [e["item"]["id"] for e in fast_pins] == pins

    code = await slow_closed
    # 4008, or (the close frame could not reach it within the server's 2 s: on a busy machine
    # this test's one event loop is also parsing the fast reader's 12 MB) cut without one;
    # either way the server closed it as too slow, and only it
    assert code in (4008, None)
    assert runtime.metrics.room_slow_closed._value.get() == 1
    for message in slow.messages:
        parse_server_message(message)
    slow_chat = [e for e in slow.events() if e.get("type") == "chat"]
    assert len(slow_chat) < CHATS  # chat was dropped for it
    slow_pins = [e for e in slow.events() if e.get("type") == "product.pinned"]
    seqs = [e["seq"] for e in slow_pins]
    # what it did get of the priority stream after its snapshot is a gap-free, in-order prefix
    fast_seqs = [e["seq"] for e in fast_pins]
    after_snapshot = [s for s in fast_seqs if s > slow.messages[0]["seq"]]
    assert seqs == after_snapshot[: len(seqs)]

    # the client resyncs: a resume from its last seq returns exactly what it missed
    last_seq = seqs[-1] if seqs else slow.messages[0]["seq"]
    again = await open_room(live_room.id, last_seq=last_seq)
    if again.first["type"] == "resume":
        got = [e["seq"] for e in again.first["events"]]
        assert got == [s for s in fast_seqs if s > last_seq]
    else:
        assert again.first["snapshot"]["pinned"]["id"] == pins[-1]


class SlowReader:
    """A real WebSocket client (websockets' sans-I/O protocol over a plain socket) that reads
    nothing until ``read_to_close``: a stalled phone on a bad network."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, server: LiveServer, session_id: str) -> SlowReader:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)  # no autotuning
        sock.setblocking(False)
        await loop.sock_connect(sock, (server.host, server.port))
        protocol = ClientProtocol(parse_uri(f"{server.ws_base}/ws/rooms/{session_id}"))
        protocol.send_request(protocol.connect())
        reader = cls(sock, protocol)
        await reader._flush()
        while protocol.state is not State.OPEN:
            protocol.receive_data(await loop.sock_recv(sock, 65536))
            reader._collect()
        protocol.send_text(orjson.dumps({"type": "hello"}))
        await reader._flush()
        return reader

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        for chunk in self.protocol.data_to_send():
            if chunk:
                await loop.sock_sendall(self.sock, chunk)

    def _collect(self) -> int | None:
        for event in self.protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.messages.append(orjson.loads(event.data))
        close = self.protocol.close_rcvd
        return close.code if close is not None else None

    def events(self) -> list[dict[str, Any]]:
        return [e for m in self.messages for e in m.get("events", [])]

    async def read_to_close(self, within: float) -> int | None:
        """Read everything the server sent until it closes; the close code."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                while True:
                    data = await loop.sock_recv(self.sock, 1 << 20)
                    if not data:
                        self.protocol.receive_eof()
                    else:
                        self.protocol.receive_data(data)
                    code = self._collect()
                    if code is not None or not data:
                        return code
        finally:
            self.sock.close()
