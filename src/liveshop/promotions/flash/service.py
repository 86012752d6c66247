"""Flash sales in the database: create (allocate stock), the rows the gate is rebuilt from,
the batch that turns accepted buys into orders, expiry and closing.

Plain async functions, ``session`` first; they flush, callers commit. The in-memory decision
(the gate) and the single writer are in ``flash_runtime.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.catalog.models import Product, Sku
from liveshop.deals import consent
from liveshop.errors import conflict, invalid, not_found
from liveshop.inventory import service as inventory
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.orders import promotional
from liveshop.orders import service as orders
from liveshop.orders.models import Order
from liveshop.orders.schemas import AddressIn
from liveshop.promotions.flash.gate import GateSnapshot
from liveshop.promotions.flash.models import FlashReservation, FlashSale, FlashWaitlistEntry
from liveshop.promotions.flash.schemas import FlashSaleIn

SOURCE = "flash_sale"
HELD = ("live", "paid")


def reservation_id(user_id: str, key: str) -> str:
    """The reservation id of a buy: the same buyer and Idempotency-Key give the same id."""
    return hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()[:40]


def iso(value: datetime) -> str:
    return value.isoformat()


def view(sale: FlashSale, left: int) -> dict[str, Any]:
    """What viewers see of a sale (``FlashSaleView`` in flash_events.py)."""
    return {
        "kind": "flash_sale",
        "id": sale.id,
        "session_id": sale.session_id,
        "item_id": sale.item_id,
        "sku_id": sale.sku_id,
        "product_id": sale.product_id,
        "title": sale.title,
        "price_minor": sale.price_minor,
        "list_price_minor": sale.list_price_minor,
        "currency": sale.currency,
        "quantity": sale.quantity,
        "left": left,
        "per_user_limit": sale.per_user_limit,
        "status": sale.status,
        "opens_at": iso(sale.opens_at),
        "closes_at": iso(sale.closes_at),
    }


async def get_or_raise(session: AsyncSession, *, sale_id: str, lock: bool = False) -> FlashSale:
    query = select(FlashSale).where(FlashSale.id == sale_id)
    if lock:
        query = query.with_for_update()
    sale = (await session.execute(query)).scalars().first()
    if sale is None:
        raise not_found("flash.not_found", "no such flash sale")
    return sale


async def create_sale(
    session: AsyncSession, *, live: LiveSession, data: FlashSaleIn, actor_id: str, now: datetime
) -> FlashSale:
    """Open the countdown of a sale on a rundown item and take its quantity out of stock
    (held under the sale's id until sold, or given back when it closes). Another merchant's
    product needs the anchor's active deal (``deal.required``), a price at least its floor
    (``deal.price_below_floor``) and a quantity its stock share still covers
    (``deal.stock_share_exceeded``)."""
    if live.status != "live":
        raise conflict("live.not_live", "flash sales run only while the session is live")
    line = await live_service.get_line_or_raise(session, session_id=live.id, item_id=data.item_id)
    if data.price_minor > line.sku.price_minor:
        raise invalid(
            "flash.price_above_list",
            "the flash price cannot exceed the SKU's regular price",
            "price_minor",
        )
    deal = await consent.deal_for(
        session,
        anchor_id=live.anchor_id,
        product_id=line.product.id,
        merchant_id=line.product.merchant_id,
        now=now,
    )
    consent.check_floor(deal, price_minor=data.price_minor, field="price_minor")
    running = await session.scalar(
        select(func.count())
        .select_from(FlashSale)
        .where(
            FlashSale.session_id == live.id,
            FlashSale.item_id == data.item_id,
            FlashSale.status != "closed",
        )
    )
    if running:
        raise conflict("flash.already_running", "a flash sale of this product is running")
    opens_at = now + timedelta(seconds=data.countdown_seconds)
    sale = FlashSale(
        session_id=live.id,
        item_id=line.item.id,
        sku_id=line.sku.id,
        product_id=line.product.id,
        merchant_id=line.product.merchant_id,
        title=line.product.title,
        price_minor=data.price_minor,
        list_price_minor=line.sku.price_minor,
        currency=line.sku.currency,
        quantity=data.quantity,
        per_user_limit=data.per_user_limit,
        payment_window_seconds=data.payment_window_seconds,
        status="countdown",
        opens_at=opens_at,
        closes_at=opens_at + timedelta(seconds=data.duration_seconds),
        created_by=actor_id,
        created_at=now,
    )
    session.add(sale)
    await session.flush()
    if deal is not None:  # another merchant's goods: the units come out of the deal's share
        await consent.take(
            session, deal=deal, kind="stock", amount=sale.quantity, source=sale.id, now=now
        )
    await inventory.allocate(
        session,
        order_id=sale.id,
        merchant_id=sale.merchant_id,
        requests=[inventory.AllocationRequest(sale.sku_id, sale.quantity, None)],
        destination=(0.0, 0.0),
        expires_at=None,
        now=now,
    )
    return sale


async def sales_of_session(session: AsyncSession, *, session_id: str) -> list[FlashSale]:
    result = await session.execute(
        select(FlashSale).where(FlashSale.session_id == session_id).order_by(FlashSale.id)
    )
    return list(result.scalars())


async def running_sales(session: AsyncSession) -> list[FlashSale]:
    result = await session.execute(
        select(FlashSale).where(FlashSale.status != "closed").order_by(FlashSale.id)
    )
    return list(result.scalars())


async def gate_state(session: AsyncSession, *, sale: FlashSale) -> GateSnapshot:
    """The gate's state from the database: free units are the quantity minus every unit of a
    live or paid reservation; live reservations stay live; the waitlist keeps its order."""
    rows = await session.execute(
        select(
            FlashReservation.id,
            FlashReservation.user_id,
            FlashReservation.quantity,
            FlashReservation.status,
        ).where(FlashReservation.sale_id == sale.id, FlashReservation.status.in_(HELD))
    )
    taken: dict[str, int] = {}
    reservations: dict[str, tuple[str, int]] = {}
    held = 0
    for rid, user_id, quantity, status in rows:
        taken[user_id] = taken.get(user_id, 0) + quantity
        held += quantity
        if status == "live":
            reservations[rid] = (user_id, quantity)
    waiting = await session.execute(
        select(FlashWaitlistEntry.user_id)
        .where(FlashWaitlistEntry.sale_id == sale.id, FlashWaitlistEntry.outcome.is_(None))
        .order_by(FlashWaitlistEntry.position)
    )
    status = {"countdown": "scheduled", "open": "open", "closed": "closed"}[sale.status]
    return GateSnapshot(
        status=status,  # type: ignore[arg-type]
        stock=max(0, sale.quantity - held),
        per_user_limit=sale.per_user_limit,
        taken=taken,
        reservations=reservations,
        waitlist=list(waiting.scalars()),
    )


async def held_units(session: AsyncSession, *, sale_id: str, user_id: str | None = None) -> int:
    """Units of live and paid buys of the sale (of one buyer when given)."""
    query = select(func.coalesce(func.sum(FlashReservation.quantity), 0)).where(
        FlashReservation.sale_id == sale_id, FlashReservation.status.in_(HELD)
    )
    if user_id is not None:
        query = query.where(FlashReservation.user_id == user_id)
    return int(await session.scalar(query) or 0)


def naive_outcome(sale: FlashSale, *, now: datetime, held: int, mine: int, qty: int) -> str | None:
    """The baseline's decision from counted rows (None: accepted)."""
    if now < sale.opens_at:
        return "not_open"
    if sale.status == "closed" or now >= sale.closes_at:
        return "closed"
    if mine + qty > sale.per_user_limit:
        return "limit_reached"
    if held + qty > sale.quantity:
        return "sold_out"
    return None


# -- the group commit: accepted buys -> orders -------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """A buy the gate accepted, waiting to be written."""

    reservation_id: str
    sale_id: str
    user_id: str
    quantity: int
    address: AddressIn
    fingerprint: str
    from_waitlist: bool = False
    accepted_at: float = 0.0  # monotonic seconds when the gate took the units (0: not timed)


async def existing(session: AsyncSession, ids: Sequence[str]) -> dict[str, FlashReservation]:
    if not ids:
        return {}
    result = await session.execute(select(FlashReservation).where(FlashReservation.id.in_(ids)))
    return {row.id: row for row in result.scalars()}


async def write_batch(
    session: AsyncSession, *, buys: Sequence[Accepted], now: datetime
) -> list[FlashReservation]:
    """Write accepted buys (none of them in the database yet) as pending-payment orders with
    their units moved from the sale's allocation; one flush for the batch."""
    sales: dict[str, tuple[FlashSale, Sku, Product]] = {}
    transfers: dict[str, list[inventory.Transfer]] = {}
    out: list[FlashReservation] = []
    for buy in buys:
        if buy.sale_id not in sales:
            sale = await session.get(FlashSale, buy.sale_id)
            assert sale is not None
            sku = await session.get(Sku, sale.sku_id)
            product = await session.get(Product, sale.product_id)
            assert sku is not None and product is not None
            sales[buy.sale_id] = (sale, sku, product)
        sale, sku, product = sales[buy.sale_id]
        expires_at = now + timedelta(seconds=sale.payment_window_seconds)
        built, rows = promotional.build_order(
            buyer_id=buy.user_id,
            sku=sku,
            product=product,
            quantity=buy.quantity,
            unit_price_minor=sale.price_minor,
            address=buy.address.model_dump(mode="json"),
            destination=orders.destination_of(buy.address),
            source=SOURCE,
            live_session_id=sale.session_id,
            now=now,
            expires_at=expires_at,
        )
        session.add_all(rows)
        reservation = FlashReservation(
            id=buy.reservation_id,
            sale_id=sale.id,
            user_id=buy.user_id,
            quantity=buy.quantity,
            order_id=built.order.id,
            status="live",
            fingerprint=buy.fingerprint,
            from_waitlist=buy.from_waitlist,
            expires_at=expires_at,
            created_at=now,
        )
        session.add(reservation)
        out.append(reservation)
        transfers.setdefault(sale.id, []).append(
            # no expiry on the units: the flash sweeper, not the stock sweeper, settles them
            inventory.Transfer(built.order.id, built.line.id, buy.quantity, None)
        )
    await session.flush()
    for sale_id, items in transfers.items():
        sale = sales[sale_id][0]
        await inventory.transfer(
            session, from_order_id=sale_id, sku_id=sale.sku_id, transfers=items, now=now
        )
    return out


# -- expiry, payment, closing ------------------------------------------------------------------


async def due(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[FlashReservation]:
    """Live reservations whose order is no longer waiting for payment, or whose window is
    over: the sweeper settles them."""
    result = await session.execute(
        select(FlashReservation)
        .join(Order, Order.id == FlashReservation.order_id)
        .where(
            FlashReservation.status == "live",
            (FlashReservation.expires_at <= now) | (Order.status != "pending_payment"),
        )
        .order_by(FlashReservation.expires_at)
        .limit(limit)
    )
    return list(result.scalars())


async def settle(
    session: AsyncSession, *, reservation: FlashReservation, sale: FlashSale, now: datetime
) -> str:
    """Settle one live reservation; returns its new status.

    - paid order: ``paid`` (the gate confirms it);
    - unpaid past its window: the order expires, its units go back to the sale's allocation
      (or to stock once the sale is closed): ``released`` (the gate releases it);
    - cancelled by the buyer (its units already went back to stock): ``cancelled``.
    """
    order = await session.get(Order, reservation.order_id, with_for_update=True)
    assert order is not None
    if order.status == "pending_payment" and order.expires_at <= now:
        await orders.transition(
            session, order=order, to="expired", now=now, note="payment window passed"
        )
    if order.status not in ("pending_payment", "expired", "cancelled"):
        reservation.status = "paid"
    elif order.status == "pending_payment":
        return "live"
    else:
        held = [
            r
            for r in await inventory.reservations_for_order(session, order_id=order.id)
            if r.status == "active" and r.quantity > 0
        ]
        if held and sale.status != "closed":
            await inventory.transfer(
                session,
                from_order_id=order.id,
                sku_id=sale.sku_id,
                transfers=[inventory.Transfer(sale.id, None, sum(r.quantity for r in held), None)],
                now=now,
            )
            reservation.status = "released"
        elif held:
            await inventory.release_for_order(session, order_id=order.id, now=now, note="expired")
            await consent.give_back(
                session,
                kind="stock",
                source=sale.id,
                amount=sum(r.quantity for r in held),
                now=now,
            )
            reservation.status = "released"
        else:
            reservation.status = "cancelled"
    reservation.closed_at = now
    await session.flush()
    return reservation.status


async def close_sale(session: AsyncSession, *, sale: FlashSale, now: datetime) -> int:
    """Close a sale: unsold units held by it go back to stock (and to the deal's stock share,
    when the sale took them from one); returns the units sold."""
    sale.status = "closed"
    sale.closed_at = now
    await inventory.release_for_order(session, order_id=sale.id, now=now, note="flash sale closed")
    await session.execute(
        update(FlashWaitlistEntry)
        .where(FlashWaitlistEntry.sale_id == sale.id, FlashWaitlistEntry.outcome.is_(None))
        .values(outcome="closed")
    )
    sold = int(
        await session.scalar(
            select(func.coalesce(func.sum(FlashReservation.quantity), 0)).where(
                FlashReservation.sale_id == sale.id, FlashReservation.status.in_(HELD)
            )
        )
        or 0
    )
    # what went back to stock goes back to the deal's stock share (when it came from one)
    await consent.give_back(
        session, kind="stock", source=sale.id, amount=sale.quantity - sold, now=now
    )
    await session.flush()
    return sold


async def add_to_waitlist(
    session: AsyncSession,
    *,
    sale: FlashSale,
    user_id: str,
    position: int,
    address: AddressIn,
    now: datetime,
) -> None:
    found = await session.execute(
        select(FlashWaitlistEntry).where(
            FlashWaitlistEntry.sale_id == sale.id, FlashWaitlistEntry.user_id == user_id
        )
    )
    if found.scalars().first() is None:
        session.add(
            FlashWaitlistEntry(
                sale_id=sale.id,
                user_id=user_id,
                position=position,
                shipping_address=address.model_dump(mode="json"),
                created_at=now,
            )
        )
        await session.flush()


async def mark_granted(
    session: AsyncSession, *, sale_id: str, user_id: str, reservation_id: str
) -> None:
    await session.execute(
        update(FlashWaitlistEntry)
        .where(FlashWaitlistEntry.sale_id == sale_id, FlashWaitlistEntry.user_id == user_id)
        .values(outcome="granted", reservation_id=reservation_id)
    )


async def my_buys(session: AsyncSession, *, sale_id: str, user_id: str) -> list[FlashReservation]:
    result = await session.execute(
        select(FlashReservation)
        .where(FlashReservation.sale_id == sale_id, FlashReservation.user_id == user_id)
        .order_by(FlashReservation.created_at)
    )
    return list(result.scalars())


async def my_waitlist(
    session: AsyncSession, *, sale_id: str, user_id: str
) -> FlashWaitlistEntry | None:
    result = await session.execute(
        select(FlashWaitlistEntry).where(
            FlashWaitlistEntry.sale_id == sale_id, FlashWaitlistEntry.user_id == user_id
        )
    )
    return result.scalars().first()
