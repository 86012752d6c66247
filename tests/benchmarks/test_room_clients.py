"""The room benchmark's clients reuse the simulator (``simulate.talk``): the chatters send its
plausible lines about the product of their snapshot, stamped with the send time, and like in
its bursts at the configured total rate; the viewers read the stamp back as a latency. No
server: the sockets are fakes that keep what is sent."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

import orjson

from liveshop.benchmarks.room import _server_settings
from liveshop.benchmarks.room_clients import (
    ChatterJob,
    ViewerJob,
    _Chatters,
    _Viewer,
    _Viewers,
)
from liveshop.benchmarks.room_results import RoomBenchConfig
from liveshop.config import Settings
from liveshop.simulate import talk

TEA = {"id": "i1", "sku_id": "s1", "title": "Longjing Green Tea, 250 g tin"}
SCARF = {"id": "i2", "sku_id": "s2", "title": "Silk Scarf"}


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        self.sent.append(orjson.loads(text))


def chatters(job: ChatterJob, rooms: list[dict[str, Any]]) -> tuple[_Chatters, list[FakeSocket]]:
    pipe, _ = multiprocessing.Pipe()
    c = _Chatters(job, pipe, pipe)
    sockets = [FakeSocket() for _ in rooms]
    c.sockets = sockets  # type: ignore[assignment]
    c.rooms = rooms
    return c, sockets


async def send_for(c: _Chatters, seconds: float) -> float:
    started = time.perf_counter()
    task = asyncio.create_task(c.send_loop())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return time.perf_counter() - started


def job(**values: Any) -> ChatterJob:
    base: dict[str, Any] = {
        "url": "ws://x/ws/rooms/s",
        "tokens": ("t1", "t2"),
        "chat_rate": 100.0,
        "like_rate": 1000.0,
        "like_batch": 50,
        "compression": False,
    }
    return ChatterJob(**{**base, **values})


async def test_chatters_send_stamped_product_talk_about_their_snapshot() -> None:
    rooms = [{"showcase": [TEA, SCARF], "pinned": TEA}, {"showcase": [SCARF], "pinned": None}]
    c, sockets = chatters(job(), rooms)
    before = time.time_ns()
    await send_for(c, 0.5)
    after = time.time_ns()
    for socket, title in zip(sockets, ("Longjing Green Tea", "Silk Scarf"), strict=True):
        lines = [m["text"] for m in socket.sent if m["type"] == "chat"]
        assert len(lines) >= 15  # 100/s over two chatters for 0.5 s
        for text in lines:
            sent = talk.read_stamp(text)
            assert sent is not None and before <= sent <= after
            said = text.rpartition(talk.STAMP_MARK)[0]
            assert any(said == p.format(title=title) for p in talk.PHRASES), text
            assert len(text) <= talk.CHAT_MAX_LENGTH
    assert c.chats == sum(1 for s in sockets for m in s.sent if m["type"] == "chat")


async def test_likes_come_in_the_simulators_bursts_at_the_configured_total_rate() -> None:
    c, sockets = chatters(job(chat_rate=0.0, like_rate=2000.0), [{}, {}, {}])
    elapsed = await send_for(c, 0.5)
    bursts = [m["count"] for s in sockets for m in s.sent if m["type"] == "like"]
    assert sum(bursts) == c.likes
    # the loop catches up to the rate at each wake; a busy machine may delay its last wake,
    # so the lower bound is loose (this checks the pacing, not the speed)
    assert 2000 * elapsed / 2 <= c.likes <= 2000 * elapsed + talk.LIKE_BURST_MAX
    assert min(bursts) >= 1 and max(bursts) <= talk.LIKE_BURST_MAX
    assert len(set(bursts)) > 5  # bursts of many sizes, not a fixed batch
    assert all(s.sent for s in sockets)  # spread over the chatters

    capped, capped_sockets = chatters(job(chat_rate=0.0, like_batch=3), [{}])
    await send_for(capped, 0.2)
    assert {m["count"] for m in capped_sockets[0].sent} == {1, 2, 3}

    none, none_sockets = chatters(job(chat_rate=0.0, like_batch=0), [{}])
    await send_for(none, 0.1)
    assert none.likes == 0 and not none_sockets[0].sent


async def test_a_sampled_viewer_records_the_latency_of_stamped_lines_only() -> None:
    pipe, _ = multiprocessing.Pipe()
    owner = _Viewers(ViewerJob("ws://x/", 1, 0, 1, False), pipe, pipe)
    viewer = _Viewer(owner, slow=False, sample=True)
    viewer.on_message(b'{"type":"snapshot","snapshot":{}}')
    owner.measuring = True
    sent = time.time_ns() - 5_000_000  # 5 ms ago
    frame = {
        "seq": 1,
        "events": [
            {"type": "chat", "text": talk.stamp("Is the Silk Scarf still in stock?", sent)},
            {"type": "chat", "text": "Hi everyone!"},
            {"type": "chat", "text": "bench 1712345678901234567"},
            {"type": "counters", "likes": 3},
        ],
    }
    viewer.on_message(orjson.dumps(frame))
    assert owner.chat == 3 and owner.events == 4
    assert len(owner.latencies) == 1
    assert 5_000 <= owner.latencies[0] < 5_000_000  # microseconds


def test_the_bench_server_lets_every_chatter_sign_in_from_one_address() -> None:
    cfg = RoomBenchConfig(chatters=200)
    settings = Settings(
        **{
            k.removeprefix("LIVESHOP_").lower(): v
            for k, v in _server_settings("batched", cfg).items()
        }
    )
    assert settings.signin_max_attempts_per_ip >= cfg.chatters
    assert settings.chat_duplicate_window_seconds == 0  # a chatter may say a line twice
