"""Offers and deals: publish, withdraw, accept, end, find and list.

Plain async functions, ``session`` first; they flush, callers commit. Who may call them is
the API's business (merchant members publish and end, an anchor or whoever acts for it
accepts); what other domains check before they use another merchant's goods is
``deals/consent.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.service import Principal
from liveshop.catalog.models import Product
from liveshop.deals import errors
from liveshop.deals.models import Deal, DealOffer, DealOfferTarget
from liveshop.deals.schemas import OfferIn
from liveshop.errors import conflict, forbidden, invalid, not_found

MAX_VALIDITY_DAYS = 366


def offer_state(offer: DealOffer, now: datetime) -> str:
    """``open``, ``withdrawn`` or ``expired`` (past its validity)."""
    if offer.status == "withdrawn":
        return "withdrawn"
    return "expired" if now >= offer.valid_until else "open"


def deal_state(deal: Deal, now: datetime) -> str:
    """``active``, ``ended`` (by the merchant) or ``expired`` (past its validity)."""
    if deal.status == "ended":
        return "expired" if deal.end_reason == "expired" else "ended"
    return "expired" if now >= deal.valid_until else "active"


def is_active(deal: Deal, now: datetime) -> bool:
    return deal.status == "active" and deal.valid_from <= now < deal.valid_until


# -- offers ----------------------------------------------------------------------------------


async def publish_offer(
    session: AsyncSession, *, product: Product, data: OfferIn, actor_id: str, now: datetime
) -> DealOffer:
    """An offer on ``product`` (the caller is a member of its merchant, or an admin)."""
    valid_from = data.valid_from or now
    if not (valid_from < data.valid_until and now < data.valid_until) or (
        (data.valid_until - valid_from).days > MAX_VALIDITY_DAYS
    ):
        raise invalid(
            errors.BAD_TERMS,
            "valid_until must be in the future, after valid_from, and at most 366 days later",
            "valid_until",
        )
    targets = sorted(set(data.anchor_ids))
    for anchor_id in targets:
        if "anchor" not in await auth_service.roles_of(session, account_id=anchor_id):
            raise invalid(errors.NOT_AN_ANCHOR, f"{anchor_id} is not an anchor", "anchor_ids")
    offer = DealOffer(
        merchant_id=product.merchant_id,
        product_id=product.id,
        created_by=actor_id,
        open_to_all=not targets,
        floor_price_minor=data.floor_price_minor,
        currency=product.currency,
        stock_share=data.stock_share,
        prize_units=data.prize_units,
        coupon_budget_minor=data.coupon_budget_minor,
        commission_bps=data.commission_bps,
        valid_from=valid_from,
        valid_until=data.valid_until,
        status="open",
        created_at=now,
    )
    session.add(offer)
    await session.flush()
    session.add_all(DealOfferTarget(offer_id=offer.id, anchor_id=a) for a in targets)
    await session.flush()
    return offer


async def get_offer_or_raise(
    session: AsyncSession,
    *,
    offer_id: str,
    merchant_ids: Sequence[str] | None = None,
    share: bool = False,
) -> DealOffer:
    """The offer; one of a merchant outside ``merchant_ids`` (when given) is a 404.
    ``share=True`` reads it under a shared row lock (an accept: a concurrent withdrawal
    waits for it, and an accept after the withdrawal sees it)."""
    if share:
        offer = await session.get(
            DealOffer, offer_id, with_for_update={"read": True}, populate_existing=True
        )
    else:
        offer = await session.get(DealOffer, offer_id)
    if offer is None or (merchant_ids is not None and offer.merchant_id not in merchant_ids):
        raise not_found(errors.OFFER_NOT_FOUND, "no such deal offer")
    return offer


async def targets_of(session: AsyncSession, *, offer_ids: Sequence[str]) -> dict[str, list[str]]:
    """The named anchors of each offer (an open offer has none)."""
    found: dict[str, list[str]] = {offer_id: [] for offer_id in offer_ids}
    if offer_ids:
        rows = await session.execute(
            select(DealOfferTarget.offer_id, DealOfferTarget.anchor_id)
            .where(DealOfferTarget.offer_id.in_(list(offer_ids)))
            .order_by(DealOfferTarget.anchor_id)
        )
        for offer_id, anchor_id in rows:
            found[offer_id].append(anchor_id)
    return found


async def is_offered_to(session: AsyncSession, *, offer: DealOffer, anchor_id: str) -> bool:
    if offer.open_to_all:
        return True
    return await session.get(DealOfferTarget, (offer.id, anchor_id)) is not None


async def list_offers(
    session: AsyncSession,
    *,
    merchant_ids: Sequence[str] | None,
    product_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[DealOffer], str | None]:
    """Offers of the merchants (every merchant: None), newest first."""
    query = select(DealOffer).order_by(DealOffer.id.desc()).limit(limit + 1)
    if merchant_ids is not None:
        query = query.where(DealOffer.merchant_id.in_(list(merchant_ids)))
    if product_id is not None:
        query = query.where(DealOffer.product_id == product_id)
    if cursor:
        query = query.where(DealOffer.id < cursor)
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


async def offers_for_anchor(
    session: AsyncSession,
    *,
    anchor_id: str,
    now: datetime,
    product_id: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[DealOffer], str | None]:
    """Open offers the anchor may accept now (open to all, or naming it), newest first."""
    targeted = select(DealOfferTarget.offer_id).where(DealOfferTarget.anchor_id == anchor_id)
    query = (
        select(DealOffer)
        .where(
            DealOffer.status == "open",
            DealOffer.valid_until > now,
            DealOffer.open_to_all.is_(True) | DealOffer.id.in_(targeted),
        )
        .order_by(DealOffer.id.desc())
        .limit(limit + 1)
    )
    if product_id is not None:
        query = query.where(DealOffer.product_id == product_id)
    if cursor:
        query = query.where(DealOffer.id < cursor)
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


async def withdraw_offer(session: AsyncSession, *, offer: DealOffer, now: datetime) -> DealOffer:
    """No anchor may accept it any more; the deals made from it go on (end them one by one).
    A guarded UPDATE: withdrawing twice changes nothing."""
    await session.execute(
        update(DealOffer)
        .where(DealOffer.id == offer.id, DealOffer.status == "open")
        .values(status="withdrawn", withdrawn_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(offer)
    return offer


# -- deals -----------------------------------------------------------------------------------


async def resolve_anchor(
    session: AsyncSession, *, principal: Principal, anchor_id: str | None
) -> str:
    """Whose deal it is: the caller's own (an anchor), or the anchor named by an admin or
    one of its operators."""
    if anchor_id is None or anchor_id == principal.account_id:
        if not principal.has("anchor"):
            raise forbidden("only anchors take deals (or name one in anchor_id)")
        return principal.account_id
    if not await auth_service.can_act_for_anchor(session, principal=principal, anchor_id=anchor_id):
        raise forbidden("you do not work for this anchor")
    if "anchor" not in await auth_service.roles_of(session, account_id=anchor_id):
        raise invalid(errors.NOT_AN_ANCHOR, "the account is not an anchor", "anchor_id")
    return anchor_id


async def _expire_stale(
    session: AsyncSession, *, anchor_id: str, product_id: str, now: datetime
) -> None:
    """Active deals of the anchor for the product that ran out of validity become expired
    (so that a new deal for the product may be made)."""
    await session.execute(
        update(Deal)
        .where(
            Deal.anchor_id == anchor_id,
            Deal.product_id == product_id,
            Deal.status == "active",
            Deal.valid_until <= now,
        )
        .values(status="ended", end_reason="expired", ended_at=Deal.valid_until)
        .execution_options(synchronize_session=False)
    )


async def accept(
    session: AsyncSession, *, offer: DealOffer, anchor_id: str, actor_id: str, now: datetime
) -> Deal:
    """The deal of ``anchor_id`` on the offer's terms. An offer the anchor may not see is a
    404; a withdrawn or expired one ``deal.offer_closed``; once per offer and anchor
    (``deal.already_accepted``), one active deal per product (``deal.already_active``)."""
    if not await is_offered_to(session, offer=offer, anchor_id=anchor_id):
        raise not_found(errors.OFFER_NOT_FOUND, "no such deal offer")
    if offer_state(offer, now) != "open" or now < offer.valid_from:
        raise conflict(errors.OFFER_CLOSED, "the offer is withdrawn or outside its validity")
    await _expire_stale(session, anchor_id=anchor_id, product_id=offer.product_id, now=now)
    taken = await session.scalar(
        select(Deal.id).where(Deal.offer_id == offer.id, Deal.anchor_id == anchor_id)
    )
    if taken is not None:
        raise conflict(errors.ALREADY_ACCEPTED, "you accepted this offer before", deal_id=taken)
    active = await session.scalar(
        select(Deal.id).where(
            Deal.anchor_id == anchor_id,
            Deal.product_id == offer.product_id,
            Deal.status == "active",
        )
    )
    if active is not None:
        raise conflict(
            errors.ALREADY_ACTIVE, "you have an active deal for this product", deal_id=active
        )
    deal = Deal(
        offer_id=offer.id,
        merchant_id=offer.merchant_id,
        anchor_id=anchor_id,
        product_id=offer.product_id,
        floor_price_minor=offer.floor_price_minor,
        currency=offer.currency,
        stock_share=offer.stock_share,
        stock_used=0,
        prize_units=offer.prize_units,
        prize_used=0,
        coupon_budget_minor=offer.coupon_budget_minor,
        coupon_budget_used_minor=0,
        commission_bps=offer.commission_bps,
        valid_from=now,
        valid_until=offer.valid_until,
        status="active",
        accepted_by=actor_id,
        accepted_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(deal)
    except IntegrityError as exc:  # a concurrent accept of the same offer or product won
        raise conflict(
            errors.ALREADY_ACTIVE, "you have an active deal for this product (just made)"
        ) from exc
    return deal


async def get_or_raise(
    session: AsyncSession,
    *,
    deal_id: str,
    lock: bool = False,
    merchant_ids: Sequence[str] | None = None,
) -> Deal:
    """The deal; one of a merchant outside ``merchant_ids`` (when given) is a 404."""
    query = select(Deal).where(Deal.id == deal_id)
    if lock:
        query = query.with_for_update()
    deal = (await session.execute(query)).scalars().first()
    if deal is None or (merchant_ids is not None and deal.merchant_id not in merchant_ids):
        raise not_found(errors.NOT_FOUND, "no such deal")
    return deal


async def end(session: AsyncSession, *, deal: Deal, actor_id: str, now: datetime) -> Deal:
    """The merchant ends the deal: from now on the anchor may not use the product (a sale or
    raffle already running goes on); a guarded UPDATE, so ending twice is ``deal.ended``."""
    ended = await session.scalar(
        update(Deal)
        .where(Deal.id == deal.id, Deal.status == "active")
        .values(status="ended", end_reason="ended", ended_by=actor_id, ended_at=now)
        .returning(Deal.id)
        .execution_options(synchronize_session=False)
    )
    if ended is None:
        raise conflict(errors.ENDED, "the deal has ended")
    await session.refresh(deal)
    return deal


async def list_deals(
    session: AsyncSession,
    *,
    merchant_ids: Sequence[str] | None = None,
    anchor_ids: Sequence[str] | None = None,
    product_id: str | None = None,
    active_at: datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Deal], str | None]:
    """Deals of the merchants and/or anchors (None: any), newest first; ``active_at``: only
    the deals active at that time."""
    query = select(Deal).order_by(Deal.id.desc()).limit(limit + 1)
    if merchant_ids is not None:
        query = query.where(Deal.merchant_id.in_(list(merchant_ids)))
    if anchor_ids is not None:
        query = query.where(Deal.anchor_id.in_(list(anchor_ids)))
    if product_id is not None:
        query = query.where(Deal.product_id == product_id)
    if active_at is not None:
        query = query.where(
            Deal.status == "active", Deal.valid_from <= active_at, Deal.valid_until > active_at
        )
    if cursor:
        query = query.where(Deal.id < cursor)
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)
