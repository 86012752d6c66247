"""The ``liveshop`` command."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from liveshop import __version__
from liveshop.clock import SystemClock
from liveshop.config import ConfigError, Settings
from liveshop.promotions.raffles.cli import raffle_app
from liveshop.video.cli import video_app

app = typer.Typer(help="liveshop: self-hosted live-streaming commerce.", no_args_is_help=True)
db_app = typer.Typer(help="Database: migrations and demo data.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
bench_app = typer.Typer(help="Benchmarks (docs/performance.md).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(raffle_app, name="raffle")
app.add_typer(video_app, name="video")
console = Console()


def _settings() -> Settings:
    try:
        return Settings()
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _version(value: bool) -> None:
    if value:
        console.print(f"liveshop {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """liveshop: self-hosted live-streaming commerce."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the HTTP server."""
    import uvicorn

    from liveshop.realtime.ws_protocol import WS_PROTOCOL

    settings = _settings()
    uvicorn.run(
        "liveshop.app:create_app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
        ws=WS_PROTOCOL,
        ws_per_message_deflate=settings.ws_compression,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (safe to run again)."""
    from liveshop import migrate

    settings = _settings()
    migrate.upgrade(settings.database_url)
    console.print("[green]database is up to date[/green]")


def _print_logins(logins: list[tuple[str, str, str]]) -> None:
    table = Table(title="Demo logins")
    table.add_column("email")
    table.add_column("password")
    table.add_column("roles")
    for email, password, roles in logins:
        table.add_row(email, password, roles)
    console.print(table)


@db_app.command("seed-demo")
def db_seed_demo() -> None:
    """Add the demo accounts, merchants, products and stock (safe to run again)."""
    from liveshop.seed import seed_demo

    settings = _settings()
    data = asyncio.run(seed_demo(settings, now=SystemClock().now()))
    console.print(
        "[green]demo data seeded[/green]" if data.created else "demo data already present"
    )
    _print_logins(data.logins)


@admin_app.command("create")
def admin_create(
    email: Annotated[str, typer.Option(prompt=True, help="Email of the admin.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="Password (prompted when not given).",
        ),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "Administrator",
) -> None:
    """Create an admin account, or make an existing account an admin."""
    from liveshop.auth.schemas import SignUp

    try:
        SignUp(email=email, password=password, display_name=name)
    except Exception as exc:
        console.print(f"[red]invalid input:[/red] {exc}")
        raise typer.Exit(2) from exc
    created = asyncio.run(_admin_create(_settings(), email, password, name))
    console.print(f"[green]admin {'created' if created else 'role granted'}:[/green] {email}")


async def _admin_create(settings: Settings, email: str, password: str, name: str) -> bool:
    from liveshop.auth import service as auth_service
    from liveshop.auth.passwords import Passwords
    from liveshop.db import create_engine, create_sessionmaker

    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            account = await auth_service.get_by_email(session, email=email)
            created = account is None
            if account is None:
                await auth_service.create(
                    session,
                    email=email,
                    password=password,
                    display_name=name,
                    roles=("admin",),
                    passwords=Passwords(
                        time_cost=settings.argon2_time_cost,
                        memory_cost_kib=settings.argon2_memory_cost_kib,
                    ),
                    now=SystemClock().now(),
                )
            else:
                await auth_service.grant_role(session, account_id=account.id, role="admin")
            await session.commit()
            return created
    finally:
        await engine.dispose()


@app.command()
def demo(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    promotions: Annotated[
        bool,
        typer.Option(
            help="Run a flash sale, a coupon drop, a red envelope and a raffle every few minutes."
        ),
    ] = True,
    video: Annotated[
        bool,
        typer.Option(
            help="Run nginx-rtmp and publish a test pattern as the demo anchor (needs nginx,"
            " libnginx-mod-rtmp and ffmpeg; without them the demo runs without video)."
        ),
    ] = True,
    viewers: Annotated[
        int,
        typer.Option(
            help="Simulated viewers in the room at a time (a tenth chat, like, follow, buy).",
            min=0,
            max=5000,
        ),
    ] = 200,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).", min=1)
    ] = None,
) -> None:
    """Migrate, seed the demo data and serve: the embedded platform on one laptop, with a
    simulated live session anyone can open in a browser."""
    from liveshop import migrate
    from liveshop.seed import seed_demo

    settings = _demo_settings(host, port)
    migrate.upgrade(settings.database_url)
    data = asyncio.run(seed_demo(settings, now=SystemClock().now()))
    base = f"http://{host or settings.host}:{port or settings.port}"
    video_running = contextlib.ExitStack()
    console.rule("[bold red]liveshop demo")
    console.print(f"Shop (landing page):  {base}/")
    console.print(f"API explorer:         {base}/docs")
    console.print(f"OpenAPI:              {base}/openapi.json")
    console.print(f"Health / metrics:     {base}/healthz  {base}/metrics")
    if data.session_id:
        ws_base = base.replace("http://", "ws://", 1)
        console.print(f"Live room (viewers):  {base}/live/{data.session_id}")
        console.print(f"Console (operator):   {base}/console/sessions/{data.session_id}")
        console.print(f"Live session (state): {base}/live/sessions/{data.session_id}/state")
        console.print(f"Live room WebSocket:  {ws_base}/ws/rooms/{data.session_id}")
        console.print(f"Watch it from a shell: liveshop watch {data.session_id} --url {base}")
        video_running = _start_video(settings, base, data.session_id, video)
    console.print(f"Database:             {settings.database_url}")
    console.print("Payments use the built-in sandbox provider: approve on its pay page.")
    _print_logins(data.logins)
    console.print("How to buy a demo product step by step: docs/quickstart.md. Ctrl-C stops.")
    if promotions and data.session_id:
        console.print(
            "Simulated promotions: a flash sale, a coupon drop, a red envelope and a raffle"
            " every few minutes (--no-promotions turns them off)."
        )
        _start_promotions(base)
    if viewers and data.session_id:
        console.print(
            f"Simulated audience: about {viewers} viewers come and go, chat, like, follow and"
            " buy (--viewers 0 turns them off)."
        )
        _start_crowd(base, viewers)
    if duration is not None:
        _stop_after(duration)
    with video_running:  # on the way out (Ctrl-C, SIGTERM, errors): stop ffmpeg and nginx
        serve(host=host, port=port)


def _demo_settings(host: str | None, port: int | None) -> Settings:
    """The settings with the demo's --host/--port, exported to the environment too: the
    server builds its settings from it, nginx calls the hooks there and the sandbox's pay
    page and webhook (LIVESHOP_PUBLIC_URL, unless set) are served there."""
    import os

    if host:
        os.environ["LIVESHOP_HOST"] = host
    if port:
        os.environ["LIVESHOP_PORT"] = str(port)
    settings = _settings()
    if (host or port) and "LIVESHOP_PUBLIC_URL" not in os.environ:
        public = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        os.environ["LIVESHOP_PUBLIC_URL"] = f"http://{public}:{settings.port}"
        settings = _settings()
    return settings


def _start_video(
    settings: Settings, base: str, session_id: str, enabled: bool
) -> contextlib.ExitStack:
    """The demo's video (liveshop.simulate.video) and its lines of the banner (or why there is
    none, once); exiting the returned stack stops it."""
    from liveshop.simulate.video import start_demo

    handle, lines = start_demo(settings, base, session_id, enabled=enabled, now=SystemClock().now())
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    running = contextlib.ExitStack()
    if handle is not None:
        running.callback(handle.stop)
    return running


def _start_crowd(base: str, viewers: int) -> None:
    """The demo's simulated audience (liveshop.simulate.crowd)."""
    from liveshop.simulate.crowd import Crowd, run

    crowd = Crowd(base_url=base, viewers=viewers, talkers=max(1, viewers // 10))
    _in_background("demo-crowd", base, lambda: run(crowd))


def _in_background(name: str, base: str, job: Callable[[], Coroutine[Any, Any, Any]]) -> None:
    """Run ``job`` in a daemon thread (its own event loop) once the server at ``base``
    answers."""
    import threading
    import time

    import httpx

    def target() -> None:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        asyncio.run(job())

    threading.Thread(target=target, name=name, daemon=True).start()


def _stop_after(seconds: float) -> None:
    """``--duration``: a clean stop (as Ctrl-C) after ``seconds``."""
    import os
    import signal
    import threading

    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.daemon = True
    timer.start()


def _start_promotions(base: str) -> None:
    """The demo's promotion script (liveshop.simulate.promotions)."""
    from liveshop.simulate.promotions import Script, run

    _in_background("demo-promotions", base, lambda: run(Script(base_url=base)))


@bench_app.command("room")
def bench_room(
    viewers: Annotated[int, typer.Option(help="WebSocket viewers (10,000 works).")] = 2000,
    seconds: Annotated[float, typer.Option(help="Length of the measurement window.")] = 15.0,
    slow_pct: Annotated[
        float, typer.Option(help="Percent of viewers that stop reading after the snapshot.")
    ] = 0.0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON line instead of the table.")
    ] = False,
    chat_rate: Annotated[float, typer.Option(help="Chat messages per second.")] = 100.0,
    like_rate: Annotated[float, typer.Option(help="Likes per second (in batches).")] = 1000.0,
    like_batch: Annotated[
        int,
        typer.Option(help="The largest like burst; the simulated fans send 1-20 likes a message."),
    ] = 50,
    chatters: Annotated[int, typer.Option(help="Signed-in chatters sending them.")] = 20,
    warmup: Annotated[float, typer.Option(help="Seconds of load before measuring.")] = 3.0,
    workers: Annotated[int, typer.Option(help="Viewer processes (0: one per 2,500 viewers).")] = 0,
    compression: Annotated[
        bool, typer.Option(help="Viewers offer permessage-deflate, as browsers do.")
    ] = True,
    server_compression: Annotated[
        bool,
        typer.Option(
            help="Run the server with LIVESHOP_WS_COMPRESSION on (it accepts the deflate offer)."
        ),
    ] = False,
    naive: Annotated[
        bool, typer.Option(help="Also run the naive hub under the same load (for the ratio).")
    ] = True,
) -> None:
    """Room fan-out: latency, deliveries/s, server CPU and memory; batched vs naive hub."""
    from liveshop.benchmarks.room import main as run_room
    from liveshop.benchmarks.room_results import RoomBenchConfig

    cfg = RoomBenchConfig(
        viewers=viewers,
        seconds=seconds,
        slow_pct=slow_pct,
        chat_rate=chat_rate,
        like_rate=like_rate,
        like_batch=like_batch,
        chatters=chatters,
        warmup=warmup,
        workers=workers,
        compression=compression,
        server_compression=server_compression,
        naive=naive,
    )
    raise typer.Exit(run_room(cfg, json_output=json_output))


@bench_app.command("video")
def bench_video(
    seconds: Annotated[float, typer.Option(help="Length of the measurement window.", min=1)] = 20.0,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON line instead of the table.")
    ] = False,
    warmup: Annotated[
        float, typer.Option(help="Least seconds of publishing before measuring.", min=0)
    ] = 5.0,
    fragment: Annotated[
        float | None,
        typer.Option(help="Our HLS fragment, s (default: the setting's).", min=0.5, max=10),
    ] = None,
    playlist: Annotated[
        float | None,
        typer.Option(help="Our HLS playlist length, s (default: the setting's).", min=2, max=60),
    ] = None,
    baseline: Annotated[
        bool, typer.Option(help="Also measure nginx-rtmp's usual 5 s / 30 s HLS (for the ratio).")
    ] = True,
) -> None:
    """Live video: publish-to-playback latency over nginx-rtmp HLS; ours vs 5 s fragments."""
    from liveshop.benchmarks.video import VideoBenchConfig
    from liveshop.benchmarks.video import main as run_video

    cfg = VideoBenchConfig(
        seconds=seconds, warmup=warmup, fragment_s=fragment, playlist_s=playlist, baseline=baseline
    )
    raise typer.Exit(run_video(cfg, json_output=json_output))


@bench_app.command("flash-sale")
def bench_flash_sale(
    mode: Annotated[
        str, typer.Option(help="embedded (SQLite, 1 server) or cluster (PostgreSQL+Redis, 2).")
    ] = "embedded",
    buyers: Annotated[int, typer.Option(help="Distinct buyers (limit 1 each).", min=1)] = 20_000,
    stock: Annotated[int, typer.Option(help="Units on sale.", min=1, max=100_000)] = 1_000,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON line instead of the table.")
    ] = False,
    concurrency: Annotated[
        int, typer.Option(help="Client connections in all (one request each at a time).", min=1)
    ] = 1000,
    workers: Annotated[int, typer.Option(help="Client processes.", min=1)] = 2,
    burst: Annotated[
        int, typer.Option(help="Requests of the sold-out and the GET /healthz bursts.", min=0)
    ] = 10_000,
    baseline: Annotated[
        bool, typer.Option(help="Also run the naive baseline (LIVESHOP_FLASH_MODE=naive).")
    ] = True,
    postgres_url: Annotated[
        str, typer.Option(help="cluster: an admin URL; a fresh database is made beside it.")
    ] = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    redis_url: Annotated[str, typer.Option(help="cluster: the shared Redis.")] = (
        "redis://127.0.0.1:6379/0"
    ),
) -> None:
    """Flash sale: N buyers race for M units over HTTP; the stock gate vs the naive baseline."""
    from liveshop.benchmarks.flash import FlashBenchConfig
    from liveshop.benchmarks.flash import main as run_flash

    if mode not in ("embedded", "cluster"):
        raise typer.BadParameter("embedded or cluster", param_hint="--mode")
    cfg = FlashBenchConfig(
        mode="cluster" if mode == "cluster" else "embedded",
        buyers=buyers,
        stock=stock,
        concurrency=concurrency,
        workers=workers,
        burst=burst,
        baseline=baseline,
        postgres_url=postgres_url,
        redis_url=redis_url,
    )
    raise typer.Exit(run_flash(cfg, json_output=json_output))


@app.command()
def watch(
    session_id: Annotated[str, typer.Argument(help="The live session to join.")],
    url: Annotated[str, typer.Option(help="The server's base URL.")] = "http://127.0.0.1:8000",
    token: Annotated[str | None, typer.Option(help="A bearer token (else a guest).")] = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many messages.")] = None,
) -> None:
    """Join a live room's WebSocket and print the snapshot and every event as it arrives."""
    from liveshop.live.watch import run

    with contextlib.suppress(KeyboardInterrupt):
        run(url, session_id, token, count)


def main() -> None:
    app()
