"""Windowed counters: one protocol, an in-process and a Redis implementation.

Used for rate limits now and for room counters later. ``hit`` increments the counter of
``key`` in the current fixed window and returns the count and the seconds until it resets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from liveshop.clock import Clock


@dataclass(frozen=True, slots=True)
class WindowCount:
    count: int
    reset_in: float


class Counters(Protocol):
    async def hit(self, key: str, window_seconds: int, amount: int = 1) -> WindowCount: ...

    async def peek(self, key: str, window_seconds: int) -> WindowCount: ...

    async def reset(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCounters:
    """Counters for the embedded, single-process default (state lives in the app)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._data: dict[str, tuple[float, int]] = {}

    def _window(self, key: str, window_seconds: int) -> tuple[float, int]:
        now = self._clock.now().timestamp()
        start, count = self._data.get(key, (now, 0))
        if now - start >= window_seconds:
            start, count = now, 0
        return start, count

    async def hit(self, key: str, window_seconds: int, amount: int = 1) -> WindowCount:
        start, count = self._window(key, window_seconds)
        count += amount
        self._data[key] = (start, count)
        if len(self._data) > 100_000:
            self._evict(window_seconds)
        return WindowCount(count, start + window_seconds - self._clock.now().timestamp())

    async def peek(self, key: str, window_seconds: int) -> WindowCount:
        start, count = self._window(key, window_seconds)
        return WindowCount(count, start + window_seconds - self._clock.now().timestamp())

    async def reset(self, key: str) -> None:
        self._data.pop(key, None)

    def _evict(self, window_seconds: int) -> None:
        now = self._clock.now().timestamp()
        for key, (start, _) in list(self._data.items()):
            if now - start >= window_seconds:
                del self._data[key]

    async def close(self) -> None:
        self._data.clear()


# INCRBY and set the expiry on first hit, atomically; returns count and ms to reset.
_HIT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {n, ttl}
"""


class RedisCounters:
    """Counters shared by every app node through Redis."""

    def __init__(self, redis: Redis, prefix: str = "liveshop:ctr:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._hit = redis.register_script(_HIT)

    async def hit(self, key: str, window_seconds: int, amount: int = 1) -> WindowCount:
        count, ttl_ms = await self._hit(
            keys=[self._prefix + key], args=[amount, int(window_seconds * 1000)]
        )
        return WindowCount(int(count), int(ttl_ms) / 1000)

    async def peek(self, key: str, window_seconds: int) -> WindowCount:
        pipe = self._redis.pipeline()
        pipe.get(self._prefix + key)
        pipe.pttl(self._prefix + key)
        raw, ttl_ms = await pipe.execute()
        count = int(raw) if raw is not None else 0
        reset = int(ttl_ms) / 1000 if ttl_ms and ttl_ms > 0 else float(window_seconds)
        return WindowCount(count, reset)

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def close(self) -> None:
        await self._redis.aclose()


def retry_after(count: WindowCount) -> int:
    return max(1, math.ceil(count.reset_in))
