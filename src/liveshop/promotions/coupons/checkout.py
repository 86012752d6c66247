"""Coupons at checkout: check the coupons a buyer names against a cart, apply them with
``coupon_math``, mark them used by the order, give them back when the order is cancelled or
expires, and suggest the best combination from the buyer's coupons.

The orders domain calls these (``orders/service.py``) with plain cart lines, so nothing here
reads the orders' tables. Functions flush, callers commit.

Why a coupon is refused, in the order it is checked (each problem names ``coupon_id``):
``coupon.duplicate`` (422, the same id twice), ``coupon.not_found`` (404, not yours or no such
coupon), ``coupon.used`` (409), ``coupon.expired`` / ``coupon.not_yet_valid`` (409),
``coupon.not_applicable`` (422: another currency, a live-session-only coupon of another
session, or nothing in the cart in its scope, e.g. another merchant's coupon),
``coupon.min_spend_not_met`` (422: alone, or after the narrower coupons applied before it),
``coupon.not_stackable`` (422: two non-stackable coupons), ``coupon.budget_exhausted`` (409:
what the coupons of a wallet- or deal-funded template take off is more than its funder's
budget still holds; ``promotions/coupons/funding.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.errors import Problem, conflict
from liveshop.orders.schemas import OrderCouponOut
from liveshop.promotions.coupons import discounts as coupon_math
from liveshop.promotions.coupons import funding
from liveshop.promotions.coupons.discounts import Applied, CartLine
from liveshop.promotions.coupons.models import Coupon, CouponRedemption, CouponTemplate
from liveshop.promotions.coupons.schemas import MAX_COUPONS_PER_ORDER
from liveshop.promotions.coupons.templates import as_math

MAX_WALLET_SEARCH = 200
"""The best-coupon suggestion looks at this many of the buyer's coupons (soonest to expire)."""


@dataclass(frozen=True, slots=True)
class Held:
    coupon: Coupon
    template: CouponTemplate


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Coupons applied to a cart: ``coupon_math``'s result and the coupons, by id."""

    applied: Applied
    held: dict[str, Held]


@dataclass(frozen=True, slots=True)
class Redeemed:
    """Coupons used by an order: what they took off, and how much of it is the merchant's
    loss (its own coupons and deal-funded ones; a wallet or the platform pays the rest)."""

    applied: Applied
    merchant_discount_minor: int


@dataclass(frozen=True, slots=True)
class Cart:
    """What the coupons are checked against: the lines, their currency, the session."""

    lines: Sequence[CartLine]
    currency: str
    live_session_id: str | None


def _refuse(status: int, code: str, detail: str, coupon_id: str) -> Problem:
    return Problem(status, code, detail, coupon_id=coupon_id)


def _usable_problem(held: Held, cart: Cart, now: datetime) -> Problem | None:
    """Why this coupon cannot be used on this cart on its own, or None."""
    coupon, template = held.coupon, held.template
    if coupon.status != "unused":
        return _refuse(409, "coupon.used", "the coupon is already used", coupon.id)
    if now >= template.valid_until or template.ended_at is not None:
        return _refuse(409, "coupon.expired", "the coupon has expired", coupon.id)
    if now < template.valid_from:
        return _refuse(409, "coupon.not_yet_valid", "the coupon is not valid yet", coupon.id)
    if template.currency != cart.currency:
        return _refuse(422, "coupon.not_applicable", "the coupon is in another currency", coupon.id)
    if template.live_session_only and cart.live_session_id != template.session_id:
        return _refuse(
            422,
            "coupon.not_applicable",
            "the coupon is for orders bought in its live session",
            coupon.id,
        )
    math = as_math(template, coupon.id)
    if coupon_math.eligible_subtotal(math, cart.lines) == 0:
        return _refuse(
            422,
            "coupon.not_applicable",
            "nothing in this order is in the coupon's scope",
            coupon.id,
        )
    if coupon_math.discount(math, cart.lines) == 0:
        return _refuse(
            422,
            "coupon.min_spend_not_met",
            f"the coupon needs a spend of {template.min_spend_minor} on its goods",
            coupon.id,
        )
    return None


async def _load(
    session: AsyncSession, *, account_id: str, coupon_ids: Sequence[str]
) -> dict[str, Held]:
    """The named coupons of ``account_id``; anyone else's is a 404, as if it did not exist."""
    if len(set(coupon_ids)) != len(coupon_ids):
        raise Problem(422, "coupon.duplicate", "the same coupon is given twice")
    result = await session.execute(
        select(Coupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(Coupon.id.in_(coupon_ids), Coupon.account_id == account_id)
    )
    found = {coupon.id: Held(coupon, template) for coupon, template in result}
    for coupon_id in coupon_ids:
        if coupon_id not in found:
            raise _refuse(404, "coupon.not_found", "no such coupon", coupon_id)
    return found


def _apply(held: dict[str, Held], cart: Cart) -> Applied:
    applied = coupon_math.apply([as_math(h.template, i) for i, h in held.items()], cart.lines)
    for item in applied.discounts:
        if item.amount_minor == 0:
            raise _refuse(
                422,
                "coupon.min_spend_not_met",
                "after the other coupons, what is left is below this coupon's minimum spend",
                item.coupon_id,
            )
    return applied


async def evaluate(
    session: AsyncSession, *, account_id: str, coupon_ids: Sequence[str], cart: Cart, now: datetime
) -> Evaluation:
    """Check the named coupons against the cart exactly as checkout does, and apply them."""
    if len(coupon_ids) > MAX_COUPONS_PER_ORDER:
        raise Problem(422, "coupon.too_many", f"at most {MAX_COUPONS_PER_ORDER} coupons")
    held = await _load(session, account_id=account_id, coupon_ids=coupon_ids)
    ordered = {coupon_id: held[coupon_id] for coupon_id in coupon_ids}
    for one in ordered.values():
        problem = _usable_problem(one, cart, now)
        if problem is not None:
            raise problem
    evaluation = Evaluation(_apply(ordered, cart), ordered)
    await funding.check_affordable(
        session, templates=_templates(evaluation), amounts=_by_template(evaluation), now=now
    )
    return evaluation


def _templates(evaluation: Evaluation) -> dict[str, CouponTemplate]:
    return {h.template.id: h.template for h in evaluation.held.values()}


def _by_template(evaluation: Evaluation) -> dict[str, int]:
    """What the coupons of each template take off (several coupons may share one)."""
    amounts: dict[str, int] = {}
    for item in evaluation.applied.discounts:
        template_id = evaluation.held[item.coupon_id].template.id
        amounts[template_id] = amounts.get(template_id, 0) + item.amount_minor
    return amounts


async def redeem(
    session: AsyncSession,
    *,
    account_id: str,
    coupon_ids: Sequence[str],
    cart: Cart,
    order_id: str,
    now: datetime,
) -> Redeemed:
    """Apply the coupons to the order's cart and mark them used by it (a guarded UPDATE:
    a coupon another checkout used meanwhile is ``coupon.used``); take what they take off
    from their funders' budgets (guarded UPDATEs: ``coupon.budget_exhausted``); one
    redemption row each, naming who paid."""
    evaluation = await evaluate(
        session, account_id=account_id, coupon_ids=coupon_ids, cart=cart, now=now
    )
    result = await session.execute(
        update(Coupon)
        .where(
            Coupon.id.in_(list(evaluation.held)),
            Coupon.account_id == account_id,
            Coupon.status == "unused",
        )
        .values(status="used", order_id=order_id, used_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != len(evaluation.held):
        raise conflict("coupon.used", "a coupon was used by another order meanwhile")
    await funding.consume(
        session,
        templates=_templates(evaluation),
        amounts=_by_template(evaluation),
        order_id=order_id,
        now=now,
    )
    merchant_discount = 0
    for position, item in enumerate(evaluation.applied.discounts):
        held = evaluation.held[item.coupon_id]
        shares = {line.sku_id: 0 for line in cart.lines}
        for line, share in zip(cart.lines, item.per_line_minor, strict=True):
            shares[line.sku_id] += share
        session.add(
            CouponRedemption(
                order_id=order_id,
                coupon_id=item.coupon_id,
                template_id=held.template.id,
                account_id=account_id,
                position=position,
                amount_minor=item.amount_minor,
                per_line_minor=shares,
                created_at=now,
                funded_by=held.template.funded_by,
            )
        )
        if held.template.funded_by in funding.MERCHANT_FUNDED:
            merchant_discount += item.amount_minor
    await session.flush()
    return Redeemed(evaluation.applied, merchant_discount)


async def release_for_order(session: AsyncSession, *, order_id: str, now: datetime) -> int:
    """The order was cancelled or expired: its coupons are unused again (they stay subject
    to their validity window) and what they consumed of their funders' budgets goes back.
    Returns how many came back."""
    result = await session.execute(
        update(Coupon)
        .where(Coupon.order_id == order_id, Coupon.status == "used")
        .values(status="unused", order_id=None, used_at=None)
        .execution_options(synchronize_session=False)
    )
    released = await session.execute(
        update(CouponRedemption)
        .where(CouponRedemption.order_id == order_id, CouponRedemption.released_at.is_(None))
        .values(released_at=now)
        .returning(
            CouponRedemption.template_id, CouponRedemption.funded_by, CouponRedemption.amount_minor
        )
        .execution_options(synchronize_session=False)
    )
    rows = [(t, f, int(a)) for t, f, a in released.all()]
    await funding.give_back(session, released=rows, order_id=order_id, now=now)
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


async def order_coupons(session: AsyncSession, *, order_id: str) -> list[OrderCouponOut]:
    """The coupons an order used and what each took off, in the order they applied."""
    result = await session.execute(
        select(CouponRedemption, CouponTemplate.title)
        .join(CouponTemplate, CouponTemplate.id == CouponRedemption.template_id)
        .where(CouponRedemption.order_id == order_id)
        .order_by(CouponRedemption.created_at, CouponRedemption.position)
    )
    return [
        OrderCouponOut(
            coupon_id=row.coupon_id,
            template_id=row.template_id,
            title=title,
            amount_minor=row.amount_minor,
            released_at=row.released_at,
            funded_by=row.funded_by,
        )
        for row, title in result
    ]


async def best_for_cart(
    session: AsyncSession, *, account_id: str, cart: Cart, now: datetime
) -> Evaluation | None:
    """The combination of the buyer's coupons that takes the most off the cart (``None``
    when none takes anything off); checkout accepts it as it is."""
    result = await session.execute(
        select(Coupon, CouponTemplate)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(
            Coupon.account_id == account_id,
            Coupon.status == "unused",
            CouponTemplate.valid_from <= now,
            CouponTemplate.valid_until > now,
        )
        .order_by(CouponTemplate.valid_until, Coupon.id)
        .limit(MAX_WALLET_SEARCH)
    )
    usable = {
        coupon.id: Held(coupon, template)
        for coupon, template in result
        if _usable_problem(Held(coupon, template), cart, now) is None
    }
    best = coupon_math.best_coupon([as_math(h.template, i) for i, h in usable.items()], cart.lines)
    if best is None:
        return None
    chosen = {d.coupon_id: usable[d.coupon_id] for d in best.discounts if d.amount_minor > 0}
    applied = _apply(chosen, cart)
    # Checkout takes at most 5 coupons: drop the smallest discounts. Dropping a coupon only
    # leaves more for the others, so none of them falls below its minimum spend.
    while len(chosen) > MAX_COUPONS_PER_ORDER:
        smallest = min(applied.discounts, key=lambda d: (d.amount_minor, d.coupon_id))
        chosen.pop(smallest.coupon_id)
        applied = _apply(chosen, cart)
    # Coupons whose funder's budget would not cover them are left out, one template at a
    # time (dropping one only leaves more for the others, checked again)
    while chosen:
        try:
            await funding.check_affordable(
                session,
                templates=_templates(Evaluation(applied, chosen)),
                amounts=_by_template(Evaluation(applied, chosen)),
                now=now,
            )
            break
        except Problem as exc:
            short = exc.extra["template_id"]
            chosen = {i: h for i, h in chosen.items() if h.template.id != short}
            if not chosen:
                return None
            applied = _apply(chosen, cart)
    return Evaluation(applied, chosen)
