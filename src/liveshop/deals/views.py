"""Offers and deals as the API shows them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.catalog.models import Product
from liveshop.deals import service
from liveshop.deals.models import Deal, DealOffer
from liveshop.deals.schemas import DealOut, OfferOut, Terms


async def _titles(session: AsyncSession, product_ids: Sequence[str]) -> dict[str, str]:
    if not product_ids:
        return {}
    rows = await session.execute(
        select(Product.id, Product.title).where(Product.id.in_(sorted(set(product_ids))))
    )
    return {product_id: title for product_id, title in rows}


def _terms(row: DealOffer | Deal) -> Terms:
    return Terms(
        floor_price_minor=row.floor_price_minor,
        currency=row.currency,
        stock_share=row.stock_share,
        prize_units=row.prize_units,
        coupon_budget_minor=row.coupon_budget_minor,
        commission_bps=row.commission_bps,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
    )


async def offers_out(
    session: AsyncSession, offers: Sequence[DealOffer], *, now: datetime
) -> list[OfferOut]:
    titles = await _titles(session, [o.product_id for o in offers])
    targets = await service.targets_of(session, offer_ids=[o.id for o in offers])
    return [
        OfferOut(
            id=offer.id,
            merchant_id=offer.merchant_id,
            product_id=offer.product_id,
            product_title=titles.get(offer.product_id, ""),
            open_to_all=offer.open_to_all,
            anchor_ids=targets[offer.id],
            terms=_terms(offer),
            status=service.offer_state(offer, now),
            created_at=offer.created_at,
            withdrawn_at=offer.withdrawn_at,
        )
        for offer in offers
    ]


async def deals_out(
    session: AsyncSession, deals: Sequence[Deal], *, now: datetime
) -> list[DealOut]:
    titles = await _titles(session, [d.product_id for d in deals])
    return [
        DealOut(
            id=deal.id,
            offer_id=deal.offer_id,
            merchant_id=deal.merchant_id,
            anchor_id=deal.anchor_id,
            product_id=deal.product_id,
            product_title=titles.get(deal.product_id, ""),
            terms=_terms(deal),
            stock_used=deal.stock_used,
            stock_left=deal.stock_share - deal.stock_used,
            prize_used=deal.prize_used,
            prize_left=deal.prize_units - deal.prize_used,
            coupon_budget_used_minor=deal.coupon_budget_used_minor,
            coupon_budget_left_minor=deal.coupon_budget_minor - deal.coupon_budget_used_minor,
            status=service.deal_state(deal, now),
            accepted_by=deal.accepted_by,
            accepted_at=deal.accepted_at,
            ended_by=deal.ended_by,
            ended_at=deal.ended_at,
        )
        for deal in deals
    ]
