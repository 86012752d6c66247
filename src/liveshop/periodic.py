"""Background work that runs forever at an interval (the app's lifespan starts and cancels it):
the order, raffle, envelope and coupon sweepers and the flash-sale ticker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def every(seconds: float, step: Callable[[], Awaitable[object]], *, name: str) -> None:
    """Run ``step`` now and then every ``seconds``; a failing step is logged
    (``{name}_failed``) and the loop goes on."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(f"{name}_failed")
        await asyncio.sleep(seconds)
