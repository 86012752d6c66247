"""Async engine and session factory, the declarative Base and shared column types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from liveshop.ids import new_id

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def id_column() -> Mapped[str]:
    return mapped_column(String(26), primary_key=True, default=new_id)


def is_private_memory_database(url: str) -> bool:
    """An in-memory SQLite database: a second engine would open another, empty one."""
    return url.startswith("sqlite") and _sqlite_file(url) is None


def _sqlite_file(url: str) -> Path | None:
    _, _, rest = url.partition(":///")
    if not rest or rest.startswith(":memory:"):
        return None
    return Path(rest.split("?")[0])


def create_engine(url: str, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and writer serialization."""
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, pool_size=8, max_overflow=8, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN so we can make it IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Every transaction takes the write lock up front: a deferred transaction that reads
        # and then writes can fail with SQLITE_BUSY instead of waiting. WAL readers are not
        # blocked by this, and the embedded default is a single process. A read-only session
        # (``read_only_session``) begins deferred: it reads a snapshot beside the writer.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


READ_ONLY = "liveshop_read_only"


async def read_only_session(session: AsyncSession) -> None:
    """Mark a fresh session as read-only before its first statement: on SQLite it then does
    not take the write lock (it must not write); elsewhere nothing changes."""
    await session.connection(execution_options={READ_ONLY: True})


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


T = TypeVar("T")


async def insert_unique(
    session: AsyncSession, row: T, existing: Callable[[], Awaitable[T | None]]
) -> tuple[T, bool]:
    """Insert ``row`` (in a savepoint); when a unique constraint refuses it because a
    concurrent insert of the same thing won, that row (``existing()``) and False."""
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = await existing()
        if found is None:
            raise
        return found, False
    return row, True


_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_retryable(exc: BaseException) -> bool:
    """A transient concurrency failure that a fresh transaction may not hit."""
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if code is None and orig is not None:
            code = getattr(getattr(orig, "__cause__", None), "sqlstate", None)
        return code in _RETRYABLE_SQLSTATES
    return False


async def run_transaction(
    session: AsyncSession, fn: Callable[[], Awaitable[T]], *, attempts: int = 5
) -> T:
    """Run ``fn`` and commit; on a deadlock or serialization failure roll back and retry."""
    for attempt in range(attempts):
        try:
            result = await fn()
            await session.commit()
            return result
        except BaseException as exc:
            await session.rollback()
            if attempt + 1 < attempts and is_retryable(exc):
                continue
            raise
    raise AssertionError("unreachable")


async def session_scope(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session
