"""What other domains check before an anchor uses a merchant's goods, and the shares they take.

- An anchor who is a member of the product's merchant sells its own goods: no deal is needed
  and nothing is counted (:func:`deal_for` answers None).
- Anyone else needs an active deal for the product (403 ``deal.required``); the live price of
  the rundown and a flash price are at least the deal's floor (422 ``deal.price_below_floor``).
- Flash-sale units and raffle prize units are taken from the deal's shares, and the discounts
  of deal-funded coupons from its coupon budget, by one guarded UPDATE each
  (``used = used + n WHERE used + n <= share``): PostgreSQL re-checks the guard after waiting
  for a concurrent taker's row lock, SQLite serializes writers, so concurrent takers never
  exceed a share on either database (409 ``deal.stock_share_exceeded``,
  ``deal.prize_share_exceeded``, ``deal.coupon_budget_exceeded``). Each change is a
  ``deal_uses`` row in the caller's transaction: it lands or rolls back with what caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.catalog import service as catalog_service
from liveshop.deals import errors
from liveshop.deals.models import Deal, DealUse
from liveshop.errors import Problem, conflict


@dataclass(frozen=True, slots=True)
class _Counter:
    used: Any
    share: Any
    code: str
    what: str


_COUNTERS = {
    "stock": _Counter(Deal.stock_used, Deal.stock_share, errors.STOCK_SHARE_EXCEEDED, "units"),
    "prize": _Counter(Deal.prize_used, Deal.prize_units, errors.PRIZE_SHARE_EXCEEDED, "prizes"),
    "coupon_budget": _Counter(
        Deal.coupon_budget_used_minor,
        Deal.coupon_budget_minor,
        errors.COUPON_BUDGET_EXCEEDED,
        "minor units of coupon budget",
    ),
}


def required(detail: str | None = None, **extra: Any) -> Problem:
    """403 ``deal.required``: no active deal of the anchor with the product's merchant."""
    return Problem(
        403,
        errors.REQUIRED,
        detail or "selling another merchant's product needs an active deal with that merchant",
        **extra,
    )


async def sells_own(session: AsyncSession, *, anchor_id: str, merchant_id: str) -> bool:
    """Whether the anchor is a member of the merchant (its own goods need no deal)."""
    return merchant_id in await catalog_service.merchant_ids_for(session, account_id=anchor_id)


async def active_deals(
    session: AsyncSession, *, anchor_id: str, product_ids: Iterable[str], now: datetime
) -> dict[str, Deal]:
    """The anchor's active deal of each product that has one."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    result = await session.execute(
        select(Deal).where(
            Deal.anchor_id == anchor_id,
            Deal.product_id.in_(ids),
            Deal.status == "active",
            Deal.valid_from <= now,
            Deal.valid_until > now,
        )
    )
    return {deal.product_id: deal for deal in result.scalars()}


async def deals_of(
    session: AsyncSession, *, anchor_id: str, products: Mapping[str, str], now: datetime
) -> dict[str, Deal | None]:
    """What lets the anchor sell each product (``product id -> its merchant id``): None for
    its own merchants' goods, else its active deal; a product it may not sell is left out."""
    own = set(await catalog_service.merchant_ids_for(session, account_id=anchor_id))
    found: dict[str, Deal | None] = {p: None for p, m in products.items() if m in own}
    others = [p for p in products if p not in found]
    found.update(await active_deals(session, anchor_id=anchor_id, product_ids=others, now=now))
    return found


async def deal_for(
    session: AsyncSession,
    *,
    anchor_id: str,
    product_id: str,
    merchant_id: str,
    now: datetime,
) -> Deal | None:
    """None when the anchor sells its own merchant's goods; else its active deal for the
    product, or 403 ``deal.required``."""
    if await sells_own(session, anchor_id=anchor_id, merchant_id=merchant_id):
        return None
    deal = (
        await active_deals(session, anchor_id=anchor_id, product_ids=[product_id], now=now)
    ).get(product_id)
    if deal is None:
        raise required(product_id=product_id)
    return deal


def check_floor(deal: Deal | None, *, price_minor: int, field: str) -> None:
    """422 ``deal.price_below_floor`` for a price under the deal's floor (no deal: no floor)."""
    if deal is not None and price_minor < deal.floor_price_minor:
        raise Problem(
            422,
            errors.PRICE_BELOW_FLOOR,
            f"the merchant's floor price for this product is {deal.floor_price_minor}",
            floor_price_minor=deal.floor_price_minor,
            errors=[{"field": field, "message": "below the deal's floor price"}],
        )


async def take(
    session: AsyncSession, *, deal: Deal, kind: str, amount: int, source: str, now: datetime
) -> int:
    """Take ``amount`` (> 0) of the deal's ``kind`` share for ``source``; returns what is left.
    One guarded UPDATE: the deal must still be active and the share must cover it."""
    if amount <= 0:
        return await left(session, deal_id=deal.id, kind=kind)
    counter = _COUNTERS[kind]
    remaining = await session.scalar(
        update(Deal)
        .where(
            Deal.id == deal.id,
            Deal.status == "active",
            Deal.valid_from <= now,
            Deal.valid_until > now,
            counter.used + amount <= counter.share,
        )
        .values({counter.used.key: counter.used + amount})
        .returning(counter.share - counter.used)
        .execution_options(synchronize_session=False)
    )
    if remaining is None:
        fresh = await session.get(Deal, deal.id, populate_existing=True)
        assert fresh is not None
        if fresh.status != "active" or not fresh.valid_from <= now < fresh.valid_until:
            raise required("the deal for this product has ended")
        have = int(getattr(fresh, counter.share.key)) - int(getattr(fresh, counter.used.key))
        raise conflict(
            counter.code,
            f"the deal leaves {have} {counter.what}, fewer than {amount}",
            left=have,
            deal_id=deal.id,
        )
    session.add(DealUse(deal_id=deal.id, kind=kind, source=source, amount=amount, created_at=now))
    await session.flush()
    return int(remaining)


async def give_back(
    session: AsyncSession,
    *,
    kind: str,
    source: str,
    amount: int,
    now: datetime,
    deal_id: str | None = None,
) -> int:
    """Give ``amount`` of what ``source`` took back to its deal's ``kind`` share (the deal is
    found by what the source took when ``deal_id`` is None; nothing when it took nothing).
    At most what the source still holds goes back. Returns the amount given back."""
    if amount <= 0:
        return 0
    held = select(DealUse.deal_id, func.sum(DealUse.amount)).where(
        DealUse.kind == kind, DealUse.source == source
    )
    if deal_id is not None:
        held = held.where(DealUse.deal_id == deal_id)
    rows = (await session.execute(held.group_by(DealUse.deal_id))).all()
    given = 0
    counter = _COUNTERS[kind]
    for found_deal_id, total in rows:
        back = min(amount - given, int(total or 0))
        if back <= 0:
            continue
        done = await session.scalar(
            update(Deal)
            .where(Deal.id == found_deal_id, counter.used >= back)
            .values({counter.used.key: counter.used - back})
            .returning(Deal.id)
            .execution_options(synchronize_session=False)
        )
        if done is None:  # a bug: a ledger that disagrees with its counter
            raise RuntimeError(f"deal {found_deal_id}: {kind} counter below its ledger")
        session.add(
            DealUse(deal_id=found_deal_id, kind=kind, source=source, amount=-back, created_at=now)
        )
        given += back
    if given:
        await session.flush()
    return given


async def left(session: AsyncSession, *, deal_id: str, kind: str) -> int:
    counter = _COUNTERS[kind]
    value = await session.scalar(select(counter.share - counter.used).where(Deal.id == deal_id))
    return int(value or 0)


async def taken_by(session: AsyncSession, *, kind: str, source: str) -> int:
    """What ``source`` holds of ``kind`` (taken minus given back), over every deal."""
    value = await session.scalar(
        select(func.coalesce(func.sum(DealUse.amount), 0)).where(
            DealUse.kind == kind, DealUse.source == source
        )
    )
    return int(value or 0)


async def ledger_mismatches(session: AsyncSession) -> list[tuple[str, str, int, int]]:
    """Deals whose counters differ from the sums of their ledger: (deal, kind, counter, sum)."""
    sums: dict[tuple[str, str], int] = {
        (deal_id, kind): int(total)
        for deal_id, kind, total in await session.execute(
            select(DealUse.deal_id, DealUse.kind, func.sum(DealUse.amount)).group_by(
                DealUse.deal_id, DealUse.kind
            )
        )
    }
    found = []
    for deal in (await session.execute(select(Deal))).scalars():
        for kind, counter in _COUNTERS.items():
            value = int(getattr(deal, counter.used.key))
            total = sums.get((deal.id, kind), 0)
            if value != total:
                found.append((deal.id, kind, value, total))
    return found
