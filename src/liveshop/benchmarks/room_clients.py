"""The room benchmark's load: viewer worker processes and the chatter/liker process.

Each runs its own asyncio loop (uvloop when installed) and takes commands from the
orchestrator (``benchmarks/room.py``) over a ``multiprocessing`` pipe, and report over another
(the command pipe is read by the event loop, which makes its end non-blocking):

- viewers: ``start`` (reset counters, record latencies), ``stop`` (report), ``finish``
  (let the slow readers read, report how they were closed, close every socket, exit);
- chatters: ``go`` (start sending), ``mark`` (report how much was sent so far), ``stop``,
  ``finish``.

Viewers use the minimal client of ``room_wire`` (the ``websockets`` client costs too much CPU
per message for 10,000 viewers on the server's own cores); the ~20 chatters use ``websockets``.

The chatters behave as the demo's simulated fans do (``liveshop.simulate.talk``): they chat
about the pinned or a showcase product of the snapshot they got on joining, and like in bursts
of taps. Each chat line carries its send time (``talk.stamp``: ``"<line> ·<time.time_ns()>"``),
so a viewer computes the delivery latency on receipt (``talk.read_stamp``): the clock is the
same, every process runs on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from array import array
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from liveshop.benchmarks import room_wire as wire
from liveshop.benchmarks.room_wire import WireClient
from liveshop.simulate import talk

_EVENT = b'"type":'
_CHAT = (b'"type":"chat"', b'"type": "chat"')  # orjson (batched) / json.dumps (naive)
_ERROR = (b'{"type":"error"', b'{"type": "error"')
_PRODUCT = b'"product.'  # product.pinned / product.unpinned: what the chatters talk about
MAX_LATENCY_SAMPLES = 300_000  # per worker; a uniform sample is kept beyond this
# A slow reader (a phone on a bad network) stops reading after the snapshot. Its kernel
# receive buffer is small and its segments are a real network's, not loopback's 64 KB (which
# would let the server's kernel buffer megabytes for it), so the server feels it soon.
SLOW_RCVBUF = 4096
SLOW_MSS = 1400


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        asyncio.run(coro)
    else:
        uvloop.run(coro)


async def _commands(conn: Connection) -> asyncio.Queue[tuple[Any, ...]]:
    """A queue filled from the pipe by the loop's reader callback (no thread needed)."""
    queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        while conn.poll():
            try:
                queue.put_nowait(conn.recv())
            except EOFError:
                loop.remove_reader(conn.fileno())
                queue.put_nowait(("finish",))
                return

    loop.add_reader(conn.fileno(), readable)
    return queue


async def _open(url: str, *, compression: bool) -> ClientConnection:
    return await connect(
        url,
        compression="deflate" if compression else None,
        proxy=None,
        ping_interval=None,  # the server pings; the client answers, it needn't ping too
        open_timeout=120,
        close_timeout=2,
        max_size=None,
    )


def close_code(exc: ConnectionClosed) -> int:
    return exc.rcvd.code if exc.rcvd is not None else 1006


# -- viewers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewerJob:
    url: str  # ws://host:port/ws/rooms/<session id>
    count: int
    slow: int  # how many of ``count`` stop reading after the snapshot
    sample_every: int  # every n-th (fast) viewer parses frames and records latencies
    compression: bool
    concurrency: int = 100  # handshakes in flight
    seed: int = 0


class _Viewer:
    """One viewer's callbacks; the counting is shared by the worker (``_Viewers``)."""

    __slots__ = ("client", "owner", "sample", "slow", "snapshot")

    def __init__(self, owner: _Viewers, *, slow: bool, sample: bool) -> None:
        self.owner = owner
        self.slow = slow
        self.sample = sample
        self.client: WireClient | None = None
        self.snapshot: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def on_message(self, data: bytes) -> None:
        if not self.snapshot.done():
            self.snapshot.set_result(data)
            if self.slow and self.client is not None and self.client.transport is not None:
                self.client.transport.pause_reading()  # the kernel buffer fills, then the server's
            return
        owner = self.owner
        if self.slow:
            if owner.draining:  # what piled up for a slow reader, read at the end
                backlog = owner.backlog
                backlog["frames"] += 1
                backlog["bytes"] += len(data)
                chat = data.count(_CHAT[0]) + data.count(_CHAT[1])
                backlog["chat"] += chat
                backlog["frames_with_chat"] += 1 if chat else 0
                backlog["counters"] += data.count(b'"type":"counters"')
            return
        if not owner.measuring:
            return
        owner.frames += 1
        owner.bytes += len(data)
        owner.events += data.count(_EVENT)
        chat = data.count(_CHAT[0]) + data.count(_CHAT[1])
        owner.chat += chat
        if self.sample and chat:
            now = time.time_ns()
            for event in orjson.loads(data).get("events", ()):
                if event.get("type") == "chat":
                    sent = talk.read_stamp(str(event.get("text")))
                    if sent is not None:
                        owner.record((now - sent) // 1000)


class _Viewers:
    def __init__(self, job: ViewerJob, commands: Connection, conn: Connection) -> None:
        self.job = job
        self.commands = commands
        self.conn = conn
        self.fast: list[WireClient] = []
        self.slow: list[WireClient] = []
        self.ready = 0
        self.failed: Counter[str] = Counter()
        self.measuring = False
        self.finishing = False
        self.draining = False
        self.backlog: Counter[str] = Counter()  # what the slow readers read at the end
        self.frames = self.events = self.chat = self.bytes = 0
        self.latencies = array("q")  # microseconds
        self.seen = 0  # latencies offered while measuring (for the reservoir)
        self.closed: Counter[int] = Counter()  # fast viewers closed by the server, by code
        self.random = random.Random(job.seed)

    def reset(self) -> None:
        self.frames = self.events = self.chat = self.bytes = self.seen = 0
        self.latencies = array("q")

    def record(self, latency_us: int) -> None:
        self.seen += 1
        if len(self.latencies) < MAX_LATENCY_SAMPLES:
            self.latencies.append(latency_us)
        else:
            slot = self.random.randrange(self.seen)
            if slot < MAX_LATENCY_SAMPLES:
                self.latencies[slot] = latency_us

    async def viewer(self, slow: bool, sample: bool, gate: asyncio.Semaphore) -> None:
        viewer = _Viewer(self, slow=slow, sample=sample)
        try:
            async with gate, asyncio.timeout(120):
                client = await wire.connect(
                    self.job.url,
                    viewer.on_message,
                    compression=self.job.compression,
                    rcvbuf=SLOW_RCVBUF if slow else None,
                    mss=SLOW_MSS if slow else None,
                )
                viewer.client = client
                client.send_text('{"type":"hello","token":null,"last_seq":null}')
                waiting: set[asyncio.Future[Any]] = {viewer.snapshot, client.closed}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if not viewer.snapshot.done():
                    client.close()
                    raise RuntimeError(f"no snapshot (close code {client.close_code})")
                first = viewer.snapshot.result()
                if not first.startswith(b'{"type":"snapshot"'):
                    client.close()
                    raise RuntimeError(f"expected a snapshot, got {first[:80]!r}")
        except Exception as exc:
            self.failed[type(exc).__name__] += 1
            return
        self.ready += 1
        (self.slow if slow else self.fast).append(client)
        if not slow:
            code = await client.closed
            if not self.finishing:
                self.closed[code] += 1

    async def report_progress(self) -> None:
        while self.ready + sum(self.failed.values()) < self.job.count:
            self.conn.send(("progress", self.ready, sum(self.failed.values())))
            await asyncio.sleep(0.25)
        self.conn.send(("connected", self.ready, dict(self.failed)))

    async def drain_slow(self) -> dict[str, int]:
        """Let the slow readers read what piled up (until 3 s of quiet): how did the server
        treat them? ``open`` (still connected) or ``closed_<code>``."""

        async def drain(client: WireClient) -> str:
            if client.transport is not None and not client.transport.is_closing():
                client.transport.resume_reading()
            deadline = time.monotonic() + 60
            last, quiet_since = client.received, time.monotonic()
            while not client.closed.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                if client.received != last:
                    last, quiet_since = client.received, time.monotonic()
                elif time.monotonic() - quiet_since >= 3.0:
                    break
            return f"closed_{client.close_code}" if client.closed.done() else "open"

        self.draining = True
        outcomes = await asyncio.gather(*(drain(c) for c in self.slow))
        self.draining = False
        return dict(Counter(outcomes))

    def stats(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "events": self.events,
            "chat": self.chat,
            "bytes": self.bytes,
            "closed": dict(self.closed),
            "open": len(self.fast) - sum(self.closed.values()),
            "latency_samples": self.seen,
            # viewers whose handshake accepted permessage-deflate (LIVESHOP_WS_COMPRESSION)
            "deflate": sum(1 for c in (*self.fast, *self.slow) if c.inflater is not None),
        }

    async def main(self) -> None:
        commands = await _commands(self.commands)
        job = self.job
        gate = asyncio.Semaphore(job.concurrency)
        slow_at = set(range(0, job.count, job.count // job.slow)[: job.slow]) if job.slow else set()
        tasks = []
        fast = 0
        for index in range(job.count):
            slow = index in slow_at
            sample = not slow and fast % job.sample_every == 0
            fast += 0 if slow else 1
            tasks.append(asyncio.create_task(self.viewer(slow, sample, gate)))
        progress = asyncio.create_task(self.report_progress())
        while True:
            command = (await commands.get())[0]
            if command == "start":
                self.reset()
                self.measuring = True
                self.conn.send(("started",))
            elif command == "stop":
                self.measuring = False
                self.conn.send(("stats", self.stats(), self.latencies.tobytes()))
            elif command == "finish":
                break
        progress.cancel()
        outcomes = await self.drain_slow()
        self.finishing = True
        for client in self.fast + self.slow:
            client.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        for client in self.fast + self.slow:
            client._abort()
        self.conn.send(("finished", outcomes, dict(self.backlog)))


def viewer_worker(job: ViewerJob, commands: Connection, reports: Connection) -> None:
    """Process entry point: hold ``job.count`` viewer sockets until told to finish."""
    _run(_Viewers(job, commands, reports).main())


# -- chatters and likers ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChatterJob:
    url: str
    tokens: tuple[str, ...]
    chat_rate: float  # chat messages per second, over all chatters
    like_rate: float  # likes per second, over all chatters, whatever the bursts' sizes
    like_batch: int  # the largest burst (the simulator's bursts are 1-20 likes)
    compression: bool
    seed: int = 0  # what is said and the bursts' sizes (the same every run)


class _Chatters:
    def __init__(self, job: ChatterJob, commands: Connection, conn: Connection) -> None:
        self.job = job
        self.commands = commands
        self.conn = conn
        self.sockets: list[ClientConnection] = []
        self.rooms: list[dict[str, Any]] = []  # each chatter's snapshot: showcase and pinned
        self.chats = 0
        self.likes = 0
        self.errors: Counter[str] = Counter()
        self.closed: Counter[int] = Counter()

    async def read(self, ws: ClientConnection, room: dict[str, Any]) -> None:
        try:
            while True:
                data = await ws.recv(decode=False)
                if data.startswith(_ERROR):
                    self.errors[str(orjson.loads(data).get("code"))] += 1
                elif _PRODUCT in data:
                    for event in orjson.loads(data).get("events", ()):
                        talk.follow(room, event)
        except ConnectionClosed as exc:
            self.closed[close_code(exc)] += 1

    async def send_loop(self) -> None:
        """``chat_rate`` stamped lines and ``like_rate`` likes a second, spread over the
        chatters. Likes go in the simulator's bursts (``talk.like_burst``, at most
        ``like_batch``): as many bursts are sent as keep the total at ``like_rate``."""
        job = self.job
        rng = random.Random(job.seed)
        start = time.perf_counter()
        chats = likes = bursts = 0
        n = len(self.sockets)
        while True:
            elapsed = time.perf_counter() - start
            for _ in range(int(elapsed * job.chat_rate) - chats):
                i = chats % n
                said = talk.line(rng, talk.subject(rng, self.rooms[i]))
                text = talk.stamp(said, time.time_ns())
                await self.sockets[i].send(orjson.dumps({"type": "chat", "text": text}).decode())
                chats += 1
                self.chats += 1
            while job.like_batch > 0 and likes < int(elapsed * job.like_rate):
                count = talk.like_burst(rng, job.like_batch)
                like = orjson.dumps({"type": "like", "count": count}).decode()
                await self.sockets[(bursts * 7 + 3) % n].send(like)
                bursts += 1
                likes += count
                self.likes += count
            await asyncio.sleep(0.005)

    def counts(self) -> dict[str, Any]:
        return {
            "chats": self.chats,
            "likes": self.likes,
            "errors": dict(self.errors),
            "closed": dict(self.closed),
        }

    async def main(self) -> None:
        commands = await _commands(self.commands)
        readers = []
        for token in self.job.tokens:
            ws = await _open(self.job.url, compression=self.job.compression)
            hello = {"type": "hello", "token": token, "last_seq": None}
            await ws.send(orjson.dumps(hello).decode())
            first = await asyncio.wait_for(ws.recv(decode=False), 60)
            if not first.startswith(b'{"type":"snapshot"'):
                raise RuntimeError(f"chatter: expected a snapshot, got {first[:200]!r}")
            room: dict[str, Any] = orjson.loads(first).get("snapshot") or {}
            self.sockets.append(ws)
            self.rooms.append(room)
            readers.append(asyncio.create_task(self.read(ws, room)))
        self.conn.send(("connected", len(self.sockets)))
        sender: asyncio.Task[None] | None = None
        while True:
            command = (await commands.get())[0]
            if command == "go" and sender is None:
                sender = asyncio.create_task(self.send_loop())
            elif command == "mark":
                self.conn.send(("counts", self.counts()))
            elif command == "stop":
                if sender is not None:
                    sender.cancel()
                self.conn.send(("counts", self.counts()))
            elif command == "finish":
                break
        for task in readers:
            task.cancel()
        for ws in self.sockets:
            ws.transport.abort()
        self.conn.send(("finished",))


def chatter_worker(job: ChatterJob, commands: Connection, reports: Connection) -> None:
    """Process entry point: the signed-in chatters and likers."""
    _run(_Chatters(job, commands, reports).main())
