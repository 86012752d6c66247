"""The flash-sale stock gate on Redis, for several app nodes (see :mod:`.gate` and
:mod:`liveshop.promotions.gates`).

Atomicity: every decision (``reserve``, ``release``, ``confirm``, ``join_waitlist``, ``open``,
``close``) is ONE Lua script. Redis runs a script to its end before it serves any other command
from any client, so no two nodes can both see the last unit free, and a script that stops
half-way is impossible short of a server crash. ``load`` and ``snapshot`` are one MULTI/EXEC
transaction each, which Redis also runs without interleaving other commands.

Keys of a sale (``{prefix}:gate:{<sale_id>}:<what>``; the braces are a Redis Cluster hash tag,
so every key of a sale lives in one slot, as a script requires):

- ``meta`` hash: ``status``, ``stock``, ``limit``;
- ``taken`` hash: user id -> units held (paid and live);
- ``res`` hash: reservation id -> JSON ``{"u": user, "q": qty, "s": "live" | "confirmed" |
  "released", "l": stock left by the accepting decision}``, plus, once released, ``"g"``
  (the grants) and ``"r"`` (the stock left after the release), so a retry gets the same answer;
- ``wait`` list (the waitlist in order) and ``waiting`` set (who is in it);
- ``pend`` sorted set: live reservations not known to be written yet -> the Redis time (ms)
  the gate took their units (accepts and waitlist grants alike). A node's writer removes them
  once their orders are committed (``written``); ``confirm`` and ``release`` too. What stays
  there long after a node died is found by :meth:`RedisGate.unwritten` (see docs/flash-sales.md,
  "Crash safety").

Keys do not expire: a sale's state is authoritative while the sale runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from liveshop.promotions.flash.gate import (
    ConfirmOutcome,
    Decision,
    GateError,
    GateSnapshot,
    Outcome,
    RefusalReason,
    Released,
    ReleaseOutcome,
    Status,
    UnknownSale,
    WaitlistRefused,
    check_qty,
    checked_load,
)
from liveshop.promotions.gates import RedisScripts
from liveshop.promotions.gates import text as _text

# KEYS: meta, taken, res, pend; ARGV: user, qty, reservation id. Returns {outcome, stock left}.
_RESERVE = """
local meta = redis.call('HMGET', KEYS[1], 'status', 'stock', 'limit')
local status = meta[1]
if not status then return {'unknown_sale', 0} end
local stock = tonumber(meta[2])
local known = redis.call('HGET', KEYS[3], ARGV[3])
if known then return {'accepted', cjson.decode(known)['l']} end
if status == 'scheduled' then return {'not_open', stock} end
if status == 'closed' then return {'closed', stock} end
local qty = tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held + qty > tonumber(meta[3]) then return {'limit_reached', stock} end
if qty > stock then return {'sold_out', stock} end
stock = stock - qty
redis.call('HSET', KEYS[1], 'stock', stock)
redis.call('HSET', KEYS[2], ARGV[1], held + qty)
redis.call('HSET', KEYS[3], ARGV[3], cjson.encode({u = ARGV[1], q = qty, s = 'live', l = stock}))
local t = redis.call('TIME')
redis.call('ZADD', KEYS[4], t[1] * 1000 + math.floor(t[2] / 1000), ARGV[3])
return {'accepted', stock}
"""

# The decisions asked for in one turn of the event loop for one sale, in one script run:
# KEYS: meta, taken, res, pend; ARGV: n, then n x (user, qty, reservation id). Returns the flat
# list of n x (outcome, stock left). Each decision is exactly _RESERVE's, in order: a later
# one sees what an earlier one took (the same user or reservation twice included).
_RESERVE_MANY = """
local n = tonumber(ARGV[1])
local out = {}
local meta = redis.call('HMGET', KEYS[1], 'status', 'stock', 'limit')
local status = meta[1]
if not status then
  for i = 1, n do out[#out + 1] = 'unknown_sale'; out[#out + 1] = 0 end
  return out
end
local stock = tonumber(meta[2])
local limit = tonumber(meta[3])
local start = stock
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i = 0, n - 1 do
  local user = ARGV[2 + 3 * i]
  local qty = tonumber(ARGV[3 + 3 * i])
  local rid = ARGV[4 + 3 * i]
  local known = redis.call('HGET', KEYS[3], rid)
  local outcome
  local left = stock
  if known then
    outcome = 'accepted'
    left = cjson.decode(known)['l']
  elseif status == 'scheduled' then
    outcome = 'not_open'
  elseif status == 'closed' then
    outcome = 'closed'
  else
    local held = tonumber(redis.call('HGET', KEYS[2], user) or '0')
    if held + qty > limit then
      outcome = 'limit_reached'
    elseif qty > stock then
      outcome = 'sold_out'
    else
      stock = stock - qty
      left = stock
      outcome = 'accepted'
      redis.call('HSET', KEYS[2], user, held + qty)
      redis.call('HSET', KEYS[3], rid, cjson.encode({u = user, q = qty, s = 'live', l = stock}))
      redis.call('ZADD', KEYS[4], now, rid)
    end
  end
  out[#out + 1] = outcome
  out[#out + 1] = left
end
if stock ~= start then redis.call('HSET', KEYS[1], 'stock', stock) end
return out
"""

# KEYS: meta, taken, res, wait, waiting, pend; ARGV: reservation id.
# Returns JSON {o: outcome, n: units, g: [[user, id], ...], l: stock left}. The same rules as
# MemoryGate.release: waiting users first (one unit each, skipping those at their limit), and
# only while the sale is open; the rest back to stock.
_RELEASE = """
local meta = redis.call('HMGET', KEYS[1], 'status', 'stock', 'limit')
local status = meta[1]
if not status then return cjson.encode({o = 'unknown_sale', n = 0, l = 0}) end
local stock = tonumber(meta[2])
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return cjson.encode({o = 'not_found', n = 0, l = stock}) end
local r = cjson.decode(raw)
if r.s == 'confirmed' then return cjson.encode({o = 'confirmed', n = 0, l = stock}) end
if r.s == 'released' then return cjson.encode({o = 'released', n = r.q, g = r.g, l = r.r}) end
local left = tonumber(redis.call('HGET', KEYS[2], r.u)) - r.q
if left > 0 then
  redis.call('HSET', KEYS[2], r.u, left)
else
  redis.call('HDEL', KEYS[2], r.u)
end
local limit = tonumber(meta[3])
local free = r.q
local granted = {}
local n = 1
while status == 'open' and free > 0 do
  local user = redis.call('LPOP', KEYS[4])
  if not user then break end
  redis.call('SREM', KEYS[5], user)
  local held = tonumber(redis.call('HGET', KEYS[2], user) or '0')
  if held + 1 <= limit then
    local id = ARGV[1] .. ':w' .. n
    while redis.call('HEXISTS', KEYS[3], id) == 1 do
      n = n + 1
      id = ARGV[1] .. ':w' .. n
    end
    n = n + 1
    redis.call('HSET', KEYS[2], user, held + 1)
    granted[#granted + 1] = {user, id}
    free = free - 1
  end
end
stock = stock + free
redis.call('HSET', KEYS[1], 'stock', stock)
redis.call('ZREM', KEYS[6], ARGV[1])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for _, grant in ipairs(granted) do
  redis.call('HSET', KEYS[3], grant[2], cjson.encode({u = grant[1], q = 1, s = 'live', l = stock}))
  redis.call('ZADD', KEYS[6], now, grant[2])
end
r.s = 'released'
r.g = granted
r.r = stock
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode(r))
return cjson.encode({o = 'released', n = r.q, g = granted, l = stock})
"""

# KEYS: meta, res, pend; ARGV: reservation id. Returns the outcome.
_CONFIRM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown_sale' end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 'not_found' end
local r = cjson.decode(raw)
if r.s == 'released' then return 'expired' end
if r.s == 'live' then
  r.s = 'confirmed'
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(r))
end
redis.call('ZREM', KEYS[3], ARGV[1])
return 'confirmed'
"""

# KEYS: meta; ARGV: 'open' or 'closed'. Returns the status after the call; nil for no sale.
# Only a scheduled sale opens; any sale closes.
_SET_STATUS = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if ARGV[1] == 'closed' or status == 'scheduled' then
  status = ARGV[1]
  redis.call('HSET', KEYS[1], 'status', status)
end
return status
"""

# KEYS: meta, taken, wait, waiting; ARGV: user. Returns {position} or {0, reason}; nil for no
# sale.
_JOIN_WAITLIST = """
local meta = redis.call('HMGET', KEYS[1], 'status', 'stock', 'limit')
if not meta[1] then return false end
if meta[1] == 'scheduled' then return {0, 'not_open'} end
if meta[1] == 'closed' then return {0, 'closed'} end
if redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 1 then
  return {redis.call('LPOS', KEYS[3], ARGV[1]) + 1}
end
if tonumber(meta[2]) > 0 then return {0, 'not_sold_out'} end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held >= tonumber(meta[3]) then return {0, 'limit_reached'} end
redis.call('SADD', KEYS[4], ARGV[1])
return {redis.call('RPUSH', KEYS[3], ARGV[1])}
"""

# KEYS: pend; ARGV: age in ms. Returns the reservation ids in ``pend`` accepted at least that
# long ago by Redis's own clock (the same clock for every node), oldest first.
_UNWRITTEN = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, 500)
"""

_KINDS = ("meta", "taken", "res", "wait", "waiting", "pend")


def _record(user_id: str, qty: int, stock_left: int) -> bytes:
    return orjson.dumps({"u": user_id, "q": qty, "s": "live", "l": stock_left})


MAX_BATCH = 500  # decisions of one sale per script run (Redis is busy ~1 ms for them)
_Ask = tuple[list[str], list[Any], "asyncio.Future[Any]"]  # keys, args, the asker's answer


class RedisGate(RedisScripts):
    """The gate for several nodes: state in Redis, one Lua script per decision."""

    def __init__(self, redis: Redis, *, prefix: str = "liveshop", max_in_flight: int = 32) -> None:
        super().__init__(redis, namespace="gate", prefix=prefix, max_in_flight=max_in_flight)
        self._pending_reserves: list[_Ask] = []
        self._reserve_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserve = redis.register_script(_RESERVE)
        self._reserve_many = redis.register_script(_RESERVE_MANY)
        self._release = redis.register_script(_RELEASE)
        self._confirm = redis.register_script(_CONFIRM)
        self._set_status = redis.register_script(_SET_STATUS)
        self._join_waitlist = redis.register_script(_JOIN_WAITLIST)
        self._unwritten = redis.register_script(_UNWRITTEN)

    async def load(
        self,
        sale_id: str,
        *,
        stock: int,
        per_user_limit: int,
        taken: Mapping[str, int],
        reservations: Mapping[str, tuple[str, int]],
        waitlist: Sequence[str],
        status: Status,
    ) -> None:
        held, live, queue = checked_load(
            stock=stock,
            per_user_limit=per_user_limit,
            taken=taken,
            reservations=reservations,
            waitlist=waitlist,
            status=status,
        )
        meta, taken_key, res, wait, waiting, pend = self._keys(sale_id, *_KINDS)
        async with self._in_flight, self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(meta, taken_key, res, wait, waiting, pend)
            pipe.hset(meta, mapping={"status": status, "stock": stock, "limit": per_user_limit})
            if held:
                pipe.hset(taken_key, mapping=held)  # type: ignore[arg-type]
            if live:
                records = {rid: _record(user, qty, stock) for rid, (user, qty) in live.items()}
                pipe.hset(res, mapping=records)  # type: ignore[arg-type]
            if queue:
                pipe.rpush(wait, *queue)
                pipe.sadd(waiting, *queue)
            await pipe.execute()

    async def _status(self, sale_id: str, target: Status) -> Status:
        async with self._in_flight:
            result = await self._set_status(keys=self._keys(sale_id, "meta"), args=[target])
        if result is None:
            raise UnknownSale(sale_id)
        return cast(Status, _text(result))

    async def open(self, sale_id: str) -> Status:
        status = await self._status(sale_id, "open")
        if status == "closed":
            raise GateError(f"sale {sale_id!r} is closed; it cannot reopen")
        return status

    async def close(self, sale_id: str) -> Status:
        return await self._status(sale_id, "closed")

    async def reserve(
        self, sale_id: str, *, user_id: str, qty: int, reservation_id: str
    ) -> Decision:
        """Decided by one Lua script, atomically. The decisions asked for in the same turn of
        the event loop (a sale's opening brings thousands, a sold-out sale thousands of
        refusals) go to Redis together: one script run per sale for all of them (each
        decided in arrival order, exactly as alone), one round trip."""
        check_qty(qty)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_reserves.append(
            (
                self._keys(sale_id, "meta", "taken", "res", "pend"),
                [user_id, qty, reservation_id],
                future,
            )
        )
        if not self._reserve_scheduled:
            self._reserve_scheduled = True
            asyncio.get_running_loop().call_soon(self._start_reserves)
        outcome, stock_left = await future
        return Decision(cast(Outcome, _text(outcome)), int(stock_left), reservation_id)

    def _start_reserves(self) -> None:
        self._reserve_scheduled = False
        batch, self._pending_reserves = self._pending_reserves, []
        by_sale: dict[str, list[_Ask]] = {}
        for ask in batch:
            by_sale.setdefault(ask[0][0], []).append(ask)
        for asks in by_sale.values():
            for i in range(0, len(asks), MAX_BATCH):
                task = asyncio.get_running_loop().create_task(
                    self._run_reserves(asks[i : i + MAX_BATCH])
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run_reserves(self, batch: list[_Ask]) -> None:
        """One sale's decisions: one script run (one alone: the single-decision script)."""
        try:
            async with self._in_flight:
                if len(batch) == 1:
                    keys, args, _ = batch[0]
                    results: list[Any] = [await self._reserve(keys=keys, args=args)]
                else:
                    flat: list[Any] = [len(batch)]
                    for _, args, _ in batch:
                        flat.extend(args)
                    out = await self._reserve_many(keys=batch[0][0], args=flat)
                    results = [out[i : i + 2] for i in range(0, len(out), 2)]
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def release(self, sale_id: str, reservation_id: str) -> Released:
        async with self._in_flight:
            raw = await self._release(keys=self._keys(sale_id, *_KINDS), args=[reservation_id])
        data = orjson.loads(raw)
        grants = data.get("g") or []  # Lua's cjson writes an empty list as {}
        return Released(
            outcome=cast(ReleaseOutcome, data["o"]),
            reservation_id=reservation_id,
            units=int(data["n"]),
            granted=[(str(user), str(rid)) for user, rid in grants],
            stock_left=int(data["l"]),
        )

    async def confirm(self, sale_id: str, reservation_id: str) -> ConfirmOutcome:
        async with self._in_flight:
            outcome = await self._confirm(
                keys=self._keys(sale_id, "meta", "res", "pend"), args=[reservation_id]
            )
        return cast(ConfirmOutcome, _text(outcome))

    async def join_waitlist(self, sale_id: str, user_id: str) -> int:
        async with self._in_flight:
            result = await self._join_waitlist(
                keys=self._keys(sale_id, "meta", "taken", "wait", "waiting"), args=[user_id]
            )
        if result is None:
            raise UnknownSale(sale_id)
        position = int(result[0])
        if position == 0:
            raise WaitlistRefused(sale_id, user_id, cast(RefusalReason, _text(result[1])))
        return position

    async def written(self, sale_id: str, reservation_ids: Sequence[str]) -> None:
        if not reservation_ids:
            return
        async with self._in_flight:
            await self._redis.zrem(self._keys(sale_id, "pend")[0], *reservation_ids)

    async def unwritten(self, sale_id: str, *, older_than_seconds: float) -> list[str]:
        async with self._in_flight:
            ids = await self._unwritten(
                keys=self._keys(sale_id, "pend"), args=[int(older_than_seconds * 1000)]
            )
        return [_text(rid) for rid in ids]

    async def stock_left(self, sale_id: str) -> int:
        async with self._in_flight:
            stock = await self._redis.hget(self._keys(sale_id, "meta")[0], "stock")
        if stock is None:
            raise UnknownSale(sale_id)
        return int(stock)

    async def snapshot(self, sale_id: str) -> GateSnapshot:
        meta, taken_key, res, wait, _, _ = self._keys(sale_id, *_KINDS)
        async with self._in_flight, self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(meta)
            pipe.hgetall(taken_key)
            pipe.hgetall(res)
            pipe.lrange(wait, 0, -1)
            meta_raw, taken_raw, res_raw, wait_raw = await pipe.execute()
        if not meta_raw:
            raise UnknownSale(sale_id)
        fields = {_text(k): _text(v) for k, v in meta_raw.items()}
        reservations: dict[str, tuple[str, int]] = {}
        for rid, raw in res_raw.items():
            record = orjson.loads(raw)
            if record["s"] == "live":
                reservations[_text(rid)] = (str(record["u"]), int(record["q"]))
        return GateSnapshot(
            status=cast(Status, fields["status"]),
            stock=int(fields["stock"]),
            per_user_limit=int(fields["limit"]),
            taken={_text(user): int(units) for user, units in taken_raw.items()},
            reservations=reservations,
            waitlist=[_text(user) for user in wait_raw],
        )
