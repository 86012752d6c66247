"""The room broker: one protocol, an in-process and a Redis implementation.

A room is a channel. Two kinds of messages travel on it:

- **priority** events (pin, unpin, announcement, session ended, chat deleted, promotions):
  each gets the room's next sequence number and is appended to a bounded ring buffer, in the
  same atomic step as it is published, so every subscriber sees them in ``seq`` order and a
  reconnecting client can fetch what it missed (``since``);
- **plain** events (chat) and internal control messages: published as they come, no number.

The broker also keeps the room's shared state that must agree across nodes: the last 50 chat
messages, like total, online viewers (per node, summed), unique viewers and the peak.
Messages on the wire are ``{"seq": n, "e": event}`` (priority) or ``{"e": event}``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = structlog.get_logger(__name__)

Handler = Callable[[dict[str, Any]], None]
RECENT_CHAT = 50
NODE_STALE_MS = 10_000


@dataclass(frozen=True, slots=True)
class RoomCounters:
    likes: int
    online: int
    unique: int
    peak: int


class Broker(Protocol):
    async def publish_priority(self, room: str, event: dict[str, Any]) -> int:
        """Number, buffer and publish a priority event atomically; returns its seq."""
        ...

    async def publish(self, room: str, event: dict[str, Any]) -> None: ...

    async def current_seq(self, room: str) -> int: ...

    async def since(self, room: str, seq: int) -> list[dict[str, Any]] | None:
        """Priority events after ``seq`` in order, or None when the buffer no longer has them."""
        ...

    async def subscribe(self, room: str, handler: Handler) -> None: ...

    async def unsubscribe(self, room: str) -> None: ...

    async def push_chat(self, room: str, message: dict[str, Any]) -> None: ...

    async def delete_chat(self, room: str, message_id: str) -> bool: ...

    async def recent_chat(self, room: str) -> list[dict[str, Any]]: ...

    async def add_viewer(self, room: str, viewer: str) -> None: ...

    async def sync(
        self, room: str, *, node: str, online: int, likes_delta: int, now_ms: int
    ) -> RoomCounters:
        """Add this node's likes, report its online count; returns the room's totals."""
        ...

    async def leave_node(self, room: str, node: str) -> None: ...

    async def close(self) -> None: ...


# -- in-process -----------------------------------------------------------------------------


@dataclass
class _MemoryRoom:
    seq: int = 0
    ring: deque[dict[str, Any]] | None = None
    chat: deque[dict[str, Any]] | None = None
    likes: int = 0
    peak: int = 0
    online: dict[str, tuple[int, int]] | None = None  # node -> (online, reported at ms)
    viewers: set[str] | None = None


class MemoryBroker:
    """The embedded default: everything lives in this process."""

    def __init__(self, *, ring_size: int = 512) -> None:
        self._ring_size = ring_size
        self._rooms: dict[str, _MemoryRoom] = {}
        self._handlers: dict[str, Handler] = {}

    def _room(self, room: str) -> _MemoryRoom:
        state = self._rooms.get(room)
        if state is None:
            state = _MemoryRoom(
                ring=deque(maxlen=self._ring_size),
                chat=deque(maxlen=RECENT_CHAT),
                online={},
                viewers=set(),
            )
            self._rooms[room] = state
        return state

    def _deliver(self, room: str, message: dict[str, Any]) -> None:
        handler = self._handlers.get(room)
        if handler is not None:
            handler(message)

    async def publish_priority(self, room: str, event: dict[str, Any]) -> int:
        state = self._room(room)
        state.seq += 1
        message = {"seq": state.seq, "e": event}
        assert state.ring is not None
        state.ring.append(message)
        self._deliver(room, message)
        return state.seq

    async def publish(self, room: str, event: dict[str, Any]) -> None:
        self._deliver(room, {"e": event})

    async def current_seq(self, room: str) -> int:
        return self._room(room).seq

    async def since(self, room: str, seq: int) -> list[dict[str, Any]] | None:
        state = self._room(room)
        assert state.ring is not None
        return _since(list(state.ring), state.seq, seq)

    async def subscribe(self, room: str, handler: Handler) -> None:
        self._handlers[room] = handler

    async def unsubscribe(self, room: str) -> None:
        self._handlers.pop(room, None)

    async def push_chat(self, room: str, message: dict[str, Any]) -> None:
        chat = self._room(room).chat
        assert chat is not None
        chat.append(message)

    async def delete_chat(self, room: str, message_id: str) -> bool:
        chat = self._room(room).chat
        assert chat is not None
        for message in chat:
            if message.get("id") == message_id:
                chat.remove(message)
                return True
        return False

    async def recent_chat(self, room: str) -> list[dict[str, Any]]:
        chat = self._room(room).chat
        assert chat is not None
        return list(chat)

    async def add_viewer(self, room: str, viewer: str) -> None:
        viewers = self._room(room).viewers
        assert viewers is not None
        viewers.add(viewer)

    async def sync(
        self, room: str, *, node: str, online: int, likes_delta: int, now_ms: int
    ) -> RoomCounters:
        state = self._room(room)
        assert state.online is not None and state.viewers is not None
        state.likes += likes_delta
        state.online[node] = (online, now_ms)
        # Same rule as the Redis script: a node silent for longer than NODE_STALE_MS is gone.
        for name, (_, at) in list(state.online.items()):
            if now_ms - at > NODE_STALE_MS:
                del state.online[name]
        total = sum(count for count, _ in state.online.values())
        state.peak = max(state.peak, total)
        return RoomCounters(state.likes, total, len(state.viewers), state.peak)

    async def leave_node(self, room: str, node: str) -> None:
        online = self._room(room).online
        assert online is not None
        online.pop(node, None)

    async def close(self) -> None:
        self._handlers.clear()


def _since(ring: list[dict[str, Any]], current: int, seq: int) -> list[dict[str, Any]] | None:
    if seq >= current:
        return [] if seq == current else None
    missed = [m for m in ring if m["seq"] > seq]
    if not missed or missed[0]["seq"] != seq + 1:
        return None
    return [{**m["e"], "seq": m["seq"]} for m in missed]


# -- Redis ----------------------------------------------------------------------------------

# KEYS: seq, ring, channel-less; ARGV: channel, event json, ring size.
# The event is wrapped by string concatenation, so its bytes are published untouched.
_PUBLISH_PRIORITY = """
local seq = redis.call('INCR', KEYS[1])
local message = '{"seq":' .. seq .. ',"e":' .. ARGV[2] .. '}'
redis.call('RPUSH', KEYS[2], message)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], 172800)
redis.call('EXPIRE', KEYS[1], 172800)
redis.call('PUBLISH', ARGV[1], message)
return seq
"""

# KEYS: stats hash, online hash, viewers set; ARGV: likes delta, node, online, now ms, stale ms.
_SYNC = """
local likes = redis.call('HINCRBY', KEYS[1], 'likes', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ':' .. ARGV[4])
local all = redis.call('HGETALL', KEYS[2])
local now = tonumber(ARGV[4])
local total = 0
for i = 1, #all, 2 do
  local count, ts = string.match(all[i + 1], '(%d+):(%d+)')
  if now - tonumber(ts) <= tonumber(ARGV[5]) then
    total = total + tonumber(count)
  else
    redis.call('HDEL', KEYS[2], all[i])
  end
end
local peak = tonumber(redis.call('HGET', KEYS[1], 'peak') or '0')
if total > peak then
  peak = total
  redis.call('HSET', KEYS[1], 'peak', peak)
end
redis.call('EXPIRE', KEYS[1], 172800)
redis.call('EXPIRE', KEYS[2], 172800)
return {likes, total, redis.call('SCARD', KEYS[3]), peak}
"""

# KEYS: chat list; ARGV: message id. Compares the decoded top-level "id" only (a substring
# search would also match a nested "user":{"id":...} equal to the message id).
_DELETE_CHAT = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for _, item in ipairs(items) do
  local ok, message = pcall(cjson.decode, item)
  if ok and type(message) == 'table' and message['id'] == ARGV[1] then
    redis.call('LREM', KEYS[1], 1, item)
    return 1
  end
end
return 0
"""


class RedisBroker:
    """Several app nodes: Redis pub/sub for fan-out, Lua for the atomic steps.

    One pub/sub connection per process carries every room this process has viewers in.
    """

    def __init__(self, redis: Redis, *, ring_size: int = 512, prefix: str = "liveshop") -> None:
        self._redis = redis
        self._ring_size = ring_size
        self._prefix = prefix
        self._publish_priority = redis.register_script(_PUBLISH_PRIORITY)
        self._sync = redis.register_script(_SYNC)
        self._delete_chat = redis.register_script(_DELETE_CHAT)
        self._handlers: dict[str, Handler] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None

    def _key(self, room: str, what: str) -> str:
        return f"{self._prefix}:room:{room}:{what}"

    def _channel(self, room: str) -> str:
        return f"{self._prefix}:room:{room}"

    async def publish_priority(self, room: str, event: dict[str, Any]) -> int:
        seq = await self._publish_priority(
            keys=[self._key(room, "seq"), self._key(room, "ring")],
            args=[self._channel(room), orjson.dumps(event), self._ring_size],
        )
        return int(seq)

    async def publish(self, room: str, event: dict[str, Any]) -> None:
        await self._redis.publish(self._channel(room), b'{"e":' + orjson.dumps(event) + b"}")

    async def current_seq(self, room: str) -> int:
        value = await self._redis.get(self._key(room, "seq"))
        return int(value or 0)

    async def since(self, room: str, seq: int) -> list[dict[str, Any]] | None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._key(room, "seq"))
            pipe.lrange(self._key(room, "ring"), 0, -1)
            current, raw = await pipe.execute()
        ring = [orjson.loads(item) for item in raw]
        return _since(ring, int(current or 0), seq)

    async def subscribe(self, room: str, handler: Handler) -> None:
        self._handlers[self._channel(room)] = handler
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(self._channel(room))
            self._reader = asyncio.create_task(self._read(), name="broker-reader")
        else:
            await self._pubsub.subscribe(self._channel(room))

    async def unsubscribe(self, room: str) -> None:
        self._handlers.pop(self._channel(room), None)
        if self._pubsub is not None:
            await self._pubsub.unsubscribe(self._channel(room))

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("broker_read_failed")
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            if isinstance(channel, bytes):
                channel = channel.decode()
            handler = self._handlers.get(channel)
            if handler is None:
                continue
            try:
                handler(orjson.loads(message["data"]))
            except Exception:
                log.exception("broker_handler_failed", channel=channel)

    async def push_chat(self, room: str, message: dict[str, Any]) -> None:
        key = self._key(room, "chat")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, orjson.dumps(message))
            pipe.ltrim(key, -RECENT_CHAT, -1)
            pipe.expire(key, 172800)
            await pipe.execute()

    async def delete_chat(self, room: str, message_id: str) -> bool:
        found = await self._delete_chat(keys=[self._key(room, "chat")], args=[message_id])
        return bool(found)

    async def recent_chat(self, room: str) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(self._key(room, "chat"), 0, -1)
        return [orjson.loads(item) for item in raw]

    async def add_viewer(self, room: str, viewer: str) -> None:
        key = self._key(room, "viewers")
        await self._redis.sadd(key, viewer)
        await self._redis.expire(key, 172800)

    async def sync(
        self, room: str, *, node: str, online: int, likes_delta: int, now_ms: int
    ) -> RoomCounters:
        likes, total, unique, peak = await self._sync(
            keys=[self._key(room, "stats"), self._key(room, "online"), self._key(room, "viewers")],
            args=[likes_delta, node, online, now_ms, NODE_STALE_MS],
        )
        return RoomCounters(int(likes), int(total), int(unique), int(peak))

    async def leave_node(self, room: str, node: str) -> None:
        await self._redis.hdel(self._key(room, "online"), node)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._handlers.clear()
