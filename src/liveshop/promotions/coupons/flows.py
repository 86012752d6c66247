"""Coupon drops on the room's side: the events after commits, the sweeper that ends drops
whose time is up (started by the app's lifespan; tests call :func:`end_due`), and the room
snapshot's source of running drops.

Room events follow the live API's rule: change, commit, then publish under the session's
command lock, so the room sees them in commit order and never an event for a change that
did not land.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.promotions.coupons import funding, views
from liveshop.promotions.coupons import service as coupons

if TYPE_CHECKING:
    from liveshop.deps import Runtime

log = structlog.get_logger(__name__)
"""The sweeper's period, at most (``LIVESHOP_SWEEP_INTERVAL_SECONDS`` when shorter)."""


def room_promotions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    """The room snapshot's source of running coupon drops (``LiveRooms.promotion_sources``):
    every drop whose ``coupon.drop`` went out and whose ``coupon.drop_ended`` has not."""

    async def source(session_id: str) -> list[dict[str, Any]]:
        async with sessionmaker() as session:
            rows = await coupons.list_drops(session, session_id=session_id, active_only=True)
            return [views.drop_view(drop, template) for drop, template in rows]

    return source


async def publish_ended(runtime: Runtime, drop_id: str) -> None:
    """After the commit that ended a drop (its last claim, or the sweeper): tell the room."""
    async with runtime.sessionmaker() as session:
        drop = await coupons.get_drop_or_raise(session, drop_id=drop_id)
    async with runtime.rooms.command_lock(drop.session_id):
        await runtime.rooms.publish_priority(drop.session_id, views.drop_ended_event(drop))


async def end_due(runtime: Runtime) -> list[str]:
    """End every active drop whose time is up or whose template ran out or ended, and tell
    the room; give the unused budget of every wallet-funded template past its validity back
    to its wallet. One short transaction per drop or template; safe on several nodes (the
    guarded UPDATEs let one win). Returns the drop ids this call ended."""
    now = runtime.clock.now()
    await end_due_budgets(runtime)
    async with runtime.sessionmaker() as session:
        due = await coupons.due_drops(session, now=now)
        await session.rollback()
    return await _end_drops(runtime, due, now=now)


async def end_due_budgets(runtime: Runtime) -> list[str]:
    """End the wallet-funded templates past their validity: their unused budget goes back to
    the wallet that funded it. Returns the template ids this call ended."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        due = await funding.due_to_end(session, now=now)
        await session.rollback()
    ended: list[str] = []
    for template_id in due:
        async with runtime.sessionmaker() as session:
            template = await coupons.get_template_or_raise(session, template_id=template_id)
            if template.ended_at is not None:
                await session.rollback()
                continue
            await funding.end(session, template=template, now=now)
            await session.commit()
        ended.append(template_id)
    return ended


async def end_template(runtime: Runtime, template_id: str) -> None:
    """After the commit that ended a template: end its running drops and tell their rooms."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        drops = await coupons.active_drop_ids(session, template_id=template_id)
    await _end_drops(runtime, drops, now=now)


async def _end_drops(runtime: Runtime, drop_ids: Iterable[str], *, now: datetime) -> list[str]:
    """End each drop in its own transaction and tell its room; returns the ones this ended."""
    ended: list[str] = []
    for drop_id in drop_ids:
        async with runtime.sessionmaker() as session:
            if await coupons.end_drop(session, drop_id=drop_id, now=now) is None:
                await session.rollback()
                continue
            await session.commit()
        await publish_ended(runtime, drop_id)
        ended.append(drop_id)
    return ended
