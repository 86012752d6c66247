"""The room event log writer: rows are buffered and written in batches (one executemany per
flush), never one INSERT per event on the hot path."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.clock import Clock
from liveshop.live.models import RoomEvent
from liveshop.observability import Metrics

log = structlog.get_logger(__name__)

# Past this many buffered rows the writer flushes at once instead of waiting for its tick.
EAGER_FLUSH_ROWS = 5_000
# If the database is away this long, rows beyond this bound are dropped (and counted) rather
# than growing memory without limit.
MAX_BUFFERED_ROWS = 200_000


class EventLogWriter:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        metrics: Metrics,
        flush_ms: int = 500,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._metrics = metrics
        self._interval = flush_ms / 1000
        self._rows: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.dropped = 0

    def append(
        self,
        session_id: str,
        type: str,
        *,
        account_id: str | None = None,
        guest_id: str | None = None,
        payload: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        if len(self._rows) >= MAX_BUFFERED_ROWS:
            self.dropped += 1
            return
        self._rows.append(
            {
                "session_id": session_id,
                "account_id": account_id,
                "guest_id": guest_id,
                "type": type,
                "payload": payload or {},
                "at": at or self._clock.now(),
            }
        )
        if len(self._rows) >= EAGER_FLUSH_ROWS:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._rows)

    async def flush(self) -> int:
        async with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                async with self._sessionmaker() as session:
                    await session.execute(insert(RoomEvent), rows)
                    await session.commit()
            except Exception:
                log.exception("eventlog_flush_failed", rows=len(rows))
                self._rows = rows + self._rows  # retried on the next flush
                return 0
            self._metrics.eventlog_rows.inc(len(rows))
            return len(rows)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="eventlog-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
