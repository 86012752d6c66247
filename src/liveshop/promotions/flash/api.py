"""Flash sales over HTTP: an operator opens one on a rundown product; fans buy with an
Idempotency-Key, or join the waitlist when it is sold out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from liveshop import idempotency
from liveshop.deps import CurrentPrincipal, Runtime, RuntimeDep, SessionDep
from liveshop.errors import Problem
from liveshop.live import service as live_service
from liveshop.promotions.flash import service as flash
from liveshop.promotions.flash.models import FlashReservation
from liveshop.promotions.flash.runtime import FlashSales
from liveshop.promotions.flash.schemas import (
    BuyIn,
    BuyOut,
    FlashSaleIn,
    FlashSaleOut,
    MyFlashOut,
    WaitlistOut,
)

router = APIRouter(tags=["flash sales"])


def _sales(runtime: Runtime) -> FlashSales:
    sales: FlashSales | None = runtime.extras.get("flash")
    if sales is None:
        raise Problem(503, "flash.unavailable", "flash sales are not running on this node")
    return sales


def buy_out(row: FlashReservation, total_minor: int, currency: str) -> BuyOut:
    return BuyOut.model_validate(
        {
            "reservation_id": row.id,
            "sale_id": row.sale_id,
            "order_id": row.order_id,
            "quantity": row.quantity,
            "total_minor": total_minor,
            "currency": currency,
            "status": row.status,
            "expires_at": row.expires_at,
            "from_waitlist": row.from_waitlist,
        }
    )


@router.post(
    "/live/sessions/{session_id}/flash-sales",
    status_code=201,
    response_model=FlashSaleOut,
    responses={
        404: {"description": "live.item_not_found"},
        409: {"description": "live.not_live, flash.already_running, stock.insufficient"},
        422: {"description": "flash.price_above_list"},
    },
)
async def create_flash_sale(
    session_id: str,
    body: FlashSaleIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Start the countdown of a flash sale: its quantity leaves stock now."""
    sales = _sales(runtime)
    live = await live_service.get_or_raise(session, session_id=session_id)
    await live_service.require_manager(session, principal=principal, live=live)
    created: list[Any] = []

    async def action() -> FlashSaleOut:
        row = await flash.create_sale(
            session, live=live, data=body, actor_id=principal.account_id, now=runtime.clock.now()
        )
        created.append(row)
        return FlashSaleOut.model_validate(flash.view(row, row.quantity))

    response = await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"flash.create:{session_id}",
        payload=body.model_dump(mode="json"),
        now=runtime.clock.now(),
        action=action,
        status_code=201,
    )
    if created:  # committed just now (not a replay): load the gate, announce the countdown
        await sales.created(created[0])
    return response


@router.get("/live/sessions/{session_id}/flash-sales", response_model=list[FlashSaleOut])
async def list_flash_sales(
    session_id: str, session: SessionDep, runtime: RuntimeDep
) -> list[dict[str, Any]]:
    sales = _sales(runtime)
    rows = await flash.sales_of_session(session, session_id=session_id)
    await session.commit()
    return [await sales.view(row.id) for row in rows]


@router.get("/flash-sales/{sale_id}", response_model=FlashSaleOut)
async def get_flash_sale(sale_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    return await _sales(runtime).view(sale_id)


@router.post(
    "/flash-sales/{sale_id}/buy",
    status_code=201,
    response_model=BuyOut,
    responses={
        409: {
            "description": "flash.sold_out, flash.limit_reached, flash.not_open, flash.closed, "
            "idempotency.key_reused"
        },
        503: {"description": "flash.unavailable"},
    },
)
async def buy(
    sale_id: str,
    body: BuyIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> BuyOut:
    """Buy: decided at once by the stock gate; the reply comes when the order is saved.
    Pay the order (``order_id``) before ``expires_at`` or the units go to the waitlist."""
    sales = _sales(runtime)
    await session.commit()  # end the sign-in read: on SQLite it holds the write lock
    row = await sales.buy(sale_id=sale_id, user_id=principal.account_id, key=key, body=body)
    sale = await sales.view(sale_id)
    return buy_out(row, sale["price_minor"] * row.quantity, sale["currency"])


@router.post(
    "/flash-sales/{sale_id}/waitlist",
    status_code=201,
    response_model=WaitlistOut,
    responses={409: {"description": "flash.waitlist_not_sold_out, flash.waitlist_closed, ..."}},
)
async def join_waitlist(
    sale_id: str,
    body: BuyIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> WaitlistOut:
    """Sold out: queue for units that buyers do not pay for (one each, in order)."""
    await session.commit()
    position = await _sales(runtime).join_waitlist(
        sale_id=sale_id, user_id=principal.account_id, body=body
    )
    return WaitlistOut(sale_id=sale_id, position=position)


@router.get("/flash-sales/{sale_id}/me", response_model=MyFlashOut)
async def my_flash_sale(
    sale_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> MyFlashOut:
    await session.commit()
    sale = await _sales(runtime).view(sale_id)
    buys = await flash.my_buys(session, sale_id=sale_id, user_id=principal.account_id)
    waiting = await flash.my_waitlist(session, sale_id=sale_id, user_id=principal.account_id)
    return MyFlashOut.model_validate(
        {
            "sale": sale,
            "buys": [buy_out(b, sale["price_minor"] * b.quantity, sale["currency"]) for b in buys],
            "waitlist_position": waiting.position if waiting else None,
            "waitlist_outcome": waiting.outcome if waiting else None,
        }
    )


@router.post("/flash-sales/{sale_id}/close", response_model=FlashSaleOut)
async def close_flash_sale(
    sale_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """End a sale early: unsold units go back to stock."""
    row = await flash.get_or_raise(session, sale_id=sale_id)
    live = await live_service.get_or_raise(session, session_id=row.session_id)
    await live_service.require_manager(session, principal=principal, live=live)
    await session.commit()
    sales = _sales(runtime)
    await sales.close_sale(sale_id)
    return await sales.view(sale_id)
