"""The room benchmark's load: viewer worker processes and the chatter/liker process.

Each runs its own asyncio loop (uvloop when installed) and takes commands from the
orchestrator (``benchmarks/room.py``) over a ``multiprocessing`` pipe, and report over another
(the command pipe is read by the event loop, which makes its end non-blocking):

- viewers: ``start`` (reset counters, record latencies), ``stop`` (report), ``finish``
  (let the slow readers read, report how they were closed, close every socket, exit);
- chatters: ``go`` (start sending), ``mark`` (report how much was sent so far), ``stop``,
  ``finish``.

Chat texts carry the send time (``bench <time.time_ns()>``), so a viewer computes the delivery
latency on receipt: the clock is the same, every process runs on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
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

CHAT_PREFIX = "bench "
_EVENT = b'"type":'
_CHAT = (b'"type":"chat"', b'"type": "chat"')  # orjson (batched) / json.dumps (naive)
_ERROR = (b'{"type":"error"', b'{"type": "error"')
MAX_LATENCY_SAMPLES = 300_000  # per worker; a uniform sample is kept beyond this
SLOW_RCVBUF = 4096  # bytes: a slow reader's kernel receive buffer, so backpressure shows soon


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


async def _open(url: str, *, compression: bool, slow: bool) -> ClientConnection:
    kwargs: dict[str, Any] = {}
    if slow:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
        sock.setblocking(False)
        host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        kwargs["sock"] = sock
    return await connect(
        url,
        compression="deflate" if compression else None,
        proxy=None,
        ping_interval=None,  # the server pings; the client answers, it needn't ping too
        open_timeout=120,
        close_timeout=2,
        max_size=None,
        max_queue=1 if slow else 64,
        **kwargs,
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


class _Viewers:
    def __init__(self, job: ViewerJob, commands: Connection, conn: Connection) -> None:
        self.job = job
        self.commands = commands
        self.conn = conn
        self.sockets: list[ClientConnection] = []
        self.slow_sockets: list[ClientConnection] = []
        self.ready = 0
        self.failed: Counter[str] = Counter()
        self.measuring = False
        self.frames = self.events = self.chat = self.bytes = 0
        self.latencies = array("q")  # microseconds
        self.seen = 0  # latencies offered while measuring (for the reservoir)
        self.closed: Counter[int] = Counter()  # fast viewers closed by the server, by code
        self.release = asyncio.Event()
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

    async def viewer(self, index: int, slow: bool, sample: bool, gate: asyncio.Semaphore) -> None:
        try:
            async with gate:
                ws = await _open(self.job.url, compression=self.job.compression, slow=slow)
                await ws.send('{"type":"hello","token":null,"last_seq":null}')
                first = await asyncio.wait_for(ws.recv(decode=False), 120)
                if not first.startswith(b'{"type":"snapshot"'):
                    raise RuntimeError(f"expected a snapshot, got {first[:80]!r}")
        except Exception as exc:
            self.failed[type(exc).__name__] += 1
            return
        self.ready += 1
        if slow:
            self.slow_sockets.append(ws)
            return  # never reads until finish()
        self.sockets.append(ws)
        try:
            while True:
                data = await ws.recv(decode=False)
                if not self.measuring:
                    continue
                self.frames += 1
                self.bytes += len(data)
                self.events += data.count(_EVENT)
                chat = data.count(_CHAT[0]) + data.count(_CHAT[1])
                self.chat += chat
                if sample and chat:
                    now = time.time_ns()
                    for event in orjson.loads(data).get("events", ()):
                        text = event.get("text")
                        if event.get("type") == "chat" and str(text).startswith(CHAT_PREFIX):
                            self.record((now - int(text[len(CHAT_PREFIX) :])) // 1000)
        except ConnectionClosed as exc:
            self.closed[close_code(exc)] += 1

    async def report_progress(self) -> None:
        while self.ready + sum(self.failed.values()) < self.job.count:
            self.conn.send(("progress", self.ready, sum(self.failed.values())))
            await asyncio.sleep(0.25)
        self.conn.send(("connected", self.ready, dict(self.failed)))

    async def drain_slow(self) -> dict[str, int]:
        """Let the slow readers read what piled up: how did the server treat them?"""

        async def drain(ws: ClientConnection) -> str:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(decode=False), 3.0)
            except TimeoutError:
                return "open"
            except ConnectionClosed as exc:
                return f"closed_{close_code(exc)}"

        outcomes = await asyncio.gather(*(drain(ws) for ws in self.slow_sockets))
        return dict(Counter(outcomes))

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
            tasks.append(asyncio.create_task(self.viewer(index, slow, sample, gate)))
        progress = asyncio.create_task(self.report_progress())
        while True:
            command = (await commands.get())[0]
            if command == "start":
                self.reset()
                self.measuring = True
                self.conn.send(("started",))
            elif command == "stop":
                self.measuring = False
                self.conn.send(
                    (
                        "stats",
                        {
                            "frames": self.frames,
                            "events": self.events,
                            "chat": self.chat,
                            "bytes": self.bytes,
                            "closed": dict(self.closed),
                            "open": len(self.sockets) - sum(self.closed.values()),
                            "latency_samples": self.seen,
                        },
                        self.latencies.tobytes(),
                    )
                )
            elif command == "finish":
                break
        progress.cancel()
        outcomes = await self.drain_slow()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True), 10
            )
        for ws in self.sockets + self.slow_sockets:
            ws.transport.abort()
        self.conn.send(("finished", outcomes))


def viewer_worker(job: ViewerJob, commands: Connection, reports: Connection) -> None:
    """Process entry point: hold ``job.count`` viewer sockets until told to finish."""
    _run(_Viewers(job, commands, reports).main())


# -- chatters and likers ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChatterJob:
    url: str
    tokens: tuple[str, ...]
    chat_rate: float  # chat messages per second, over all chatters
    like_rate: float  # likes per second (sent in batches of ``like_batch``)
    like_batch: int
    compression: bool


class _Chatters:
    def __init__(self, job: ChatterJob, commands: Connection, conn: Connection) -> None:
        self.job = job
        self.commands = commands
        self.conn = conn
        self.sockets: list[ClientConnection] = []
        self.chats = 0
        self.likes = 0
        self.errors: Counter[str] = Counter()
        self.closed: Counter[int] = Counter()

    async def read(self, ws: ClientConnection) -> None:
        try:
            while True:
                data = await ws.recv(decode=False)
                if data.startswith(_ERROR):
                    self.errors[str(orjson.loads(data).get("code"))] += 1
        except ConnectionClosed as exc:
            self.closed[close_code(exc)] += 1

    async def send_loop(self) -> None:
        job = self.job
        like = orjson.dumps({"type": "like", "count": job.like_batch}).decode()
        like_messages_rate = job.like_rate / job.like_batch if job.like_batch else 0.0
        start = time.perf_counter()
        chats = likes = 0
        n = len(self.sockets)
        while True:
            elapsed = time.perf_counter() - start
            for _ in range(int(elapsed * job.chat_rate) - chats):
                text = f"{CHAT_PREFIX}{time.time_ns()}"
                await self.sockets[chats % n].send(
                    orjson.dumps({"type": "chat", "text": text}).decode()
                )
                chats += 1
                self.chats += 1
            for _ in range(int(elapsed * like_messages_rate) - likes):
                await self.sockets[(likes * 7 + 3) % n].send(like)
                likes += 1
                self.likes += job.like_batch
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
            ws = await _open(self.job.url, compression=self.job.compression, slow=False)
            hello = {"type": "hello", "token": token, "last_seq": None}
            await ws.send(orjson.dumps(hello).decode())
            first = await asyncio.wait_for(ws.recv(decode=False), 60)
            if not first.startswith(b'{"type":"snapshot"'):
                raise RuntimeError(f"chatter: expected a snapshot, got {first[:200]!r}")
            self.sockets.append(ws)
            readers.append(asyncio.create_task(self.read(ws)))
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
