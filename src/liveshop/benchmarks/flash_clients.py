"""The flash-sale benchmark's load: worker processes with a minimal HTTP/1.1 keep-alive client.

``httpx`` spends ~150 µs of CPU on a request; 20,000 buys at thousands a second would take a
core of the two the server shares. A buyer only needs to send prepared bytes on a keep-alive
connection and read a ``Content-Length`` (or chunked) answer, which is what
:class:`HttpConnection` does on an ``asyncio.Protocol`` in a few µs.

Each worker runs one event loop (uvloop) for its whole life and keeps ``connections``
sockets, spread over the servers (connection ``j`` talks to server ``j % len(servers)``).
Commands come over a ``multiprocessing`` pipe and each gets one reply:

- ``("connect",)`` -> ``("connected", opened, {error: count})``;
- ``("race", start_ns)`` -> ``("race", stats)``: every buyer of the worker buys once (one unit,
  its own ``Idempotency-Key``, the body the simulator's fans send: ``simulate.talk``), the
  connections taking the next buyer as soon as they are free;
- ``("burst", start_ns, count, kind)`` -> ``("burst", stats)``: ``count`` requests, ``kind``
  ``"soldout"`` (new buys of buyers the race turned away) or ``"healthz"`` (``GET /healthz``
  with the same headers);
- ``("exit",)``.

Phases start at ``start_ns`` (``time.monotonic_ns()``, one clock for every process on Linux),
so every worker starts together and the wall time of a phase is ``max(last answer) - start``.
A request whose connection closes before any byte of the answer came (the server's keep-alive
timeout racing a new request) is sent again on a new connection: a buy keeps its key, so the
resend is the idempotent retry the API is built for. Anything else is counted as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

import orjson

from liveshop.simulate.talk import flash_buy_body

BUY_BODY = orjson.dumps(flash_buy_body(quantity=1))  # what the demo's simulated fans send
SOLD_OUT = "flash.sold_out"
MAX_RESENDS = 3
PROGRESS_EVERY = 0.5  # seconds between progress reports of a phase


class ClosedEarly(ConnectionError):
    """The connection closed before a complete answer; ``partial``: some of it had come."""

    def __init__(self, partial: bool) -> None:
        super().__init__("connection closed mid-answer" if partial else "connection closed")
        self.partial = partial


class BadResponse(ConnectionError):
    """An answer this client cannot frame (no Content-Length and not chunked)."""


# -- HTTP/1.1 framing (pure functions, unit-tested) -------------------------------------------


def parse_response(buf: bytes | bytearray) -> tuple[int, bytes, int, bool] | None:
    """``(status, body, bytes used, keep-alive)`` of the first complete answer in ``buf``, or
    None while it is incomplete. Raises :class:`BadResponse` on framing it does not know."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise BadResponse(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = False
    keep_alive = parts[0] == "HTTP/1.1"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value
        elif name == "connection":
            keep_alive = "close" not in value if keep_alive else "keep-alive" in value
    start = end + 4
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", start, keep_alive
    if chunked:
        decoded = _dechunk(buf, start)
        if decoded is None:
            return None
        return status, decoded[0], decoded[1], keep_alive
    if length is None:
        raise BadResponse("an answer without Content-Length")
    if len(buf) < start + length:
        return None
    return status, bytes(buf[start : start + length]), start + length, keep_alive


def _dechunk(buf: bytes | bytearray, pos: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";", 1)[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 4
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos : pos + size]
        pos += size + 2


def request_bytes(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def problem_code(body: bytes) -> str:
    """The ``code`` of a problem+json answer ("" when there is none)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    return str(data.get("code", "")) if isinstance(data, dict) else ""


# -- the connection ---------------------------------------------------------------------------


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._buf += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            parsed = parse_response(self._buf)
        except (BadResponse, ValueError) as exc:
            waiter.set_exception(BadResponse(str(exc)))
            self.abort()
            return
        if parsed is None:
            return
        status, body, used, keep_alive = parsed
        del self._buf[:used]
        self._waiter = None
        waiter.set_result((status, body))
        if not keep_alive:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClosedEarly(partial=bool(self._buf)))
        self._waiter = None

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and not self.closed
        self._buf.clear()
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self.transport.write(data)
        return waiter


class Slot:
    """A connection to one server that reconnects when the server closed it."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.conn: HttpConnection | None = None
        self.resent = 0

    async def ensure(self) -> HttpConnection:
        if self.conn is None or self.conn.closed:
            loop = asyncio.get_running_loop()
            _, protocol = await asyncio.wait_for(
                loop.create_connection(HttpConnection, self.host, self.port), self.timeout
            )
            self.conn = protocol
        return self.conn

    async def request(self, data: bytes) -> tuple[int, bytes]:
        for attempt in range(MAX_RESENDS + 1):
            conn = await self.ensure()
            try:
                return await asyncio.wait_for(conn.send(data), self.timeout)
            except ClosedEarly as exc:
                if exc.partial or attempt == MAX_RESENDS:
                    raise
                self.resent += 1
            except TimeoutError:
                conn.abort()
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.abort()


# -- the worker -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientJob:
    servers: tuple[tuple[str, int], ...]
    sale_id: str
    tokens: tuple[str, ...]  # this worker's buyers
    first_buyer: int  # the global index of tokens[0]
    connections: int
    tag: str  # makes the Idempotency-Keys of this run unique
    timeout: float = 120.0


@dataclass
class PhaseStats:
    """What one worker saw in one phase (sent to the orchestrator as a dict)."""

    start_ns: int = 0
    last_ns: int = 0
    answered: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # "201", "409 flash.sold_out"
    errors: Counter[str] = field(default_factory=Counter)  # no answer: exception names
    latencies_us: array[int] = field(default_factory=lambda: array("q"))
    orders: list[tuple[int, str]] = field(default_factory=list)  # (buyer, order id) of 201s
    resent: int = 0
    cpu_s: float = 0.0

    def to_message(self) -> dict[str, Any]:
        return {
            "start_ns": self.start_ns,
            "last_ns": self.last_ns,
            "answered": self.answered,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "latencies_us": self.latencies_us.tobytes(),
            "orders": self.orders,
            "resent": self.resent,
            "cpu_s": self.cpu_s,
        }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Buyers:
    def __init__(self, job: ClientJob, report: Callable[[tuple[Any, ...]], None]) -> None:
        self.job = job
        self.report = report  # ("progress", requests done) every PROGRESS_EVERY seconds
        self.slots = [
            Slot(*job.servers[j % len(job.servers)], job.timeout) for j in range(job.connections)
        ]
        self.turned_away: list[int] = []  # local indices of buyers the race answered sold out
        self._bursts = 0

    def _buy(self, slot: Slot, local: int, key: str) -> bytes:
        headers = {
            "Authorization": f"Bearer {self.job.tokens[local]}",
            "Idempotency-Key": key,
        }
        path = f"/flash-sales/{self.job.sale_id}/buy"
        return request_bytes("POST", path, f"{slot.host}:{slot.port}", headers, BUY_BODY)

    async def connect(self) -> tuple[int, dict[str, int]]:
        errors: Counter[str] = Counter()
        semaphore = asyncio.Semaphore(100)

        async def one(slot: Slot) -> None:
            async with semaphore:
                try:
                    await slot.ensure()
                except (OSError, TimeoutError) as exc:
                    errors[type(exc).__name__] += 1

        await asyncio.gather(*(one(s) for s in self.slots))
        opened = sum(1 for s in self.slots if s.conn is not None and not s.conn.closed)
        return opened, dict(errors)

    async def _phase(
        self,
        start_ns: int,
        items: Iterator[int],
        build: Callable[[Slot, int], bytes],
        on_answer: Callable[[int, int, bytes, PhaseStats], None],
    ) -> PhaseStats:
        stats = PhaseStats(start_ns=start_ns)
        cpu0 = _cpu_s()
        for slot in self.slots:
            slot.resent = 0
        await asyncio.gather(*(self._reconnect(s) for s in self.slots))
        delay = (start_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)

        done = 0

        async def progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY)
                self.report(("progress", done))

        async def run(slot: Slot) -> None:
            nonlocal done
            for item in items:
                data = build(slot, item)
                t0 = time.monotonic_ns()
                try:
                    status, body = await slot.request(data)
                except (OSError, TimeoutError) as exc:
                    stats.errors[type(exc).__name__] += 1
                    done += 1
                    continue
                t1 = time.monotonic_ns()
                done += 1
                stats.latencies_us.append((t1 - t0) // 1000)
                stats.answered += 1
                stats.last_ns = max(stats.last_ns, t1)
                on_answer(item, status, body, stats)

        reporter = asyncio.create_task(progress())
        try:
            await asyncio.gather(*(run(s) for s in self.slots))
        finally:
            reporter.cancel()
        stats.resent = sum(s.resent for s in self.slots)
        stats.cpu_s = _cpu_s() - cpu0
        return stats

    async def _reconnect(self, slot: Slot) -> None:
        with contextlib.suppress(OSError, TimeoutError):  # counted when the slot is used
            await slot.ensure()

    async def race(self, start_ns: int) -> PhaseStats:
        tag = self.job.tag

        def build(slot: Slot, local: int) -> bytes:
            return self._buy(slot, local, f"{tag}-race-{self.job.first_buyer + local}")

        def answered(local: int, status: int, body: bytes, stats: PhaseStats) -> None:
            if status == 201:
                stats.statuses["201"] += 1
                order_id = str(orjson.loads(body)["order_id"])
                stats.orders.append((self.job.first_buyer + local, order_id))
                return
            code = problem_code(body)
            stats.statuses[f"{status} {code}".strip()] += 1
            if code == SOLD_OUT:
                self.turned_away.append(local)

        return await self._phase(start_ns, iter(range(len(self.job.tokens))), build, answered)

    async def burst(self, start_ns: int, count: int, kind: str) -> PhaseStats:
        self._bursts += 1
        tag = f"{self.job.tag}-burst{self._bursts}"
        buyers = self.turned_away or list(range(len(self.job.tokens)))

        def build(slot: Slot, i: int) -> bytes:
            local = buyers[i % len(buyers)]
            if kind == "healthz":
                headers = {"Authorization": f"Bearer {self.job.tokens[local]}"}
                return request_bytes("GET", "/healthz", f"{slot.host}:{slot.port}", headers)
            return self._buy(slot, local, f"{tag}-{i}")

        def answered(_: int, status: int, body: bytes, stats: PhaseStats) -> None:
            key = str(status) if status < 400 else f"{status} {problem_code(body)}".strip()
            stats.statuses[key] += 1

        return await self._phase(start_ns, iter(range(count)), build, answered)

    def close(self) -> None:
        for slot in self.slots:
            slot.close()


def worker(job: ClientJob, commands: Connection, reports: Connection) -> None:
    """The body of a client process: obey ``commands`` until ``exit`` (or the pipe closes)."""
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    buyers = Buyers(job, reports.send)
    try:
        while True:
            try:
                message: tuple[Any, ...] = commands.recv()
            except EOFError:
                return
            kind = message[0]
            if kind == "connect":
                opened, errors = loop.run_until_complete(buyers.connect())
                reports.send(("connected", opened, errors))
            elif kind == "race":
                stats = loop.run_until_complete(buyers.race(message[1]))
                reports.send(("race", stats.to_message()))
            elif kind == "burst":
                _, start_ns, count, what = message
                stats = loop.run_until_complete(buyers.burst(start_ns, count, what))
                reports.send(("burst", stats.to_message()))
            elif kind == "exit":
                return
    finally:
        buyers.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` shares that differ by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def chunks(total: int, parts: int) -> list[range]:
    """Consecutive index ranges of :func:`split`'s sizes."""
    bounds = [0, *itertools.accumulate(split(total, parts))]
    return [range(a, b) for a, b in itertools.pairwise(bounds)]
