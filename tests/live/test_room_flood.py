"""Flood limits of the room socket on a real server (docs/protocol.md, "Limits"): a 4 KB cap
on client messages enforced by the WebSocket protocol itself, a per-connection message
budget (``protocol.rate_limited``, then 4029), and likes counted at most
``LIVESHOP_LIKE_MAX_PER_SECOND`` per viewer per second."""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from liveshop.deps import Runtime
from liveshop.live.models import RoomEvent
from liveshop.realtime.flood import LikeCap, MessageBudget
from tests.live.conftest import Room

pytestmark = pytest.mark.usefixtures("backend")


class HeldClock:
    """The flood limits' monotonic time, moved only by the test."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def held(runtime: Runtime) -> HeldClock:
    clock = HeldClock()
    runtime.rooms.monotonic = clock
    return clock


async def _close_code(client: Any, within: float = 5.0) -> tuple[int, str, list[dict[str, Any]]]:
    """Read until the server closes; its close code, reason and what came before."""
    seen: list[dict[str, Any]] = []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            seen.append(await client.next(within=within))
    assert info.value.rcvd is not None, "closed without a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason, seen


def _answer(message: dict[str, Any]) -> bool:
    """A direct answer to a client message (not a room frame)."""
    return message.get("type") in ("pong", "error")


def _masked_text_header(length: int) -> bytes:
    """The header of a client text frame (FIN, masked) whose payload is ``length`` bytes."""
    if length < 126:
        head = struct.pack("!BB", 0x81, 0x80 | length)
    elif length < 2**16:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
    return head + os.urandom(4)


async def test_a_huge_frame_is_refused_with_1009_as_its_header_arrives(
    live_room: Room, open_room: Any
) -> None:
    viewer = await open_room(live_room.id)
    # announce an 8 MB message (under uvicorn's own 16 MB limit) and send only 1 KB of it: a
    # server that buffers messages up to 16 MB would wait for the other 8 MB
    viewer.ws.transport.write(_masked_text_header(8 * 2**20) + os.urandom(1024))
    code, _, _ = await _close_code(viewer, within=3.0)
    assert code == 1009


async def test_a_message_just_over_4_kb_closes_1009_and_4_kb_is_fine(
    live_room: Room, open_room: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    viewer = await open_room(live_room.id, fan.token)
    padding = '{"type": "ping", "pad": "' + "x" * 4096
    fits = padding[: 4096 - 2] + '"}'
    assert len(fits.encode()) == 4096
    await viewer.send(fits)
    assert (await viewer.event("pong"))["type"] == "pong"
    await viewer.send(padding[: 4096 - 1] + '"}')  # 4,097 bytes
    code, _, _ = await _close_code(viewer)
    assert code == 1009


async def test_a_flooding_connection_gets_rate_limited_errors_then_4029(
    live_room: Room, open_room: Any, make_account: Any, runtime: Runtime, held: HeldClock
) -> None:
    settings = runtime.settings
    burst, strikes = settings.ws_message_burst, settings.ws_abuse_strikes
    assert (burst, strikes) == (20, 30)
    fan = await make_account("fan")
    flooder = await open_room(live_room.id, fan.token)
    bystander = await open_room(live_room.id, (await make_account("fan")).token)
    # one message at a time, each answer read: time held still, the burst is answered, then
    # every message is refused with a strike until the 30th strike closes the socket
    answers: list[dict[str, Any]] = []
    for _ in range(burst + strikes - 1):
        await flooder.send({"type": "ping"})
        answers.append(await flooder.wait_for(_answer))
    assert [m["type"] for m in answers[:burst]] == ["pong"] * burst
    limited = answers[burst:]
    assert [m.get("code") for m in limited] == ["protocol.rate_limited"] * (strikes - 1)
    assert all(m["retry_after"] == pytest.approx(0.1) for m in limited)
    await flooder.send({"type": "ping"})
    code, reason, seen = await _close_code(flooder)
    assert (code, reason) == (4029, "too many messages")
    assert not [m for m in seen if _answer(m)]
    # the others in the room carry on
    await bystander.send({"type": "ping"})
    assert (await bystander.event("pong"))["type"] == "pong"


async def test_a_blind_flood_is_cut_with_4029(
    live_room: Room, open_room: Any, make_account: Any, held: HeldClock
) -> None:
    fan = await make_account("fan")
    flooder = await open_room(live_room.id, fan.token)
    for _ in range(2_000):  # not reading: the answers may be lost with the close
        await flooder.send({"type": "like", "count": 50})
    code, reason, seen = await _close_code(flooder)
    assert (code, reason) == (4029, "too many messages")
    errors = [m for m in seen if _answer(m)]
    assert all(m.get("code") == "protocol.rate_limited" for m in errors)
    assert len(errors) <= 29


async def test_the_budget_refills_at_the_rate_and_a_client_at_the_rate_is_never_cut(
    live_room: Room, open_room: Any, make_account: Any, held: HeldClock
) -> None:
    fan = await make_account("fan")
    viewer = await open_room(live_room.id, fan.token)
    for _ in range(20):
        await viewer.send({"type": "ping"})
    for _ in range(20):
        await viewer.event("pong")
    await viewer.send({"type": "ping"})
    assert (await viewer.event("error"))["code"] == "protocol.rate_limited"
    # 60 s at 10 messages a second: 600 more, every one answered, no strike added
    for _ in range(60):
        held.now += 1.0
        for _ in range(10):
            await viewer.send({"type": "ping"})
        for _ in range(10):
            message = await viewer.wait_for(_answer)
            assert message["type"] == "pong", message


async def test_likes_count_at_most_the_cap_per_viewer_per_second(
    live_room: Room, open_room: Any, make_account: Any, runtime: Runtime, held: HeldClock
) -> None:
    """The probe sent 100,000 likes in 1.8 s and all were counted."""
    runtime.settings.ws_message_rate_per_second = 10_000.0  # let the messages through
    runtime.settings.ws_message_burst = 10_000
    cap = runtime.settings.like_max_per_second
    assert cap == 20
    liker, other = await make_account("fan"), await make_account("fan")
    a = await open_room(live_room.id, liker.token)
    a2 = await open_room(live_room.id, liker.token)  # a second socket of the same viewer
    b = await open_room(live_room.id, other.token)
    for _ in range(1_000):  # 1,000 x 50 on each of the liker's sockets: 100,000 likes
        await a.send({"type": "like", "count": 50})
        await a2.send({"type": "like", "count": 50})
    await b.send({"type": "like", "count": 5})
    await a.send({"type": "ping"})
    await a.event("pong")
    await a2.send({"type": "ping"})
    await a2.event("pong")
    counters = await b.wait_for(lambda e: e.get("type") == "counters" and e["likes"] >= cap + 5)
    await asyncio.sleep(0.3)  # a few ticks: nothing more arrives
    assert (await runtime.rooms.counters(live_room.id)).likes == cap + 5 == counters["likes"]
    held.now += 1.0  # the next second: the liker counts again
    await a.send({"type": "like", "count": 50})
    await b.wait_for(lambda e: e.get("type") == "counters" and e["likes"] == 2 * cap + 5)
    await runtime.rooms.flush_log()
    async with runtime.sessionmaker() as s:
        payloads = (
            await s.scalars(
                select(RoomEvent.payload).where(
                    RoomEvent.session_id == live_room.id, RoomEvent.type == "like"
                )
            )
        ).all()
    logged = sum(p["count"] for p in payloads)
    assert logged == 2 * cap + 5  # the log counts what the counter counts


# -- the rules themselves ---------------------------------------------------------------------


def test_message_budget_strikes_fade_so_a_client_a_little_over_the_rate_is_not_cut() -> None:
    budget = MessageBudget(burst=20, now=0.0)
    verdicts = [budget.take(rate=10, burst=20, strikes=30, now=0.0) for _ in range(20)]
    assert verdicts == ["ok"] * 20
    # 11 messages a second for 10 minutes: one refused a second, each strike fades in 1 s
    refused = 0
    for second in range(600):
        for i in range(11):
            verdict = budget.take(rate=10, burst=20, strikes=30, now=1 + second + i / 11)
            assert verdict != "abusive"
            refused += verdict == "refused"
    assert 550 <= refused <= 620
    # 20 a second: cut off within a few seconds
    budget = MessageBudget(burst=20, now=0.0)
    times = [i / 20 for i in range(400)]
    verdicts = [budget.take(rate=10, burst=20, strikes=30, now=t) for t in times]
    cut = verdicts.index("abusive")
    assert 3.0 < times[cut] < 8.0


def test_like_cap_is_per_room_and_viewer_and_resets_each_second() -> None:
    cap = LikeCap()
    assert cap.take("r", "a", 15, per_second=20, now=5.1) == 15
    assert cap.take("r", "a", 15, per_second=20, now=5.9) == 5
    assert cap.take("r", "a", 1, per_second=20, now=5.95) == 0
    assert cap.take("r", "b", 50, per_second=20, now=5.95) == 20
    assert cap.take("s", "a", 3, per_second=20, now=5.99) == 3
    assert cap.take("r", "a", 50, per_second=20, now=6.0) == 20
