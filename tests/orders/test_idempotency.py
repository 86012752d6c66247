"""Same Idempotency-Key and body: same result, once. Same key, other body: 409."""

from __future__ import annotations

import asyncio

from tests.factories import make_shop, order_body


async def test_same_key_same_body_returns_the_same_order_once(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 5})
    headers = {**fan.headers, "Idempotency-Key": "checkout-1"}
    first = await client.post("/orders", json=order_body(shop.sku_ids[0], 2), headers=headers)
    second = await client.post("/orders", json=order_body(shop.sku_ids[0], 2), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    orders = (await client.get("/orders", headers=fan.headers)).json()["items"]
    assert len(orders) == 1
    availability = await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")
    assert availability.json()["available"] == 3


async def test_same_key_other_body_is_409(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 5})
    headers = {**fan.headers, "Idempotency-Key": "checkout-2"}
    await client.post("/orders", json=order_body(shop.sku_ids[0], 1), headers=headers)
    other = await client.post("/orders", json=order_body(shop.sku_ids[0], 3), headers=headers)
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency.key_reused"
    assert len((await client.get("/orders", headers=fan.headers)).json()["items"]) == 1


async def test_concurrent_requests_with_one_key_make_one_order(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 20})
    headers = {**fan.headers, "Idempotency-Key": "checkout-3"}
    responses = await asyncio.gather(
        *(
            client.post("/orders", json=order_body(shop.sku_ids[0], 1), headers=headers)
            for _ in range(8)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    availability = await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")
    assert availability.json()["available"] == 19


async def test_keys_are_per_account(client, runtime, make_account):
    fan1, fan2 = await make_account("fan"), await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 5})
    for fan in (fan1, fan2):
        r = await client.post(
            "/orders",
            json=order_body(shop.sku_ids[0]),
            headers={**fan.headers, "Idempotency-Key": "same"},
        )
        assert r.status_code == 201
        assert r.json()["buyer_id"] == fan.id


async def test_missing_key_is_400(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    r = await client.post("/orders", json=order_body(shop.sku_ids[0]), headers=fan.headers)
    assert r.status_code == 400
    assert r.json()["code"] == "idempotency.key_required"


async def test_a_failed_command_does_not_burn_the_key(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 1})
    headers = {**fan.headers, "Idempotency-Key": "retry-me"}
    failed = await client.post("/orders", json=order_body(shop.sku_ids[0], 2), headers=headers)
    assert failed.status_code == 409
    ok = await client.post(
        "/orders",
        json=order_body(shop.sku_ids[0], 2),
        headers={**fan.headers, "Idempotency-Key": "other"},
    )
    assert ok.status_code == 409
    again = await client.post("/orders", json=order_body(shop.sku_ids[0], 1), headers=headers)
    assert again.status_code == 201
