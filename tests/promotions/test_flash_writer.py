"""The flash writer's own thread: jobs run on its loop with its own engine; results and
errors come back to the caller's loop; the app's flash sales use it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.deps import Runtime
from liveshop.promotions.flash_runtime import FlashSales
from liveshop.promotions.flash_writer import WriterThread

pytestmark = pytest.mark.usefixtures("backend")


async def test_jobs_run_on_the_writer_thread_and_answer_here(runtime: Runtime) -> None:
    writer = WriterThread(runtime.settings.database_url)
    writer.start()
    thread = writer._thread
    assert thread is not None and thread.is_alive()
    here = threading.get_ident(), asyncio.get_running_loop()

    async def where(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, Any, int]:
        async with sessionmaker() as session:
            one = (await session.execute(text("select 1"))).scalar_one()
        return threading.get_ident(), asyncio.get_running_loop(), one

    async def fails(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        raise LookupError("no such thing")

    try:
        results = await asyncio.gather(*(writer.run(where) for _ in range(5)))
        assert all(r[2] == 1 for r in results)
        assert {r[0] for r in results} != {here[0]} and len({r[0] for r in results}) == 1
        assert all(r[1] is not here[1] for r in results)
        with pytest.raises(LookupError):
            await writer.run(fails)
        assert (await writer.run(where))[2] == 1  # still serving after a failure
    finally:
        await writer.stop()
    assert not thread.is_alive()


async def test_a_writer_that_cannot_start_says_so() -> None:
    writer = WriterThread("nosuchdriver://x")
    with pytest.raises(RuntimeError, match="could not start"):
        writer.start()


async def test_the_apps_flash_sales_write_on_the_writer_thread(runtime: Runtime) -> None:
    sales: FlashSales = runtime.extras["flash"]
    assert sales._writer_thread is not None
