"""From pending payment to completed, cancellations, expiry with an injected clock."""

from __future__ import annotations

import uuid
from typing import Any

from liveshop.inventory import service as inventory
from liveshop.orders import scheduled
from tests.factories import make_shop, order_body
from tests.payments.helpers import pay, place_order


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def test_order_goes_from_paid_to_completed_and_stock_leaves_on_shipping(
    client, runtime, make_account
):
    fan = await make_account("fan")
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id, stock={"HZ": 5})
    order = await place_order(client, fan, shop.sku_ids[0], 2)
    paid = await pay(client, runtime, fan, order["id"])
    assert paid["status"] == "paid" and paid["paid_at"] is not None
    assert paid["allocations"][0]["status"] == "committed"

    shipped = await client.post(
        f"/merchant/orders/{order['id']}/ship",
        json={"carrier": "SF Express", "tracking_number": "SF123"},
        headers={**merchant.headers, **key()},
    )
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped"
    levels = (
        await client.get(
            "/merchant/stock", params={"sku_id": shop.sku_ids[0]}, headers=merchant.headers
        )
    ).json()
    hz = next(level for level in levels if level["warehouse_id"] == shop.warehouses["HZ"])
    assert (hz["on_hand"], hz["reserved"], hz["available"]) == (3, 0, 3)

    delivered = await client.post(
        f"/merchant/orders/{order['id']}/deliver", headers=merchant.headers
    )
    assert delivered.json()["status"] == "delivered"
    completed = await client.post(f"/orders/{order['id']}/confirm-receipt", headers=fan.headers)
    assert completed.json()["status"] == "completed"
    history = (await client.get(f"/orders/{order['id']}/history", headers=fan.headers)).json()
    assert [h["to_status"] for h in history] == [
        "pending_payment",
        "paid",
        "shipped",
        "delivered",
        "completed",
    ]
    movements = (
        await client.get(
            "/merchant/stock/movements",
            params={"sku_id": shop.sku_ids[0]},
            headers=merchant.headers,
        )
    ).json()["items"]
    assert [m["kind"] for m in movements] == ["shipment", "reservation", "receipt"]
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []


async def test_shipping_an_unpaid_order_is_409_invalid_state(client, runtime, make_account):
    fan = await make_account("fan")
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    order = await place_order(client, fan, shop.sku_ids[0])
    r = await client.post(
        f"/merchant/orders/{order['id']}/ship",
        json={"carrier": "SF", "tracking_number": "1"},
        headers={**merchant.headers, **key()},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "order.invalid_state"


async def test_cancelling_a_pending_order_releases_its_stock(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 3})
    order = await place_order(client, fan, shop.sku_ids[0], 3)
    r = await client.post(
        f"/orders/{order['id']}/cancel",
        json={"reason": "changed my mind"},
        headers={**fan.headers, **key()},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    avail = await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")
    assert avail.json()["available"] == 3


async def test_cancelling_a_paid_order_refunds_it_in_full(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 3})
    order = await place_order(client, fan, shop.sku_ids[0], 1)
    await pay(client, runtime, fan, order["id"])
    r = await client.post(
        f"/orders/{order['id']}/cancel", json={}, headers={**fan.headers, **key()}
    )
    assert r.json()["status"] == "cancelled"
    assert r.json()["refunded_minor"] == order["total_minor"]
    payments = (await client.get(f"/orders/{order['id']}/payments", headers=fan.headers)).json()
    assert payments[0]["status"] == "refunded"


async def test_unpaid_order_expires_and_its_stock_returns(client, runtime, make_account, clock):
    fan1, fan2 = await make_account("fan"), await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 2})
    first = await place_order(client, fan1, shop.sku_ids[0], 2)
    refused = await client.post(
        "/orders", json=order_body(shop.sku_ids[0], 1), headers={**fan2.headers, **key()}
    )
    assert refused.json()["code"] == "stock.insufficient"

    clock.advance(seconds=runtime.settings.payment_window_seconds + 1)
    # Expired reservations no longer hold stock, even before the sweeper runs.
    avail = await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")
    assert avail.json()["available"] == 2
    late = await client.post(
        f"/orders/{first['id']}/payments", json=None, headers={**fan1.headers, **key()}
    )
    assert late.status_code == 409 and late.json()["code"] == "order.invalid_state"

    second = await place_order(client, fan2, shop.sku_ids[0], 1)
    assert second["status"] == "pending_payment"
    assert await scheduled.expire_overdue(runtime) == 1
    expired = (await client.get(f"/orders/{first['id']}", headers=fan1.headers)).json()
    assert expired["status"] == "expired"
    assert {a["status"] for a in expired["allocations"]} == {"released"}
    assert (await client.get(f"/catalog/skus/{shop.sku_ids[0]}/availability")).json()[
        "available"
    ] == 1
    assert await scheduled.expire_overdue(runtime) == 0
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []


async def test_sweeper_releases_reservations_of_orders_in_time_only(
    client, runtime, make_account, clock
):
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 5})
    early = await place_order(client, fan, shop.sku_ids[0], 1)
    clock.advance(seconds=runtime.settings.payment_window_seconds // 2)
    later = await place_order(client, fan, shop.sku_ids[0], 1)
    clock.advance(seconds=runtime.settings.payment_window_seconds // 2 + 1)
    assert await scheduled.expire_overdue(runtime) == 1
    assert (await client.get(f"/orders/{early['id']}", headers=fan.headers)).json()[
        "status"
    ] == "expired"
    assert (await client.get(f"/orders/{later['id']}", headers=fan.headers)).json()[
        "status"
    ] == "pending_payment"


async def test_a_merchant_reads_its_orders_history_and_refunds_only(
    runtime: Any, client: Any, make_account: Any
) -> None:
    """An order's status changes and refunds (the merchant console's order detail) keep the
    merchant API's scope: another merchant's order is a 404, a fan is refused."""
    merchant, other, fan = (
        await make_account("merchant"),
        await make_account("merchant"),
        await make_account("fan"),
    )
    shop = await make_shop(runtime, owner_id=merchant.id)
    order = await place_order(client, fan, shop.sku_ids[0])
    paid = await pay(client, runtime, fan, order["id"])
    refund = await client.post(
        f"/merchant/orders/{paid['id']}/refunds",
        json={"amount_minor": 500, "reason": "goodwill"},
        headers={**merchant.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert refund.status_code == 201, refund.text
    base = f"/merchant/orders/{paid['id']}"
    history = await client.get(f"{base}/history", headers=merchant.headers)
    assert history.status_code == 200, history.text
    assert [(h["from_status"], h["to_status"]) for h in history.json()] == [
        (None, "pending_payment"),
        ("pending_payment", "paid"),
    ]
    refunds = await client.get(f"{base}/refunds", headers=merchant.headers)
    assert [(r["amount_minor"], r["reason"]) for r in refunds.json()] == [(500, "goodwill")]
    for path in (f"{base}/history", f"{base}/refunds"):
        assert (await client.get(path, headers=other.headers)).json()["code"] == "order.not_found"
        assert (await client.get(path, headers=fan.headers)).status_code == 403
