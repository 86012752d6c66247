"""Red envelopes: fund a pot in a live session, grab a share, expire and refund.

Plain async functions, ``session`` first, no HTTP. They flush but never commit: the API commits
(with the Idempotency-Key row), then publishes the room event.

A grab, step by step (:func:`grab`):

1. the pot's row says whether it is open (``envelope.not_open``, ``envelope.expired``,
   ``envelope.empty``; ``envelope.already_grabbed`` for an account that holds a share), and
   the account meets its eligibility (``envelope.not_eligible``: :func:`is_eligible`);
2. the gate decides atomically: the user's share and its amount (rebuilt from the database
   first when the gate lacks the pot), or ``already`` for an account that grabbed before;
3. in the caller's transaction: a guarded UPDATE of the pot row (still active, open, not
   expired, a share left, enough left for everyone after), the grab row (unique per user) and
   the wallet credit (``envelope_grab``). The reply goes out after the commit, so a share a
   user was told about is durable. A decision that never got written (crash, database error)
   is remembered by the gate and written when the user retries; otherwise its money stays in
   the pot and goes back to the funder at expiry.

Funding debits the funder's wallet by the pot in the same transaction, and the remainder at
expiry goes back to that wallet (:mod:`.envelope_funding`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.service import Principal
from liveshop.catalog import service as catalog_service
from liveshop.errors import Problem, conflict, forbidden, invalid, not_found
from liveshop.fans import service as fans_service
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.promotions.envelopes import funding
from liveshop.promotions.envelopes.gate import EnvelopeGate, GrabDecision, Held
from liveshop.promotions.envelopes.models import RedEnvelope, RedEnvelopeGrab
from liveshop.promotions.envelopes.schemas import (
    MAX_DELAY_SECONDS,
    MAX_EXPIRES_IN_SECONDS,
    MAX_POT_MINOR,
    MIN_EXPIRES_IN_SECONDS,
    EnvelopeIn,
    EnvelopeState,
)
from liveshop.promotions.envelopes.split import (
    SYSTEM_RANDOM,
    EnvelopeError,
    RandomSource,
    pre_split,
    validate_pot,
)
from liveshop.wallet import service as wallet

# -- funding ---------------------------------------------------------------------------------


async def authorize_funder(
    session: AsyncSession, *, principal: Principal, live: LiveSession, merchant_id: str | None
) -> str | None:
    """Who funds the pot: the session's managers (anchor, operators, admins) for the session
    itself (None), or a member of ``merchant_id`` when that merchant sells in the session."""
    if merchant_id is None:
        await live_service.require_manager(session, principal=principal, live=live)
        return None
    merchant_id = await catalog_service.resolve_merchant_id(
        session, principal=principal, merchant_id=merchant_id
    )
    lines = await live_service.rundown(session, session_id=live.id)
    if not any(line.product.merchant_id == merchant_id for line in lines):
        raise forbidden("the merchant has no product in this session's rundown")
    return merchant_id


def check_pot(data: EnvelopeIn) -> None:
    """Raise a 422 with a stable ``envelope.*`` code unless the pot can be funded."""
    validate_pot(data.amount_minor, data.count)
    if data.amount_minor > MAX_POT_MINOR:
        raise EnvelopeError(
            "envelope.too_large", f"a pot holds at most {MAX_POT_MINOR} minor units"
        )
    if not 0 <= data.delay_seconds <= MAX_DELAY_SECONDS:
        raise invalid(
            "envelope.bad_delay", f"delay_seconds must be 0..{MAX_DELAY_SECONDS}", "delay_seconds"
        )
    if (
        not MIN_EXPIRES_IN_SECONDS <= data.expires_in_seconds <= MAX_EXPIRES_IN_SECONDS
        or data.expires_in_seconds <= data.delay_seconds
    ):
        raise invalid(
            "envelope.bad_expiry",
            f"expires_in_seconds must be {MIN_EXPIRES_IN_SECONDS}..{MAX_EXPIRES_IN_SECONDS} "
            "and later than the opening",
            "expires_in_seconds",
        )


async def create(
    session: AsyncSession,
    *,
    live: LiveSession,
    funder_id: str,
    merchant_id: str | None,
    data: EnvelopeIn,
    currency: str,
    now: datetime,
    rng: RandomSource = SYSTEM_RANDOM,
) -> RedEnvelope:
    """Fund a pot in a live session from the funder's wallet (pre-split pots are cut here);
    409 ``wallet.insufficient_funds`` creates nothing."""
    check_pot(data)
    if live.status != "live":
        raise conflict("live.not_live", "red envelopes are funded while the session is live")
    envelope = RedEnvelope(
        session_id=live.id,
        funder_id=funder_id,
        merchant_id=merchant_id,
        currency=currency,
        amount_minor=data.amount_minor,
        count=data.count,
        mode=data.mode,
        eligibility=data.eligibility,
        status="active",
        opens_at=now + timedelta(seconds=data.delay_seconds),
        expires_at=now + timedelta(seconds=data.expires_in_seconds),
        grabbed_count=0,
        grabbed_minor=0,
        refunded_minor=0,
        pieces=pre_split(data.amount_minor, data.count, rng) if data.mode == "pre_split" else None,
        created_at=now,
    )
    session.add(envelope)
    await session.flush()
    await funding.charge(session, envelope=envelope, now=now)
    return envelope


# -- reading ---------------------------------------------------------------------------------


async def get_or_raise(session: AsyncSession, *, envelope_id: str) -> RedEnvelope:
    envelope = await session.get(RedEnvelope, envelope_id)
    if envelope is None:
        raise not_found("envelope.not_found", "no such red envelope")
    return envelope


async def list_for_session(session: AsyncSession, *, session_id: str) -> list[RedEnvelope]:
    """Every pot of a live session, newest first."""
    result = await session.execute(
        select(RedEnvelope)
        .where(RedEnvelope.session_id == session_id)
        .order_by(RedEnvelope.created_at.desc(), RedEnvelope.id.desc())
    )
    return list(result.scalars())


def state_of(envelope: RedEnvelope, now: datetime) -> EnvelopeState:
    if envelope.status == "finished":
        return "finished"
    if envelope.status == "expired" or now >= envelope.expires_at:
        return "expired"
    return "scheduled" if now < envelope.opens_at else "open"


async def grabs_of(session: AsyncSession, *, envelope_id: str) -> list[RedEnvelopeGrab]:
    result = await session.execute(
        select(RedEnvelopeGrab)
        .where(RedEnvelopeGrab.envelope_id == envelope_id)
        .order_by(RedEnvelopeGrab.seq)
    )
    return list(result.scalars())


async def grab_of(
    session: AsyncSession, *, envelope_id: str, account_id: str
) -> RedEnvelopeGrab | None:
    result = await session.execute(
        select(RedEnvelopeGrab).where(
            RedEnvelopeGrab.envelope_id == envelope_id, RedEnvelopeGrab.account_id == account_id
        )
    )
    return result.scalars().first()


# -- the gate --------------------------------------------------------------------------------


async def load_gate(
    session: AsyncSession, *, gate: EnvelopeGate, envelope: RedEnvelope, replace: bool = False
) -> None:
    """Put the pot into the gate as the database has it: remaining amount and count, the
    pieces not taken yet, who grabbed what (so they get ``already``)."""
    grabs = await grabs_of(session, envelope_id=envelope.id)
    used = {g.piece for g in grabs}
    pieces = [(i, a) for i, a in enumerate(envelope.pieces or []) if i not in used]
    await gate.load(
        envelope.id,
        mode="pre_split" if envelope.mode == "pre_split" else "double_mean",
        remaining_minor=envelope.amount_minor - sum(g.amount_minor for g in grabs),
        remaining_count=envelope.count - len(grabs),
        pieces=pieces,
        grabbed={g.account_id: Held(g.amount_minor, g.seq, g.piece) for g in grabs},
        next_seq=max((g.seq for g in grabs), default=0) + 1,
        replace=replace,
    )


def unavailable() -> Problem:
    return Problem(503, "envelope.unavailable", "the red envelope service is unavailable: retry")


async def _decide(
    session: AsyncSession, *, gate: EnvelopeGate, envelope: RedEnvelope, account_id: str
) -> GrabDecision:
    try:
        decision = await gate.grab(envelope.id, user_id=account_id)
        if decision.outcome == "unknown":  # a restart or a flushed Redis: rebuild, then ask
            await load_gate(session, gate=gate, envelope=envelope)
            decision = await gate.grab(envelope.id, user_id=account_id)
    except (RedisError, OSError) as exc:
        raise unavailable() from exc
    return decision


# -- grabbing --------------------------------------------------------------------------------


def _already() -> Problem:
    return conflict("envelope.already_grabbed", "you already grabbed this red envelope")


def require_grabbable(envelope: RedEnvelope, now: datetime) -> None:
    state = state_of(envelope, now)
    if state == "scheduled":
        raise conflict(
            "envelope.not_open",
            "the red envelope opens later",
            opens_at=envelope.opens_at.isoformat(),
        )
    if state == "expired":
        raise conflict("envelope.expired", "the red envelope has expired")
    if state == "finished":
        raise conflict("envelope.empty", "every share of the red envelope is taken")


async def is_eligible(session: AsyncSession, *, envelope: RedEnvelope, account_id: str) -> bool:
    """``followers``: follows the session's anchor; ``fan_group``: in one of its fan groups."""
    if envelope.eligibility == "everyone":
        return True
    live = await live_service.get_or_raise(session, session_id=envelope.session_id)
    if envelope.eligibility == "followers":
        return await fans_service.is_follower(
            session, account_id=account_id, anchor_id=live.anchor_id
        )
    return await fans_service.is_fan_group_member(
        session, account_id=account_id, anchor_id=live.anchor_id
    )


@dataclass(frozen=True, slots=True)
class GrabResult:
    grab: RedEnvelopeGrab
    envelope: RedEnvelope
    finished: bool  # this grab took the last share


async def grab(
    session: AsyncSession, *, gate: EnvelopeGate, envelope_id: str, account_id: str, now: datetime
) -> GrabResult:
    """Take one share for ``account_id`` and credit it to the wallet (see the module doc)."""
    envelope = await get_or_raise(session, envelope_id=envelope_id)
    try:
        require_grabbable(envelope, now)
    except Problem:
        if await grab_of(session, envelope_id=envelope_id, account_id=account_id) is not None:
            raise _already() from None
        raise
    if not await is_eligible(session, envelope=envelope, account_id=account_id):
        if await grab_of(session, envelope_id=envelope_id, account_id=account_id) is not None:
            raise _already()
        who = "followers" if envelope.eligibility == "followers" else "fan group members"
        raise forbidden(f"this red envelope is for the anchor's {who}", "envelope.not_eligible")
    decision = await _decide(session, gate=gate, envelope=envelope, account_id=account_id)
    if decision.outcome == "already" and await grab_of(
        session, envelope_id=envelope_id, account_id=account_id
    ):
        raise _already()  # written before; otherwise a decision never written: write it now
    if decision.outcome == "closed":
        raise conflict("envelope.expired", "the red envelope has expired")
    if not decision.holds:
        raise conflict("envelope.empty", "every share of the red envelope is taken")
    return await _record(
        session, envelope=envelope, account_id=account_id, decision=decision, now=now
    )


async def _record(
    session: AsyncSession,
    *,
    envelope: RedEnvelope,
    account_id: str,
    decision: GrabDecision,
    now: datetime,
) -> GrabResult:
    amount = decision.amount_minor
    last = RedEnvelope.grabbed_count + 1 >= RedEnvelope.count
    result = await session.execute(
        update(RedEnvelope)
        .where(
            RedEnvelope.id == envelope.id,
            RedEnvelope.status == "active",
            RedEnvelope.opens_at <= now,
            RedEnvelope.expires_at > now,
            RedEnvelope.grabbed_count < RedEnvelope.count,
            # what is left after this grab still gives every later grabber 1 minor unit
            RedEnvelope.amount_minor - RedEnvelope.grabbed_minor - amount
            >= RedEnvelope.count - RedEnvelope.grabbed_count - 1,
        )
        .values(
            grabbed_count=RedEnvelope.grabbed_count + 1,
            grabbed_minor=RedEnvelope.grabbed_minor + amount,
            status=case((last, "finished"), else_=RedEnvelope.status),
            closed_at=case((last, now), else_=RedEnvelope.closed_at),
        )
        .returning(RedEnvelope.status)
        .execution_options(synchronize_session=False)
    )
    status = result.scalar_one_or_none()
    # A concurrent grab of this user (another Idempotency-Key) may have committed first.
    if await grab_of(session, envelope_id=envelope.id, account_id=account_id) is not None:
        raise _already()
    if status is None:
        fresh = await session.get(RedEnvelope, envelope.id, populate_existing=True)
        assert fresh is not None
        require_grabbable(fresh, now)
        raise conflict("envelope.empty", "every share of the red envelope is taken")
    row = RedEnvelopeGrab(
        envelope_id=envelope.id,
        account_id=account_id,
        amount_minor=amount,
        seq=decision.seq,
        piece=decision.piece,
        created_at=now,
    )
    session.add(row)
    await wallet.credit(
        session,
        account_id=account_id,
        currency=envelope.currency,
        amount_minor=amount,
        kind="envelope_grab",
        ref=envelope.id,
        now=now,
    )
    await session.flush()
    return GrabResult(row, envelope, finished=status == "finished")


# -- expiry ----------------------------------------------------------------------------------


async def due_for_expiry(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[str]:
    result = await session.execute(
        select(RedEnvelope.id)
        .where(RedEnvelope.status == "active", RedEnvelope.expires_at <= now)
        .order_by(RedEnvelope.expires_at)
        .limit(limit)
    )
    return list(result.scalars())


async def expire(session: AsyncSession, *, envelope_id: str, now: datetime) -> RedEnvelope | None:
    """Close an active pot past its expiry and credit the remainder to the funder's wallet
    (``envelope_refund``). None when it was not due (finished, expired, or not yet)."""
    result = await session.execute(
        update(RedEnvelope)
        .where(
            RedEnvelope.id == envelope_id,
            RedEnvelope.status == "active",
            RedEnvelope.expires_at <= now,
        )
        .values(
            status="expired",
            refunded_minor=RedEnvelope.amount_minor - RedEnvelope.grabbed_minor,
            closed_at=now,
        )
        .returning(RedEnvelope.refunded_minor)
        .execution_options(synchronize_session=False)
    )
    refunded = result.scalar_one_or_none()
    if refunded is None:
        return None
    envelope = await session.get(RedEnvelope, envelope_id, populate_existing=True)
    assert envelope is not None
    await funding.refund_remainder(session, envelope=envelope, amount_minor=refunded, now=now)
    return envelope
