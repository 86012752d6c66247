"""Raffle workflows on the room's side: close (freeze, draw, reveal) and publish, the lazy
close, the sweeper, and the room snapshot's source of open raffles.

Room events follow the live API's rule: under the session's command lock, change, commit,
then publish (``raffle.closed`` then ``raffle.result``), so the room sees them in commit order
and never an event for a change that did not land.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.deps import Runtime
from liveshop.errors import Problem
from liveshop.promotions.raffles import service as raffles
from liveshop.promotions.raffles.models import Raffle

log = structlog.get_logger(__name__)
"""The sweeper's period, at most (``LIVESHOP_SWEEP_INTERVAL_SECONDS`` when shorter)."""


def proof_url(runtime: Runtime, raffle_id: str) -> str:
    return f"{runtime.settings.public_url.rstrip('/')}/raffles/{raffle_id}/proof"


# -- close, draw, publish --------------------------------------------------------------------


async def _result_event(runtime: Runtime, session: AsyncSession, raffle: Raffle) -> dict[str, Any]:
    drawn = await raffles.winners(session, raffle_id=raffle.id)
    assert raffle.drawn_at is not None
    return {
        "type": "raffle.result",
        "raffle_id": raffle.id,
        "winners": [{"id": winner.account_id, "name": name} for winner, name in drawn],
        "winners_count": raffle.winners_count,
        "entrants_count": raffle.entrants_count,
        "commitment": raffle.commitment,
        "entrants_hash": raffle.entrants_hash,
        "public_seed": raffle.public_seed,
        "server_seed": raffle.server_seed,
        "proof_url": proof_url(runtime, raffle.id),
        "at": raffle.drawn_at.isoformat(),
    }


async def close_and_publish(
    runtime: Runtime,
    session: AsyncSession,
    *,
    raffle_id: str,
    actor_id: str | None,
    public_seed: str | None = None,
    only_if_due: bool = False,
) -> Raffle:
    """Close (freeze, and draw when the public seed is known), commit, publish
    ``raffle.closed`` and ``raffle.result``. ``only_if_due``: only an open raffle whose window
    has ended (the sweeper, lazy closes), else nothing happens."""
    raffle = await raffles.get_or_raise(session, raffle_id=raffle_id)
    # No transaction (on SQLite: no write lock) while waiting for the room's command lock.
    await session.commit()
    async with runtime.rooms.command_lock(raffle.session_id):
        raffle = await raffles.get_or_raise(session, raffle_id=raffle_id, lock=True)
        now = runtime.clock.now()
        if only_if_due and not raffles.is_due(raffle, now):
            await session.commit()
            return raffle
        closing = await raffles.close(session, raffle=raffle, now=now, public_seed=public_seed)
        await session.commit()
        if closing.froze:
            assert raffle.closed_at is not None
            event = {
                "type": "raffle.closed",
                "raffle_id": raffle.id,
                "entrants_count": raffle.entrants_count,
                "entrants_hash": raffle.entrants_hash,
                "at": raffle.closed_at.isoformat(),
            }
            await runtime.rooms.publish_priority(raffle.session_id, event, actor_id=actor_id)
        if closing.drew:
            event = await _result_event(runtime, session, raffle)
            await runtime.rooms.publish_priority(raffle.session_id, event, actor_id=actor_id)
    return raffle


async def current(runtime: Runtime, session: AsyncSession, raffle_id: str) -> Raffle:
    """The raffle, closed first if its window has ended (the lazy close)."""
    raffle = await raffles.get_or_raise(session, raffle_id=raffle_id)
    if raffles.is_due(raffle, runtime.clock.now()):
        raffle = await close_and_publish(
            runtime, session, raffle_id=raffle_id, actor_id=None, only_if_due=True
        )
    return raffle


async def sweep_once(runtime: Runtime) -> int:
    """Close every open raffle whose window has ended; returns how many were due."""
    async with runtime.sessionmaker() as session:
        due = await raffles.due(session, now=runtime.clock.now())
        await session.commit()
    for raffle_id in due:
        async with runtime.sessionmaker() as session:
            try:
                await close_and_publish(
                    runtime, session, raffle_id=raffle_id, actor_id=None, only_if_due=True
                )
            except Problem as exc:
                log.warning("raffle_close_failed", raffle_id=raffle_id, code=exc.code)
    return len(due)


def room_promotions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    """The room snapshot's source of open raffles (``LiveRooms.promotion_sources``)."""

    async def source(session_id: str) -> list[dict[str, Any]]:
        async with sessionmaker() as session:
            return await raffles.open_raffles_for_room(session, session_id)

    return source
