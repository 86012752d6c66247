"""Stock you can trust: every change is a ledger row and a guarded UPDATE.

Invariants (checked by :func:`verify_ledger` and the tests):
- ``stocks.on_hand`` == sum of its movements' ``on_hand_delta``; same for ``reserved``.
- ``0 <= reserved <= on_hand`` (also CHECK constraints in the database).

Concurrency: no read-modify-write. Reserving is ``UPDATE ... SET reserved = reserved + q
WHERE on_hand - reserved >= q`` and checks the row count; a reservation changes state with
``UPDATE ... WHERE status = 'active'`` so that exactly one transaction releases it. On
PostgreSQL (READ COMMITTED) the guard is re-evaluated after a row lock wait; on SQLite every
transaction holds the write lock (BEGIN IMMEDIATE). A deadlock between two multi-warehouse
orders is retried by the caller's transaction runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from liveshop.errors import Problem, conflict, invalid, not_found
from liveshop.ids import new_id
from liveshop.inventory.geo import distance_km
from liveshop.inventory.models import Reservation, Stock, StockMovement, Warehouse

MAX_ALLOCATION_ROUNDS = 50


@dataclass(frozen=True, slots=True)
class AllocationRequest:
    sku_id: str
    quantity: int
    order_line_id: str | None = None


@dataclass(frozen=True, slots=True)
class StockLevel:
    stock_id: str
    sku_id: str
    warehouse_id: str
    on_hand: int
    reserved: int
    expired_reserved: int

    @property
    def available(self) -> int:
        """Units that can be sold now (expired reservations do not hold stock)."""
        return self.on_hand - self.reserved + self.expired_reserved


# -- warehouses ---------------------------------------------------------------------------


async def create_warehouse(
    session: AsyncSession,
    *,
    merchant_id: str,
    code: str,
    name: str,
    city: str,
    region: str,
    latitude: float,
    longitude: float,
    now: datetime,
) -> Warehouse:
    taken = await session.execute(
        select(Warehouse.id).where(Warehouse.merchant_id == merchant_id, Warehouse.code == code)
    )
    if taken.first() is not None:
        raise conflict("warehouse.code_taken", f"warehouse code {code!r} is already used")
    warehouse = Warehouse(
        merchant_id=merchant_id,
        code=code,
        name=name,
        city=city,
        region=region,
        latitude=latitude,
        longitude=longitude,
        is_active=True,
        created_at=now,
    )
    session.add(warehouse)
    await session.flush()
    return warehouse


async def list_warehouses(session: AsyncSession, *, merchant_ids: Sequence[str]) -> list[Warehouse]:
    result = await session.execute(
        select(Warehouse).where(Warehouse.merchant_id.in_(merchant_ids)).order_by(Warehouse.id)
    )
    return list(result.scalars())


async def get_warehouse_or_raise(
    session: AsyncSession, *, warehouse_id: str, merchant_ids: Sequence[str] | None = None
) -> Warehouse:
    """The warehouse; one of another merchant is reported as missing (404)."""
    warehouse = await session.get(Warehouse, warehouse_id)
    if warehouse is None or (
        merchant_ids is not None and warehouse.merchant_id not in merchant_ids
    ):
        raise not_found("warehouse.not_found", "no such warehouse")
    return warehouse


MAX_ON_HAND = 1_000_000_000
"""Units of one SKU one warehouse may hold (the column is a 32-bit integer)."""

# -- ledger ----------------------------------------------------------------------------------


async def _stock_id(
    session: AsyncSession, *, sku_id: str, warehouse_id: str, create: bool
) -> str | None:
    result = await session.execute(
        select(Stock.id).where(Stock.sku_id == sku_id, Stock.warehouse_id == warehouse_id)
    )
    stock_id = result.scalar_one_or_none()
    if stock_id is None and create:
        # The first receipt of a SKU in a warehouse may race another: insert-or-nothing on
        # the (sku, warehouse) unique key, then read whichever row won.
        dialect = session.get_bind().dialect.name
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(Stock)
            .values(id=new_id(), sku_id=sku_id, warehouse_id=warehouse_id, on_hand=0, reserved=0)
            .on_conflict_do_nothing(index_elements=["sku_id", "warehouse_id"])
        )
        stock_id = await session.scalar(
            select(Stock.id).where(Stock.sku_id == sku_id, Stock.warehouse_id == warehouse_id)
        )
    return stock_id


def _movement(
    *,
    stock_id: str,
    sku_id: str,
    warehouse_id: str,
    kind: str,
    now: datetime,
    on_hand_delta: int = 0,
    reserved_delta: int = 0,
    order_id: str | None = None,
    reservation_id: str | None = None,
    actor_id: str | None = None,
    note: str = "",
) -> StockMovement:
    return StockMovement(
        stock_id=stock_id,
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        kind=kind,
        on_hand_delta=on_hand_delta,
        reserved_delta=reserved_delta,
        order_id=order_id,
        reservation_id=reservation_id,
        actor_id=actor_id,
        note=note[:200],
        created_at=now,
    )


async def _guarded_update(session: AsyncSession, statement: object) -> bool:
    result = await session.execute(statement)  # type: ignore[call-overload]
    assert isinstance(result, CursorResult)
    return bool(result.rowcount == 1)


async def _add_on_hand(session: AsyncSession, *, stock_id: str, quantity: int) -> None:
    """Units onto the shelf: one guarded update, never past :data:`MAX_ON_HAND`."""
    if not await _guarded_update(
        session,
        update(Stock)
        .where(Stock.id == stock_id, Stock.on_hand <= MAX_ON_HAND - quantity)
        .values(on_hand=Stock.on_hand + quantity),
    ):
        raise conflict(
            "stock.too_many", f"a warehouse holds at most {MAX_ON_HAND} units of one SKU"
        )


async def receive(
    session: AsyncSession,
    *,
    sku_id: str,
    warehouse_id: str,
    quantity: int,
    now: datetime,
    actor_id: str | None = None,
    note: str = "",
) -> StockMovement:
    """Goods arrive in a warehouse."""
    if quantity <= 0:
        raise invalid("stock.invalid_quantity", "a receipt needs a positive quantity", "quantity")
    stock_id = await _stock_id(session, sku_id=sku_id, warehouse_id=warehouse_id, create=True)
    assert stock_id is not None
    await _add_on_hand(session, stock_id=stock_id, quantity=quantity)
    movement = _movement(
        stock_id=stock_id,
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        kind="receipt",
        now=now,
        on_hand_delta=quantity,
        actor_id=actor_id,
        note=note,
    )
    session.add(movement)
    await session.flush()
    return movement


async def adjust(
    session: AsyncSession,
    *,
    sku_id: str,
    warehouse_id: str,
    delta: int,
    now: datetime,
    actor_id: str | None = None,
    note: str = "",
) -> StockMovement:
    """A stock count correction; it may not take on-hand below what is reserved."""
    if delta == 0:
        raise invalid("stock.invalid_quantity", "an adjustment needs a non-zero delta", "delta")
    stock_id = await _stock_id(session, sku_id=sku_id, warehouse_id=warehouse_id, create=delta > 0)
    if stock_id is None or not await _guarded_update(
        session,
        update(Stock)
        .where(
            Stock.id == stock_id,
            Stock.on_hand + delta >= Stock.reserved,
            Stock.on_hand + delta <= MAX_ON_HAND,
        )
        .values(on_hand=Stock.on_hand + delta),
    ):
        raise conflict(
            "stock.insufficient",
            "the adjustment would take on-hand stock below zero or below what is reserved",
        )
    movement = _movement(
        stock_id=stock_id,
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        kind="adjustment",
        now=now,
        on_hand_delta=delta,
        actor_id=actor_id,
        note=note,
    )
    session.add(movement)
    await session.flush()
    return movement


async def levels(
    session: AsyncSession,
    *,
    sku_ids: Sequence[str],
    now: datetime,
    warehouse_ids: Sequence[str] | None = None,
) -> list[StockLevel]:
    """Stock rows of the SKUs, with units held by expired (not yet swept) reservations."""
    expired = (
        select(Reservation.stock_id, func.sum(Reservation.quantity).label("qty"))
        .where(Reservation.status == "active", Reservation.expires_at <= now)
        .group_by(Reservation.stock_id)
        .subquery()
    )
    query = (
        select(
            Stock.id,
            Stock.sku_id,
            Stock.warehouse_id,
            Stock.on_hand,
            Stock.reserved,
            func.coalesce(expired.c.qty, 0),
        )
        .outerjoin(expired, expired.c.stock_id == Stock.id)
        .where(Stock.sku_id.in_(sku_ids))
        .order_by(Stock.sku_id, Stock.warehouse_id)
    )
    if warehouse_ids is not None:
        query = query.where(Stock.warehouse_id.in_(warehouse_ids))
    rows = (await session.execute(query)).all()
    return [StockLevel(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows]


async def list_movements(
    session: AsyncSession,
    *,
    sku_id: str,
    warehouse_ids: Sequence[str],
    cursor: str | None,
    limit: int,
) -> tuple[list[StockMovement], str | None]:
    query = (
        select(StockMovement)
        .where(StockMovement.sku_id == sku_id, StockMovement.warehouse_id.in_(warehouse_ids))
        .order_by(StockMovement.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(StockMovement.id < cursor)
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


# -- reservations ------------------------------------------------------------------------------


async def _close_reservation(
    session: AsyncSession,
    reservation: Reservation,
    *,
    to: str,
    kind: str | None,
    now: datetime,
    note: str = "",
    from_statuses: Sequence[str] = ("active",),
) -> bool:
    """Move a reservation out of ``from_statuses``; only one transaction can win."""
    won = await _guarded_update(
        session,
        update(Reservation)
        .where(Reservation.id == reservation.id, Reservation.status.in_(from_statuses))
        .values(status=to, closed_at=now)
        .execution_options(synchronize_session=False),
    )
    if not won:
        return False
    on_hand_delta = -reservation.quantity if kind == "shipment" else 0
    await session.execute(
        update(Stock)
        .where(Stock.id == reservation.stock_id)
        .values(
            reserved=Stock.reserved - reservation.quantity,
            on_hand=Stock.on_hand + on_hand_delta,
        )
    )
    if kind is not None:
        session.add(
            _movement(
                stock_id=reservation.stock_id,
                sku_id=reservation.sku_id,
                warehouse_id=reservation.warehouse_id,
                kind=kind,
                now=now,
                on_hand_delta=on_hand_delta,
                reserved_delta=-reservation.quantity,
                order_id=reservation.order_id,
                reservation_id=reservation.id,
                note=note,
            )
        )
    return True


async def _release_expired_on(
    session: AsyncSession, *, stock_ids: Sequence[str], now: datetime
) -> None:
    result = await session.execute(
        select(Reservation).where(
            Reservation.stock_id.in_(stock_ids),
            Reservation.status == "active",
            Reservation.expires_at <= now,
        )
    )
    for reservation in result.scalars():
        await _close_reservation(
            session, reservation, to="released", kind="release", now=now, note="expired"
        )


async def allocate(
    session: AsyncSession,
    *,
    order_id: str,
    merchant_id: str,
    requests: Sequence[AllocationRequest],
    destination: tuple[float, float],
    expires_at: datetime | None,
    now: datetime,
) -> list[Reservation]:
    """Reserve stock for an order from the nearest warehouse that can cover each line,
    splitting across warehouses (nearest first) when none can. 409 ``stock.insufficient``
    when the merchant's active warehouses cannot cover a line."""
    reservations: list[Reservation] = []
    for request in sorted(requests, key=lambda r: r.sku_id):
        remaining = request.quantity
        for _ in range(MAX_ALLOCATION_ROUNDS):
            if remaining == 0:
                break
            candidates = await _candidates(
                session,
                sku_id=request.sku_id,
                merchant_id=merchant_id,
                destination=destination,
                now=now,
            )
            total = sum(available for _, _, available, _ in candidates)
            if total < remaining:
                raise conflict(
                    "stock.insufficient",
                    f"only {total} left of SKU {request.sku_id}",
                    sku_id=request.sku_id,
                    available=total,
                )
            covering = [c for c in candidates if c[2] >= remaining]
            stock_id, warehouse_id, available, _ = covering[0] if covering else candidates[0]
            take = min(available, remaining)
            if not await _guarded_update(
                session,
                update(Stock)
                .where(Stock.id == stock_id, Stock.on_hand - Stock.reserved >= take)
                .values(reserved=Stock.reserved + take),
            ):
                continue  # someone was faster: read again and re-plan
            reservation = Reservation(
                stock_id=stock_id,
                sku_id=request.sku_id,
                warehouse_id=warehouse_id,
                order_id=order_id,
                order_line_id=request.order_line_id,
                quantity=take,
                status="active",
                expires_at=expires_at,
                created_at=now,
            )
            session.add(reservation)
            await session.flush()
            session.add(
                _movement(
                    stock_id=stock_id,
                    sku_id=request.sku_id,
                    warehouse_id=warehouse_id,
                    kind="reservation",
                    now=now,
                    reserved_delta=take,
                    order_id=order_id,
                    reservation_id=reservation.id,
                )
            )
            reservations.append(reservation)
            remaining -= take
        else:
            raise Problem(409, "stock.contention", "stock is changing fast; try again")
    await session.flush()
    return reservations


async def _candidates(
    session: AsyncSession,
    *,
    sku_id: str,
    merchant_id: str,
    destination: tuple[float, float],
    now: datetime,
) -> list[tuple[str, str, int, float]]:
    """(stock id, warehouse id, available, km) of warehouses with stock, nearest first."""
    query = (
        select(Stock.id, Stock.warehouse_id, Warehouse.latitude, Warehouse.longitude)
        .join(Warehouse, Warehouse.id == Stock.warehouse_id)
        .where(
            Stock.sku_id == sku_id,
            Warehouse.merchant_id == merchant_id,
            Warehouse.is_active.is_(True),
        )
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return []
    await _release_expired_on(session, stock_ids=[r[0] for r in rows], now=now)
    fresh = await session.execute(
        select(Stock.id, Stock.on_hand - Stock.reserved).where(Stock.id.in_([r[0] for r in rows]))
    )
    available = {sid: int(avail) for sid, avail in fresh.all()}
    candidates = [
        (r[0], r[1], available[r[0]], distance_km(destination, (r[2], r[3])))
        for r in rows
        if available.get(r[0], 0) > 0
    ]
    candidates.sort(key=lambda c: (c[3], c[1]))
    return candidates


@dataclass(frozen=True)
class Transfer:
    """Units to move out of a holder's reservations into a new one for ``order_id``."""

    order_id: str
    order_line_id: str | None
    quantity: int
    expires_at: datetime | None


async def transfer(
    session: AsyncSession,
    *,
    from_order_id: str,
    sku_id: str,
    transfers: Sequence[Transfer],
    now: datetime,
) -> list[Reservation]:
    """Move held units between holders without touching stock: a promotion's allocation
    (held under the promotion's id) gives units to its orders, or an unpaid order gives
    them back. Stock ``reserved`` does not change; the ledger gets a release and a
    reservation that cancel out. 409 ``stock.insufficient`` if the holder has too few."""
    wanted = sum(t.quantity for t in transfers)
    if wanted == 0:
        return []
    result = await session.execute(
        select(Reservation)
        .where(
            Reservation.order_id == from_order_id,
            Reservation.sku_id == sku_id,
            Reservation.status.in_(("active", "committed")),
            Reservation.quantity > 0,
        )
        .order_by(Reservation.id)
    )
    sources = list(result.scalars())
    if sum(r.quantity for r in sources) < wanted:
        raise conflict(
            "stock.insufficient",
            f"the holder {from_order_id} has fewer than {wanted} units of SKU {sku_id}",
            sku_id=sku_id,
        )
    created: list[Reservation] = []
    queue = list(transfers)
    for source in sources:
        # one guarded UPDATE per source for everything it gives (a flash sale's batch moves
        # units to hundreds of orders at once), then the rows of each move
        available = source.quantity
        taken = 0
        for item in queue:
            if taken >= available:
                break
            taken += min(item.quantity, available - taken)
        if taken == 0:
            continue
        if not await _guarded_update(
            session,
            update(Reservation)
            .where(Reservation.id == source.id, Reservation.quantity >= taken)
            .values(quantity=Reservation.quantity - taken)
            .execution_options(synchronize_session=False),
        ):
            raise Problem(409, "stock.contention", "stock is changing fast; try again")
        # the row is not changed through the ORM: its flush would write back a stale total
        set_committed_value(source, "quantity", source.quantity - taken)
        left = taken
        while queue and left > 0:
            item = queue[0]
            take = min(item.quantity, left)
            left -= take
            reservation = Reservation(
                id=new_id(),
                stock_id=source.stock_id,
                sku_id=sku_id,
                warehouse_id=source.warehouse_id,
                order_id=item.order_id,
                order_line_id=item.order_line_id,
                quantity=take,
                status="active",
                expires_at=item.expires_at,
                created_at=now,
            )
            session.add(reservation)
            for holder, delta, kind, reservation_id in (
                (from_order_id, -take, "release", source.id),
                (item.order_id, take, "reservation", reservation.id),
            ):
                session.add(
                    _movement(
                        stock_id=source.stock_id,
                        sku_id=sku_id,
                        warehouse_id=source.warehouse_id,
                        kind=kind,
                        now=now,
                        reserved_delta=delta,
                        order_id=holder,
                        reservation_id=reservation_id,
                        note="transfer",
                    )
                )
            created.append(reservation)
            if take == item.quantity:
                queue.pop(0)
            else:
                queue[0] = Transfer(
                    item.order_id, item.order_line_id, item.quantity - take, item.expires_at
                )
    await session.flush()
    return created


async def reservations_for_order(session: AsyncSession, *, order_id: str) -> list[Reservation]:
    result = await session.execute(
        select(Reservation).where(Reservation.order_id == order_id).order_by(Reservation.id)
    )
    return list(result.scalars())


async def release_for_order(
    session: AsyncSession, *, order_id: str, now: datetime, note: str = ""
) -> int:
    """Give back the units an unshipped order holds (cancel, expiry)."""
    released = 0
    for reservation in await reservations_for_order(session, order_id=order_id):
        if await _close_reservation(
            session,
            reservation,
            to="released",
            kind="release",
            now=now,
            note=note,
            from_statuses=("active", "committed"),
        ):
            released += reservation.quantity
    await session.flush()
    return released


async def commit_for_order(session: AsyncSession, *, order_id: str) -> bool:
    """A paid order's reservations no longer expire. False if any had already lapsed."""
    result = await session.execute(
        update(Reservation)
        .where(Reservation.order_id == order_id, Reservation.status == "active")
        .values(status="committed", expires_at=None)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    lapsed = await session.execute(
        select(func.count()).where(
            Reservation.order_id == order_id, Reservation.status == "released"
        )
    )
    return int(lapsed.scalar_one()) == 0 and result.rowcount > 0


async def ship_for_order(session: AsyncSession, *, order_id: str, now: datetime) -> None:
    """The parcel leaves: reserved units leave on-hand too."""
    for reservation in await reservations_for_order(session, order_id=order_id):
        await _close_reservation(
            session,
            reservation,
            to="consumed",
            kind="shipment",
            now=now,
            from_statuses=("committed",),
        )
    await session.flush()


async def restock_return(
    session: AsyncSession,
    *,
    sku_id: str,
    warehouse_id: str,
    quantity: int,
    order_id: str,
    now: datetime,
    actor_id: str | None = None,
) -> StockMovement:
    """Returned goods go back on the shelf."""
    stock_id = await _stock_id(session, sku_id=sku_id, warehouse_id=warehouse_id, create=True)
    assert stock_id is not None
    await _add_on_hand(session, stock_id=stock_id, quantity=quantity)
    movement = _movement(
        stock_id=stock_id,
        sku_id=sku_id,
        warehouse_id=warehouse_id,
        kind="return",
        now=now,
        on_hand_delta=quantity,
        order_id=order_id,
        actor_id=actor_id,
    )
    session.add(movement)
    await session.flush()
    return movement


async def release_expired(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """The sweeper: release active reservations past their expiry."""
    result = await session.execute(
        select(Reservation)
        .where(Reservation.status == "active", Reservation.expires_at <= now)
        .order_by(Reservation.expires_at)
        .limit(limit)
    )
    count = 0
    for reservation in result.scalars():
        if await _close_reservation(
            session, reservation, to="released", kind="release", now=now, note="expired"
        ):
            count += 1
    await session.flush()
    return count


async def verify_ledger(session: AsyncSession) -> list[str]:
    """Stock rows whose counters differ from the ledger's sums (empty when all is well)."""
    sums = (
        select(
            StockMovement.stock_id,
            func.sum(StockMovement.on_hand_delta).label("on_hand"),
            func.sum(StockMovement.reserved_delta).label("reserved"),
        )
        .group_by(StockMovement.stock_id)
        .subquery()
    )
    rows = await session.execute(
        select(Stock.id, Stock.on_hand, Stock.reserved, sums.c.on_hand, sums.c.reserved).outerjoin(
            sums, sums.c.stock_id == Stock.id
        )
    )
    problems = []
    for stock_id, on_hand, reserved, ledger_on_hand, ledger_reserved in rows.all():
        if on_hand != int(ledger_on_hand or 0) or reserved != int(ledger_reserved or 0):
            problems.append(
                f"stock {stock_id}: on_hand {on_hand} vs ledger {ledger_on_hand}, "
                f"reserved {reserved} vs ledger {ledger_reserved}"
            )
    return problems
