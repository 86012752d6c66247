"""Coupons over HTTP: templates, drops in a live session, claims, your coupons, and the
quote that suggests the best coupons for a cart. Checkout applies coupons in ``POST /orders``.

Claims need an ``Idempotency-Key``: the key row and the claim commit together, a retry
answers the same coupon. The room hears about a drop after its commit (``coupon.drop``) and
about its end after the commit that ended it (``coupon.drop_ended``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from liveshop import idempotency
from liveshop.catalog import service as catalog_service
from liveshop.deps import CurrentPrincipal, RuntimeDep, SessionDep
from liveshop.live import service as live_service
from liveshop.orders import cart
from liveshop.orders.schemas import StoreCreditQuoteOut
from liveshop.promotions.coupons import flows, templates, views
from liveshop.promotions.coupons import funding as funding_service
from liveshop.promotions.coupons import service as coupons
from liveshop.promotions.coupons.schemas import (
    CouponList,
    CouponOut,
    DropIn,
    DropList,
    DropOut,
    QuoteIn,
    QuoteOut,
    TemplateIn,
    TemplateList,
    TemplateOut,
)

router = APIRouter(tags=["coupons"])
OptionalId = Annotated[str | None, Query(min_length=1, max_length=26)]
TemplateId = Annotated[str, Path(min_length=1, max_length=26)]
CLAIM_CONFLICTS = "coupon.sold_out, coupon.limit_reached, coupon.expired, idempotency.key_reused"


# -- templates -------------------------------------------------------------------------------


@router.post(
    "/coupon-templates",
    status_code=201,
    response_model=TemplateOut,
    responses={
        400: {"description": "idempotency.key_required"},
        403: {
            "description": "auth.forbidden: not a member, manager or admin; platform funding "
            "by anyone but an admin"
        },
        409: {
            "description": "live.session_ended, idempotency.key_reused, "
            "wallet.insufficient_funds (the budget)"
        },
        422: {
            "description": "coupon.funder_required, coupon.bad_kind, coupon.bad_amount, "
            "coupon.bad_percent, coupon.bad_cap, coupon.bad_min_spend, coupon.bad_scope, "
            "coupon.bad_window, coupon.bad_quota, coupon.bad_limit, coupon.bad_session, "
            "coupon.bad_eligibility"
        },
    },
)
async def create_template(
    body: TemplateIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Issue a coupon template for a merchant's goods, a live session, or the platform, and
    say who funds it (``funded_by``: the merchant, your wallet's ``budget_minor``, a deal's
    coupon budget, or the platform for admins); a retry with the same key answers the same
    template."""
    merchant_id, live = await templates.authorize_issuer(
        session, principal=principal, merchant_id=body.merchant_id, session_id=body.session_id
    )
    now = runtime.clock.now()
    currency = body.currency or runtime.settings.default_currency

    async def action() -> TemplateOut:
        # who funds it is decided here, after the key: a replay answers what was stored even
        # once the budget or the deal that funded it is spent
        funding = await funding_service.resolve(
            session,
            principal=principal,
            funded_by=body.funded_by,
            budget_minor=body.budget_minor,
            deal_id=body.deal_id,
            merchant_id=merchant_id,
            live=live,
            currency=currency,
            now=now,
        )
        template = await templates.create_template(
            session,
            data=body,
            issuer_id=principal.account_id,
            merchant_id=merchant_id,
            live=live,
            currency=currency,
            funding=funding,
            now=now,
        )
        return views.template_out(template)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation="coupons.create_template",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )


@router.post(
    "/coupon-templates/{template_id}/end",
    response_model=TemplateOut,
    responses={
        403: {"description": "auth.forbidden: not its issuer, merchant, manager or an admin"},
        404: {"description": "coupon.template_not_found"},
    },
)
async def end_template(
    template_id: TemplateId, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> TemplateOut:
    """End a template now: no more claims or uses, its running drops end, and the unused
    part of a wallet-funded budget goes back to the wallet. Ending it again changes nothing."""
    template = await coupons.get_template_or_raise(session, template_id=template_id)
    await templates.authorize_ender(session, principal=principal, template=template)
    await funding_service.end(session, template=template, now=runtime.clock.now())
    await session.commit()
    await flows.end_template(runtime, template_id)
    template = await coupons.get_template_or_raise(session, template_id=template_id)
    return views.template_out(template)


@router.get("/coupon-templates", response_model=TemplateList)
async def list_templates(
    principal: CurrentPrincipal,
    session: SessionDep,
    merchant_id: OptionalId = None,
    session_id: OptionalId = None,
) -> TemplateList:
    """A merchant's templates (its members), a session's (its managers), or by default the
    ones you issued; newest first, at most 200."""
    issuer_id = None
    if merchant_id is not None:
        await catalog_service.resolve_merchant_id(
            session, principal=principal, merchant_id=merchant_id
        )
    if session_id is not None:
        live = await live_service.get_or_raise(session, session_id=session_id)
        await live_service.require_manager(session, principal=principal, live=live)
    if merchant_id is None and session_id is None:
        issuer_id = principal.account_id
    rows = await coupons.list_templates(
        session, merchant_id=merchant_id, session_id=session_id, issuer_id=issuer_id
    )
    return TemplateList(items=[views.template_out(t) for t in rows])


@router.get(
    "/coupon-templates/{template_id}",
    response_model=TemplateOut,
    responses={404: {"description": "coupon.template_not_found"}},
)
async def get_template(template_id: str, session: SessionDep) -> TemplateOut:
    """A template's terms and how many of its quota are claimed."""
    return views.template_out(await coupons.get_template_or_raise(session, template_id=template_id))


@router.post(
    "/coupon-templates/{template_id}/claim",
    status_code=201,
    response_model=CouponOut,
    responses={
        401: {"description": "auth.required"},
        404: {"description": "coupon.template_not_found"},
        409: {"description": f"coupon.drops_only, {CLAIM_CONFLICTS}"},
    },
)
async def claim_template(
    template_id: str,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Claim a merchant's or the platform's coupon; a retry with the same key answers the
    same coupon. A session's coupons are claimed from its drops."""
    now = runtime.clock.now()

    async def action() -> CouponOut:
        claimed = await coupons.claim_template(
            session, template_id=template_id, account_id=principal.account_id, now=now
        )
        return views.coupon_out(claimed.coupon, claimed.template)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"coupons.claim_template:{template_id}",
        payload={},
        now=now,
        action=action,
        status_code=201,
    )


# -- drops -----------------------------------------------------------------------------------


@router.post(
    "/live/sessions/{session_id}/coupon-drops",
    status_code=201,
    response_model=DropOut,
    responses={
        403: {"description": "auth.forbidden: not a manager of the session"},
        404: {"description": "live.session_not_found, coupon.template_not_found"},
        400: {"description": "idempotency.key_required"},
        409: {
            "description": "live.not_live, coupon.expired, coupon.sold_out, idempotency.key_reused"
        },
        422: {"description": "coupon.wrong_session, coupon.bad_quota"},
    },
)
async def create_drop(
    session_id: str,
    body: DropIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Drop ``quota`` coupons of a template in the live room (``coupon.drop``) until they are
    claimed or ``duration_seconds`` pass (``coupon.drop_ended``); a retry with the same key
    answers the same drop and announces nothing again."""
    await session.commit()  # no transaction (on SQLite: no write lock) while waiting below
    async with runtime.rooms.command_lock(session_id):
        now = runtime.clock.now()
        created: list[dict[str, Any]] = []

        async def action() -> DropOut:
            live = await live_service.get_or_raise(session, session_id=session_id, lock=True)
            await live_service.require_manager(session, principal=principal, live=live)
            template = await coupons.get_template_or_raise(session, template_id=body.template_id)
            drop = await coupons.create_drop(
                session,
                live=live,
                template=template,
                quota=body.quota,
                duration_seconds=body.duration_seconds,
                actor_id=principal.account_id,
                now=now,
            )
            created.append(views.drop_view(drop, template))
            return views.drop_out(drop, template)

        response = await idempotency.run(
            session,
            scope=principal.account_id,
            key=key,
            operation=f"coupons.create_drop:{session_id}",
            payload=body.model_dump(mode="json"),
            now=now,
            action=action,
            status_code=201,
        )
        if created:  # committed just now (not a replay): announce it
            event = {"type": "coupon.drop", "drop": created[0], "at": now.isoformat()}
            await runtime.rooms.publish_priority(session_id, event, actor_id=principal.account_id)
    return response


@router.get("/live/sessions/{session_id}/coupon-drops", response_model=DropList)
async def list_drops(session_id: str, session: SessionDep) -> DropList:
    """Every drop of a session, oldest first, with its status and how many were claimed."""
    await live_service.get_or_raise(session, session_id=session_id)
    rows = await coupons.list_drops(session, session_id=session_id)
    return DropList(items=[views.drop_out(drop, template) for drop, template in rows])


@router.get(
    "/coupon-drops/{drop_id}",
    response_model=DropOut,
    responses={404: {"description": "coupon.drop_not_found"}},
)
async def get_drop(drop_id: str, session: SessionDep) -> DropOut:
    drop = await coupons.get_drop_or_raise(session, drop_id=drop_id)
    template = await coupons.get_template_or_raise(session, template_id=drop.template_id)
    return views.drop_out(drop, template)


@router.post(
    "/coupon-drops/{drop_id}/claim",
    status_code=201,
    response_model=CouponOut,
    responses={
        401: {"description": "auth.required"},
        403: {"description": "coupon.not_eligible: a followers-only coupon, not a follower"},
        404: {"description": "coupon.drop_not_found"},
        409: {"description": f"coupon.drop_ended, {CLAIM_CONFLICTS}"},
    },
)
async def claim_drop(
    drop_id: str,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Claim a coupon of a live drop; a retry with the same key answers the same coupon.
    The last claim ends the drop (``coupon.drop_ended``)."""
    now = runtime.clock.now()
    ended: dict[str, bool] = {}

    async def action() -> CouponOut:
        claimed = await coupons.claim_from_drop(
            session, drop_id=drop_id, account_id=principal.account_id, now=now
        )
        ended["last"] = claimed.drop_ended
        return views.coupon_out(claimed.coupon, claimed.template)

    response = await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"coupons.claim_drop:{drop_id}",
        payload={},
        now=now,
        action=action,
        status_code=201,
    )
    if ended.get("last"):
        await flows.publish_ended(runtime, drop_id)
    return response


# -- your coupons and the quote --------------------------------------------------------------


@router.get("/coupons/mine", response_model=CouponList)
async def my_coupons(
    principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> CouponList:
    """Your unused coupons that have not expired (also those valid later), soonest to expire
    first."""
    rows = await coupons.mine(session, account_id=principal.account_id, now=runtime.clock.now())
    return CouponList(items=[views.coupon_out(c, t) for c, t in rows])


@router.post(
    "/orders/quote",
    response_model=QuoteOut,
    tags=["orders"],
    responses={
        404: {"description": "coupon.not_found, live.session_not_found"},
        409: {
            "description": "coupon.used, coupon.expired, coupon.not_yet_valid, live.not_live, "
            "wallet.insufficient_funds"
        },
        422: {
            "description": "order.sku_unavailable, order.multiple_merchants, "
            "coupon.not_applicable, coupon.min_spend_not_met, coupon.not_stackable, "
            "wallet.bad_amount, wallet.too_much"
        },
    },
)
async def quote(
    body: QuoteIn, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> QuoteOut:
    """Price a cart: ``best`` is the combination of your coupons that takes the most off
    (checkout accepts it as it is); ``applied`` checks the ``coupon_ids`` you name exactly as
    ``POST /orders`` would, without using them. With ``wallet_minor``, ``wallet`` shows that
    store credit applied to the total after the ``coupon_ids`` (checked as checkout checks
    it) and what would be left to pay."""
    priced = await cart.quote(
        session,
        account_id=principal.account_id,
        lines=body.lines,
        live_session_id=body.live_session_id,
        coupon_ids=body.coupon_ids,
        wallet_minor=body.wallet_minor,
        now=runtime.clock.now(),
    )
    wallet = priced.wallet
    return QuoteOut(
        merchant_id=priced.merchant_id,
        currency=priced.currency,
        subtotal_minor=priced.subtotal_minor,
        applied=views.applied_out(priced.applied) if priced.applied else None,
        best=views.applied_out(priced.best) if priced.best else None,
        wallet=StoreCreditQuoteOut(
            balance_minor=wallet.balance_minor,
            wallet_minor=wallet.wallet_minor,
            payable_minor=wallet.payable_minor,
        )
        if wallet
        else None,
    )
