"""Orders placed by a promotion (a flash sale, a raffle prize): the price is the promotion's,
and the stock is already held by the promotion, so nothing is allocated here.

Objects get their ids up front, so a batch of orders is added and flushed once (group commit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from liveshop.catalog.models import Product, Sku
from liveshop.ids import new_id
from liveshop.orders.models import Order, OrderLine, OrderStatusChange


@dataclass(frozen=True)
class PromotionalOrder:
    order: Order
    line: OrderLine


def build_order(
    *,
    buyer_id: str,
    sku: Sku,
    product: Product,
    quantity: int,
    unit_price_minor: int,
    address: dict[str, Any],
    destination: tuple[float, float],
    source: str,
    live_session_id: str | None,
    now: datetime,
    expires_at: datetime,
) -> tuple[PromotionalOrder, list[Any]]:
    """A pending-payment order of one line at ``unit_price_minor``; returns it and the rows to
    add to the session (order, line, first status change)."""
    order = Order(
        id=new_id(),
        buyer_id=buyer_id,
        merchant_id=product.merchant_id,
        status="pending_payment",
        currency=sku.currency,
        subtotal_minor=unit_price_minor * quantity,
        discount_minor=0,
        shipping_minor=0,
        total_minor=unit_price_minor * quantity,
        merchant_discount_minor=0,
        merchant_receives_minor=unit_price_minor * quantity,
        refunded_minor=0,
        shipping_address=address,
        destination_lat=destination[0],
        destination_lon=destination[1],
        created_at=now,
        expires_at=expires_at,
        source=source,
        live_session_id=live_session_id,
    )
    line = OrderLine(
        id=new_id(),
        order_id=order.id,
        sku_id=sku.id,
        product_id=product.id,
        title=product.title,
        sku_code=sku.code,
        sku_attributes=dict(sku.attributes),
        unit_price_minor=unit_price_minor,
        quantity=quantity,
        line_total_minor=unit_price_minor * quantity,
    )
    change = OrderStatusChange(
        id=new_id(),
        order_id=order.id,
        from_status=None,
        to_status="pending_payment",
        actor_id=buyer_id,
        note=source,
        created_at=now,
    )
    return PromotionalOrder(order, line), [order, line, change]
