"""Receipts and adjustments: idempotent, scoped, never below zero, ledger == counters."""

from __future__ import annotations

from liveshop.inventory import service as inventory
from tests.factories import make_shop


async def test_receipts_and_adjustments_are_ledger_rows(client, runtime, make_account):
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id, stock={})
    sku, hz = shop.sku_ids[0], shop.warehouses["HZ"]
    r = await client.post(
        "/merchant/stock/receipts",
        json={"sku_id": sku, "warehouse_id": hz, "quantity": 7},
        headers={**merchant.headers, "Idempotency-Key": "rcpt-1"},
    )
    assert r.status_code == 201, r.text
    replay = await client.post(
        "/merchant/stock/receipts",
        json={"sku_id": sku, "warehouse_id": hz, "quantity": 7},
        headers={**merchant.headers, "Idempotency-Key": "rcpt-1"},
    )
    assert replay.json()["id"] == r.json()["id"]
    adj = await client.post(
        "/merchant/stock/adjustments",
        json={"sku_id": sku, "warehouse_id": hz, "delta": -2, "note": "damaged"},
        headers={**merchant.headers, "Idempotency-Key": "adj-1"},
    )
    assert adj.status_code == 201, adj.text
    levels = (
        await client.get("/merchant/stock", params={"sku_id": sku}, headers=merchant.headers)
    ).json()
    assert [(lv["warehouse_id"], lv["on_hand"]) for lv in levels] == [(hz, 5)]
    moves = (
        await client.get(
            "/merchant/stock/movements", params={"sku_id": sku}, headers=merchant.headers
        )
    ).json()["items"]
    assert [(m["kind"], m["on_hand_delta"]) for m in moves] == [("adjustment", -2), ("receipt", 7)]
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []


async def test_adjustment_cannot_go_below_zero(client, runtime, make_account):
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id, stock={"HZ": 3})
    r = await client.post(
        "/merchant/stock/adjustments",
        json={
            "sku_id": shop.sku_ids[0],
            "warehouse_id": shop.warehouses["HZ"],
            "delta": -4,
            "note": "count",
        },
        headers={**merchant.headers, "Idempotency-Key": "adj"},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "stock.insufficient"


async def test_zero_or_fractional_quantities_are_422(client, runtime, make_account):
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    for quantity in (0, 2.5, -1):
        r = await client.post(
            "/merchant/stock/receipts",
            json={
                "sku_id": shop.sku_ids[0],
                "warehouse_id": shop.warehouses["HZ"],
                "quantity": quantity,
            },
            headers={**merchant.headers, "Idempotency-Key": f"q{quantity}"},
        )
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "quantity"


async def test_warehouse_codes_are_unique_per_merchant(client, runtime, make_account):
    merchant = await make_account("merchant")
    await make_shop(runtime, owner_id=merchant.id)
    body = {
        "code": "HZ",
        "name": "Again",
        "city": "Hangzhou",
        "region": "Zhejiang",
        "latitude": 30.0,
        "longitude": 120.0,
    }
    r = await client.post("/merchant/warehouses", json=body, headers=merchant.headers)
    assert r.status_code == 409
    assert r.json()["code"] == "warehouse.code_taken"
    listed = (await client.get("/merchant/warehouses", headers=merchant.headers)).json()
    assert sorted(w["code"] for w in listed) == ["CD", "GZ", "HZ"]
