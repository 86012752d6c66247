"""An order as the API shows it: lines, stock allocations, coupons, store credit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.inventory import service as inventory
from liveshop.orders import store_credit
from liveshop.orders.models import Order, OrderLine
from liveshop.orders.schemas import AllocationOut, OrderLineOut, OrderOut
from liveshop.promotions.coupons import checkout as coupon_checkout


async def to_out(session: AsyncSession, order: Order) -> OrderOut:
    lines = (
        await session.execute(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
        )
    ).scalars()
    reservations = await inventory.reservations_for_order(session, order_id=order.id)
    return OrderOut(
        id=order.id,
        status=order.status,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        currency=order.currency,
        subtotal_minor=order.subtotal_minor,
        discount_minor=order.discount_minor,
        shipping_minor=order.shipping_minor,
        total_minor=order.total_minor,
        refunded_minor=order.refunded_minor,
        merchant_discount_minor=order.merchant_discount_minor,
        merchant_receives_minor=order.merchant_receives_minor,
        wallet_minor=order.wallet_minor,
        wallet_refunded_minor=order.wallet_refunded_minor,
        payable_minor=store_credit.payable(order),
        lines=[
            OrderLineOut(
                id=line.id,
                sku_id=line.sku_id,
                product_id=line.product_id,
                title=line.title,
                sku_code=line.sku_code,
                sku_attributes=line.sku_attributes,
                unit_price_minor=line.unit_price_minor,
                quantity=line.quantity,
                line_total_minor=line.line_total_minor,
            )
            for line in lines
        ],
        allocations=[
            AllocationOut(
                sku_id=r.sku_id, warehouse_id=r.warehouse_id, quantity=r.quantity, status=r.status
            )
            for r in reservations
        ],
        coupons=await coupon_checkout.order_coupons(session, order_id=order.id),
        live_session_id=order.live_session_id,
        shipping_address=order.shipping_address,
        carrier=order.carrier,
        tracking_number=order.tracking_number,
        cancel_reason=order.cancel_reason,
        created_at=order.created_at,
        expires_at=order.expires_at,
        paid_at=order.paid_at,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        completed_at=order.completed_at,
        closed_at=order.closed_at,
    )
