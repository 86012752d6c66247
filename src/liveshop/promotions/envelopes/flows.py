"""Red-envelope work that needs the runtime: the gate, room events after commits, and the
expiry sweeper (started by the app's lifespan; tests call :func:`expire_due`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.promotions.envelopes import service as envelopes
from liveshop.promotions.envelopes import views
from liveshop.promotions.envelopes.gate import EnvelopeGate
from liveshop.promotions.envelopes.models import RedEnvelope

if TYPE_CHECKING:
    from liveshop.deps import Runtime

log = structlog.get_logger(__name__)

GATE = "envelope_gate"
"""Key of the gate in ``Runtime.extras`` (the lifespan puts it there)."""


def room_promotions(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    """The room snapshot's source of open red envelopes (``LiveRooms.promotion_sources``)."""

    async def source(session_id: str) -> list[dict[str, Any]]:
        async with sessionmaker() as session:
            return await views.open_envelopes_for_room(session, session_id)

    return source


def gate_of(runtime: Runtime) -> EnvelopeGate:
    """The gate the app's lifespan built (in-process, or on Redis when configured)."""
    gate: EnvelopeGate = runtime.extras[GATE]
    return gate


async def opened(runtime: Runtime, envelope_id: str, *, actor_id: str) -> None:
    """After the commit of a new pot: load it into the gate, tell the room. The caller holds
    the session's command lock from before the commit (so the pot's result, published under
    the same lock, cannot overtake this event)."""
    async with runtime.sessionmaker() as session:
        envelope = await envelopes.get_or_raise(session, envelope_id=envelope_id)
        try:
            await envelopes.load_gate(
                session, gate=gate_of(runtime), envelope=envelope, replace=True
            )
        except Exception:  # the first grab rebuilds it from the database
            log.exception("envelope_gate_load_failed", envelope_id=envelope_id)
        view = await views.view_of(session, envelope)
    event = {"type": "red_envelope.open", "envelope": view, "at": envelope.created_at.isoformat()}
    await runtime.rooms.publish_priority(envelope.session_id, event, actor_id=actor_id)


async def closed(runtime: Runtime, envelope_id: str) -> None:
    """After the commit that closed a pot (its last share, or its expiry): publish the
    result to the room and drop the pot from the gate."""
    async with runtime.sessionmaker() as session:
        envelope = await envelopes.get_or_raise(session, envelope_id=envelope_id)
        result = await views.result_payload(session, envelope)
    at = (envelope.closed_at or runtime.clock.now()).isoformat()
    event = {"type": "red_envelope.result", "result": result, "at": at}
    async with runtime.rooms.command_lock(envelope.session_id):
        await runtime.rooms.publish_priority(envelope.session_id, event)
    try:
        await gate_of(runtime).forget(envelope_id)
    except Exception:  # its keys expire; the database refuses grabs of a closed pot
        log.exception("envelope_gate_forget_failed", envelope_id=envelope_id)


async def expire_due(runtime: Runtime) -> list[str]:
    """Expire every active pot past its expiry: refund the remainder to the funder, publish
    the result. One short transaction per pot; safe on several nodes at once (the guarded
    UPDATE lets one win). Returns the ids this call expired."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        due = await envelopes.due_for_expiry(session, now=now)
        await session.rollback()
    expired: list[str] = []
    for envelope_id in due:
        async with runtime.sessionmaker() as session:
            envelope: RedEnvelope | None = await envelopes.expire(
                session, envelope_id=envelope_id, now=now
            )
            if envelope is None:
                await session.rollback()
                continue
            await session.commit()
        await closed(runtime, envelope_id)
        expired.append(envelope_id)
    return expired
