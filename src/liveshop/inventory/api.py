from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop import idempotency
from liveshop.auth.service import Principal
from liveshop.catalog import service as catalog_service
from liveshop.deps import CurrentPrincipal, RuntimeDep, SessionDep
from liveshop.errors import forbidden, not_found
from liveshop.inventory import service as inventory
from liveshop.inventory.models import StockMovement, Warehouse
from liveshop.inventory.schemas import (
    AdjustmentIn,
    AvailabilityOut,
    MovementOut,
    MovementPage,
    ReceiptIn,
    StockLevelOut,
    WarehouseIn,
    WarehouseOut,
)

router = APIRouter(tags=["inventory"])


def _warehouse_out(w: Warehouse) -> WarehouseOut:
    return WarehouseOut(
        id=w.id,
        merchant_id=w.merchant_id,
        code=w.code,
        name=w.name,
        city=w.city,
        region=w.region,
        latitude=w.latitude,
        longitude=w.longitude,
        is_active=w.is_active,
    )


def _movement_out(m: StockMovement) -> MovementOut:
    return MovementOut(
        id=m.id,
        sku_id=m.sku_id,
        warehouse_id=m.warehouse_id,
        kind=m.kind,
        on_hand_delta=m.on_hand_delta,
        reserved_delta=m.reserved_delta,
        order_id=m.order_id,
        note=m.note,
        created_at=m.created_at,
    )


async def _my_merchants(session: AsyncSession, principal: Principal) -> list[str]:
    if not (principal.has("merchant") or principal.is_admin):
        raise forbidden("this needs the merchant role")
    return await catalog_service.merchant_ids_for(session, account_id=principal.account_id)


async def _owned_sku_and_warehouse(
    session: AsyncSession, principal: Principal, sku_id: str, warehouse_id: str
) -> Sequence[str]:
    """Both must belong to one of the caller's merchants (else 404, as if missing)."""
    merchant_ids = await _my_merchants(session, principal)
    scope = None if principal.is_admin else merchant_ids
    warehouse = await inventory.get_warehouse_or_raise(
        session, warehouse_id=warehouse_id, merchant_ids=scope
    )
    skus = await catalog_service.get_skus(session, sku_ids=[sku_id])
    if sku_id not in skus or skus[sku_id][1].merchant_id != warehouse.merchant_id:
        raise not_found("sku.not_found", "no such SKU among this warehouse's merchant's products")
    return [warehouse.merchant_id]


@router.post("/merchant/warehouses", status_code=201, response_model=WarehouseOut)
async def create_warehouse(
    body: WarehouseIn, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> WarehouseOut:
    merchant_id = await catalog_service.resolve_merchant_id(
        session, principal=principal, merchant_id=body.merchant_id
    )
    warehouse = await inventory.create_warehouse(
        session,
        merchant_id=merchant_id,
        code=body.code,
        name=body.name,
        city=body.city,
        region=body.region,
        latitude=body.latitude,
        longitude=body.longitude,
        now=runtime.clock.now(),
    )
    await session.commit()
    return _warehouse_out(warehouse)


@router.get("/merchant/warehouses", response_model=list[WarehouseOut])
async def list_warehouses(principal: CurrentPrincipal, session: SessionDep) -> list[WarehouseOut]:
    merchant_ids = await _my_merchants(session, principal)
    return [
        _warehouse_out(w)
        for w in await inventory.list_warehouses(session, merchant_ids=merchant_ids)
    ]


@router.post("/merchant/stock/receipts", status_code=201, response_model=MovementOut)
async def receive_stock(
    body: ReceiptIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Goods arrived: on-hand goes up by ``quantity`` (a ``receipt`` ledger row)."""
    now = runtime.clock.now()

    async def action() -> MovementOut:
        await _owned_sku_and_warehouse(session, principal, body.sku_id, body.warehouse_id)
        movement = await inventory.receive(
            session,
            sku_id=body.sku_id,
            warehouse_id=body.warehouse_id,
            quantity=body.quantity,
            now=now,
            actor_id=principal.account_id,
            note=body.note,
        )
        return _movement_out(movement)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation="stock.receive",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )


@router.post("/merchant/stock/adjustments", status_code=201, response_model=MovementOut)
async def adjust_stock(
    body: AdjustmentIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """A count correction (an ``adjustment`` ledger row); never below what is reserved."""
    now = runtime.clock.now()

    async def action() -> MovementOut:
        await _owned_sku_and_warehouse(session, principal, body.sku_id, body.warehouse_id)
        movement = await inventory.adjust(
            session,
            sku_id=body.sku_id,
            warehouse_id=body.warehouse_id,
            delta=body.delta,
            now=now,
            actor_id=principal.account_id,
            note=body.note,
        )
        return _movement_out(movement)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation="stock.adjust",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )


@router.get("/merchant/stock", response_model=list[StockLevelOut])
async def stock_levels(
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    sku_id: Annotated[list[str], Query(min_length=1, max_length=100)],
) -> list[StockLevelOut]:
    """Stock per warehouse of the given SKUs (only the caller's warehouses)."""
    merchant_ids = await _my_merchants(session, principal)
    warehouses = [w.id for w in await inventory.list_warehouses(session, merchant_ids=merchant_ids)]
    rows = await inventory.levels(
        session,
        sku_ids=sku_id,
        now=runtime.clock.now(),
        warehouse_ids=None if principal.is_admin else warehouses,
    )
    return [
        StockLevelOut(
            sku_id=r.sku_id,
            warehouse_id=r.warehouse_id,
            on_hand=r.on_hand,
            reserved=r.reserved - r.expired_reserved,
            available=r.available,
        )
        for r in rows
    ]


@router.get("/merchant/stock/movements", response_model=MovementPage)
async def stock_movements(
    principal: CurrentPrincipal,
    session: SessionDep,
    sku_id: str,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MovementPage:
    """The ledger of one SKU in the caller's warehouses, newest first."""
    merchant_ids = await _my_merchants(session, principal)
    warehouses = [w.id for w in await inventory.list_warehouses(session, merchant_ids=merchant_ids)]
    rows, next_cursor = await inventory.list_movements(
        session, sku_id=sku_id, warehouse_ids=warehouses, cursor=cursor, limit=limit
    )
    return MovementPage(items=[_movement_out(m) for m in rows], next_cursor=next_cursor)


@router.get("/catalog/skus/{sku_id}/availability", response_model=AvailabilityOut)
async def availability(sku_id: str, session: SessionDep, runtime: RuntimeDep) -> AvailabilityOut:
    """Units of a published SKU that can be bought now, across all warehouses."""
    skus = await catalog_service.get_skus(session, sku_ids=[sku_id])
    if sku_id not in skus or skus[sku_id][1].status != "published":
        raise not_found("sku.not_found", "no such SKU on sale")
    rows = await inventory.levels(session, sku_ids=[sku_id], now=runtime.clock.now())
    return AvailabilityOut(sku_id=sku_id, available=sum(max(0, r.available) for r in rows))
