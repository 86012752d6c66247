"""Back-office pages: the merchant console (``/console/merchant``) and the admin page
(``/console/admin``). Server-rendered shells; their module reads the merchant/admin APIs
with the signed-in user's token, so every rule (merchant scope, admin only) is the API's.

One read of the console's own: an order's activity (its status changes and its refunds),
which the merchant API does not list, under the same merchant scope as the order."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy import select

from liveshop.deps import CurrentPrincipal, SessionDep
from liveshop.orders import service as orders
from liveshop.orders.api import merchant_scope
from liveshop.orders.schemas import StatusChangeOut
from liveshop.payments import service as payments
from liveshop.payments.models import Refund
from liveshop.payments.schemas import RefundOut
from liveshop.web.templating import page

router = APIRouter(include_in_schema=False)


def _page(request: Request, kind: str) -> Response:
    return page(request, "backoffice.html", config={"kind": kind}, kind=kind)


@router.get("/console/merchant", response_class=HTMLResponse)
async def merchant_console(request: Request) -> Response:
    """Products and SKUs, stock per warehouse, orders, and the live sessions the merchant's
    products appear in."""
    return _page(request, "merchant")


@router.get("/console/admin", response_class=HTMLResponse)
async def admin_console(request: Request) -> Response:
    """Accounts and their roles (grant, revoke)."""
    return _page(request, "admin")


class OrderActivityOut(BaseModel):
    """What happened to an order: its status changes (oldest first) and its refunds."""

    history: list[StatusChangeOut]
    refunds: list[RefundOut]


@router.get("/console/merchant/orders/{order_id}/activity", response_model=OrderActivityOut)
async def order_activity(
    order_id: str, principal: CurrentPrincipal, session: SessionDep
) -> OrderActivityOut:
    """The order's status history and refunds, for the merchant console's order detail (the
    merchant's own orders only; anyone else's is a 404, as in ``/merchant/orders/{id}``)."""
    scope = await merchant_scope(session, principal)
    await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope)
    refunds = await session.execute(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
    )
    return OrderActivityOut(
        history=[
            StatusChangeOut(
                from_status=h.from_status,
                to_status=h.to_status,
                actor_id=h.actor_id,
                note=h.note,
                created_at=h.created_at,
            )
            for h in await orders.history(session, order_id=order_id)
        ],
        refunds=[payments.refund_out(r) for r in refunds.scalars()],
    )
