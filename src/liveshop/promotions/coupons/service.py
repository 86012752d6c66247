"""Coupons: drops in a live session and claims. Templates are ``coupon_templates.py``,
checkout ``coupon_checkout.py``.

Plain async functions, ``session`` first, no HTTP; they flush, callers commit and then publish
the room events (``coupon_flows.py``).

A claim is atomic without any lock held across requests: one guarded UPDATE per quota
(``claimed_count = claimed_count + 1 WHERE claimed_count < quota``; the drop's first, then the
template's, always in that order), then the coupon row, whose ``(template, account, number)``
is unique, so the per-user limit holds even when one account races itself. On PostgreSQL the
row lock of the first UPDATE serializes claims of one drop (or template), and each re-checks
its guard after the wait; SQLite serializes every writer. A claim that fails rolls back whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.errors import Problem, conflict, forbidden, invalid, not_found
from liveshop.fans import service as fans_service
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.promotions.coupons.models import Coupon, CouponDrop, CouponTemplate
from liveshop.promotions.coupons.templates import merchant_sells_in

# -- finding ---------------------------------------------------------------------------------


async def get_template_or_raise(session: AsyncSession, *, template_id: str) -> CouponTemplate:
    template = await session.get(CouponTemplate, template_id)
    if template is None:
        raise not_found("coupon.template_not_found", "no such coupon template")
    return template


async def get_drop_or_raise(session: AsyncSession, *, drop_id: str) -> CouponDrop:
    drop = await session.get(CouponDrop, drop_id)
    if drop is None:
        raise not_found("coupon.drop_not_found", "no such coupon drop")
    return drop


async def list_templates(
    session: AsyncSession,
    *,
    merchant_id: str | None = None,
    session_id: str | None = None,
    issuer_id: str | None = None,
) -> list[CouponTemplate]:
    """Templates of a merchant, of a session, or issued by an account; newest first."""
    query = select(CouponTemplate).order_by(CouponTemplate.id.desc()).limit(200)
    if merchant_id is not None:
        query = query.where(CouponTemplate.merchant_id == merchant_id)
    if session_id is not None:
        query = query.where(CouponTemplate.session_id == session_id)
    if issuer_id is not None:
        query = query.where(CouponTemplate.issuer_id == issuer_id)
    return list((await session.execute(query)).scalars())


async def active_drop_ids(session: AsyncSession, *, template_id: str) -> list[str]:
    result = await session.execute(
        select(CouponDrop.id).where(
            CouponDrop.template_id == template_id, CouponDrop.status == "active"
        )
    )
    return list(result.scalars())


async def list_drops(
    session: AsyncSession, *, session_id: str, active_only: bool = False
) -> list[tuple[CouponDrop, CouponTemplate]]:
    """A session's drops with their templates, oldest first (id order)."""
    query = (
        select(CouponDrop, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == CouponDrop.template_id)
        .where(CouponDrop.session_id == session_id)
        .order_by(CouponDrop.id)
    )
    if active_only:
        query = query.where(CouponDrop.status == "active")
    return [(drop, template) for drop, template in await session.execute(query)]


async def mine(
    session: AsyncSession, *, account_id: str, now: datetime, limit: int = 200
) -> list[tuple[Coupon, CouponTemplate]]:
    """Your unused coupons that have not expired, the soonest to expire first."""
    result = await session.execute(
        select(Coupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(
            Coupon.account_id == account_id,
            Coupon.status == "unused",
            CouponTemplate.valid_until > now,
        )
        .order_by(CouponTemplate.valid_until, Coupon.id)
        .limit(limit)
    )
    return [(coupon, template) for coupon, template in result]


# -- drops -----------------------------------------------------------------------------------


async def create_drop(
    session: AsyncSession,
    *,
    live: LiveSession,
    template: CouponTemplate,
    quota: int,
    duration_seconds: int,
    actor_id: str,
    now: datetime,
) -> CouponDrop:
    """Hand ``quota`` coupons of ``template`` out in a live session until the drop ends
    (``duration_seconds``, or the template's end of validity if sooner)."""
    if live.status != "live":
        raise conflict("live.not_live", "coupons are dropped while the session is live")
    if template.session_id is not None and template.session_id != live.id:
        raise invalid("coupon.wrong_session", "this coupon is for another session", "template_id")
    if (
        template.session_id is None
        and template.merchant_id is not None
        and not await merchant_sells_in(
            session, merchant_id=template.merchant_id, session_id=live.id
        )
    ):
        raise invalid(
            "coupon.wrong_session", "the coupon's merchant does not sell here", "template_id"
        )
    if now >= template.valid_until or template.ended_at is not None:
        raise conflict("coupon.expired", "the coupon has expired")
    left = template.quota - template.claimed_count
    if left <= 0:
        raise conflict("coupon.sold_out", "every coupon of this template is claimed")
    if not 1 <= quota <= left:
        raise invalid("coupon.bad_quota", f"a drop's quota must be 1..{left}", "quota")
    drop = CouponDrop(
        template_id=template.id,
        session_id=live.id,
        created_by=actor_id,
        quota=quota,
        claimed_count=0,
        status="active",
        opened_at=now,
        ends_at=min(now + timedelta(seconds=duration_seconds), template.valid_until),
    )
    session.add(drop)
    await session.flush()
    return drop


async def due_drops(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[str]:
    """Active drops past their end, whose template has no coupon left, or has ended."""
    result = await session.execute(
        select(CouponDrop.id)
        .join(CouponTemplate, CouponTemplate.id == CouponDrop.template_id)
        .where(
            CouponDrop.status == "active",
            (CouponDrop.ends_at <= now)
            | (CouponTemplate.claimed_count >= CouponTemplate.quota)
            | CouponTemplate.ended_at.is_not(None),
        )
        .order_by(CouponDrop.ends_at)
        .limit(limit)
    )
    return list(result.scalars())


async def end_drop(session: AsyncSession, *, drop_id: str, now: datetime) -> CouponDrop | None:
    """End an active drop whose time is up (``expired``) or whose template ran out
    (``claimed_out``). None when it is not due (or ended meanwhile)."""
    drop = await get_drop_or_raise(session, drop_id=drop_id)
    template = await get_template_or_raise(session, template_id=drop.template_id)
    if drop.ends_at <= now or template.ended_at is not None:
        reason = "expired"
    elif template.claimed_count >= template.quota:
        reason = "claimed_out"
    else:
        return None
    result = await session.execute(
        update(CouponDrop)
        .where(CouponDrop.id == drop_id, CouponDrop.status == "active")
        .values(status="ended", end_reason=reason, ended_at=now)
        .returning(CouponDrop.id)
        .execution_options(synchronize_session=False)
    )
    if result.scalar_one_or_none() is None:
        return None
    return await session.get(CouponDrop, drop_id, populate_existing=True)


# -- claims ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    coupon: Coupon
    template: CouponTemplate
    drop_ended: bool  # this claim took the drop's last coupon


def _sold_out() -> Problem:
    return conflict("coupon.sold_out", "every coupon is claimed")


def _limit_reached(limit: int) -> Problem:
    return conflict(
        "coupon.limit_reached", f"you hold the most of this coupon ({limit})", per_user_limit=limit
    )


async def _held_count(session: AsyncSession, *, template_id: str, account_id: str) -> int:
    result = await session.execute(
        select(func.count())
        .select_from(Coupon)
        .where(Coupon.template_id == template_id, Coupon.account_id == account_id)
    )
    return int(result.scalar_one())


async def _take_from_template(
    session: AsyncSession, *, template: CouponTemplate, now: datetime
) -> None:
    result = await session.execute(
        update(CouponTemplate)
        .where(
            CouponTemplate.id == template.id,
            CouponTemplate.claimed_count < CouponTemplate.quota,
            CouponTemplate.valid_until > now,
            CouponTemplate.ended_at.is_(None),
        )
        .values(claimed_count=CouponTemplate.claimed_count + 1)
        .returning(CouponTemplate.claimed_count)
        .execution_options(synchronize_session=False)
    )
    if result.scalar_one_or_none() is None:
        fresh = await session.get(CouponTemplate, template.id, populate_existing=True)
        if now >= template.valid_until or (fresh is not None and fresh.ended_at is not None):
            raise conflict("coupon.expired", "the coupon has expired")
        raise _sold_out()


async def _issue(
    session: AsyncSession,
    *,
    template: CouponTemplate,
    account_id: str,
    drop_id: str | None,
    now: datetime,
) -> Coupon:
    """The coupon row, after the quotas were taken (the per-user limit is checked again
    here, after the quota row's lock, so a racing claim of the same account is seen)."""
    held = await _held_count(session, template_id=template.id, account_id=account_id)
    if held >= template.per_user_limit:
        raise _limit_reached(template.per_user_limit)
    coupon = Coupon(
        template_id=template.id,
        account_id=account_id,
        drop_id=drop_id,
        number=held + 1,
        status="unused",
        claimed_at=now,
    )
    session.add(coupon)
    try:
        await session.flush()
    except IntegrityError:
        raise _limit_reached(template.per_user_limit) from None
    return coupon


async def _precheck(session: AsyncSession, *, template: CouponTemplate, account_id: str) -> None:
    held = await _held_count(session, template_id=template.id, account_id=account_id)
    if held >= template.per_user_limit:
        raise _limit_reached(template.per_user_limit)


async def _require_eligible(
    session: AsyncSession, *, template: CouponTemplate, session_id: str | None, account_id: str
) -> None:
    """403 ``coupon.not_eligible`` unless ``account_id`` meets the template's eligibility:
    ``followers`` follow the anchor of the session the coupon is handed out in."""
    if template.eligibility == "everyone":
        return
    if session_id is not None:
        live = await live_service.get_or_raise(session, session_id=session_id)
        if await fans_service.is_follower(session, account_id=account_id, anchor_id=live.anchor_id):
            return
    raise forbidden(
        "this coupon is for the anchor's followers: follow first", "coupon.not_eligible"
    )


async def claim_from_drop(
    session: AsyncSession, *, drop_id: str, account_id: str, now: datetime
) -> Claimed:
    """Claim one coupon of a live drop (see the module doc for why it cannot oversubscribe)."""
    drop = await get_drop_or_raise(session, drop_id=drop_id)
    template = await get_template_or_raise(session, template_id=drop.template_id)
    await _precheck(session, template=template, account_id=account_id)
    await _require_eligible(
        session, template=template, session_id=drop.session_id, account_id=account_id
    )
    last = CouponDrop.claimed_count + 1 >= CouponDrop.quota
    result = await session.execute(
        update(CouponDrop)
        .where(
            CouponDrop.id == drop_id,
            CouponDrop.status == "active",
            CouponDrop.ends_at > now,
            CouponDrop.claimed_count < CouponDrop.quota,
        )
        .values(
            claimed_count=CouponDrop.claimed_count + 1,
            status=case((last, "ended"), else_=CouponDrop.status),
            end_reason=case((last, "claimed_out"), else_=CouponDrop.end_reason),
            ended_at=case((last, now), else_=CouponDrop.ended_at),
        )
        .returning(CouponDrop.status)
        .execution_options(synchronize_session=False)
    )
    status = result.scalar_one_or_none()
    if status is None:
        fresh = await session.get(CouponDrop, drop_id, populate_existing=True)
        assert fresh is not None
        if fresh.claimed_count >= fresh.quota:
            raise _sold_out()
        raise conflict("coupon.drop_ended", "this coupon drop has ended")
    await _take_from_template(session, template=template, now=now)
    coupon = await _issue(
        session, template=template, account_id=account_id, drop_id=drop_id, now=now
    )
    return Claimed(coupon, template, drop_ended=status == "ended")


async def claim_template(
    session: AsyncSession, *, template_id: str, account_id: str, now: datetime
) -> Claimed:
    """Claim a coupon straight from a template (a merchant's or the platform's; a session's
    coupons are handed out by its drops only: ``coupon.drops_only``)."""
    template = await get_template_or_raise(session, template_id=template_id)
    if template.session_id is not None:
        raise conflict("coupon.drops_only", "this coupon is handed out in its live session's drops")
    await _precheck(session, template=template, account_id=account_id)
    await _require_eligible(
        session, template=template, session_id=template.session_id, account_id=account_id
    )
    await _take_from_template(session, template=template, now=now)
    coupon = await _issue(session, template=template, account_id=account_id, drop_id=None, now=now)
    return Claimed(coupon, template, drop_ended=False)
