"""The flash-sale writer's own thread: an event loop and a database engine of its own.

When a sale opens, the app's event loop is saturated by the taps it turns away; a writer
task on that loop waits behind them at every database round trip, and the accepted buyers
wait for their orders far longer than the writes take. On its own loop, the writer's round
trips are answered at once (it shares only the interpreter with the app), so an accepted
buy's reply waits for its batch's write, not for the crowd.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.db import create_engine, create_sessionmaker

T = TypeVar("T")

Job = Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]


class WriterThread:
    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="flash-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise RuntimeError("the flash writer could not start") from self._failure

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            engine = create_engine(self._url)
        except BaseException as exc:  # a bad URL: report it to start()
            self._failure = exc
            self._ready.set()
            loop.close()
            return
        self._sessionmaker = create_sessionmaker(engine)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(engine.dispose())
            loop.close()

    async def run(self, job: Job[T]) -> T:
        """Run ``job(sessionmaker)`` on the writer's loop; its result or exception here."""
        assert self._loop is not None and self._sessionmaker is not None, "not started"
        future = asyncio.run_coroutine_threadsafe(_call(job, self._sessionmaker), self._loop)
        return await asyncio.wrap_future(future)

    async def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join)
        self._loop = None
        self._thread = None


async def _call(job: Job[T], sessionmaker: async_sessionmaker[AsyncSession]) -> T:
    return await job(sessionmaker)
