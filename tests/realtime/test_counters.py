"""One counter protocol, two implementations, the same tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from liveshop.clock import FrozenClock
from liveshop.realtime.counters import Counters, MemoryCounters, RedisCounters
from tests.conftest import connect_redis


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters(FrozenClock())
        return
    client = await connect_redis()
    try:
        yield RedisCounters(client, prefix=f"test:{uuid.uuid4().hex}:")
    finally:
        await client.aclose()


async def test_hits_count_up_within_a_window(counters: Counters) -> None:
    assert (await counters.hit("k", 60)).count == 1
    assert (await counters.hit("k", 60, amount=3)).count == 4
    peek = await counters.peek("k", 60)
    assert peek.count == 4
    assert 0 < peek.reset_in <= 60


async def test_keys_are_independent_and_reset_clears(counters: Counters) -> None:
    await counters.hit("a", 60)
    await counters.hit("b", 60)
    await counters.reset("a")
    assert (await counters.peek("a", 60)).count == 0
    assert (await counters.peek("b", 60)).count == 1


async def test_concurrent_hits_are_all_counted(counters: Counters) -> None:
    results = await asyncio.gather(*(counters.hit("c", 60) for _ in range(50)))
    assert sorted(r.count for r in results) == list(range(1, 51))


async def test_memory_window_rolls_over_with_the_clock() -> None:
    clock = FrozenClock()
    counters = MemoryCounters(clock)
    await counters.hit("k", 10)
    clock.advance(seconds=11)
    assert (await counters.hit("k", 10)).count == 1


async def test_redis_window_expires(redis_client: Redis) -> None:
    counters = RedisCounters(redis_client, prefix=f"test:{uuid.uuid4().hex}:")
    await counters.hit("k", 1)
    await asyncio.sleep(1.1)
    assert (await counters.peek("k", 1)).count == 0
