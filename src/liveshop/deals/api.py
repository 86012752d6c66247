"""Deals over HTTP: a merchant publishes offers and ends deals (``/merchant/...``), an anchor
(or whoever acts for it) reads the offers open to it and accepts one (``/anchor/...``), and
both parties read a deal (``GET /deals/{id}``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop import idempotency
from liveshop.auth import service as auth_service
from liveshop.auth.service import Principal
from liveshop.catalog import service as catalog_service
from liveshop.deals import errors, service, views
from liveshop.deals.models import Deal
from liveshop.deals.schemas import AcceptIn, DealList, DealOut, OfferIn, OfferList, OfferOut
from liveshop.deps import ClockDep, CurrentPrincipal, SessionDep
from liveshop.errors import forbidden, not_found

router = APIRouter(tags=["deals"])
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(pattern="^[0-9a-hjkmnp-tv-z]{26}$")]
OptionalId = Annotated[str | None, Query(min_length=1, max_length=26)]
OfferId = Annotated[str, Path(min_length=1, max_length=26)]
DealId = Annotated[str, Path(min_length=1, max_length=26)]


async def _merchant_scope(
    session: AsyncSession, principal: Principal, merchant_id: str | None
) -> list[str] | None:
    """The merchants the caller answers for (None: every one, for an admin), narrowed to
    ``merchant_id`` when given (one the caller is not a member of is a 403)."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    if merchant_id is None:
        return scope
    if scope is not None and merchant_id not in scope:
        raise forbidden("you are not a member of this merchant")
    return [merchant_id]


async def _party_to(session: AsyncSession, principal: Principal, deal: Deal) -> bool:
    """Admins, the merchant's members, the anchor and whoever acts for the anchor."""
    if await auth_service.can_act_for_anchor(
        session, principal=principal, anchor_id=deal.anchor_id
    ):
        return True
    return deal.merchant_id in await catalog_service.merchant_ids_for(
        session, account_id=principal.account_id
    )


# -- the merchant's side ---------------------------------------------------------------------


@router.post(
    "/merchant/deal-offers",
    status_code=201,
    response_model=OfferOut,
    responses={
        403: {"description": "auth.forbidden: not a member of the product's merchant"},
        404: {"description": "product.not_found"},
        422: {"description": "deal.bad_terms, deal.not_an_anchor"},
    },
)
async def publish_offer(
    body: OfferIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    clock: ClockDep,
) -> JSONResponse:
    """Offer anchors (all of them, or the ``anchor_ids`` named) to sell one of your products
    on these terms; each anchor that accepts gets a deal with the terms frozen. A retry with
    the same ``Idempotency-Key`` answers the same offer."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    now = clock.now()

    async def action() -> OfferOut:
        product = await catalog_service.get_product_or_raise(
            session, product_id=body.product_id, merchant_ids=scope
        )
        offer = await service.publish_offer(
            session, product=product, data=body, actor_id=principal.account_id, now=now
        )
        return (await views.offers_out(session, [offer], now=now))[0]

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation="deals.publish_offer",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )


@router.get("/merchant/deal-offers", response_model=OfferList)
async def list_offers(
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    merchant_id: OptionalId = None,
    product_id: OptionalId = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> OfferList:
    """Your merchants' offers, newest first."""
    scope = await _merchant_scope(session, principal, merchant_id)
    rows, next_cursor = await service.list_offers(
        session, merchant_ids=scope, product_id=product_id, cursor=cursor, limit=limit
    )
    return OfferList(
        items=await views.offers_out(session, rows, now=clock.now()), next_cursor=next_cursor
    )


@router.post(
    "/merchant/deal-offers/{offer_id}/withdraw",
    response_model=OfferOut,
    responses={404: {"description": "deal.offer_not_found"}},
)
async def withdraw_offer(
    offer_id: OfferId, principal: CurrentPrincipal, session: SessionDep, clock: ClockDep
) -> OfferOut:
    """No anchor may accept the offer any more (the deals made from it go on)."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    offer = await service.get_offer_or_raise(session, offer_id=offer_id, merchant_ids=scope)
    now = clock.now()
    await service.withdraw_offer(session, offer=offer, now=now)
    await session.commit()
    return (await views.offers_out(session, [offer], now=now))[0]


@router.get("/merchant/deals", response_model=DealList)
async def list_merchant_deals(
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    merchant_id: OptionalId = None,
    product_id: OptionalId = None,
    anchor_id: OptionalId = None,
    active: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> DealList:
    """The deals anchors made with your merchants, newest first (``active=true``: only the
    active ones)."""
    scope = await _merchant_scope(session, principal, merchant_id)
    now = clock.now()
    rows, next_cursor = await service.list_deals(
        session,
        merchant_ids=scope,
        anchor_ids=[anchor_id] if anchor_id else None,
        product_id=product_id,
        active_at=now if active else None,
        cursor=cursor,
        limit=limit,
    )
    return DealList(items=await views.deals_out(session, rows, now=now), next_cursor=next_cursor)


@router.post(
    "/merchant/deals/{deal_id}/end",
    response_model=DealOut,
    responses={404: {"description": "deal.not_found"}, 409: {"description": "deal.ended"}},
)
async def end_deal(
    deal_id: DealId, principal: CurrentPrincipal, session: SessionDep, clock: ClockDep
) -> DealOut:
    """End a deal: the anchor may no longer put the product in a rundown, a flash sale or a
    raffle, nor sell it at its live price; running flash sales and raffles go on."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    deal = await service.get_or_raise(session, deal_id=deal_id, merchant_ids=scope)
    now = clock.now()
    await service.end(session, deal=deal, actor_id=principal.account_id, now=now)
    await session.commit()
    return (await views.deals_out(session, [deal], now=now))[0]


# -- the anchor's side -----------------------------------------------------------------------


@router.get("/anchor/deal-offers", response_model=OfferList)
async def offers_for_anchor(
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    anchor_id: OptionalId = None,
    product_id: OptionalId = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> OfferList:
    """The offers an anchor may accept now: open to every anchor, or naming it."""
    anchor = await service.resolve_anchor(session, principal=principal, anchor_id=anchor_id)
    now = clock.now()
    rows, next_cursor = await service.offers_for_anchor(
        session, anchor_id=anchor, now=now, product_id=product_id, cursor=cursor, limit=limit
    )
    return OfferList(items=await views.offers_out(session, rows, now=now), next_cursor=next_cursor)


@router.post(
    "/anchor/deal-offers/{offer_id}/accept",
    status_code=201,
    response_model=DealOut,
    responses={
        403: {"description": "auth.forbidden: not an anchor, or not working for anchor_id"},
        404: {"description": "deal.offer_not_found"},
        409: {"description": "deal.offer_closed, deal.already_accepted, deal.already_active"},
    },
)
async def accept_offer(
    offer_id: OfferId,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    clock: ClockDep,
    body: AcceptIn | None = None,
) -> JSONResponse:
    """Accept an offer: a deal between its merchant and the anchor, on its terms. A retry
    with the same ``Idempotency-Key`` answers the same deal."""
    anchor = await service.resolve_anchor(
        session, principal=principal, anchor_id=body.anchor_id if body else None
    )
    now = clock.now()

    async def action() -> DealOut:
        offer = await service.get_offer_or_raise(session, offer_id=offer_id, share=True)
        deal = await service.accept(
            session, offer=offer, anchor_id=anchor, actor_id=principal.account_id, now=now
        )
        return (await views.deals_out(session, [deal], now=now))[0]

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"deals.accept:{offer_id}",
        payload=body.model_dump(mode="json") if body else None,
        now=now,
        action=action,
        status_code=201,
    )


@router.get("/anchor/deals", response_model=DealList)
async def list_anchor_deals(
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    anchor_id: OptionalId = None,
    product_id: OptionalId = None,
    active: bool = False,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> DealList:
    """An anchor's deals, newest first (``active=true``: only the active ones)."""
    anchor = await service.resolve_anchor(session, principal=principal, anchor_id=anchor_id)
    now = clock.now()
    rows, next_cursor = await service.list_deals(
        session,
        anchor_ids=[anchor],
        product_id=product_id,
        active_at=now if active else None,
        cursor=cursor,
        limit=limit,
    )
    return DealList(items=await views.deals_out(session, rows, now=now), next_cursor=next_cursor)


# -- either side -----------------------------------------------------------------------------


@router.get(
    "/deals/{deal_id}", response_model=DealOut, responses={404: {"description": "deal.not_found"}}
)
async def get_deal(
    deal_id: DealId, principal: CurrentPrincipal, session: SessionDep, clock: ClockDep
) -> DealOut:
    """A deal, to its parties (the merchant's members, the anchor and whoever acts for it)."""
    deal = await service.get_or_raise(session, deal_id=deal_id)
    if not await _party_to(session, principal, deal):
        raise not_found(errors.NOT_FOUND, "no such deal")
    return (await views.deals_out(session, [deal], now=clock.now()))[0]
