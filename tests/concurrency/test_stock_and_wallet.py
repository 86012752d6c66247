"""Stock and wallet commands under concurrency: first receipts, adjustments, wallet spends at
checkout, same-key checkouts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.inventory import service as inventory
from liveshop.inventory.models import Stock
from liveshop.orders.models import Order
from liveshop.wallet import service as wallet
from liveshop.wallet import top_ups
from tests.concurrency.helpers import at_once, fans, key, outcomes
from tests.factories import make_shop, order_body

pytestmark = pytest.mark.usefixtures("backend")


async def _on_hand(runtime: Any, sku_id: str, warehouse_id: str) -> int:
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []
        stock = (
            await s.execute(
                select(Stock).where(Stock.sku_id == sku_id, Stock.warehouse_id == warehouse_id)
            )
        ).scalar_one()
        return stock.on_hand


async def test_twenty_concurrent_first_receipts_of_a_sku_all_land(
    client: Any, runtime: Any, make_account: Any
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id, stock={})
    warehouse = shop.warehouses["GZ"]
    responses = await at_once(
        client.post(
            "/merchant/stock/receipts",
            json={"sku_id": shop.sku_ids[0], "warehouse_id": warehouse, "quantity": 5},
            headers={**merchant.headers, **key()},
        )
        for _ in range(20)
    )
    assert outcomes(responses) == {"201": 20}
    assert await _on_hand(runtime, shop.sku_ids[0], warehouse) == 100


async def test_twenty_concurrent_adjustments_never_take_stock_below_zero(
    client: Any, runtime: Any, make_account: Any
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id, stock={"HZ": 10})
    warehouse = shop.warehouses["HZ"]
    responses = await at_once(
        client.post(
            "/merchant/stock/adjustments",
            json={"sku_id": shop.sku_ids[0], "warehouse_id": warehouse, "delta": -1, "note": "n"},
            headers={**merchant.headers, **key()},
        )
        for _ in range(20)
    )
    assert outcomes(responses) == {"201": 10, "409 stock.insufficient": 10}
    assert await _on_hand(runtime, shop.sku_ids[0], warehouse) == 0


async def test_twenty_concurrent_wallet_spends_never_overdraw(
    client: Any, runtime: Any, make_account: Any
) -> None:
    shop = await make_shop(runtime, prices=(500,), stock={"HZ": 30})
    (fan,) = await fans(runtime, 1)
    async with runtime.sessionmaker() as s:
        await top_ups.grant(
            s,
            account_id=fan.id,
            amount_minor=1000,
            currency="CNY",
            source="test",
            now=runtime.clock.now(),
        )
        await s.commit()
    responses = await at_once(
        client.post(
            "/orders",
            json={**order_body(shop.sku_ids[0]), "wallet_minor": 100},
            headers={**fan.headers, **key()},
        )
        for _ in range(20)
    )
    assert outcomes(responses) == {"201": 10, "409 wallet.insufficient_funds": 10}
    async with runtime.sessionmaker() as s:
        assert await wallet.verify(s) == []
        assert await wallet.balance(s, account_id=fan.id, currency="CNY") == 0
        orders = await s.scalar(select(func.count()).where(Order.buyer_id == fan.id))
    assert orders == 10


async def test_twenty_checkouts_with_one_key_place_one_order(
    client: Any, runtime: Any, make_account: Any
) -> None:
    shop = await make_shop(runtime, stock={"HZ": 30})
    (fan,) = await fans(runtime, 1)
    headers = {**fan.headers, **key()}
    responses = await at_once(
        client.post("/orders", json=order_body(shop.sku_ids[0]), headers=headers) for _ in range(20)
    )
    assert outcomes(responses) == {"201": 20}
    assert len({r.json()["id"] for r in responses}) == 1
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count()).where(Order.buyer_id == fan.id)) == 1
    assert await _on_hand(runtime, shop.sku_ids[0], shop.warehouses["HZ"]) == 30
    levels = (await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")).json()
    assert levels["available"] == 29
