"""What the promotions' gates share.

A *gate* decides a hot promotion (a flash sale's stock, a red envelope's pot) in memory,
atomically, one step per decision, instead of through its database row; the service writes
the decision durably afterwards, and the gate is rebuilt from the database after a restart.
Each promotion owns its gate next to its domain, as one protocol with two implementations:

- :mod:`liveshop.promotions.flash.gate` (``StockGate``, ``MemoryGate``) and
  :mod:`liveshop.promotions.flash.gate_redis` (``RedisGate``);
- :mod:`liveshop.promotions.envelopes.gate` (``EnvelopeGate``, ``MemoryEnvelopeGate``) and
  :mod:`liveshop.promotions.envelopes.gate_redis` (``RedisEnvelopeGate``).

The in-process gates are atomic because a decision runs with no ``await`` between reading
and writing its state. The Redis gates make each decision one Lua script; this module is the
machinery they share: keys of one sale or pot in one Redis Cluster hash slot, and a bound on
the calls in flight. The app's lifespan picks the implementation (Redis when configured).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis


def text(value: Any) -> str:
    """A Redis reply (bytes) or a Lua number as ``str``."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisScripts:
    """Base of a Redis gate: its client, its keys and a bound on concurrent calls.

    Keys are ``{prefix}:{namespace}:{<id>}:<kind>``: the braces are a Redis Cluster hash tag,
    so every key of one sale or pot lives in one slot, as a script that touches them needs.
    ``max_in_flight`` bounds this instance's concurrent calls: Redis runs scripts one at a
    time, so more connections do not decide faster, and the bound keeps a burst of buyers
    from exhausting the client's connection pool (redis-py's default pool raises "Too many
    connections" past 100).
    """

    def __init__(
        self, redis: Redis, *, namespace: str, prefix: str = "liveshop", max_in_flight: int = 32
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._namespace = namespace
        self._in_flight = asyncio.Semaphore(max_in_flight)

    def _keys(self, entity_id: str, *kinds: str) -> list[str]:
        return [f"{self._prefix}:{self._namespace}:{{{entity_id}}}:{kind}" for kind in kinds]
