"""Scope: a fan sees only its orders, a merchant only its own (others are 404)."""

from __future__ import annotations

from tests.factories import make_shop
from tests.payments.helpers import place_order


async def test_a_fan_cannot_see_another_fans_order(client, runtime, make_account):
    owner, other = await make_account("fan"), await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, owner, shop.sku_ids[0])
    r = await client.get(f"/orders/{order['id']}", headers=other.headers)
    assert r.status_code == 404
    assert r.json()["code"] == "order.not_found"
    assert (await client.get("/orders", headers=other.headers)).json()["items"] == []


async def test_a_merchant_sees_only_its_own_orders(client, runtime, make_account):
    fan = await make_account("fan")
    m1, m2 = await make_account("merchant"), await make_account("merchant")
    shop1 = await make_shop(runtime, owner_id=m1.id)
    await make_shop(runtime, owner_id=m2.id)
    order = await place_order(client, fan, shop1.sku_ids[0])
    mine = (await client.get("/merchant/orders", headers=m1.headers)).json()["items"]
    assert [o["id"] for o in mine] == [order["id"]]
    assert (await client.get("/merchant/orders", headers=m2.headers)).json()["items"] == []
    r = await client.get(f"/merchant/orders/{order['id']}", headers=m2.headers)
    assert r.status_code == 404


async def test_a_fan_cannot_use_merchant_endpoints(client, make_account):
    fan = await make_account("fan")
    r = await client.get("/merchant/orders", headers=fan.headers)
    assert r.status_code == 403
    assert r.json()["code"] == "auth.forbidden"


async def test_a_merchant_cannot_receive_stock_into_another_merchants_warehouse(
    client, runtime, make_account
):
    m1, m2 = await make_account("merchant"), await make_account("merchant")
    shop1 = await make_shop(runtime, owner_id=m1.id)
    shop2 = await make_shop(runtime, owner_id=m2.id)
    r = await client.post(
        "/merchant/stock/receipts",
        json={"sku_id": shop2.sku_ids[0], "warehouse_id": shop2.warehouses["HZ"], "quantity": 5},
        headers={**m1.headers, "Idempotency-Key": "r1"},
    )
    assert r.status_code == 404
    mixed = await client.post(
        "/merchant/stock/receipts",
        json={"sku_id": shop2.sku_ids[0], "warehouse_id": shop1.warehouses["HZ"], "quantity": 5},
        headers={**m1.headers, "Idempotency-Key": "r2"},
    )
    assert mixed.status_code == 404
