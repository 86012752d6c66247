"""Background work of the orders domain: expire unpaid orders, release lapsed stock,
redeliver sandbox webhooks. Each sweep is one short transaction per order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import structlog

from liveshop.errors import Problem
from liveshop.inventory import service as inventory
from liveshop.orders import service as orders
from liveshop.payments.sandbox import SandboxProvider

if TYPE_CHECKING:
    from liveshop.deps import Runtime

log = structlog.get_logger(__name__)


async def expire_overdue(runtime: Runtime) -> int:
    """Expire every pending order past its payment window; returns how many."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        due = [o.id for o in await orders.overdue(session, now=now)]
        await session.rollback()
    expired = 0
    for order_id in due:
        async with runtime.sessionmaker() as session:
            order = await orders.lock_order(session, order_id=order_id)
            if order is None or not orders.is_overdue(order, now):
                continue
            try:
                await orders.expire(session, order=order, now=now)
                await session.commit()
                expired += 1
            except Problem:  # paid or cancelled meanwhile
                await session.rollback()
    async with runtime.sessionmaker() as session:
        await inventory.release_expired(session, now=now)
        await session.commit()
    return expired


async def sweep_once(runtime: Runtime) -> None:
    await expire_overdue(runtime)
    if isinstance(runtime.payments, SandboxProvider):
        http: httpx.AsyncClient = runtime.extras["http"]
        await runtime.payments.deliver_pending(runtime.sessionmaker, http)
