"""The red-envelope gate on Redis, for several app nodes (see :mod:`.gate` and
:mod:`liveshop.promotions.gates`).

Atomicity: ``grab``, ``load``, ``close`` are ONE Lua script each; Redis runs a script to its
end before it serves any other command, so two nodes can never both take the last share, and
double mean's remaining amount and count change in the same step as the grab that draws from
them. The script is a line-by-line port of :func:`~.split.split_double_mean` fed with the
caller's random words (:class:`~.gate.WordRandom` in Lua), so for the same words it
gives exactly the amount the Python function gives.

Keys of a pot (``{prefix}:envelope:{<id>}:<what>``; the braces are a Redis Cluster hash tag,
so a pot's keys share a slot, as a script requires), each with a TTL (the database is the
truth; a pot whose keys expired is rebuilt from it):

- ``meta`` hash: ``mode``, ``amount`` (remaining minor units), ``count`` (remaining shares),
  ``seq`` (the next grab's seq), ``closed`` (``0``/``1``);
- ``grabs`` hash: user id -> ``"<amount>:<seq>:<piece or empty>"``;
- ``pieces`` list (pre-split): ``"<index>:<amount>"`` not handed out yet, in order.

Amounts stay far below 10**14, so Lua's number formatting keeps every digit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from liveshop.promotions.envelopes.gate import (
    GrabDecision,
    GrabOutcome,
    Held,
    Mode,
    PotSnapshot,
    UnknownEnvelope,
    checked_load,
    draw_words,
)
from liveshop.promotions.envelopes.split import SYSTEM_RANDOM, RandomSource
from liveshop.promotions.gates import RedisScripts
from liveshop.promotions.gates import text as _text

# KEYS: meta, grabs, pieces; ARGV: user, random word 1..n.
# Returns {outcome[, record, remaining count, remaining amount]}; 'reroll' when every word was
# rejected (nothing changed: the caller retries with new words).
_GRAB = """
local meta = redis.call('HMGET', KEYS[1], 'mode', 'amount', 'count', 'seq', 'closed')
if not meta[1] then return {'unknown'} end
local mine = redis.call('HGET', KEYS[2], ARGV[1])
if mine then return {'already', mine, meta[3], meta[2]} end
if meta[5] == '1' then return {'closed', '', meta[3], meta[2]} end
local amount = tonumber(meta[2])
local count = tonumber(meta[3])
if count < 1 then return {'empty'} end
local grab
local piece = ''
if meta[1] == 'pre_split' then
  local raw = redis.call('LPOP', KEYS[3])
  local sep = string.find(raw, ':', 1, true)
  piece = string.sub(raw, 1, sep - 1)
  grab = tonumber(string.sub(raw, sep + 1))
elseif count == 1 then
  grab = amount
else
  local W = 281474976710656  -- 2^48 (WORD_LIMIT)
  local nextword = 2
  local function uniform(n)
    local limit = W - W % n
    while nextword <= #ARGV do
      local w = tonumber(ARGV[nextword])
      nextword = nextword + 1
      if w < limit then return w % n end
    end
    return nil
  end
  local spare = 2 * amount - count
  local fraction = spare % count
  local top = (spare - fraction) / count
  if fraction > 0 then
    local r = uniform(count)
    if r == nil then return {'reroll'} end
    if r < fraction then top = top + 1 end
  end
  if top > amount - (count - 1) then top = amount - (count - 1) end
  local r = uniform(top)
  if r == nil then return {'reroll'} end
  grab = 1 + r
end
local seq = tonumber(meta[4])
local record = string.format('%d:%d:%s', grab, seq, piece)
redis.call('HSET', KEYS[2], ARGV[1], record)
redis.call('HSET', KEYS[1], 'amount', string.format('%d', amount - grab),
  'count', string.format('%d', count - 1), 'seq', string.format('%d', seq + 1))
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return {'granted', record, count - 1, amount - grab}
"""

# KEYS: meta, grabs, pieces; ARGV: replace (1/0), ttl ms, mode, amount, count, seq, closed,
# grabs (JSON object user -> record), pieces (JSON array of "index:amount"). Returns 1 when set.
_LOAD = """
if ARGV[1] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'mode', ARGV[3], 'amount', ARGV[4], 'count', ARGV[5],
  'seq', ARGV[6], 'closed', ARGV[7])
for user, record in pairs(cjson.decode(ARGV[8])) do
  redis.call('HSET', KEYS[2], user, record)
end
for _, piece in ipairs(cjson.decode(ARGV[9])) do
  redis.call('RPUSH', KEYS[3], piece)
end
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
"""

# KEYS: meta. Returns 1 when the pot exists (now closed), else 0.
_CLOSE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'closed', '1')
return 1
"""

_KINDS = ("meta", "grabs", "pieces")
KEY_TTL_SECONDS = 3 * 24 * 3600
"""How long a pot's keys live after a load: longer than any envelope (24 h at most)."""


def _record(held: Held) -> str:
    piece = "" if held.piece is None else str(held.piece)
    return f"{held.amount_minor}:{held.seq}:{piece}"


def _held(record: Any) -> Held:
    amount, seq, piece = _text(record).split(":")
    return Held(int(amount), int(seq), int(piece) if piece else None)


class RedisEnvelopeGate(RedisScripts):
    """The gate for several nodes: pots in Redis, one Lua script per decision."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = "liveshop",
        rng: RandomSource = SYSTEM_RANDOM,
        max_in_flight: int = 32,
        key_ttl_seconds: int = KEY_TTL_SECONDS,
    ) -> None:
        super().__init__(redis, namespace="envelope", prefix=prefix, max_in_flight=max_in_flight)
        self._rng = rng
        self._ttl_ms = key_ttl_seconds * 1000
        self._grab = redis.register_script(_GRAB)
        self._load = redis.register_script(_LOAD)
        self._close = redis.register_script(_CLOSE)

    def _pot_keys(self, envelope_id: str) -> list[str]:
        return self._keys(envelope_id, *_KINDS)

    async def load(
        self,
        envelope_id: str,
        *,
        mode: Mode,
        remaining_minor: int,
        remaining_count: int,
        pieces: Sequence[tuple[int, int]],
        grabbed: Mapping[str, Held],
        next_seq: int,
        closed: bool = False,
        replace: bool = True,
    ) -> bool:
        checked_load(
            mode=mode,
            remaining_minor=remaining_minor,
            remaining_count=remaining_count,
            pieces=pieces,
            grabbed=grabbed,
            next_seq=next_seq,
        )
        args = [
            "1" if replace else "0",
            self._ttl_ms,
            mode,
            remaining_minor,
            remaining_count,
            next_seq,
            "1" if closed else "0",
            orjson.dumps({user: _record(held) for user, held in grabbed.items()}),
            orjson.dumps([f"{index}:{amount}" for index, amount in pieces]),
        ]
        async with self._in_flight:
            result = await self._load(keys=self._pot_keys(envelope_id), args=args)
        return bool(int(result))

    async def grab(self, envelope_id: str, *, user_id: str) -> GrabDecision:
        while True:
            args: list[Any] = [user_id, *draw_words(self._rng)]
            async with self._in_flight:
                reply = await self._grab(keys=self._pot_keys(envelope_id), args=args)
            outcome = _text(reply[0])
            if outcome != "reroll":
                break
        if outcome in ("granted", "already"):
            held = _held(reply[1])
            return GrabDecision(
                cast(GrabOutcome, outcome),
                held.amount_minor,
                held.seq,
                held.piece,
                int(reply[2]),
                int(reply[3]),
            )
        if outcome == "closed":
            return GrabDecision("closed", remaining_count=int(reply[2]))
        return GrabDecision(cast(GrabOutcome, outcome))

    async def close(self, envelope_id: str) -> bool:
        async with self._in_flight:
            result = await self._close(keys=self._pot_keys(envelope_id)[:1])
        return bool(int(result))

    async def forget(self, envelope_id: str) -> None:
        async with self._in_flight:
            await self._redis.delete(*self._pot_keys(envelope_id))

    async def snapshot(self, envelope_id: str) -> PotSnapshot:
        meta_key, grabs_key, pieces_key = self._pot_keys(envelope_id)
        async with self._in_flight, self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(meta_key)
            pipe.hgetall(grabs_key)
            pipe.lrange(pieces_key, 0, -1)
            meta_raw, grabs_raw, pieces_raw = await pipe.execute()
        if not meta_raw:
            raise UnknownEnvelope(envelope_id)
        meta = {_text(k): _text(v) for k, v in meta_raw.items()}
        pieces = []
        for raw in pieces_raw:
            index, amount = _text(raw).split(":")
            pieces.append((int(index), int(amount)))
        return PotSnapshot(
            mode=cast(Mode, meta["mode"]),
            remaining_minor=int(meta["amount"]),
            remaining_count=int(meta["count"]),
            pieces=pieces,
            grabbed={_text(user): _held(record) for user, record in grabs_raw.items()},
            next_seq=int(meta["seq"]),
            closed=meta["closed"] == "1",
        )
