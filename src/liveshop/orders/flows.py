"""Order workflows that span domains (orders, inventory, payments)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.orders import service as orders
from liveshop.orders.models import Order
from liveshop.payments import service as payments
from liveshop.payments.provider import PaymentProvider


async def cancel_order(
    session: AsyncSession,
    *,
    order: Order,
    provider: PaymentProvider,
    now: datetime,
    actor_id: str | None,
    reason: str,
    idempotency_key: str,
) -> Order:
    """Cancel an unshipped order: stock goes back and, if it was paid, the money too."""
    was_paid = order.status == "paid"
    await orders.cancel(session, order=order, now=now, actor_id=actor_id, reason=reason)
    if was_paid:
        left = order.total_minor - order.refunded_minor
        if left > 0:
            await payments.refund(
                session,
                order=order,
                provider=provider,
                amount_minor=left,
                idempotency_key=f"cancel:{idempotency_key}",
                reason=reason or "order cancelled",
                now=now,
            )
    return order
