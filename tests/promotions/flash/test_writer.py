"""The flash writer's own thread: jobs run on its loop with its own engine; results and
errors come back to the caller's loop; the app's flash sales use it."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.deps import Runtime
from liveshop.promotions.flash.runtime import FlashSales
from liveshop.promotions.flash.writer import WriterThread

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


async def test_a_batch_that_lost_a_race_is_written_again_whole_and_a_bad_one_is_split(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liveshop.errors import Problem

    sales: FlashSales = runtime.extras["flash"]
    calls: list[int] = []
    failures = [Problem(409, "stock.contention", "another writer moved the units first")]

    async def commit(buys: list[Any]) -> list[Any]:
        calls.append(len(buys))
        if failures:
            raise failures.pop()
        if any(b.reservation_id == "bad" for b in buys):
            raise ValueError("a row the database refuses")
        return [f"row-{b.reservation_id}" for b in buys]

    monkeypatch.setattr(sales, "_commit", commit)
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(4)]
    await sales._write_batch(list(zip(_buys("a", "b", "c", "d"), futures, strict=True)))  # type: ignore[arg-type]
    assert calls == [4, 4]  # retried whole, not split
    assert [f.result() for f in futures] == ["row-a", "row-b", "row-c", "row-d"]

    calls.clear()
    monkeypatch.setattr(sales, "_undo", _noop)
    futures = [loop.create_future() for _ in range(4)]
    await sales._write_batch(list(zip(_buys("a", "bad", "c", "d"), futures, strict=True)))  # type: ignore[arg-type]
    assert calls == [4, 2, 1, 1, 2]  # halves until the bad one is alone
    assert futures[0].result() == "row-a" and futures[2].result() == "row-c"
    assert isinstance(futures[1].exception(), Problem)  # 503 flash.unavailable for that buy


async def test_a_buy_accepted_longer_ago_than_half_the_orphan_grace_is_not_written_late(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past half the grace another node may already have given the units away (a dead node's
    buys come back after the grace), so the writer refuses instead of writing late."""
    from liveshop.errors import Problem

    sales: FlashSales = runtime.extras["flash"]
    grace = runtime.settings.flash_orphan_grace_seconds
    written: list[str] = []
    undone: list[str] = []

    async def commit(buys: list[Any]) -> list[Any]:
        written.extend(b.reservation_id for b in buys)
        return [f"row-{b.reservation_id}" for b in buys]

    async def undo(accepted: Any) -> None:
        undone.append(accepted.reservation_id)

    monkeypatch.setattr(sales, "_commit", commit)
    monkeypatch.setattr(sales, "_undo", undo)
    monkeypatch.setattr(sales, "_monotonic", lambda: 1000.0)
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(3)]
    buys = [
        *_buys("old", accepted_at=1000.0 - grace / 2 - 0.01),
        *_buys("fresh", accepted_at=1000.0 - grace / 2 + 0.01),
        *_buys("untimed"),
    ]
    await sales._write_batch(list(zip(buys, futures, strict=True)))  # type: ignore[arg-type]
    assert written == ["fresh", "untimed"] and undone == ["old"]
    refused = futures[0].exception()
    assert isinstance(refused, Problem) and refused.code == "flash.unavailable"
    assert [f.result() for f in futures[1:]] == ["row-fresh", "row-untimed"]


def _buys(*ids: str, accepted_at: float = 0.0) -> list[Any]:
    return [SimpleNamespace(reservation_id=i, accepted_at=accepted_at) for i in ids]


async def _noop(*args: Any) -> None:
    return None
