"""The connection hub: fan-out of room events to this process's WebSockets.

One ``Room`` per live room per process, one broker subscription per room. Events that arrive
from the broker are collected and, every ``tick_ms``, turned into ONE frame
``{"seq": n, "events": [...]}`` that is encoded once and offered to every connection of the
room. Offering never awaits a socket, so one slow phone cannot hold up the room:

- an idle connection (nothing queued, no write in flight) is written at once, without a task
  switch: the write runs up to its first suspension, and nearly always completes there (the
  socket's buffer has room). One that suspends (a paused transport) becomes the connection's
  write in flight, finished by the connection's writer task (started then, and gone once
  nothing waits: an idle connection has no task of its own besides its endpoint's);
- otherwise the frame goes to the connection's bounded queue, which the writer drains.

Per busy connection (``Connection.offer``):

- queue shorter than ``soft``: the full frame is queued;
- ``soft`` or longer (a slow reader): queued frames without priority events are dropped and
  a *lite* frame (priority events + counters, no chat) is queued instead, so the reader keeps
  every commerce event and only the latest counters;
- ``hard`` or longer: the connection is closed with 4008 and the client resyncs.

The ``naive`` mode exists only as the benchmark's baseline: one frame per event, written to
each socket in turn, each write awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import structlog

from liveshop.observability import Metrics
from liveshop.realtime.broker import Broker, RoomCounters

log = structlog.get_logger(__name__)

CLOSE_TOO_SLOW = 4008
Send = Callable[[str], Awaitable[None]]
EventListener = Callable[[str, dict[str, Any]], None]


class _Resume:
    """Await the rest of a send coroutine that was started by hand and suspended on ``waiting``.

    ``Connection.offer`` runs a write up to its first suspension without a task; a write that
    completes at once (the usual case: the socket's buffer has room) costs no task switch, no
    event and no scheduled callback. One that suspends (the transport is paused: a slow reader)
    is finished by the connection's writer task through this awaitable.
    """

    __slots__ = ("steps", "waiting")

    def __init__(self, steps: Generator[Any, None, None], waiting: Any) -> None:
        self.steps = steps  # the send's ``__await__()`` iterator
        self.waiting = waiting

    def __await__(self) -> Generator[Any, None, None]:
        waiting = self.waiting
        while True:
            try:
                yield waiting
            except BaseException as exc:  # cancelled (or failed) while waiting: pass it on
                try:
                    waiting = self.steps.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                waiting = self.steps.send(None)
            except StopIteration:
                return

    def close(self) -> None:
        self.steps.close()


class Connection:
    """One viewer's socket as the hub sees it: a bounded queue of encoded frames.

    An idle connection (nothing queued, no write in flight) is written at once by ``offer``.
    Only while a write is in flight or frames wait does the connection have a writer task
    (``_drain``, started on demand, gone once the queue is empty): an idle connection costs
    no task, no event and no queue (about 0.2 KB here). Whoever owns the socket (the
    WebSocket endpoint) sets ``wake``: it is called once when the connection closes or a
    write fails, so the endpoint stops reading and ends the connection.
    """

    __slots__ = (
        "account_id",
        "busy",
        "close_code",
        "early",
        "error",
        "hard",
        "inflight",
        "queue",
        "ready",
        "send",
        "soft",
        "staff",
        "viewer",
        "wake",
        "writer",
    )

    def __init__(
        self,
        *,
        viewer: str,
        account_id: str | None,
        send: Send,
        soft: int,
        hard: int,
        staff: bool = False,
    ) -> None:
        self.viewer = viewer
        self.account_id = account_id
        self.staff = staff  # the room's own people (console): not counted as online
        self.send = send
        self.soft = soft
        self.hard = hard
        self.queue: deque[tuple[str, bool]] | None = None  # made when a frame must wait
        self.close_code: int | None = None
        self.ready = False
        self.early: list[dict[str, Any]] | None = None  # priority events before ready
        self.busy = False  # a write is in flight: new frames queue behind it
        self.inflight: _Resume | None = None  # a write started by offer(), for the writer
        self.error: BaseException | None = None  # a write failed (the socket is gone)
        self.writer: asyncio.Task[None] | None = None  # alive while there is work
        self.wake: Callable[[], None] | None = None  # told once: closed or failed

    @property
    def ended(self) -> bool:
        """Closed by the hub, or a write failed: nothing more is sent."""
        return self.close_code is not None or self.error is not None

    def hold(self, events: list[dict[str, Any]]) -> None:
        """Before ``ready``: keep the priority events ticked out while the first message is
        on its way, so none falls between that message and the first frame."""
        kept = [e for e in events if "seq" in e]
        if kept:
            if self.early is None:
                self.early = []
            self.early.extend(kept)

    def start(self, seq: int) -> None:
        """The first message (current at ``seq``) is sent: queue the held priority events
        after it, then take frames. Synchronous, so no tick runs in between."""
        held, self.early = self.early or [], None
        later = [e for e in held if int(e["seq"]) > seq]
        if later:
            self.direct(orjson.dumps({"seq": later[-1]["seq"], "events": later}).decode())
        self.ready = True

    def offer(self, full: str, lite: str | None, priority: bool) -> None:
        if self.ended:
            return
        queue = self.queue
        if not self.busy and not queue:
            self._write_now(full)
            return
        if queue is None:
            queue = self.queue = deque()
        size = len(queue)
        if size >= self.hard:
            self.close(CLOSE_TOO_SLOW)
            return
        if size < self.soft:
            queue.append((full, priority))
        else:
            if not all(p for _, p in queue):
                queue = self.queue = deque(item for item in queue if item[1])
            if lite is not None:
                queue.append((lite, priority))
        self._start_writer()

    def _write_now(self, text: str) -> None:
        """Run the send up to its first suspension; a suspended one goes to the writer."""
        steps = self.send(text).__await__()
        try:
            waiting = steps.send(None)
        except StopIteration:
            return  # written
        except BaseException as exc:  # the socket is gone
            self._fail(exc)
            return
        self.busy = True
        self.inflight = _Resume(steps, waiting)
        self._start_writer()

    def direct(self, text: str) -> None:
        """A personal message (reply, error): queued, never dropped."""
        if self.close_code is None:
            if self.queue is None:
                self.queue = deque()
            self.queue.append((text, True))
            self._start_writer()

    def close(self, code: int) -> None:
        """Close (once): drop what is queued, stop a stuck write, tell the owner."""
        if self.close_code is None:
            self.close_code = code
            self.queue = None
            self._stop_writer()
            self._tell()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            self._tell()

    def _tell(self) -> None:
        wake, self.wake = self.wake, None
        if wake is not None:
            wake()

    def _start_writer(self) -> None:
        if self.writer is None and self.close_code is None and self.error is None:
            self.writer = asyncio.get_running_loop().create_task(self._drain())

    def _stop_writer(self) -> None:
        writer = self.writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()

    async def stop(self) -> None:
        """Cancel the writer task, if any, and wait for it (the owner, when it ends)."""
        writer = self.writer
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
            await asyncio.wait({writer})

    async def _drain(self) -> None:
        """The writer: finish the write ``offer`` started, send the queued frames, then end
        (a write that fails ends the connection: ``error`` is set and the owner told)."""
        self.busy = True
        try:
            if self.inflight is not None:
                await self.inflight
                self.inflight = None
            while self.close_code is None and self.queue:
                text, _ = self.queue.popleft()
                await self.send(text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(exc)
        finally:
            if self.inflight is not None:  # closed or cancelled with a write stuck
                self.inflight.close()
                self.inflight = None
            self.busy = False
            self.writer = None
            if not self.queue:
                self.queue = None

    async def drain(self) -> int | None:
        """Wait until nothing is queued or in flight (or the connection ended); returns the
        close code. For tests and tools: the writer itself runs on its own."""
        while (writer := self.writer) is not None and not self.ended:
            await asyncio.wait({writer})
        return self.close_code


@dataclass
class Room:
    id: str
    connections: set[Connection] = field(default_factory=set)
    pending: list[dict[str, Any]] = field(default_factory=list)
    likes_delta: int = 0
    staff: int = 0  # connections of the room's own people, not counted as online
    seq: int = 0
    counters: RoomCounters | None = None
    sent_counters: RoomCounters | None = None
    task: asyncio.Task[None] | None = None
    naive_queue: asyncio.Queue[dict[str, Any]] | None = None


def counters_event(c: RoomCounters) -> dict[str, Any]:
    return {
        "type": "counters",
        "likes": c.likes,
        "online": c.online,
        "unique": c.unique,
        "peak": c.peak,
    }


class Hub:
    def __init__(
        self,
        broker: Broker,
        *,
        node: str,
        metrics: Metrics,
        mode: Literal["batched", "naive"] = "batched",
        tick_ms: int = 150,
        soft: int = 8,
        hard: int = 64,
        listener: EventListener | None = None,
    ) -> None:
        self.broker = broker
        self.node = node
        self.metrics = metrics
        self.mode = mode
        self.tick = tick_ms / 1000
        self.soft = soft
        self.hard = hard
        self.listener = listener
        self.rooms: dict[str, Room] = {}
        self._lock = asyncio.Lock()

    def connection(
        self, *, viewer: str, account_id: str | None, send: Send, staff: bool = False
    ) -> Connection:
        return Connection(
            viewer=viewer,
            account_id=account_id,
            send=send,
            soft=self.soft,
            hard=self.hard,
            staff=staff,
        )

    # -- membership -------------------------------------------------------------------------

    async def join(self, room_id: str, conn: Connection) -> Room:
        async with self._lock:
            room = self.rooms.get(room_id)
            if room is None:
                room = Room(id=room_id)
                self.rooms[room_id] = room
                room.seq = await self.broker.current_seq(room_id)
                await self.broker.subscribe(room_id, lambda m: self._receive(room_id, m))
                if self.mode == "naive":
                    room.naive_queue = asyncio.Queue()
                    room.task = asyncio.create_task(self._naive_loop(room), name=f"room-{room_id}")
                else:
                    room.task = asyncio.create_task(self._tick_loop(room), name=f"room-{room_id}")
            room.connections.add(conn)
            room.staff += conn.staff
            self.metrics.room_connections.inc()
            return room

    async def leave(self, room_id: str, conn: Connection) -> None:
        async with self._lock:
            room = self.rooms.get(room_id)
            if room is None or conn not in room.connections:
                return
            room.connections.discard(conn)
            room.staff -= conn.staff
            self.metrics.room_connections.dec()
            if room.connections:
                return
            del self.rooms[room_id]
            if room.task is not None:
                room.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await room.task
            await self.broker.unsubscribe(room_id)
            if room.likes_delta:
                await self.broker.sync(
                    room_id,
                    node=self.node,
                    online=0,
                    likes_delta=room.likes_delta,
                    now_ms=_now_ms(),
                )
            await self.broker.leave_node(room_id, self.node)

    def connections(self, room_id: str) -> list[Connection]:
        room = self.rooms.get(room_id)
        return list(room.connections) if room else []

    def close_account(self, room_id: str, account_id: str, code: int) -> int:
        closed = 0
        for conn in self.connections(room_id):
            if conn.account_id == account_id:
                conn.close(code)
                closed += 1
        return closed

    def like(self, room_id: str, count: int) -> None:
        room = self.rooms.get(room_id)
        if room is not None:
            room.likes_delta += count

    async def counters(self, room_id: str) -> RoomCounters:
        """Totals across nodes (also reports this node's online count)."""
        room = self.rooms.get(room_id)
        online = len(room.connections) - room.staff if room else 0
        delta = 0
        if room is not None:
            delta, room.likes_delta = room.likes_delta, 0
        try:
            counters = await self.broker.sync(
                room_id, node=self.node, online=online, likes_delta=delta, now_ms=_now_ms()
            )
        except Exception:
            if room is not None:
                room.likes_delta += delta  # not lost: added on the next sync
            raise
        if room is not None:
            room.counters = counters
        return counters

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, room_id: str, event: dict[str, Any]) -> None:
        await self.broker.publish(room_id, event)

    async def publish_priority(self, room_id: str, event: dict[str, Any]) -> int:
        return await self.broker.publish_priority(room_id, event)

    def _receive(self, room_id: str, message: dict[str, Any]) -> None:
        room = self.rooms.get(room_id)
        event = message["e"]
        if "seq" in message:
            event = {**event, "seq": message["seq"]}
        if self.listener is not None:
            try:
                self.listener(room_id, event)
            except Exception:
                log.exception("room_listener_failed", room=room_id)
        if room is None or str(event.get("type", "")).startswith("_"):
            return  # control messages are for the listener only
        if "seq" in event:
            room.seq = max(room.seq, int(event["seq"]))
        if room.naive_queue is not None:
            room.naive_queue.put_nowait(event)
        else:
            room.pending.append(event)

    # -- batched fan-out --------------------------------------------------------------------

    async def _tick_loop(self, room: Room) -> None:
        """Flush every ``tick`` seconds on a fixed schedule: the time a flush takes (it writes
        to every idle socket) does not stretch the period. Behind schedule, it does not burst."""
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.tick
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at = max(next_at + self.tick, loop.time())
            try:
                await self.flush(room)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room_tick_failed", room=room.id)

    async def flush(self, room: Room) -> None:
        """One tick: sync counters, build the frame once, offer it to every connection."""
        counters: RoomCounters | None
        try:
            counters = await self.counters(room.id)
        except Exception:
            log.exception("room_counters_failed", room=room.id)
            counters = room.sent_counters
        events, room.pending = room.pending, []
        if counters is not None and counters != room.sent_counters:
            room.sent_counters = counters
            events.append(counters_event(counters))
        if not events or not room.connections:
            return
        priority = any("seq" in e for e in events)
        full = orjson.dumps({"seq": room.seq, "events": events}).decode()
        lite_events = [e for e in events if "seq" in e or e["type"] == "counters"]
        if len(lite_events) == len(events):
            lite: str | None = full
        elif lite_events:
            lite = orjson.dumps({"seq": room.seq, "events": lite_events}).decode()
        else:
            lite = None
        conns = list(room.connections)
        for conn in conns:
            if conn.ready:
                conn.offer(full, lite, priority)
            elif priority:
                conn.hold(events)
        self.metrics.room_frames.inc()
        self.metrics.room_deliveries.inc(len(conns) * len(events))

    # -- naive baseline ---------------------------------------------------------------------

    async def _naive_loop(self, room: Room) -> None:
        assert room.naive_queue is not None
        last_counters = time.monotonic()
        while True:
            try:
                event = await asyncio.wait_for(room.naive_queue.get(), timeout=self.tick)
            except TimeoutError:
                event = None
            try:
                if event is not None:
                    await self._naive_send(room, event)
                if time.monotonic() - last_counters >= self.tick:
                    last_counters = time.monotonic()
                    counters = await self.counters(room.id)
                    if counters != room.sent_counters:
                        room.sent_counters = counters
                        await self._naive_send(room, counters_event(counters))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("room_naive_failed", room=room.id)

    async def _naive_send(self, room: Room, event: dict[str, Any]) -> None:
        frame = {"seq": room.seq, "events": [event]}
        for conn in room.connections:
            if not conn.ready:
                conn.hold([event])
        conns = [c for c in room.connections if c.ready]
        for conn in conns:
            try:
                await conn.send(json.dumps(frame, ensure_ascii=False))
            except Exception:
                conn.close(1011)
        self.metrics.room_frames.inc()
        self.metrics.room_deliveries.inc(len(conns))

    async def close(self) -> None:
        for room_id in list(self.rooms):
            room = self.rooms[room_id]
            for conn in list(room.connections):
                conn.close(1001)
            if room.task is not None:
                room.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await room.task
            with contextlib.suppress(Exception):
                await self.broker.leave_node(room_id, self.node)
        self.rooms.clear()


def _now_ms() -> int:
    return int(time.time() * 1000)
