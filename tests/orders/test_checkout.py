"""Buy-now checkout: snapshots, nearest-warehouse allocation, stock never negative."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from liveshop.deps import Runtime
from liveshop.inventory import service as inventory
from tests.factories import address, make_shop, order_body


def idem() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def buy(client: httpx.AsyncClient, actor, body: dict[str, object]) -> httpx.Response:
    return await client.post("/orders", json=body, headers={**actor.headers, **idem()})


async def ledger_ok(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []


async def test_checkout_snapshots_prices_and_reserves_stock(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 5})
    response = await buy(client, fan, order_body(shop.sku_ids[0], 2))
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending_payment"
    assert order["total_minor"] == 2 * 9900 and order["currency"] == "CNY"
    assert order["lines"][0]["unit_price_minor"] == 9900
    assert order["allocations"] == [
        {
            "sku_id": shop.sku_ids[0],
            "warehouse_id": shop.warehouses["HZ"],
            "quantity": 2,
            "status": "active",
        }
    ]
    availability = await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")
    assert availability.json()["available"] == 3
    await ledger_ok(runtime)


@pytest.mark.parametrize(
    ("city", "expected"), [("Shanghai", "HZ"), ("Shenzhen", "GZ"), ("Chongqing", "CD")]
)
async def test_order_goes_to_the_nearest_warehouse_that_covers_it(
    client, runtime, make_account, city, expected
):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 5, "GZ": 5, "CD": 5})
    response = await buy(client, fan, order_body(shop.sku_ids[0], 4, city=city))
    assert response.status_code == 201, response.text
    allocations = response.json()["allocations"]
    assert [(a["warehouse_id"], a["quantity"]) for a in allocations] == [
        (shop.warehouses[expected], 4)
    ]


async def test_a_farther_warehouse_that_covers_beats_splitting(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 2, "GZ": 6})
    response = await buy(client, fan, order_body(shop.sku_ids[0], 5, city="Shanghai"))
    assert [(a["warehouse_id"], a["quantity"]) for a in response.json()["allocations"]] == [
        (shop.warehouses["GZ"], 5)
    ]


async def test_order_splits_across_warehouses_nearest_first(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 3, "GZ": 4, "CD": 5})
    response = await buy(client, fan, order_body(shop.sku_ids[0], 10, city="Shanghai"))
    assert response.status_code == 201, response.text
    got = {a["warehouse_id"]: a["quantity"] for a in response.json()["allocations"]}
    assert got == {shop.warehouses["HZ"]: 3, shop.warehouses["GZ"]: 4, shop.warehouses["CD"]: 3}
    await ledger_ok(runtime)


async def test_coordinates_in_the_address_override_the_city(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 5, "CD": 5})
    body = {
        "lines": [{"sku_id": shop.sku_ids[0], "quantity": 1}],
        "shipping_address": address("Somewhere small", latitude=30.66, longitude=104.06),
    }
    response = await buy(client, fan, body)
    assert response.json()["allocations"][0]["warehouse_id"] == shop.warehouses["CD"]


async def test_insufficient_stock_is_409_and_changes_nothing(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 2, "GZ": 1})
    response = await buy(client, fan, order_body(shop.sku_ids[0], 4))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "stock.insufficient"
    assert response.json()["available"] == 3
    assert (await client.get("/orders", headers=fan.headers)).json()["items"] == []
    assert (await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")).json()[
        "available"
    ] == 3
    await ledger_ok(runtime)


async def test_fifty_concurrent_checkouts_for_ten_units_give_exactly_ten_orders(
    client, runtime, make_account
):
    fans = [await make_account("fan") for _ in range(10)]
    shop = await make_shop(runtime, stock={"HZ": 4, "GZ": 3, "CD": 3})
    cities = ["Shanghai", "Shenzhen", "Chengdu", "Beijing", "Wuhan"]
    responses = await asyncio.gather(
        *(
            buy(client, fans[i % 10], order_body(shop.sku_ids[0], 1, city=cities[i % 5]))
            for i in range(50)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 10, [r.text for r in responses if r.status_code not in (201, 409)]
    assert codes.count(409) == 40
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"stock.insufficient"}
    async with runtime.sessionmaker() as s:
        levels = await inventory.levels(s, sku_ids=shop.sku_ids, now=runtime.clock.now())
        assert sum(level.reserved for level in levels) == 10
        assert all(level.on_hand - level.reserved >= 0 for level in levels)
    await ledger_ok(runtime)


async def test_lines_of_two_merchants_are_refused(client, runtime, make_account):
    fan = await make_account("fan")
    a = await make_shop(runtime)
    b = await make_shop(runtime)
    body = {
        "lines": [{"sku_id": a.sku_ids[0], "quantity": 1}, {"sku_id": b.sku_ids[0], "quantity": 1}],
        "shipping_address": address(),
    }
    response = await buy(client, fan, body)
    assert response.status_code == 422
    assert response.json()["code"] == "order.multiple_merchants"


async def test_unpublished_product_cannot_be_bought(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, published=False)
    response = await buy(client, fan, order_body(shop.sku_ids[0]))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "order.sku_unavailable"
    assert body["errors"][0]["field"] == "lines.0.sku_id"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["lines"][0].update(quantity=0), "lines.0.quantity"),
        (lambda b: b["lines"][0].update(quantity=1.5), "lines.0.quantity"),
        (lambda b: b["lines"][0].update(quantity="2"), "lines.0.quantity"),
        (lambda b: b.update(lines=[]), "lines"),
        (lambda b: b["shipping_address"].pop("recipient"), "shipping_address.recipient"),
        (lambda b: b["shipping_address"].update(phone="call me"), "shipping_address.phone"),
        (lambda b: b["shipping_address"].update(latitude=31.0), "shipping_address"),
        (lambda b: b.update(coupon="FREE"), "coupon"),
    ],
)
async def test_invalid_checkout_is_422_naming_the_field(
    client, runtime, make_account, mutate, field
):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    body = order_body(shop.sku_ids[0])
    mutate(body)
    response = await buy(client, fan, body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "request.invalid"
    assert field in [e["field"] for e in problem["errors"]]


async def test_unknown_city_without_coordinates_is_422(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    response = await buy(client, fan, order_body(shop.sku_ids[0], city="Atlantis"))
    assert response.status_code == 422
    assert response.json()["code"] == "address.unknown_location"
    assert response.json()["errors"][0]["field"] == "shipping_address.city"


async def test_malformed_json_is_422_not_500(client, make_account):
    fan = await make_account("fan")
    response = await client.post(
        "/orders",
        content=b"{not json",
        headers={**fan.headers, **idem(), "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "request.invalid"


async def test_checkout_needs_sign_in(client, runtime):
    shop = await make_shop(runtime)
    response = await client.post("/orders", json=order_body(shop.sku_ids[0]), headers=idem())
    assert response.status_code == 401
    assert response.json()["code"] == "auth.required"
