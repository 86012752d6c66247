"""Orders: checkout, the state machine and expiry. Services flush; callers commit.

States: pending_payment -> paid -> shipped -> delivered -> completed, plus cancelled (from
pending_payment or paid) and expired (unpaid past ``expires_at``). Every transition is a
guarded ``UPDATE ... WHERE status = :from`` so two racing transitions cannot both win, and
each one appends an ``order_status_changes`` row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from liveshop.errors import Problem, conflict, invalid, not_found
from liveshop.inventory import service as inventory
from liveshop.inventory.geo import city_coordinates
from liveshop.orders import store_credit
from liveshop.orders.cart import price_lines, session_prices
from liveshop.orders.models import Order, OrderLine, OrderStatusChange
from liveshop.orders.schemas import AddressIn, OrderLineIn
from liveshop.orders.views import to_out as to_out
from liveshop.promotions.coupons import checkout as coupon_checkout

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending_payment": ("paid", "cancelled", "expired"),
    "paid": ("shipped", "cancelled"),
    "shipped": ("delivered",),
    "delivered": ("completed",),
    "completed": (),
    "cancelled": (),
    "expired": (),
}
_STAMP = {
    "paid": "paid_at",
    "shipped": "shipped_at",
    "delivered": "delivered_at",
    "completed": "completed_at",
    "cancelled": "closed_at",
    "expired": "closed_at",
}


def destination_of(address: AddressIn) -> tuple[float, float]:
    if address.latitude is not None and address.longitude is not None:
        return (address.latitude, address.longitude)
    coordinates = city_coordinates(address.city)
    if coordinates is None:
        raise invalid(
            "address.unknown_location",
            f"unknown city {address.city!r}: send latitude and longitude",
            "shipping_address.city",
        )
    return coordinates


async def create(
    session: AsyncSession,
    *,
    buyer_id: str,
    lines: Sequence[OrderLineIn],
    address: AddressIn,
    now: datetime,
    payment_window: timedelta,
    live_session_id: str | None = None,
    coupon_ids: Sequence[str] = (),
    wallet_minor: int = 0,
) -> Order:
    """Place a pending-payment order: snapshot prices, apply coupons and store credit, reserve
    stock near the buyer; with nothing left to pay it is paid at once. ``live_session_id``
    records the live session it is bought in."""
    cart = await price_lines(session, lines=lines)
    if live_session_id is not None:
        cart = await session_prices(session, priced=cart, live_session_id=live_session_id, now=now)
    skus, quantities = cart.skus, cart.quantities
    destination = destination_of(address)
    order = Order(
        buyer_id=buyer_id,
        merchant_id=cart.merchant_id,
        status="pending_payment",
        currency=cart.currency,
        subtotal_minor=0,
        discount_minor=0,
        merchant_discount_minor=0,
        shipping_minor=0,
        total_minor=0,
        refunded_minor=0,
        shipping_address=address.model_dump(mode="json"),
        destination_lat=destination[0],
        destination_lon=destination[1],
        created_at=now,
        expires_at=now + payment_window,
        live_session_id=live_session_id,
    )
    session.add(order)
    await session.flush()
    requests = []
    subtotal = 0
    for sku_id, quantity in quantities.items():
        sku, product = skus[sku_id]
        row = OrderLine(
            order_id=order.id,
            sku_id=sku.id,
            product_id=product.id,
            title=product.title,
            sku_code=sku.code,
            sku_attributes=dict(sku.attributes),
            unit_price_minor=cart.unit_price(sku.id),
            quantity=quantity,
            line_total_minor=cart.unit_price(sku.id) * quantity,
        )
        session.add(row)
        await session.flush()
        subtotal += row.line_total_minor
        requests.append(inventory.AllocationRequest(sku.id, quantity, row.id))
    order.subtotal_minor = subtotal
    if coupon_ids:
        redeemed = await coupon_checkout.redeem(
            session,
            account_id=buyer_id,
            coupon_ids=coupon_ids,
            cart=cart.coupon_cart(live_session_id),
            order_id=order.id,
            now=now,
        )
        order.discount_minor = redeemed.applied.discount_minor
        order.merchant_discount_minor = redeemed.merchant_discount_minor
    order.total_minor = subtotal - order.discount_minor + order.shipping_minor
    # a discount someone else funded (an anchor's wallet, the platform) is not the merchant's
    order.merchant_receives_minor = subtotal + order.shipping_minor - order.merchant_discount_minor
    await store_credit.spend(session, order=order, wallet_minor=wallet_minor, now=now)
    await inventory.allocate(
        session,
        order_id=order.id,
        merchant_id=order.merchant_id,
        requests=requests,
        destination=destination,
        expires_at=order.expires_at,
        now=now,
    )
    session.add(
        OrderStatusChange(
            order_id=order.id,
            from_status=None,
            to_status="pending_payment",
            actor_id=buyer_id,
            note="",
            created_at=now,
        )
    )
    await session.flush()
    if store_credit.payable(order) == 0:
        await mark_paid(session, order=order, now=now, note="nothing left to pay")
    return order


async def get(session: AsyncSession, *, order_id: str) -> Order | None:
    return await session.get(Order, order_id)


async def get_or_raise(
    session: AsyncSession,
    *,
    order_id: str,
    buyer_id: str | None = None,
    merchant_ids: Sequence[str] | None = None,
    lock: bool = False,
) -> Order:
    """The order if the caller may see it; anyone else's order is a 404.

    ``lock=True`` takes the order's row lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's
    write lock is already held) and reloads it: every command that moves an order's money
    takes it first, so that such commands on one order run one after another. The lock
    order is documented in docs/architecture.md ("Locks"): order → payments → the provider's
    intent → wallet → stock."""
    if lock:
        order = await lock_order(session, order_id=order_id)
    else:
        order = await session.get(Order, order_id)
    if (
        order is None
        or (buyer_id is not None and order.buyer_id != buyer_id)
        or (merchant_ids is not None and order.merchant_id not in merchant_ids)
    ):
        raise not_found("order.not_found", "no such order")
    return order


async def lock_order(session: AsyncSession, *, order_id: str) -> Order | None:
    """The order, reloaded under its row lock (see :func:`get_or_raise`)."""
    return await session.get(Order, order_id, with_for_update=True, populate_existing=True)


async def list_orders(
    session: AsyncSession,
    *,
    buyer_id: str | None = None,
    merchant_ids: Sequence[str] | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Order], str | None]:
    """Newest first, cursor-paginated."""
    query = select(Order).order_by(Order.id.desc()).limit(limit + 1)
    if buyer_id is not None:
        query = query.where(Order.buyer_id == buyer_id)
    if merchant_ids is not None:
        query = query.where(Order.merchant_id.in_(merchant_ids))
    if status is not None:
        query = query.where(Order.status == status)
    if cursor:
        query = query.where(Order.id < cursor)
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


async def history(session: AsyncSession, *, order_id: str) -> list[OrderStatusChange]:
    result = await session.execute(
        select(OrderStatusChange)
        .where(OrderStatusChange.order_id == order_id)
        .order_by(OrderStatusChange.id)
    )
    return list(result.scalars())


async def transition(
    session: AsyncSession,
    *,
    order: Order,
    to: str,
    now: datetime,
    actor_id: str | None = None,
    note: str = "",
    **values: object,
) -> None:
    """Move ``order`` to ``to`` if its current state allows it (else 409 order.invalid_state)."""
    current = order.status
    if to not in TRANSITIONS.get(current, ()):
        raise conflict(
            "order.invalid_state",
            f"an order that is {current} cannot become {to}",
            order_status=current,
        )
    changes: dict[str, object] = {"status": to, **values}
    if to in _STAMP:
        changes[_STAMP[to]] = now
    result = await session.execute(
        update(Order).where(Order.id == order.id, Order.status == current).values(**changes)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        await session.refresh(order)
        raise conflict(
            "order.invalid_state",
            f"the order changed meanwhile and is now {order.status}",
            order_status=order.status,
        )
    session.add(
        OrderStatusChange(
            order_id=order.id,
            from_status=current,
            to_status=to,
            actor_id=actor_id,
            note=note[:200],
            created_at=now,
        )
    )
    await session.flush()
    await session.refresh(order)


ORDINARY_SOURCES = ("checkout", "seed")  # orders whose stock the orders domain settles


def settled_by_its_promotion(order: Order) -> bool:
    """An unpaid order placed by a promotion (a flash sale) holds units its promotion gave it:
    when it expires or is cancelled, the promotion's sweeper gives them back to the
    promotion (a flash sale's waitlist first), not to ordinary stock."""
    return order.source not in ORDINARY_SOURCES


def is_overdue(order: Order, now: datetime) -> bool:
    return order.status == "pending_payment" and order.expires_at <= now


async def mark_paid(
    session: AsyncSession, *, order: Order, now: datetime, note: str = "payment succeeded"
) -> bool:
    """Pending and in time: the order is paid and its stock stops expiring. Otherwise False
    (the caller refunds the money)."""
    if order.status != "pending_payment" or is_overdue(order, now):
        return False
    if not await inventory.commit_for_order(session, order_id=order.id):
        return False
    await transition(session, order=order, to="paid", now=now, note=note)
    return True


async def expire(session: AsyncSession, *, order: Order, now: datetime) -> None:
    """An unpaid order past its window: release its stock (a promotion's order: its promotion's
    sweeper gives the units back to the promotion)."""
    await transition(session, order=order, to="expired", now=now, note="payment window passed")
    if not settled_by_its_promotion(order):
        await inventory.release_for_order(session, order_id=order.id, now=now, note="order expired")
    await coupon_checkout.release_for_order(session, order_id=order.id, now=now)
    await store_credit.release(session, order=order, now=now)


async def cancel(
    session: AsyncSession, *, order: Order, now: datetime, actor_id: str | None, reason: str
) -> None:
    """Cancel before shipping and give the stock back (an unpaid promotion's order: to its
    promotion, by the promotion's sweeper); an unpaid order's store credit goes back here, a
    paid order's money through a refund (the caller's: see flows)."""
    if is_overdue(order, now):
        await expire(session, order=order, now=now)
        raise conflict("order.invalid_state", "the order has expired", order_status="expired")
    was_paid = order.paid_at is not None
    await transition(
        session,
        order=order,
        to="cancelled",
        now=now,
        actor_id=actor_id,
        note=reason,
        cancel_reason=reason or None,
    )
    if was_paid or not settled_by_its_promotion(order):
        await inventory.release_for_order(
            session, order_id=order.id, now=now, note="order cancelled"
        )
    await coupon_checkout.release_for_order(session, order_id=order.id, now=now)
    if not was_paid:
        await store_credit.release(session, order=order, now=now)


async def ship(
    session: AsyncSession,
    *,
    order: Order,
    carrier: str,
    tracking_number: str,
    now: datetime,
    actor_id: str | None,
) -> None:
    await transition(
        session,
        order=order,
        to="shipped",
        now=now,
        actor_id=actor_id,
        carrier=carrier,
        tracking_number=tracking_number,
    )
    await inventory.ship_for_order(session, order_id=order.id, now=now)


async def deliver(
    session: AsyncSession, *, order: Order, now: datetime, actor_id: str | None
) -> None:
    await transition(session, order=order, to="delivered", now=now, actor_id=actor_id)


async def complete(
    session: AsyncSession, *, order: Order, now: datetime, actor_id: str | None
) -> None:
    await transition(session, order=order, to="completed", now=now, actor_id=actor_id)


async def add_refunded(session: AsyncSession, *, order: Order, amount_minor: int) -> None:
    """Count a refund on the order: one guarded update, never more than the order's total."""
    refunded = await session.scalar(
        update(Order)
        .where(Order.id == order.id, Order.refunded_minor + amount_minor <= Order.total_minor)
        .values(refunded_minor=Order.refunded_minor + amount_minor)
        .returning(Order.refunded_minor)
        .execution_options(synchronize_session=False)
    )
    if refunded is None:
        raise Problem(409, "refund.exceeds_total", "refunds would exceed what was paid")
    set_committed_value(order, "refunded_minor", refunded)


async def overdue(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[Order]:
    result = await session.execute(
        select(Order)
        .where(
            Order.status == "pending_payment",
            Order.expires_at <= now,
            Order.source == "checkout",
        )
        .order_by(Order.expires_at)
        .limit(limit)
    )
    return list(result.scalars())


PAID_OR_LATER = ("paid", "shipped", "delivered", "completed")  # the order sold something


@dataclass(frozen=True, slots=True)
class SessionSales:
    orders: int
    paid_orders: int
    buyers: int
    gmv: list[tuple[str, int]]  # (currency, minor units)

    def conversion(self, unique_viewers: int) -> float:
        """Paying buyers per unique viewer (0 before anyone watched)."""
        return round(self.buyers / unique_viewers, 4) if unique_viewers else 0.0


async def session_sales(session: AsyncSession, *, session_id: str) -> SessionSales:
    """A live session's sales (orders tagged with it): orders placed, orders paid (or
    further), distinct paying buyers, and GMV per currency (paid totals less refunds)."""
    placed = await session.scalar(
        select(func.count()).select_from(Order).where(Order.live_session_id == session_id)
    )
    sold = (Order.live_session_id == session_id) & Order.status.in_(PAID_OR_LATER)
    paid = await session.scalar(select(func.count()).select_from(Order).where(sold))
    buyers = await session.scalar(select(func.count(func.distinct(Order.buyer_id))).where(sold))
    rows = await session.execute(
        select(Order.currency, func.sum(Order.total_minor - Order.refunded_minor))
        .where(sold)
        .group_by(Order.currency)
        .order_by(Order.currency)
    )
    return SessionSales(
        orders=int(placed or 0),
        paid_orders=int(paid or 0),
        buyers=int(buyers or 0),
        gmv=[(str(c), int(total or 0)) for c, total in rows],
    )
