"""The ``liveshop`` command."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from liveshop import __version__
from liveshop.clock import SystemClock
from liveshop.config import ConfigError, Settings

app = typer.Typer(help="liveshop: self-hosted live-streaming commerce.", no_args_is_help=True)
db_app = typer.Typer(help="Database: migrations and demo data.", no_args_is_help=True)
admin_app = typer.Typer(help="Administration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
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

    settings = _settings()
    uvicorn.run(
        "liveshop.app:create_app_from_env",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
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
) -> None:
    """Migrate, seed the demo data and serve: the embedded platform on one laptop."""
    from liveshop import migrate
    from liveshop.seed import seed_demo

    settings = _settings()
    migrate.upgrade(settings.database_url)
    data = asyncio.run(seed_demo(settings, now=SystemClock().now()))
    base = f"http://{host or settings.host}:{port or settings.port}"
    console.rule("[bold red]liveshop demo")
    console.print(f"Shop (landing page):  {base}/")
    console.print(f"API explorer:         {base}/docs")
    console.print(f"OpenAPI:              {base}/openapi.json")
    console.print(f"Health / metrics:     {base}/healthz  {base}/metrics")
    console.print(f"Database:             {settings.database_url}")
    console.print("Payments use the built-in sandbox provider: approve on its pay page.")
    _print_logins(data.logins)
    console.print("How to buy a demo product step by step: docs/quickstart.md. Ctrl-C stops.")
    serve(host=host, port=port)


@app.command()
def bench() -> None:
    """Run the benchmarks under bench/ (none exist yet: the live room and flash sale issues
    bring them)."""
    console.print(
        "no benchmarks yet: `liveshop bench room` and `liveshop bench flash-sale` "
        "arrive with the live room and flash sale work"
    )


def main() -> None:
    app()
