"""The hub's fan-out rules with controlled sockets: frames batched per tick and encoded once,
a slow reader loses chat but never priority events, and is closed past the hard bound."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from liveshop.observability import Metrics
from liveshop.realtime.broker import MemoryBroker
from liveshop.realtime.hub import CLOSE_TOO_SLOW, Connection, Hub


class Socket:
    """A socket whose writes can be held (a phone on a bad network)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.open = asyncio.Event()
        self.open.set()

    async def send(self, text: str) -> None:
        await self.open.wait()
        self.sent.append(text)

    def events(self) -> list[dict[str, Any]]:
        return [e for text in self.sent for e in orjson.loads(text)["events"]]


def make_hub(**kwargs: Any) -> tuple[Hub, MemoryBroker]:
    broker = MemoryBroker(ring_size=64)
    options: dict[str, Any] = {"tick_ms": 20, "soft": 4, "hard": 12}
    options.update(kwargs)
    return Hub(broker, node="n1", metrics=Metrics(), **options), broker


async def join(hub: Hub, room: str, socket: Socket, viewer: str) -> Connection:
    conn = hub.connection(viewer=viewer, account_id=viewer, send=socket.send)
    await hub.join(room, conn)
    conn.ready = True
    return conn


async def test_one_frame_per_tick_encoded_once_for_every_connection() -> None:
    hub, _ = make_hub(tick_ms=10_000)  # ticks driven by hand
    sockets = [Socket() for _ in range(3)]
    conns = [await join(hub, "r", s, f"v{i}") for i, s in enumerate(sockets)]
    for i in range(5):
        await hub.publish("r", {"type": "chat", "id": str(i), "text": f"m{i}"})
    await hub.publish_priority("r", {"type": "announcement", "text": "hi"})
    await hub.flush(hub.rooms["r"])
    assert all(not c.queue and not c.busy for c in conns)  # idle sockets: written at once
    frames = [s.sent[0] for s in sockets]
    assert all(f is frames[0] for f in frames)  # the same str object: encoded once
    frame = orjson.loads(frames[0])
    assert frame["seq"] == 1
    assert [e["type"] for e in frame["events"]] == ["chat"] * 5 + ["announcement", "counters"]
    assert frame["events"][-1]["online"] == 3
    await hub.close()


async def test_slow_reader_keeps_priority_events_and_latest_counters_only() -> None:
    hub, _ = make_hub(tick_ms=10_000, soft=2, hard=50)
    fast, slow = Socket(), Socket()
    fast_conn = await join(hub, "r", fast, "fast")
    slow_conn = await join(hub, "r", slow, "slow")
    writers = [asyncio.create_task(c.drain()) for c in (fast_conn, slow_conn)]
    slow.open.clear()  # the slow phone stops reading
    room = hub.rooms["r"]
    for round_ in range(10):
        await hub.publish("r", {"type": "chat", "id": f"c{round_}", "text": "x"})
        hub.like("r", 1)
        if round_ in (3, 7):
            await hub.publish_priority("r", {"type": "product.pinned", "n": round_})
        await hub.flush(room)
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    # the fast reader got everything
    fast_events = fast.events()
    assert [e["id"] for e in fast_events if e["type"] == "chat"] == [f"c{i}" for i in range(10)]
    # the slow one: its backlog holds both pins in order and no chat beyond the soft bound
    slow.open.set()
    await asyncio.sleep(0.05)
    slow_events = slow.events()
    pins = [e["n"] for e in slow_events if e["type"] == "product.pinned"]
    assert pins == [3, 7]
    assert [e["seq"] for e in slow_events if "seq" in e] == [1, 2]
    slow_chat = [e for e in slow_events if e["type"] == "chat"]
    assert len(slow_chat) < 10
    assert slow_events[-1]["type"] == "counters" and slow_events[-1]["likes"] == 10
    assert slow_conn.close_code is None
    for w in writers:
        w.cancel()
    await hub.close()


async def test_reader_past_the_hard_bound_is_closed_with_4008() -> None:
    hub, _ = make_hub(tick_ms=10_000, soft=2, hard=5)
    slow = Socket()
    slow.open.clear()
    conn = await join(hub, "r", slow, "slow")
    woken: list[int | None] = []
    conn.wake = lambda: woken.append(conn.close_code)
    room = hub.rooms["r"]
    for i in range(10):
        await hub.publish_priority("r", {"type": "announcement", "i": i})
        await hub.flush(room)
        await asyncio.sleep(0)
    # closed even though its write is stuck; the owner (the endpoint) is told at once
    assert conn.close_code == CLOSE_TOO_SLOW and woken == [CLOSE_TOO_SLOW]
    await asyncio.sleep(0)
    assert conn.writer is None and conn.inflight is None  # the stuck writer was cancelled
    slow.open.set()
    await asyncio.sleep(0.01)
    assert slow.sent == []  # nothing goes out after the close
    await hub.close()


async def test_an_idle_connection_has_no_writer_task_and_no_queue() -> None:
    hub, _ = make_hub(tick_ms=10_000, soft=2, hard=5)
    socket = Socket()
    conn = await join(hub, "r", socket, "v")
    room = hub.rooms["r"]
    await hub.publish("r", {"type": "chat", "id": "1", "text": "x"})
    await hub.flush(room)
    assert len(socket.sent) == 1 and conn.writer is None and conn.queue is None
    conn.direct('{"type":"pong"}')  # a reply starts a writer, which ends once it is sent
    assert conn.writer is not None
    assert await asyncio.wait_for(conn.drain(), 1) is None
    assert socket.sent[-1] == '{"type":"pong"}'
    await asyncio.sleep(0)
    assert conn.writer is None and conn.queue is None and not conn.busy
    await hub.close()


async def test_tick_loop_delivers_and_empty_room_unsubscribes() -> None:
    hub, broker = make_hub(tick_ms=10)
    socket = Socket()
    conn = await join(hub, "r", socket, "v")
    writer = asyncio.create_task(conn.drain())
    await hub.publish("r", {"type": "chat", "id": "1", "text": "hello"})
    for _ in range(100):
        if any(e["type"] == "chat" for e in socket.events()):
            break
        await asyncio.sleep(0.01)
    assert [e["text"] for e in socket.events() if e["type"] == "chat"] == ["hello"]
    await hub.leave("r", conn)
    assert "r" not in hub.rooms
    counters = await broker.sync("r", node="other", online=0, likes_delta=0, now_ms=0)
    assert counters.online == 0
    writer.cancel()
    await hub.close()


async def test_naive_mode_sends_one_frame_per_event_to_each_socket() -> None:
    hub, _ = make_hub(mode="naive", tick_ms=10)
    sockets = [Socket() for _ in range(2)]
    for i, s in enumerate(sockets):
        await join(hub, "r", s, f"v{i}")
    for i in range(3):
        await hub.publish("r", {"type": "chat", "id": str(i), "text": "x"})
    for _ in range(100):
        if all(len([e for e in s.events() if e["type"] == "chat"]) == 3 for s in sockets):
            break
        await asyncio.sleep(0.01)
    for s in sockets:
        chat_frames = [orjson.loads(t) for t in s.sent if '"chat"' in t]
        assert [len(f["events"]) for f in chat_frames] == [1, 1, 1]
    await hub.close()


async def test_a_write_that_suspends_is_finished_by_the_writer_in_order() -> None:
    hub, _ = make_hub(tick_ms=10_000, soft=8, hard=64)
    socket = Socket()
    socket.open.clear()  # the first write cannot complete at once
    conn = await join(hub, "r", socket, "v")
    room = hub.rooms["r"]
    for i in range(3):
        await hub.publish("r", {"type": "chat", "id": str(i), "text": "x"})
        await hub.flush(room)
    assert conn.busy and conn.inflight is not None and len(conn.queue) == 2
    assert socket.sent == []
    writer = asyncio.create_task(conn.drain())
    await asyncio.sleep(0)
    socket.open.set()
    for _ in range(100):
        if len(socket.sent) == 3:
            break
        await asyncio.sleep(0.001)
    chat = [e["id"] for e in socket.events() if e["type"] == "chat"]
    assert chat == ["0", "1", "2"]
    assert not conn.busy and conn.inflight is None
    # idle again: the next frame is written at once
    await hub.publish("r", {"type": "chat", "id": "3", "text": "x"})
    await hub.flush(room)
    assert len(socket.sent) == 4 and not conn.queue
    writer.cancel()
    await hub.close()


async def test_a_direct_message_queued_first_keeps_its_place() -> None:
    hub, _ = make_hub(tick_ms=10_000)
    socket = Socket()
    conn = await join(hub, "r", socket, "v")
    conn.direct('{"type":"pong"}')
    await hub.publish("r", {"type": "chat", "id": "1", "text": "x"})
    await hub.flush(hub.rooms["r"])
    assert socket.sent == []  # the frame queued behind the pong
    writer = asyncio.create_task(conn.drain())
    for _ in range(100):
        if len(socket.sent) == 2:
            break
        await asyncio.sleep(0.001)
    assert socket.sent[0] == '{"type":"pong"}'
    assert orjson.loads(socket.sent[1])["events"][0]["id"] == "1"
    writer.cancel()
    await hub.close()


async def test_a_write_that_fails_ends_the_connection_and_tells_its_owner() -> None:
    hub, _ = make_hub(tick_ms=10_000)

    async def broken(text: str) -> None:
        raise ConnectionResetError("gone")

    conn = hub.connection(viewer="v", account_id=None, send=broken)
    await hub.join("r", conn)
    conn.ready = True
    woken: list[bool] = []
    conn.wake = lambda: woken.append(True)
    await hub.publish("r", {"type": "chat", "id": "1", "text": "x"})
    await hub.flush(hub.rooms["r"])
    assert isinstance(conn.error, ConnectionResetError)
    assert conn.ended and woken == [True] and conn.writer is None
    await hub.publish("r", {"type": "chat", "id": "2", "text": "x"})
    await hub.flush(hub.rooms["r"])  # an ended connection is offered nothing more
    assert woken == [True] and conn.writer is None
    await hub.leave("r", conn)
    await hub.close()


async def test_a_write_that_fails_in_the_writer_ends_the_connection() -> None:
    hub, _ = make_hub(tick_ms=10_000)
    socket = Socket()
    socket.open.clear()
    failing = False

    async def send(text: str) -> None:
        await socket.send(text)
        if failing:
            raise ConnectionResetError("gone")

    conn = hub.connection(viewer="v", account_id=None, send=send)
    await hub.join("r", conn)
    conn.ready = True
    woken: list[bool] = []
    conn.wake = lambda: woken.append(True)
    await hub.publish("r", {"type": "chat", "id": "1", "text": "x"})
    await hub.flush(hub.rooms["r"])  # suspends: the writer finishes it
    assert conn.writer is not None
    failing = True
    socket.open.set()
    await asyncio.wait_for(conn.drain(), 1)
    assert isinstance(conn.error, ConnectionResetError) and woken == [True]
    await hub.leave("r", conn)
    await hub.close()


async def test_cancelling_the_writer_during_a_stuck_write_cancels_the_write() -> None:
    hub, _ = make_hub(tick_ms=10_000)
    socket = Socket()
    socket.open.clear()
    conn = await join(hub, "r", socket, "v")
    await hub.publish("r", {"type": "chat", "id": "1", "text": "x"})
    await hub.flush(hub.rooms["r"])
    writer = conn.writer
    assert writer is not None
    await asyncio.sleep(0.01)
    assert not writer.done()
    await conn.stop()  # what the endpoint does when it ends
    assert writer.cancelled()
    assert conn.inflight is None and conn.writer is None
    socket.open.set()
    await asyncio.sleep(0.01)
    assert socket.sent == []  # the cancelled write did not go out later
    await hub.close()


@pytest.mark.parametrize("mode", ["batched", "naive"])
async def test_priority_events_ticked_out_before_the_first_message_is_sent_are_not_lost(
    mode: str,
) -> None:
    """A joiner's snapshot is current at seq s; events with a later seq that went out while
    the snapshot was on its way come right after it, those at or before s do not."""
    hub, _ = make_hub(tick_ms=10 if mode == "naive" else 10_000, mode=mode)
    socket = Socket()
    conn = hub.connection(viewer="v", account_id="v", send=socket.send)
    await hub.join("r", conn)  # joined, the first message not sent yet
    for i in range(1, 4):
        await hub.publish_priority("r", {"type": "announcement", "text": f"a{i}"})
    await hub.publish("r", {"type": "chat", "id": "c", "text": "chat is not kept"})
    if mode == "batched":
        await hub.flush(hub.rooms["r"])
    else:
        for _ in range(100):
            if conn.early is not None and len(conn.early) == 3:
                break
            await asyncio.sleep(0.005)
    assert socket.sent == []  # nothing is written before the first message
    conn.start(1)  # the snapshot was current at seq 1
    writer = asyncio.create_task(conn.drain())
    for _ in range(100):
        if socket.sent:
            break
        await asyncio.sleep(0.001)
    frame = orjson.loads(socket.sent[0])
    assert frame["seq"] == 3
    assert [(e["seq"], e["text"]) for e in frame["events"]] == [(2, "a2"), (3, "a3")]
    assert conn.ready and conn.early is None
    late = hub.connection(viewer="w", account_id="w", send=Socket().send)
    await hub.join("r", late)
    late.start(3)
    assert not late.queue  # nothing held after its seq: nothing extra to send
    writer.cancel()
    await asyncio.gather(writer, return_exceptions=True)
    await hub.close()
