"""Token lookups that miss the cache, batched: the signed-in requests that arrive in the same
turn of the event loop are read with one statement.

When a flash sale opens, thousands of fans tap at once and many of their tokens are not in
the cache yet. One read each would cost a database round trip per request (on SQLite a few
thread hops each); here the first miss schedules a flush for the next loop turn, every miss
until then joins it, and the flush reads them all (``MAX_BATCH`` per statement) in one
read-only session.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.auth import service as auth_service
from liveshop.auth.service import Principal
from liveshop.db import read_only_session

MAX_BATCH = 500

Found = tuple[Principal, datetime] | None


class TokenLoader:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._pending: dict[str, asyncio.Future[Found]] = {}
        self._scheduled = False
        self.batches = 0  # statements run (tests and metrics read it)

    async def load(self, token_hash: str, *, now: datetime) -> Found:
        """The principal and token expiry of a valid token, else None."""
        future = self._pending.get(token_hash)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._pending[token_hash] = future
            if not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._start_flush, now)
        return await asyncio.shield(future)

    def _start_flush(self, now: datetime) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, {}
        task = asyncio.get_running_loop().create_task(self._flush(batch, now))
        task.add_done_callback(_retrieve)

    async def _flush(self, batch: dict[str, asyncio.Future[Found]], now: datetime) -> None:
        hashes = list(batch)
        try:
            found: dict[str, tuple[Principal, datetime]] = {}
            async with self._sessionmaker() as session:
                await read_only_session(session)
                for i in range(0, len(hashes), MAX_BATCH):
                    self.batches += 1
                    found.update(
                        await auth_service.principals_by_hash(
                            session, token_hashes=hashes[i : i + MAX_BATCH], now=now
                        )
                    )
        except BaseException as exc:
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            raise
        for token_hash, future in batch.items():
            if not future.done():
                future.set_result(found.get(token_hash))


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()  # the waiters got it; don't log it again as never retrieved
