"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL (``backend``);
counter and broker tests run on the in-process implementation and on Redis.

PostgreSQL and Redis are the local servers (see docs/quickstart.md); when they are absent the
tests that need them are skipped with the reason, or fail when LIVESHOP_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop import migrate
from liveshop.app import create_app
from liveshop.auth import service as auth_service
from liveshop.auth.schemas import Role
from liveshop.clock import FrozenClock
from liveshop.config import Settings
from liveshop.db import Base, create_engine
from liveshop.deps import Runtime

PG_ADMIN_URL = os.environ.get(
    "LIVESHOP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# `make test` runs the suite in parallel processes (pytest-xdist): each worker has its own
# PostgreSQL database (see postgres_database) and its own Redis database number, so keys such
# as a rate limit of 127.0.0.1 never meet across workers.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_REDIS_DB = int(_XDIST_WORKER[2:]) + 1 if _XDIST_WORKER.startswith("gw") else 0
REDIS_URL = os.environ.get("LIVESHOP_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_REDIS_DB}")
REQUIRE_SERVICES = os.environ.get("LIVESHOP_REQUIRE_SERVICES") == "1"


def service_unavailable(what: str, exc: BaseException) -> None:
    reason = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if REQUIRE_SERVICES:
        pytest.fail(f"LIVESHOP_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# -- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@dataclass
class PostgresDatabase:
    url: str
    error: BaseException | None = None


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    """A database of our own on the local server, migrated once, dropped at the end."""
    name = f"liveshop_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is absent: tests that need it skip or fail
        yield PostgresDatabase(url="", error=exc)
        return
    url = _with_database(PG_ADMIN_URL, name)
    migrate.upgrade(url)
    try:
        yield PostgresDatabase(url=url)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of the test's backend."""
    import liveshop.models  # noqa: F401

    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "liveshop.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    pg: PostgresDatabase = request.getfixturevalue("postgres_database")
    if pg.error is not None:
        service_unavailable("PostgreSQL at " + PG_ADMIN_URL, pg.error)
    asyncio.run(_truncate_all(pg.url))
    return pg.url


# -- redis -----------------------------------------------------------------------------------


async def connect_redis() -> Redis:
    """A client of the local Redis; skips (or fails, when required) if it is absent."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        service_unavailable("Redis at " + REDIS_URL, exc)
    return client


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = await connect_redis()
    try:
        yield client
    finally:
        await client.aclose()


# -- the app ---------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789abcdefghijklmnop",
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        public_url="http://testserver",
        log_json=False,
    )


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[FastAPI]:
    application = create_app(
        settings,
        clock=clock,
        background=False,
        webhook_transport=lambda a: httpx.ASGITransport(app=a),
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    async with runtime.sessionmaker() as s:
        yield s


@dataclass
class Actor:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_account(runtime: Runtime) -> Any:
    """make_account(*roles) -> Actor with a bearer token (created through the service)."""
    from datetime import timedelta

    async def factory(*roles: Role, email: str | None = None) -> Actor:
        email = email or f"{uuid.uuid4().hex[:10]}@example.com"
        async with runtime.sessionmaker() as s:
            account = await auth_service.create(
                s,
                email=email,
                password="correct horse battery",
                display_name=email.split("@")[0],
                roles=roles or ("fan",),
                passwords=runtime.passwords,
                now=runtime.clock.now(),
            )
            token, _ = await auth_service.issue_token(
                s, account_id=account.id, now=runtime.clock.now(), ttl=timedelta(days=1)
            )
            await s.commit()
            return Actor(account.id, email, token)

    return factory
