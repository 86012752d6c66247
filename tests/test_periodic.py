"""The background loop: runs its step at once and then at the interval, survives a failing
step, stops when cancelled."""

from __future__ import annotations

import asyncio

import pytest

from liveshop.periodic import every


async def test_a_failing_step_does_not_stop_the_loop_and_cancel_does() -> None:
    calls: list[int] = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("one bad sweep")

    task = asyncio.create_task(every(0.001, step, name="test_sweep"))
    for _ in range(500):
        if len(calls) >= 4:
            break
        await asyncio.sleep(0.001)
    assert calls[:4] == [0, 1, 2, 3]  # the failure at the second step was survived
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped = len(calls)
    await asyncio.sleep(0.01)
    assert len(calls) == stopped
