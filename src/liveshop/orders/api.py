from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop import idempotency
from liveshop.catalog import service as catalog_service
from liveshop.deps import CurrentPrincipal, RuntimeDep, SessionDep
from liveshop.live import service as live_service
from liveshop.orders import flows
from liveshop.orders import service as orders
from liveshop.orders.schemas import (
    CancelIn,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderStatus,
    SessionGmvOut,
    SessionSalesOut,
    ShipIn,
    StatusChangeOut,
)

router = APIRouter(tags=["orders"])


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    responses={
        404: {"description": "coupon.not_found, live.session_not_found"},
        409: {
            "description": "stock.insufficient, idempotency.key_reused, coupon.used, "
            "coupon.expired, coupon.not_yet_valid, live.not_live, wallet.insufficient_funds"
        },
        422: {
            "description": "coupon.not_applicable, coupon.min_spend_not_met, "
            "coupon.not_stackable, coupon.duplicate, wallet.bad_amount, wallet.too_much"
        },
    },
)
async def create_order(
    body: OrderIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Buy now: reserve stock near the buyer and open a pending-payment order; coupons
    (``coupon_ids``) are applied and marked used by it, ``wallet_minor`` of store credit is
    taken from your wallet. Nothing left to pay (``payable_minor`` 0): the order is paid."""
    now = runtime.clock.now()

    async def action() -> OrderOut:
        order = await orders.create(
            session,
            buyer_id=principal.account_id,
            lines=body.lines,
            address=body.shipping_address,
            now=now,
            payment_window=timedelta(seconds=runtime.settings.payment_window_seconds),
            live_session_id=body.live_session_id,
            coupon_ids=body.coupon_ids,
            wallet_minor=body.wallet_minor,
        )
        return await orders.to_out(session, order)

    response = await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation="orders.create",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )
    if "idempotent-replayed" not in response.headers:
        runtime.metrics.orders_created.inc()
    return response


@router.get("/orders", response_model=OrderPage)
async def list_my_orders(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: OrderStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrderPage:
    rows, next_cursor = await orders.list_orders(
        session, buyer_id=principal.account_id, status=status, cursor=cursor, limit=limit
    )
    return OrderPage(items=[await orders.to_out(session, o) for o in rows], next_cursor=next_cursor)


@router.get("/orders/{order_id}", response_model=OrderOut)
async def get_my_order(order_id: str, principal: CurrentPrincipal, session: SessionDep) -> OrderOut:
    order = await orders.get_or_raise(session, order_id=order_id, buyer_id=principal.account_id)
    return await orders.to_out(session, order)


@router.get("/orders/{order_id}/history", response_model=list[StatusChangeOut])
async def get_my_order_history(
    order_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[StatusChangeOut]:
    await orders.get_or_raise(session, order_id=order_id, buyer_id=principal.account_id)
    return await _history_out(session, order_id)


async def _history_out(session: AsyncSession, order_id: str) -> list[StatusChangeOut]:
    return [
        StatusChangeOut(
            from_status=h.from_status,
            to_status=h.to_status,
            actor_id=h.actor_id,
            note=h.note,
            created_at=h.created_at,
        )
        for h in await orders.history(session, order_id=order_id)
    ]


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
async def cancel_my_order(
    order_id: str,
    body: CancelIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Cancel before shipping; a paid order is refunded in full."""
    now = runtime.clock.now()

    async def action() -> OrderOut:
        order = await orders.get_or_raise(
            session, order_id=order_id, buyer_id=principal.account_id, lock=True
        )
        await flows.cancel_order(
            session,
            order=order,
            provider=runtime.payments,
            now=now,
            actor_id=principal.account_id,
            reason=body.reason,
            idempotency_key=key,
        )
        return await orders.to_out(session, order)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"orders.cancel:{order_id}",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
    )


@router.post("/orders/{order_id}/confirm-receipt", response_model=OrderOut)
async def confirm_receipt(
    order_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> OrderOut:
    """The buyer confirms a delivered order: it is completed."""
    order = await orders.get_or_raise(
        session, order_id=order_id, buyer_id=principal.account_id, lock=True
    )
    await orders.complete(
        session, order=order, now=runtime.clock.now(), actor_id=principal.account_id
    )
    await session.commit()
    return await orders.to_out(session, order)


# -- the merchant's side ---------------------------------------------------------------------


@router.get("/merchant/orders", response_model=OrderPage)
async def list_merchant_orders(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: OrderStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> OrderPage:
    scope = await catalog_service.merchant_scope(session, principal=principal)
    rows, next_cursor = await orders.list_orders(
        session, merchant_ids=scope, status=status, cursor=cursor, limit=limit
    )
    return OrderPage(items=[await orders.to_out(session, o) for o in rows], next_cursor=next_cursor)


@router.get("/merchant/orders/{order_id}", response_model=OrderOut)
async def get_merchant_order(
    order_id: str, principal: CurrentPrincipal, session: SessionDep
) -> OrderOut:
    scope = await catalog_service.merchant_scope(session, principal=principal)
    order = await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope)
    return await orders.to_out(session, order)


@router.get("/merchant/orders/{order_id}/history", response_model=list[StatusChangeOut])
async def get_merchant_order_history(
    order_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[StatusChangeOut]:
    """The order's status changes, oldest first, with who made each and why."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope)
    return await _history_out(session, order_id)


@router.post("/merchant/orders/{order_id}/ship", response_model=OrderOut)
async def ship_order(
    order_id: str,
    body: ShipIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Hand a paid order to the carrier: its reserved units leave the warehouses."""
    now = runtime.clock.now()
    scope = await catalog_service.merchant_scope(session, principal=principal)

    async def action() -> OrderOut:
        order = await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope, lock=True)
        await orders.ship(
            session,
            order=order,
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            now=now,
            actor_id=principal.account_id,
        )
        return await orders.to_out(session, order)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"orders.ship:{order_id}",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
    )


@router.post("/merchant/orders/{order_id}/deliver", response_model=OrderOut)
async def mark_delivered(
    order_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> OrderOut:
    """The carrier reports delivery (the return window starts here)."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    order = await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope, lock=True)
    await orders.deliver(
        session, order=order, now=runtime.clock.now(), actor_id=principal.account_id
    )
    await session.commit()
    return await orders.to_out(session, order)


@router.post("/merchant/orders/{order_id}/cancel", response_model=OrderOut)
async def merchant_cancel(
    order_id: str,
    body: CancelIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """The merchant cannot fulfil: cancel, release stock, refund."""
    now = runtime.clock.now()
    scope = await catalog_service.merchant_scope(session, principal=principal)

    async def action() -> OrderOut:
        order = await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope, lock=True)
        await flows.cancel_order(
            session,
            order=order,
            provider=runtime.payments,
            now=now,
            actor_id=principal.account_id,
            reason=body.reason,
            idempotency_key=key,
        )
        return await orders.to_out(session, order)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"orders.merchant_cancel:{order_id}",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
    )


@router.get("/live/sessions/{session_id}/sales", response_model=SessionSalesOut)
async def session_sales(
    session_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> SessionSalesOut:
    """The session's orders, GMV and conversion (the anchor, its operators, admins)."""
    live = await live_service.get_or_raise(session, session_id=session_id)
    await live_service.require_manager(session, principal=principal, live=live)
    sales = await orders.session_sales(session, session_id=session_id)
    unique = (await runtime.rooms.totals(live)).unique
    return SessionSalesOut(
        orders=sales.orders,
        paid_orders=sales.paid_orders,
        buyers=sales.buyers,
        gmv=[SessionGmvOut(currency=c, gmv_minor=m) for c, m in sales.gmv],
        unique_viewers=unique,
        conversion=sales.conversion(unique),
    )
