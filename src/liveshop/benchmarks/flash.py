"""``liveshop bench flash-sale``: N buyers race for M units of a flash sale over HTTP.

One run, one database (``embedded``: a SQLite file and one server; ``cluster``: a fresh
PostgreSQL database ``liveshop_bench_<pid>``, Redis, and two server processes on two ports,
the client connections spread over both):

1. ``liveshop db upgrade`` + ``liveshop db seed-demo``; then, straight into the database, N
   buyer accounts with a bearer token each (stored as SHA-256, as ``auth.service.issue_token``
   does), a token for the demo operator, and stock for the sale's SKU when the demo has less
   than the sale (and its baseline) needs;
2. for each flash mode, ``gate`` (ours) then ``naive`` (the baseline: one transaction per buy
   with a row lock on the sale), the servers start with ``LIVESHOP_FLASH_MODE`` set, the
   operator creates the sale (``POST /live/sessions/{id}/flash-sales``, 10 s countdown) on
   the pinned rundown item, and once ``GET /flash-sales/{id}`` says ``open`` on every node:
   - **race**: every buyer sends one ``POST /flash-sales/{id}/buy`` (own Idempotency-Key,
     one unit), ``concurrency`` keep-alive connections over ``workers`` client processes;
     attempts/s = answers / (last answer - common start); latency per request;
   - **database check**: the sale's live and paid reservations (sold, oversold, buyers over
     the limit), every 201's order there for that buyer, the stock ledger consistent;
   - **sold-out burst**: ``burst`` more buys by buyers the race turned away (all must be
     ``409 flash.sold_out``), and, for the gate run, the same load on ``GET /healthz``;
   - the operator closes the sale (its unsold units go back), the servers stop.

The report is described in docs/performance.md ("Flash sales").
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Literal

import httpx

from liveshop.benchmarks import server as bench_server
from liveshop.benchmarks.flash_clients import ClientJob, chunks, split, worker
from liveshop.benchmarks.flash_report import (
    DbCheck,
    Phase,
    VariantResult,
    check_database,
    merge,
    summary,
)

Mode = Literal["embedded", "cluster"]
FlashMode = Literal["gate", "naive"]
Say = Callable[[str], None]
BUYER_DOMAIN = "bench.liveshop.dev"
COUNTDOWN_S = 10  # the API's minimum
DURATION_S = 1800  # long enough for the slowest baseline
PAYMENT_WINDOW_S = 1800  # nothing expires during a run
PHASE_TIMEOUT_S = 1800.0
FAST_ARGON2 = {"LIVESHOP_ARGON2_TIME_COST": "1", "LIVESHOP_ARGON2_MEMORY_COST_KIB": "64"}


@dataclass(frozen=True)
class FlashBenchConfig:
    mode: Mode = "embedded"
    buyers: int = 20_000
    stock: int = 1_000
    concurrency: int = 1000  # connections in all (each one request at a time)
    workers: int = 2  # client processes
    burst: int = 10_000  # requests of the sold-out burst and of the /healthz burst
    baseline: bool = True
    postgres_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"

    @property
    def nodes(self) -> int:
        return 2 if self.mode == "cluster" else 1


@dataclass
class Context:
    """What the setup made: the database, the ids, the tokens."""

    database_url: str
    workdir: Path
    env: dict[str, str]
    session_id: str = ""
    item_id: str = ""
    price_minor: int = 0
    operator_token: str = ""
    buyer_ids: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    sale_ids: list[str] = field(default_factory=list)


# -- the database ----------------------------------------------------------------------------


def _admin_run(admin_url: str, sql: str) -> None:
    from liveshop.db import create_engine

    async def go() -> None:
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql(sql)
        finally:
            await engine.dispose()

    asyncio.run(go())


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def _database(cfg: FlashBenchConfig, say: Say) -> Iterator[Context]:
    """A fresh, migrated, seeded database (and a work dir) for the run; dropped after it."""
    with tempfile.TemporaryDirectory(prefix=f"liveshop-bench-flash-{cfg.mode}-") as tmp:
        workdir = Path(tmp)
        name = f"liveshop_bench_{os.getpid()}"
        extra = {**FAST_ARGON2, "LIVESHOP_SECRET_KEY": secrets.token_urlsafe(48)}
        if cfg.mode == "cluster":
            _admin_run(cfg.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _admin_run(cfg.postgres_url, f'CREATE DATABASE "{name}"')
            extra["LIVESHOP_DATABASE_URL"] = _with_database(cfg.postgres_url, name)
            extra["LIVESHOP_REDIS_URL"] = cfg.redis_url
            say(f"cluster: database {name}, Redis {cfg.redis_url}")
        env = bench_server.server_env(workdir, extra)
        ctx = Context(database_url=env["LIVESHOP_DATABASE_URL"], workdir=workdir, env=env)
        try:
            log_path = workdir / "setup.log"
            try:
                with log_path.open("a") as log:
                    bench_server.prepare_database(env, log)
            except subprocess.CalledProcessError as exc:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"preparing the database failed: {exc}\n{tail}") from exc
            yield ctx
        finally:
            if cfg.mode == "cluster":
                _cleanup_redis(cfg.redis_url, ctx)
                _admin_run(cfg.postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _cleanup_redis(url: str, ctx: Context) -> None:
    """Delete the keys of this run's sales and room (never anything else)."""
    from redis import Redis

    client = Redis.from_url(url)
    try:
        patterns = [f"*{sale_id}*" for sale_id in ctx.sale_ids]
        if ctx.session_id:
            patterns.append(f"*{ctx.session_id}*")
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                client.delete(*keys)
    finally:
        client.close()


async def _populate(ctx: Context, cfg: FlashBenchConfig) -> None:
    """Buyers and tokens in bulk, the operator's token, stock for every sale of the run."""
    from sqlalchemy import func, insert, select

    from liveshop.auth import service as auth_service
    from liveshop.auth.models import Account, AccountRole, ApiToken
    from liveshop.auth.passwords import Passwords
    from liveshop.db import create_engine, create_sessionmaker
    from liveshop.ids import new_id
    from liveshop.inventory import service as inventory
    from liveshop.inventory.models import Stock
    from liveshop.live.models import LiveSession, RundownItem
    from liveshop.seed import DEMO_SESSION_TITLE, demo_email

    now = datetime.now(UTC)
    expires = now + timedelta(days=1)
    engine = create_engine(ctx.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            live = (
                await session.execute(
                    select(LiveSession).where(
                        LiveSession.title == DEMO_SESSION_TITLE, LiveSession.status == "live"
                    )
                )
            ).scalar_one()
            item = (
                await session.execute(
                    select(RundownItem)
                    .where(RundownItem.session_id == live.id)
                    .order_by(RundownItem.position)
                    .limit(1)
                )
            ).scalar_one()
            ctx.session_id, ctx.item_id = live.id, item.id
            ctx.price_minor = item.live_price_minor

            operator = await auth_service.get_by_email(session, email=demo_email("operator"))
            assert operator is not None, "seed-demo made no operator"
            ctx.operator_token, _ = await auth_service.issue_token(
                session, account_id=operator.id, now=now, ttl=timedelta(days=1)
            )

            needed = cfg.stock * (2 if cfg.baseline else 1)
            stocks = (
                (await session.execute(select(Stock).where(Stock.sku_id == item.sku_id)))
                .scalars()
                .all()
            )
            available = sum(s.on_hand - s.reserved for s in stocks)
            if available < needed:
                await inventory.receive(
                    session,
                    sku_id=item.sku_id,
                    warehouse_id=stocks[0].warehouse_id,
                    quantity=needed - available,
                    now=now,
                    note="flash-sale benchmark",
                )

            password_hash = await Passwords(time_cost=1, memory_cost_kib=64).hash(
                secrets.token_urlsafe(16)
            )
            ctx.buyer_ids = [new_id() for _ in range(cfg.buyers)]
            ctx.tokens = [
                auth_service.TOKEN_PREFIX + secrets.token_urlsafe(32) for _ in range(cfg.buyers)
            ]
            step = 2000
            for lo in range(0, cfg.buyers, step):
                ids = ctx.buyer_ids[lo : lo + step]
                await session.execute(
                    insert(Account),
                    [
                        {
                            "id": account_id,
                            "email": f"buyer{lo + i}@{BUYER_DOMAIN}",
                            "password_hash": password_hash,
                            "display_name": f"Bench buyer {lo + i}",
                            "is_active": True,
                            "created_at": now,
                        }
                        for i, account_id in enumerate(ids)
                    ],
                )
                await session.execute(
                    insert(AccountRole), [{"account_id": a, "role": "fan"} for a in ids]
                )
                await session.execute(
                    insert(ApiToken),
                    [
                        {
                            "id": new_id(),
                            "account_id": account_id,
                            "token_hash": auth_service.hash_token(token),
                            "created_at": now,
                            "expires_at": expires,
                        }
                        for account_id, token in zip(ids, ctx.tokens[lo : lo + step], strict=True)
                    ],
                )
            await session.commit()
            count = await session.scalar(select(func.count()).select_from(ApiToken))
            assert count is not None and count >= cfg.buyers
    finally:
        await engine.dispose()


async def _check(
    ctx: Context, sale_id: str, orders: Sequence[tuple[int, str]], stock: int, limit: int
) -> tuple[DbCheck, int]:
    """The sale's held reservations against the 201s, and the stock ledger's problems."""
    from sqlalchemy import and_, select

    from liveshop.db import create_engine, create_sessionmaker
    from liveshop.inventory import service as inventory
    from liveshop.orders.models import Order
    from liveshop.promotions.flash.models import FlashReservation

    engine = create_engine(ctx.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            result = await session.execute(
                select(
                    FlashReservation.user_id,
                    FlashReservation.order_id,
                    FlashReservation.quantity,
                    Order.id,
                )
                .outerjoin(
                    Order,
                    and_(
                        Order.id == FlashReservation.order_id,
                        Order.buyer_id == FlashReservation.user_id,
                    ),
                )
                .where(
                    FlashReservation.sale_id == sale_id,
                    FlashReservation.status.in_(("live", "paid")),
                )
            )
            rows = [(u, o, int(q), found is not None) for u, o, q, found in result.all()]
            problems = await inventory.verify_ledger(session)
            await session.rollback()
    finally:
        await engine.dispose()
    answers = [(ctx.buyer_ids[buyer], order_id) for buyer, order_id in orders]
    return check_database(rows=rows, answers=answers, stock=stock, limit=limit), len(problems)


# -- the client processes ---------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    commands: Connection
    reports: Connection

    def send(self, *message: Any) -> None:
        self.commands.send(message)


def _spawn(job: ClientJob, name: str) -> _Worker:
    ctx = multiprocessing.get_context("spawn")
    command_reader, command_writer = ctx.Pipe(duplex=False)
    report_reader, report_writer = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=worker, args=(job, command_reader, report_writer), name=name, daemon=True
    )
    process.start()
    command_reader.close()
    report_writer.close()
    return _Worker(process, command_writer, report_reader)


def _collect(
    workers: Sequence[_Worker], kind: str, on_progress: Callable[[int], None] | None = None
) -> list[tuple[Any, ...]]:
    """Each worker's next ``kind`` reply; ``progress`` messages in between feed the bar."""
    done: dict[int, int] = {}
    replies: dict[int, tuple[Any, ...]] = {}
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while len(replies) < len(workers):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the clients gave no {kind!r} within {PHASE_TIMEOUT_S:.0f} s")
        pending = [w.reports for i, w in enumerate(workers) if i not in replies]
        wait(pending, timeout=1.0)
        for i, w in enumerate(workers):
            while i not in replies and w.reports.poll():
                message: tuple[Any, ...] = w.reports.recv()
                if message[0] == "progress":
                    done[i] = int(message[1])
                elif message[0] == kind:
                    replies[i] = message
            if i not in replies and not w.process.is_alive():
                raise RuntimeError(f"{w.process.name} died (exit code {w.process.exitcode})")
        if on_progress is not None:
            on_progress(sum(done.values()))
    return [replies[i] for i in range(len(workers))]


# -- one flash mode ---------------------------------------------------------------------------


def _start_nodes(
    ctx: Context, flash_mode: FlashMode, cfg: FlashBenchConfig
) -> list[bench_server.Server]:
    env = {**ctx.env, "LIVESHOP_FLASH_MODE": flash_mode}
    nodes: list[bench_server.Server] = []
    try:
        for i in range(cfg.nodes):
            log_path = ctx.workdir / f"server-{flash_mode}-{i}.log"
            nodes.append(bench_server.start_server(env, log_path))
    except Exception:
        for node in nodes:
            node.stop()
        raise
    return nodes


def _create_sale(ctx: Context, node: bench_server.Server, cfg: FlashBenchConfig) -> str:
    response = httpx.post(
        f"{node.base_url}/live/sessions/{ctx.session_id}/flash-sales",
        headers={
            "Authorization": f"Bearer {ctx.operator_token}",
            "Idempotency-Key": str(uuid.uuid4()),
        },
        json={
            "item_id": ctx.item_id,
            "price_minor": ctx.price_minor,
            "quantity": cfg.stock,
            "per_user_limit": 1,
            "countdown_seconds": COUNTDOWN_S,
            "duration_seconds": DURATION_S,
            "payment_window_seconds": PAYMENT_WINDOW_S,
        },
        timeout=60,
    )
    if response.status_code != 201:
        raise RuntimeError(f"creating the sale: {response.status_code} {response.text}")
    sale_id = str(response.json()["id"])
    ctx.sale_ids.append(sale_id)
    return sale_id


def _wait_open(nodes: Sequence[bench_server.Server], sale_id: str, bar: Any, label: str) -> None:
    task = bar.add_task(label, total=COUNTDOWN_S) if bar else None
    started = time.monotonic()
    with httpx.Client(timeout=10) as http:
        for node in nodes:
            while True:
                response = http.get(f"{node.base_url}/flash-sales/{sale_id}")
                response.raise_for_status()
                if response.json()["status"] == "open":
                    break
                if time.monotonic() - started > COUNTDOWN_S + 60:
                    raise RuntimeError(f"the sale did not open on {node.base_url}")
                if bar is not None:
                    bar.update(task, completed=min(COUNTDOWN_S, time.monotonic() - started))
                time.sleep(0.1)
    if bar is not None:
        bar.update(task, completed=COUNTDOWN_S)


def _close_sale(ctx: Context, node: bench_server.Server, sale_id: str) -> None:
    response = httpx.post(
        f"{node.base_url}/flash-sales/{sale_id}/close",
        headers={"Authorization": f"Bearer {ctx.operator_token}"},
        timeout=60,
    )
    if response.status_code != 200:
        raise RuntimeError(f"closing the sale: {response.status_code} {response.text}")


def _phase(
    workers: Sequence[_Worker],
    nodes: Sequence[bench_server.Server],
    command: Callable[[int, int], tuple[Any, ...]],
    kind: str,
    *,
    requests: int,
    bar: Any,
    label: str,
) -> tuple[Phase, list[tuple[int, str]]]:
    """Start a phase in every worker at one instant (``command(worker index, start_ns)`` is
    the message), wait for it, merge the stats."""
    task = bar.add_task(label, total=requests) if bar else None

    def progress(done: int) -> None:
        if bar is not None:
            bar.update(task, completed=done)

    cpu0 = sum(n.cpu_seconds() for n in nodes)
    start_ns = time.monotonic_ns() + 300_000_000  # every worker is waiting by then
    for i, w in enumerate(workers):
        w.send(*command(i, start_ns))
    replies = _collect(workers, kind, progress)
    phase, orders = merge([r[1] for r in replies], requests=requests, start_ns=start_ns)
    phase.server_cpu_s = sum(n.cpu_seconds() for n in nodes) - cpu0
    progress(requests)
    return phase, orders


def run_variant(
    ctx: Context, flash_mode: FlashMode, cfg: FlashBenchConfig, say: Say, bar: Any
) -> VariantResult:
    result = VariantResult(flash_mode)
    nodes = _start_nodes(ctx, flash_mode, cfg)
    workers: list[_Worker] = []
    try:
        say(
            f"{flash_mode}: {len(nodes)} server(s) "
            + ", ".join(f"pid {n.pid} on :{n.port}" for n in nodes)
        )
        sale_id = result.sale_id = _create_sale(ctx, nodes[0], cfg)
        servers = tuple(("127.0.0.1", n.port) for n in nodes)
        connections = split(cfg.concurrency, cfg.workers)
        for i, buyers in enumerate(chunks(cfg.buyers, cfg.workers)):
            job = ClientJob(
                servers=servers,
                sale_id=sale_id,
                tokens=tuple(ctx.tokens[buyers.start : buyers.stop]),
                first_buyer=buyers.start,
                connections=max(1, connections[i]),
                tag=f"{flash_mode}-{sale_id}",
            )
            workers.append(_spawn(job, f"buyers-{i}"))
        _wait_open(nodes, sale_id, bar, f"{flash_mode}: countdown")
        for w in workers:
            w.send("connect")
        opened = sum(r[1] for r in _collect(workers, "connected"))
        if opened < cfg.concurrency:
            say(f"[yellow]{flash_mode}: only {opened} of {cfg.concurrency} connections[/]")

        result.race, orders = _phase(
            workers,
            nodes,
            lambda i, start_ns: ("race", start_ns),
            "race",
            requests=cfg.buyers,
            bar=bar,
            label=f"{flash_mode}: race",
        )
        result.db, result.ledger_problems = asyncio.run(_check(ctx, sale_id, orders, cfg.stock, 1))
        say(
            f"{flash_mode}: race {result.race.answered} answers in {result.race.wall_s:.1f} s "
            f"({result.race.per_s or 0:,.0f}/s), {dict(result.race.statuses)}; "
            f"sold {result.db.sold}"
        )
        turned_away = result.race.statuses.get("409 flash.sold_out", 0)
        shares = split(cfg.burst, cfg.workers)
        if cfg.burst and turned_away:
            result.soldout, _ = _phase(
                workers,
                nodes,
                lambda i, start_ns: ("burst", start_ns, shares[i], "soldout"),
                "burst",
                requests=cfg.burst,
                bar=bar,
                label=f"{flash_mode}: sold-out burst",
            )
        if cfg.burst and flash_mode == "gate":
            result.healthz, _ = _phase(
                workers,
                nodes,
                lambda i, start_ns: ("burst", start_ns, shares[i], "healthz"),
                "burst",
                requests=cfg.burst,
                bar=bar,
                label=f"{flash_mode}: GET /healthz burst",
            )
        for w in workers:
            w.send("exit")
        _close_sale(ctx, nodes[0], sale_id)
        for node in nodes:
            if not node.alive():
                raise RuntimeError(f"server {node.pid} died:\n{node.log_tail()}")
    except Exception:
        for node in nodes:
            say(f"[red]{flash_mode} failed[/red]; server {node.pid} log tail:\n{node.log_tail()}")
        raise
    finally:
        for w in workers:
            w.process.join(5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(5)
        for node in nodes:
            node.stop()
    _warn_server_errors(ctx, flash_mode, say)
    return result


def _warn_server_errors(ctx: Context, flash_mode: FlashMode, say: Say) -> None:
    for path in sorted(ctx.workdir.glob(f"server-{flash_mode}-*.log")):
        text = path.read_text(errors="replace")
        if "Traceback" in text or '"level": "error"' in text or '"level":"error"' in text:
            say(f"[yellow]{path.name} has errors:[/yellow]\n{text[-3000:]}")


def run(cfg: FlashBenchConfig, say: Say, bar: Any = None) -> dict[str, Any]:
    """Set up, race with the gate, race with the naive baseline; returns the summary."""
    nofile = bench_server.raise_nofile()
    if nofile < cfg.concurrency + 1000:
        say(f"[yellow]open-file limit {nofile} is low for {cfg.concurrency} connections[/]")
    with _database(cfg, say) as ctx:
        started = time.monotonic()
        asyncio.run(_populate(ctx, cfg))
        say(f"{cfg.buyers:,} buyers with tokens in {time.monotonic() - started:.1f} s")
        ours = run_variant(ctx, "gate", cfg, say, bar)
        baseline = run_variant(ctx, "naive", cfg, say, bar) if cfg.baseline else None
    return summary(
        mode=cfg.mode,
        buyers=cfg.buyers,
        stock=cfg.stock,
        concurrency=cfg.concurrency,
        workers=cfg.workers,
        nodes=cfg.nodes,
        ours=ours,
        baseline=baseline,
    )


def main(cfg: FlashBenchConfig, *, json_output: bool = False) -> int:
    """Run with rich progress on stderr; the table (or one JSON line) on stdout."""
    import orjson
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from liveshop.benchmarks.flash_report import print_table

    err = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        out = run(cfg, err.print, bar)
    if json_output:
        print(orjson.dumps(out).decode(), flush=True)
    else:
        print_table(out, Console())
    return 0
