"""What clients see of red envelopes: the room's view of a pot (its ``promotions`` entry),
the result event's payload, and the HTTP summaries and detail. Reads only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.models import Account
from liveshop.promotions.envelopes.events import MAX_RESULT_GRABS
from liveshop.promotions.envelopes.models import RedEnvelope, RedEnvelopeGrab
from liveshop.promotions.envelopes.service import grabs_of, state_of
from liveshop.promotions.envelopes.split import Grab, best_luck


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _names(session: AsyncSession, account_ids: set[str]) -> dict[str, str]:
    if not account_ids:
        return {}
    result = await session.execute(
        select(Account.id, Account.display_name).where(Account.id.in_(account_ids))
    )
    return {key: name for key, name in result}


def _person(account_id: str, names: dict[str, str]) -> dict[str, str]:
    return {"id": account_id, "name": names.get(account_id, "")}


def view(envelope: RedEnvelope, names: dict[str, str]) -> dict[str, Any]:
    """The room's view of a pot (``RedEnvelopeView``), also its ``promotions`` entry."""
    return {
        "kind": "red_envelope",
        "id": envelope.id,
        "session_id": envelope.session_id,
        "funder": _person(envelope.funder_id, names),
        "merchant_id": envelope.merchant_id,
        "amount_minor": envelope.amount_minor,
        "currency": envelope.currency,
        "count": envelope.count,
        "mode": envelope.mode,
        "eligibility": envelope.eligibility,
        "opens_at": envelope.opens_at.isoformat(),
        "expires_at": envelope.expires_at.isoformat(),
    }


async def view_of(session: AsyncSession, envelope: RedEnvelope) -> dict[str, Any]:
    return view(envelope, await _names(session, {envelope.funder_id}))


def _grab_view(row: RedEnvelopeGrab, names: dict[str, str]) -> dict[str, Any]:
    return {
        "user": _person(row.account_id, names),
        "amount_minor": row.amount_minor,
        "seq": row.seq,
        "at": row.created_at.isoformat(),
    }


def _best(rows: list[RedEnvelopeGrab]) -> RedEnvelopeGrab | None:
    lucky = best_luck([Grab(r.account_id, r.amount_minor, r.seq) for r in rows])
    return None if lucky is None else next(r for r in rows if r.seq == lucky.seq)


async def result_payload(session: AsyncSession, envelope: RedEnvelope) -> dict[str, Any]:
    """The ``result`` of a ``red_envelope.result`` event (``RedEnvelopeResult``)."""
    rows = await grabs_of(session, envelope_id=envelope.id)
    listed = rows[:MAX_RESULT_GRABS]
    lucky = _best(rows)
    names = await _names(
        session, {r.account_id for r in listed} | ({lucky.account_id} if lucky else set())
    )
    state: Literal["finished", "expired"] = (
        "finished" if envelope.status == "finished" else "expired"
    )
    return {
        "id": envelope.id,
        "session_id": envelope.session_id,
        "state": state,
        "amount_minor": envelope.amount_minor,
        "currency": envelope.currency,
        "count": envelope.count,
        "grabbed_count": envelope.grabbed_count,
        "grabbed_minor": envelope.grabbed_minor,
        "refunded_minor": envelope.refunded_minor,
        "grabs": [_grab_view(r, names) for r in listed],
        "grabs_truncated": len(rows) > len(listed),
        "best_luck": _grab_view(lucky, names) if lucky else None,
    }


async def open_envelopes_for_room(session: AsyncSession, session_id: str) -> list[dict[str, Any]]:
    """The room snapshot's ``promotions`` entries of red envelopes: every pot whose
    ``red_envelope.open`` went out and whose ``red_envelope.result`` has not, oldest first."""
    result = await session.execute(
        select(RedEnvelope)
        .where(RedEnvelope.session_id == session_id, RedEnvelope.status == "active")
        .order_by(RedEnvelope.created_at, RedEnvelope.id)
    )
    rows = list(result.scalars())
    names = await _names(session, {r.funder_id for r in rows})
    return [view(r, names) for r in rows]


def summary(envelope: RedEnvelope, names: dict[str, str], now: datetime) -> dict[str, Any]:
    """``EnvelopeSummaryOut``: the view plus its state and counts."""
    return {
        **view(envelope, names),
        "state": state_of(envelope, now),
        "created_at": envelope.created_at.isoformat(),
        "closed_at": iso(envelope.closed_at),
        "grabbed_count": envelope.grabbed_count,
        "grabbed_minor": envelope.grabbed_minor,
        "remaining_count": envelope.count - envelope.grabbed_count,
        "remaining_minor": envelope.amount_minor - envelope.grabbed_minor - envelope.refunded_minor,
        "refunded_minor": envelope.refunded_minor,
    }


async def summaries(
    session: AsyncSession, envelopes: list[RedEnvelope], now: datetime
) -> list[dict[str, Any]]:
    names = await _names(session, {e.funder_id for e in envelopes})
    return [summary(e, names, now) for e in envelopes]


async def detail(
    session: AsyncSession, envelope: RedEnvelope, *, now: datetime, viewer_id: str | None
) -> dict[str, Any]:
    """``EnvelopeOut``: the summary, every grab in order, best luck once closed, yours."""
    rows = await grabs_of(session, envelope_id=envelope.id)
    names = await _names(session, {envelope.funder_id} | {r.account_id for r in rows})
    out = summary(envelope, names, now)
    lucky = _best(rows) if out["state"] in ("finished", "expired") else None
    mine = next((r for r in rows if r.account_id == viewer_id), None)
    out["grabs"] = [_grab_view(r, names) for r in rows]
    out["best_luck"] = _grab_view(lucky, names) if lucky else None
    out["you"] = _grab_view(mine, names) if mine else None
    return out
