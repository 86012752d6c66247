"""One broker protocol, two implementations (in-process and Redis), the same tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis.asyncio import Redis

from liveshop.realtime.broker import (
    NODE_STALE_MS,
    RECENT_CHAT,
    Broker,
    MemoryBroker,
    RedisBroker,
    RoomCounters,
)
from tests.conftest import connect_redis

WAIT = 3.0  # seconds to wait for a Redis pub/sub delivery before failing
NOW = 1_700_000_000_000  # a fixed "now" in ms for the counter tests


@dataclass
class Brokers:
    """The implementation under test: ``make()`` returns a broker of this test's kind.

    Redis brokers of one test share a unique key prefix (so several of them act as several
    nodes of one deployment); their keys are deleted afterwards.
    """

    kind: str
    make: Callable[..., Broker]
    made: list[Broker] = field(default_factory=list)


@pytest.fixture(params=["memory", "redis"])
async def brokers(request: pytest.FixtureRequest) -> AsyncIterator[Brokers]:
    if request.param == "memory":
        env = Brokers("memory", lambda ring_size=512: MemoryBroker(ring_size=ring_size))
        yield env
        return
    prefix = f"t{uuid.uuid4().hex[:8]}"
    client = await connect_redis()
    made: list[Broker] = []

    def make(ring_size: int = 512) -> Broker:
        broker = RedisBroker(client, ring_size=ring_size, prefix=prefix)
        made.append(broker)
        return broker

    env = Brokers("redis", make, made)
    try:
        yield env
    finally:
        for broker in env.made:
            await broker.close()
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture
def broker(brokers: Brokers) -> Broker:
    return brokers.make()


class Listener:
    """A subscriber: the handler fills a queue; tests wait on it with a timeout."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.probed = asyncio.Event()

    def __call__(self, message: dict[str, Any]) -> None:
        if message.get("e", {}).get("type") == "_probe":
            self.probed.set()
        else:
            self.queue.put_nowait(message)

    async def attach(self, broker: Broker, room: str, via: Broker | None = None) -> None:
        """Subscribe, then wait until a probe published (through ``via``) comes back, so the
        subscription is known to be live on the server before the test publishes."""
        await broker.subscribe(room, self)
        publisher = via or broker
        for _ in range(50):
            await publisher.publish(room, {"type": "_probe"})
            try:
                await asyncio.wait_for(self.probed.wait(), 0.1)
                return
            except TimeoutError:
                continue
        raise AssertionError(f"subscription to {room} never became live")

    async def take(self, n: int) -> list[dict[str, Any]]:
        return [await asyncio.wait_for(self.queue.get(), WAIT) for _ in range(n)]


async def test_priority_seq_counts_per_room(broker: Broker) -> None:
    assert await broker.current_seq("a") == 0
    assert [await broker.publish_priority("a", {"type": "pin", "n": i}) for i in range(3)] == [
        1,
        2,
        3,
    ]
    assert await broker.publish_priority("b", {"type": "pin"}) == 1
    assert await broker.publish_priority("a", {"type": "pin"}) == 4
    assert await broker.current_seq("a") == 4
    assert await broker.current_seq("b") == 1


async def test_concurrent_priority_publishes_get_distinct_seqs(broker: Broker) -> None:
    seqs = await asyncio.gather(*(broker.publish_priority("r", {"i": i}) for i in range(30)))
    assert sorted(seqs) == list(range(1, 31))


async def test_subscriber_receives_priority_and_plain_in_order(broker: Broker) -> None:
    listener = Listener()
    await listener.attach(broker, "r")
    await broker.publish_priority("r", {"type": "pin", "product": "p1"})
    await broker.publish("r", {"type": "chat", "text": "hi"})
    await broker.publish_priority("r", {"type": "unpin"})
    for i in range(20):
        await broker.publish("r", {"type": "chat", "text": f"m{i}"})
    await broker.publish("other-room", {"type": "chat", "text": "not for r"})
    got = await listener.take(23)
    assert got[:3] == [
        {"seq": 1, "e": {"type": "pin", "product": "p1"}},
        {"e": {"type": "chat", "text": "hi"}},
        {"seq": 2, "e": {"type": "unpin"}},
    ]
    assert [m["e"]["text"] for m in got[3:]] == [f"m{i}" for i in range(20)]
    assert all("seq" not in m for m in got[3:])
    await asyncio.sleep(0.05)
    assert listener.queue.empty()


async def test_since_returns_missed_priority_events(broker: Broker) -> None:
    assert await broker.since("r", 0) == []
    await broker.publish_priority("r", {"type": "pin", "n": 1})
    await broker.publish("r", {"type": "chat", "text": "plain events are not buffered"})
    await broker.publish_priority("r", {"type": "pin", "n": 2})
    await broker.publish_priority("r", {"type": "pin", "n": 3})
    assert await broker.since("r", 0) == [
        {"type": "pin", "n": 1, "seq": 1},
        {"type": "pin", "n": 2, "seq": 2},
        {"type": "pin", "n": 3, "seq": 3},
    ]
    assert await broker.since("r", 2) == [{"type": "pin", "n": 3, "seq": 3}]
    assert await broker.since("r", 3) == []
    assert await broker.since("r", 4) is None
    assert await broker.since("r", 100) is None


async def test_since_is_none_when_the_ring_has_moved_on(brokers: Brokers) -> None:
    broker = brokers.make(ring_size=4)
    for i in range(1, 11):
        await broker.publish_priority("r", {"type": "pin", "n": i})
    assert await broker.since("r", 6) == [{"type": "pin", "n": n, "seq": n} for n in (7, 8, 9, 10)]
    assert await broker.since("r", 8) == [{"type": "pin", "n": n, "seq": n} for n in (9, 10)]
    assert await broker.since("r", 10) == []
    assert await broker.since("r", 5) is None  # 6 has left the ring
    assert await broker.since("r", 0) is None
    assert await broker.since("r", 11) is None


async def test_unsubscribe_stops_delivery(broker: Broker) -> None:
    first, second = Listener(), Listener()
    await first.attach(broker, "r1")
    await broker.publish("r1", {"type": "chat", "text": "before"})
    assert (await first.take(1))[0]["e"]["text"] == "before"
    await broker.unsubscribe("r1")
    await second.attach(broker, "r2")
    await broker.publish("r1", {"type": "chat", "text": "after"})
    await broker.publish_priority("r1", {"type": "pin"})
    await broker.publish("r2", {"type": "chat", "text": "marker"})
    # Messages of one subscriber arrive in publish order: once the marker is here, anything
    # still bound for r1 would have arrived before it.
    assert (await second.take(1))[0]["e"]["text"] == "marker"
    await asyncio.sleep(0.05)
    assert first.queue.empty()


async def test_two_nodes_both_receive(redis_client: Redis) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    other = await connect_redis()
    node_a = RedisBroker(redis_client, prefix=prefix)
    node_b = RedisBroker(other, prefix=prefix)
    try:
        la, lb = Listener(), Listener()
        await la.attach(node_a, "r", via=node_b)
        await lb.attach(node_b, "r", via=node_a)
        assert await node_a.publish_priority("r", {"type": "pin", "from": "a"}) == 1
        assert await node_b.publish_priority("r", {"type": "pin", "from": "b"}) == 2
        await node_b.publish("r", {"type": "chat", "text": "from b"})
        await node_a.publish("r", {"type": "chat", "text": "from a"})
        expected = [
            {"seq": 1, "e": {"type": "pin", "from": "a"}},
            {"seq": 2, "e": {"type": "pin", "from": "b"}},
            {"e": {"type": "chat", "text": "from b"}},
            {"e": {"type": "chat", "text": "from a"}},
        ]
        assert await la.take(4) == expected
        assert await lb.take(4) == expected
        assert await node_b.current_seq("r") == 2
        assert await node_b.since("r", 1) == [{"type": "pin", "from": "b", "seq": 2}]
    finally:
        await node_a.close()
        await node_b.close()
        keys = [key async for key in redis_client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis_client.delete(*keys)
        await other.aclose()


async def test_recent_chat_keeps_the_last_50_in_order(broker: Broker) -> None:
    assert await broker.recent_chat("r") == []
    for i in range(RECENT_CHAT + 10):
        await broker.push_chat("r", {"id": f"m{i}", "text": f"text {i}"})
    await broker.push_chat("other", {"id": "x", "text": "elsewhere"})
    recent = await broker.recent_chat("r")
    assert RECENT_CHAT == 50
    assert [m["id"] for m in recent] == [f"m{i}" for i in range(10, 60)]
    assert recent[0] == {"id": "m10", "text": "text 10"}


async def test_delete_chat_by_id(broker: Broker) -> None:
    await broker.push_chat("r", {"id": "m1", "text": "first", "user": {"id": "u1", "name": "A"}})
    await broker.push_chat("r", {"id": "m2", "text": "second", "user": {"id": "u2", "name": "B"}})
    await broker.push_chat("r", {"id": "m3", "text": "third", "user": {"id": "u1", "name": "A"}})
    assert await broker.delete_chat("r", "m2") is True
    assert [m["id"] for m in await broker.recent_chat("r")] == ["m1", "m3"]
    assert await broker.delete_chat("r", "m2") is False
    assert await broker.delete_chat("r", "nope") is False
    assert await broker.delete_chat("other-room", "m1") is False
    assert [m["id"] for m in await broker.recent_chat("r")] == ["m1", "m3"]


async def test_delete_chat_matches_only_the_message_id(broker: Broker) -> None:
    """Neither a text that contains the id nor a user with that id is a match."""
    await broker.push_chat("r", {"id": "m1", "text": "see abc", "user": {"id": "u1", "name": "A"}})
    await broker.push_chat("r", {"id": "m2", "text": '{"id":"abc"}', "user": {"id": "u1"}})
    await broker.push_chat("r", {"id": "m3", "text": '"id":"abc"', "user": {"id": "u1"}})
    await broker.push_chat("r", {"id": "m4", "text": "hello", "user": {"id": "abc", "name": "C"}})
    assert await broker.delete_chat("r", "abc") is False
    assert await broker.delete_chat("r", "m") is False  # a prefix of real ids
    assert [m["id"] for m in await broker.recent_chat("r")] == ["m1", "m2", "m3", "m4"]
    await broker.push_chat("r", {"id": "abc", "text": "the real one"})
    assert await broker.delete_chat("r", "abc") is True
    assert [m["id"] for m in await broker.recent_chat("r")] == ["m1", "m2", "m3", "m4"]


async def test_unicode_chat_round_trips(broker: Broker) -> None:
    text = '你好 🎉 café — naïve "quotes" \\ back\nslash ùñï'
    message = {"id": "m1", "text": text, "user": {"id": "u1", "name": "小兰"}}
    await broker.push_chat("r", message)
    assert await broker.recent_chat("r") == [message]
    listener = Listener()
    await listener.attach(broker, "r")
    await broker.publish("r", {"type": "chat", **message})
    await broker.publish_priority("r", {"type": "announce", "text": text})
    got = await listener.take(2)
    assert got[0] == {"e": {"type": "chat", **message}}
    assert got[1] == {"seq": 1, "e": {"type": "announce", "text": text}}
    assert await broker.since("r", 0) == [{"type": "announce", "text": text, "seq": 1}]
    assert await broker.delete_chat("r", "m1") is True


async def test_viewers_likes_online_and_peak(broker: Broker) -> None:
    for viewer in ("v1", "v2", "v1", "v3"):
        await broker.add_viewer("r", viewer)
    got = await broker.sync("r", node="a", online=3, likes_delta=5, now_ms=NOW)
    assert got == RoomCounters(likes=5, online=3, unique=3, peak=3)
    got = await broker.sync("r", node="a", online=3, likes_delta=2, now_ms=NOW + 100)
    assert got == RoomCounters(likes=7, online=3, unique=3, peak=3)
    got = await broker.sync("r", node="b", online=4, likes_delta=10, now_ms=NOW + 200)
    assert got == RoomCounters(likes=17, online=7, unique=3, peak=7)
    await broker.add_viewer("r", "v4")
    got = await broker.sync("r", node="a", online=1, likes_delta=0, now_ms=NOW + 300)
    assert got == RoomCounters(likes=17, online=5, unique=4, peak=7)  # peak stays the max
    await broker.leave_node("r", "b")
    got = await broker.sync("r", node="a", online=1, likes_delta=0, now_ms=NOW + 400)
    assert got == RoomCounters(likes=17, online=1, unique=4, peak=7)
    # another room is independent
    got = await broker.sync("other", node="a", online=2, likes_delta=1, now_ms=NOW + 400)
    assert got == RoomCounters(likes=1, online=2, unique=0, peak=2)


async def test_leave_node_of_an_unknown_node_is_harmless(broker: Broker) -> None:
    await broker.leave_node("r", "ghost")
    got = await broker.sync("r", node="a", online=2, likes_delta=0, now_ms=NOW)
    assert got == RoomCounters(likes=0, online=2, unique=0, peak=2)


async def test_a_stale_node_stops_counting(broker: Broker) -> None:
    await broker.sync("r", node="a", online=3, likes_delta=1, now_ms=NOW)
    got = await broker.sync("r", node="b", online=2, likes_delta=1, now_ms=NOW + NODE_STALE_MS)
    assert got == RoomCounters(likes=2, online=5, unique=0, peak=5)  # exactly 10 s: still live
    got = await broker.sync("r", node="b", online=2, likes_delta=1, now_ms=NOW + NODE_STALE_MS + 1)
    assert got == RoomCounters(likes=3, online=2, unique=0, peak=5)  # a went quiet: dropped
    # a stale node that reports again counts again
    got = await broker.sync("r", node="a", online=1, likes_delta=0, now_ms=NOW + NODE_STALE_MS + 2)
    assert got == RoomCounters(likes=3, online=3, unique=0, peak=5)
    assert NODE_STALE_MS == 10_000


async def test_close_stops_delivery(brokers: Brokers) -> None:
    broker = brokers.make()
    listener = Listener()
    await listener.attach(broker, "r")
    await broker.close()
    publisher = brokers.make() if brokers.kind == "redis" else broker
    await publisher.publish("r", {"type": "chat", "text": "after close"})
    await asyncio.sleep(0.1)
    assert listener.queue.empty()
