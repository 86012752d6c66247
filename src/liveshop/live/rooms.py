"""LiveRooms: the live domain's face of the real-time hub (publish, moderate, log).

REST handlers call these methods; the WebSocket endpoint (``live/ws.py``) uses them too.
It owns, per process: the hub, the room snapshot cache, the chat gates (moderation rules in
memory) and the event log writer.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.auth.service import Principal
from liveshop.clock import Clock
from liveshop.config import Settings
from liveshop.errors import Problem
from liveshop.live.eventlog import EventLogWriter
from liveshop.live.models import LiveSession
from liveshop.live.moderation import BannedWords, ChatGate, ChatRules, Verdict
from liveshop.realtime.broker import Broker, RoomCounters
from liveshop.realtime.flood import LikeCap
from liveshop.realtime.hub import Hub

log = structlog.get_logger(__name__)

CLOSE_BANNED = 4003
MAX_CACHED_STATES = 1_000
# Events after which the cached chat gate must re-read its rules (slow mode lives on the session).
_SESSION_EVENTS = {"session.updated", "session.live", "session.ended"}


@dataclass
class _Gate:
    gate: ChatGate
    anchor_id: str
    stale: bool = False


class LiveRooms:
    def __init__(
        self,
        *,
        hub: Hub,
        broker: Broker,
        eventlog: EventLogWriter,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.hub = hub
        self.broker = broker
        self.eventlog = eventlog
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._settings = settings
        self._states: dict[str, tuple[dict[str, Any], int]] = {}
        self._generation: dict[str, int] = {}
        self._gates: dict[str, _Gate] = {}
        # Open promotions of a room (flash sales, ...) for the snapshot: each promotion
        # module registers one source at startup.
        self.promotion_sources: list[Callable[[str], Awaitable[list[dict[str, Any]]]]] = []
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # the flood limits' time (monotonic seconds; tests may hold it still)
        self.monotonic: Callable[[], float] = time.monotonic
        self._likes = LikeCap()
        hub.listener = self._on_event

    def command_lock(self, session_id: str) -> asyncio.Lock:
        """Serializes a session's commands in this process from the change to its publish,
        so the room sees them in the order they were committed."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        return lock

    # -- events from the broker (every node) ------------------------------------------------

    def _on_event(self, room_id: str, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if "seq" in event:
            self._invalidate(room_id)
            if kind in _SESSION_EVENTS and room_id in self._gates:
                self._gates[room_id].stale = True
        elif kind == "_moderation":
            if room_id in self._gates:
                self._gates[room_id].stale = True
        elif kind == "_notice":
            account_id = str(event.get("account_id"))
            text = orjson.dumps(event.get("event")).decode()
            for conn in self.hub.connections(room_id):
                if conn.account_id == account_id:
                    conn.direct(text)
        elif kind == "_kick":
            account_id = str(event.get("account_id"))
            self.hub.close_account(room_id, account_id, CLOSE_BANNED)

    def _invalidate(self, room_id: str) -> None:
        self._generation[room_id] = self._generation.get(room_id, 0) + 1
        self._states.pop(room_id, None)

    # -- room snapshot ----------------------------------------------------------------------

    async def state(self, session_id: str) -> tuple[dict[str, Any] | None, int]:
        """The room state and the seq it is current at.

        The cache is used only while this process is subscribed to the room (then every
        priority event reaches ``_on_event`` and invalidates it). The seq is read before the
        state, so any event after it reaches the client too; reducers are idempotent.
        """
        subscribed = session_id in self.hub.rooms
        if subscribed and session_id in self._states:
            return self._states[session_id]
        generation = self._generation.get(session_id, 0)
        seq = await self.broker.current_seq(session_id)
        from liveshop.live import service as live_service

        async with self._sessionmaker() as session:
            state = await live_service.room_state(
                session, session_id=session_id, settings=self._settings
            )
        if (
            state is not None
            and subscribed
            and session_id in self.hub.rooms
            and self._generation.get(session_id, 0) == generation
        ):
            if len(self._states) >= MAX_CACHED_STATES:
                self._states.clear()
            self._states[session_id] = (state, seq)
        return state, seq

    async def promotions(self, session_id: str) -> list[dict[str, Any]]:
        """Every open promotion of the room, in id order (the snapshot's ``promotions``)."""
        found: list[dict[str, Any]] = []
        for source in self.promotion_sources:
            found.extend(await source(session_id))
        return sorted(found, key=lambda p: p["id"])

    def forget(self, session_id: str) -> None:
        """The last viewer of this process left: drop what was cached for the room."""
        if session_id not in self.hub.rooms:
            self._states.pop(session_id, None)
            self._gates.pop(session_id, None)

    # -- chat moderation --------------------------------------------------------------------

    async def gate(self, session_id: str, *, anchor_id: str, slow_mode_seconds: int) -> ChatGate:
        entry = self._gates.get(session_id)
        if entry is not None and not entry.stale:
            return entry.gate
        from liveshop.live import moderation_service

        async with self._sessionmaker() as session:
            inputs = await moderation_service.gate_inputs(
                session, anchor_id=anchor_id, now=self._clock.now()
            )
        s = self._settings
        rules = ChatRules(
            max_length=s.chat_max_length,
            rate_per_second=s.chat_rate_per_second,
            burst=s.chat_burst,
            duplicate_window_seconds=float(s.chat_duplicate_window_seconds),
            slow_mode_seconds=slow_mode_seconds,
            word_action=inputs.action,
        )
        words = BannedWords(inputs.words)
        if entry is None:
            entry = _Gate(ChatGate(rules, words, inputs.sanctions), anchor_id)
            self._gates[session_id] = entry
        else:  # keep the per-user buckets, swap the rules
            entry.gate.rules = rules
            entry.gate.words = words
            entry.gate.sanctions = inputs.sanctions
            entry.stale = False
        return entry.gate

    async def is_banned(self, session_id: str, account_id: str, state: dict[str, Any]) -> bool:
        gate = await self._gate_for(session_id, state)
        return gate.sanctions.is_banned(account_id, self._clock.now())

    async def may_moderate(
        self, session_id: str, principal: Principal, state: dict[str, Any]
    ) -> bool:
        """Whether ``principal`` is one of the room's own people (the anchor, its operators,
        an operator of this session, an admin)."""
        from liveshop.live import moderation_service

        async with self._sessionmaker() as session:
            return await moderation_service.can_moderate(
                session,
                principal=principal,
                anchor_id=state["session"]["anchor"]["id"],
                session_id=session_id,
            )

    def like(self, session_id: str, account_id: str, count: int) -> int:
        """Count a viewer's likes, at most ``LIVESHOP_LIKE_MAX_PER_SECOND`` of them per second
        on this node; returns how many were counted (added to the room's total and logged)."""
        counted = self._likes.take(
            session_id,
            account_id,
            count,
            per_second=self._settings.like_max_per_second,
            now=self.monotonic(),
        )
        if counted:
            self.hub.like(session_id, counted)
            self.log(session_id, "like", account_id=account_id, payload={"count": counted})
        return counted

    async def check_chat(
        self, session_id: str, account_id: str, text: str, state: dict[str, Any]
    ) -> Verdict:
        gate = await self._gate_for(session_id, state)
        return gate.check(account_id, text, now=time.monotonic(), wall=self._clock.now())

    async def _gate_for(self, session_id: str, state: dict[str, Any]) -> ChatGate:
        session = state["session"]
        return await self.gate(
            session_id,
            anchor_id=session["anchor"]["id"],
            slow_mode_seconds=int(session.get("slow_mode_seconds") or 0),
        )

    # -- commands ---------------------------------------------------------------------------

    async def publish_priority(
        self, session_id: str, event: dict[str, Any], *, actor_id: str | None = None
    ) -> int | None:
        """Publish a priority room event (``{"type": ..., ...}``) to every viewer on every
        node, append it to the event log, drop the cached room snapshot; returns its seq.

        Called after the change is committed, so a broker failure must not fail the command:
        it is logged (``room_publish_failed``) and the seq is None; the snapshot cache is
        already dropped, so viewers who (re)join see the change.
        """
        self._invalidate(session_id)
        seq: int | None = None
        try:
            seq = await self.hub.publish_priority(session_id, event)
        except Exception:
            log.exception("room_publish_failed", session_id=session_id, type=event.get("type"))
        payload = {k: v for k, v in event.items() if k != "type"}
        self.log(session_id, str(event["type"]), account_id=actor_id, payload=payload)
        return seq

    async def publish_chat(self, session_id: str, message: dict[str, Any]) -> None:
        await self.broker.push_chat(session_id, message)
        await self.hub.publish(session_id, message)

    async def moderation_changed(self, session_id: str) -> None:
        """Banned words, word action or sanctions changed: every node reloads them."""
        if session_id in self._gates:
            self._gates[session_id].stale = True
        await self._control(session_id, {"type": "_moderation"})

    async def kick(self, session_id: str, account_id: str) -> None:
        """Close that account's sockets in the room on every node (close code 4003)."""
        await self._control(session_id, {"type": "_kick", "account_id": account_id})

    async def notify(self, session_id: str, account_id: str, event: dict[str, Any]) -> None:
        """A personal message to one account's sockets in the room, on every node (sent as
        is, outside frames; e.g. ``flash.notice``)."""
        await self._control(
            session_id, {"type": "_notice", "account_id": account_id, "event": event}
        )

    async def _control(self, session_id: str, message: dict[str, Any]) -> None:
        """A control message to every node, after a commit: a failure is logged, not raised
        (a node then keeps its rules until its last viewer of the room leaves)."""
        try:
            await self.hub.publish(session_id, message)
        except Exception:
            log.exception("room_publish_failed", session_id=session_id, type=message["type"])

    async def delete_chat(self, session_id: str, message_id: str, *, actor_id: str) -> bool:
        """Remove a chat message from the recent list and from every viewer's screen."""
        try:
            found = await self.broker.delete_chat(session_id, message_id)
        except Exception as exc:
            log.exception("room_broker_failed", session_id=session_id)
            raise Problem(
                503, "room.unavailable", "the room service is unavailable: try again"
            ) from exc
        if found:
            await self.publish_priority(
                session_id, {"type": "chat.deleted", "id": message_id}, actor_id=actor_id
            )
        return found

    def log(
        self,
        session_id: str,
        type: str,
        *,
        account_id: str | None = None,
        guest_id: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Append a row to the room event log (written in batches)."""
        self.eventlog.append(
            session_id, type, account_id=account_id, guest_id=guest_id, payload=payload
        )

    async def flush_log(self) -> None:
        """Write every pending event log row now (tests, shutdown)."""
        await self.eventlog.flush()

    async def counters(self, session_id: str) -> RoomCounters:
        """The room's totals across nodes: likes, online, unique viewers, peak."""
        return await self.hub.counters(session_id)

    async def totals(self, live: LiveSession) -> RoomCounters:
        """A session's totals: live from the broker while it runs; the stored ones once it
        has ended (its room is gone)."""
        if live.status == "ended":
            return RoomCounters(
                likes=live.likes, online=0, unique=live.unique_viewers, peak=live.peak_viewers
            )
        return await self.counters(live.id)

    async def close(self) -> None:
        await self.hub.close()
        await self.eventlog.close()
