"""``liveshop bench room``: fan-out of one live room to N WebSocket viewers.

For each hub mode (``batched``, then ``naive``: one frame per message, each socket awaited in
turn) a fresh server subprocess is started on its own SQLite database with the demo data, and:

1. ~20 chatters, signed up as the simulator's fans (``simulate.talk.sign_in``), join the demo
   live session (later they chat about its products and like, as the simulator's fans do);
2. the server's RSS is read, N viewers join (spread over worker processes), stay idle a couple
   of seconds, and the RSS is read again: the difference over N is the memory per connection;
3. the chatters start, a warm-up passes, then during the measurement window the viewers count
   every event they receive and a sample of them records chat latency (send -> receive, from
   the send time each line is stamped with: ``simulate.talk.stamp``);
   the server's CPU time is read from ``/proc`` at both ends of the window.

The report is described in docs/performance.md ("Room fan-out").
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import subprocess
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx

from liveshop.benchmarks import server as bench_server
from liveshop.benchmarks.room_clients import ChatterJob, ViewerJob, chatter_worker, viewer_worker
from liveshop.benchmarks.room_report import print_table, summary
from liveshop.benchmarks.room_results import Mode, ModeResult, RoomBenchConfig
from liveshop.simulate import talk

CHATTER_EMAILS = "bench-chatter"  # bench-chatter-<i>@demo.liveshop.dev
Say = Callable[[str], None]


# -- the server side --------------------------------------------------------------------------


def _find_live_session(server: bench_server.Server, db_path: Path) -> str:
    """The seeded demo session: ``GET /live/sessions?status=live``, else read from the DB."""
    try:
        response = httpx.get(f"{server.base_url}/live/sessions", params={"status": "live"})
        if response.status_code == 200:
            body = response.json()
            items = body.get("items", []) if isinstance(body, dict) else body
            if items:
                return str(items[0]["id"])
    except httpx.HTTPError:
        pass
    with sqlite3.connect(db_path) as db:
        row = db.execute(
            "SELECT id FROM live_sessions WHERE status = 'live' ORDER BY created_at LIMIT 1"
        ).fetchone()
    if row is None:
        raise RuntimeError("no live session: does `liveshop db seed-demo` seed one?")
    return str(row[0])


def _chatter_tokens(server: bench_server.Server, count: int) -> list[str]:
    """``count`` simulated fans signed in (signed up, on the bench's fresh database) the way
    the demo's crowd signs its talkers in. One at a time, as the crowd does: concurrent
    password hashes (64 MiB each, in threads) would leave the server's heap larger before the
    viewers join and make the memory per connection read low."""

    async def sign_in() -> list[str]:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as http:
            return [await talk.sign_in(http, i, prefix=CHATTER_EMAILS) for i in range(count)]

    return asyncio.run(sign_in())


def _server_settings(mode: Mode, cfg: RoomBenchConfig) -> dict[str, str]:
    return {
        "LIVESHOP_HUB_MODE": mode,
        "LIVESHOP_WS_COMPRESSION": "true" if cfg.server_compression else "false",
        "LIVESHOP_CHAT_RATE_PER_SECOND": "10000",
        "LIVESHOP_CHAT_BURST": "10000",
        "LIVESHOP_CHAT_DUPLICATE_WINDOW_SECONDS": "0",
        # ~20 chatters carry the whole room's chat and likes: far above one person's limits
        "LIVESHOP_WS_MESSAGE_RATE_PER_SECOND": "10000",
        "LIVESHOP_WS_MESSAGE_BURST": "10000",
        "LIVESHOP_LIKE_MAX_PER_SECOND": "1000000",
        # every chatter's sign-in attempt comes from 127.0.0.1 (the first one of each is a 401)
        "LIVESHOP_SIGNIN_MAX_ATTEMPTS_PER_IP": "10000",
    }


# -- the client processes ---------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    commands: Connection  # to the worker (its end is non-blocking, read by its event loop)
    pipe: Connection  # reports from the worker

    def send(self, *message: Any) -> None:
        self.commands.send(message)

    def expect(self, kind: str, timeout: float) -> tuple[Any, ...]:
        """The next message of ``kind`` (progress messages in between are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pipe.poll(min(1.0, max(0.0, deadline - time.monotonic()))):
                message: tuple[Any, ...] = self.pipe.recv()
                if message[0] == kind:
                    return message
            elif not self.process.is_alive():
                raise RuntimeError(f"{self.process.name} died (exit code {self.process.exitcode})")
        raise RuntimeError(f"{self.process.name}: no {kind!r} within {timeout:.0f} s")


def _spawn(target: Callable[[Any, Connection, Connection], None], job: Any, name: str) -> _Worker:
    ctx = multiprocessing.get_context("spawn")
    command_reader, command_writer = ctx.Pipe(duplex=False)
    report_reader, report_writer = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=target, args=(job, command_reader, report_writer), name=name, daemon=True
    )
    process.start()
    command_reader.close()
    report_writer.close()
    return _Worker(process, command_writer, report_reader)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores from ``/proc/stat``."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _connect_viewers(
    url: str, cfg: RoomBenchConfig, result: ModeResult, progress: Callable[[int, int], None]
) -> list[_Worker]:
    counts = _split(cfg.viewers, cfg.worker_count)
    slows = _split(cfg.slow_viewers, cfg.worker_count)
    per_worker_sampled = max(1, cfg.sample_viewers // cfg.worker_count)
    workers = []
    for i, (count, slow) in enumerate(zip(counts, slows, strict=True)):
        job = ViewerJob(
            url=url,
            count=count,
            slow=slow,
            sample_every=max(1, (count - slow) // per_worker_sampled),
            compression=cfg.compression,
            seed=i,
        )
        workers.append(_spawn(viewer_worker, job, f"viewers-{i}"))
    started = time.monotonic()
    state: dict[int, tuple[int, int]] = {i: (0, 0) for i in range(len(workers))}
    pending = set(state)
    failures: Counter[str] = Counter()
    while pending:
        wait([workers[i].pipe for i in pending], timeout=1.0)
        for i in list(pending):
            while i in pending and workers[i].pipe.poll():
                message: tuple[Any, ...] = workers[i].pipe.recv()
                if message[0] == "progress":
                    state[i] = (message[1], message[2])
                elif message[0] == "connected":
                    failed: dict[str, int] = message[2]
                    state[i] = (message[1], sum(failed.values()))
                    failures.update(failed)
                    pending.discard(i)
        for w in workers:
            if not w.process.is_alive():
                raise RuntimeError(f"{w.process.name} died while connecting")
        progress(sum(r for r, _ in state.values()), sum(f for _, f in state.values()))
        if time.monotonic() - started > 600:
            raise RuntimeError("viewers took over 10 minutes to connect")
    result.connect_s = time.monotonic() - started
    result.viewers = sum(r for r, _ in state.values())
    result.connect_failures = dict(failures)
    return workers


@contextmanager
def _server(mode: Mode, cfg: RoomBenchConfig, workdir: Path) -> Iterator[bench_server.Server]:
    env = bench_server.server_env(workdir, _server_settings(mode, cfg))
    log_path = workdir / "server.log"
    try:
        with log_path.open("a") as log:
            bench_server.prepare_database(env, log)
    except subprocess.CalledProcessError as exc:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"preparing the database failed: {exc}\n{tail}") from exc
    server = bench_server.start_server(env, log_path)
    try:
        yield server
    finally:
        server.stop()


def run_mode(mode: Mode, cfg: RoomBenchConfig, say: Say, bar: Any) -> ModeResult:
    """One server, one load, one measurement. ``bar`` is a ``Progress`` (or None)."""
    result = ModeResult(mode)
    workers: list[_Worker] = []
    chatter: _Worker | None = None
    with (
        tempfile.TemporaryDirectory(prefix=f"liveshop-bench-{mode}-") as tmp,
        _server(mode, cfg, Path(tmp)) as server,
    ):
        try:
            session_id = _find_live_session(server, Path(tmp) / "bench.db")
            tokens = _chatter_tokens(server, cfg.chatters)
            url = f"{server.ws_url}/ws/rooms/{session_id}"
            say(f"{mode}: server pid {server.pid} on :{server.port}, session {session_id}")
            chatter = _spawn(
                chatter_worker,
                ChatterJob(
                    url=url,
                    tokens=tuple(tokens),
                    chat_rate=cfg.chat_rate,
                    like_rate=cfg.like_rate,
                    like_batch=cfg.like_batch,
                    compression=cfg.compression,
                ),
                "chatters",
            )
            chatter.expect("connected", 120)
            time.sleep(1.0)
            result.rss_before_kb = server.rss_kb()

            task = bar.add_task(f"{mode}: viewers joining", total=cfg.viewers) if bar else None

            def joined(ready: int, failed: int) -> None:
                if bar is not None:
                    bar.update(task, completed=ready + failed)

            workers = _connect_viewers(url, cfg, result, joined)
            if result.connect_failures:
                say(f"[yellow]{mode}: viewers that failed to join: {result.connect_failures}[/]")
            if not result.viewers:
                raise RuntimeError(f"no viewer could join: {result.connect_failures}")
            time.sleep(cfg.idle)
            result.rss_idle_kb = server.rss_kb()
            say(
                f"{mode}: {result.viewers} viewers joined in {result.connect_s:.1f} s "
                f"({result.mem_kb_per_conn:.1f} KB server memory each)"
            )

            chatter.send("go")
            _sleep(bar, f"{mode}: warm-up", cfg.warmup)
            for w in workers:
                w.send("start")
            for w in workers:
                w.expect("started", 30)
            chatter.send("mark")
            before = chatter.expect("counts", 30)[1]
            cpu0, busy0 = server.cpu_seconds(), _machine_jiffies()
            clients0 = _clients_cpu([*workers, chatter])
            t0 = time.perf_counter()
            result.window_started_at = time.time()
            _sleep(bar, f"{mode}: measuring", cfg.seconds)
            result.window_s = time.perf_counter() - t0
            result.server_cpu_s = server.cpu_seconds() - cpu0
            result.client_cpu_s = _clients_cpu([*workers, chatter]) - clients0
            busy1 = _machine_jiffies()
            result.machine_busy = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
            for w in workers:
                w.send("stop")
            chatter.send("stop")
            after = chatter.expect("counts", 30)[1]
            result.chat_sent = after["chats"] - before["chats"]
            result.likes_sent = after["likes"] - before["likes"]
            result.chatter_errors = after["errors"]
            closed: Counter[str] = Counter()
            for w in workers:
                _, stats, raw = w.expect("stats", 60)
                result.events += stats["events"]
                result.chat += stats["chat"]
                result.frames += stats["frames"]
                result.bytes += stats["bytes"]
                result.latency_samples += stats["latency_samples"]
                result.deflate_accepted += stats["deflate"]
                closed.update({str(k): v for k, v in stats["closed"].items()})
                samples = array("q")
                samples.frombytes(raw)
                result.latencies_us.extend(samples)
            result.fast_closed = dict(closed)
            slow: Counter[str] = Counter()
            backlog: Counter[str] = Counter()
            for w in workers:
                w.send("finish")
            for w in workers:
                _, outcomes, read = w.expect("finished", 180)
                slow.update(outcomes)
                backlog.update(read)
            result.slow = dict(slow)
            result.slow_backlog = dict(backlog)
            chatter.send("finish")
            chatter.expect("finished", 30)
        except Exception:
            say(f"[red]{mode} failed[/red]; server log tail:\n{server.log_tail()}")
            raise
        finally:
            for w in [*workers, *([chatter] if chatter else [])]:
                w.process.join(5)
                if w.process.is_alive():
                    w.process.kill()
                    w.process.join(5)
    return result


def _clients_cpu(workers: list[_Worker]) -> float:
    total = 0.0
    for w in workers:
        if w.process.pid is not None and w.process.is_alive():
            total += bench_server.cpu_seconds(w.process.pid)
    return total


def _sleep(bar: Any, label: str, seconds: float) -> None:
    task = bar.add_task(label, total=seconds) if bar else None
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.2, left))
        if bar is not None:
            bar.update(task, completed=seconds - max(0.0, end - time.monotonic()))


def run(cfg: RoomBenchConfig, say: Say, bar: Any = None) -> dict[str, Any]:
    """Both modes under the same load; returns the summary (see ``report.summary``)."""
    nofile = bench_server.raise_nofile()
    if nofile < cfg.viewers + 1000:
        say(f"[yellow]open-file limit {nofile} is low for {cfg.viewers} viewers[/yellow]")
    ours = run_mode("batched", cfg, say, bar)
    naive = run_mode("naive", cfg, say, bar) if cfg.naive else None
    return summary(cfg, ours, naive)


def main(cfg: RoomBenchConfig, *, json_output: bool = False) -> int:
    """Run with rich progress on stderr; the table (or one JSON line) on stdout."""
    import orjson
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        out = run(cfg, err.print, bar)
    if json_output:
        print(orjson.dumps(out).decode(), flush=True)
    else:
        print_table(out, Console())
    return 0
