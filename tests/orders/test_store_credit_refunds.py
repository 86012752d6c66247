"""Refunds of orders paid partly or wholly with store credit, on both databases: card money
goes back first, then the credit to the wallet; never more than was paid; retries refund once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from liveshop.deps import Runtime
from liveshop.wallet import service as wallet
from tests.conftest import Actor
from tests.factories import make_shop, order_body
from tests.payments.helpers import pay
from tests.wallet.helpers import balance, top_up

pytestmark = pytest.mark.usefixtures("backend")

PRICE = 9900


async def _paid_order(
    client: Any, runtime: Runtime, fan: Actor, sku_id: str, wallet_minor: int
) -> dict[str, Any]:
    placed = await client.post(
        "/orders",
        json={**order_body(sku_id), "wallet_minor": wallet_minor},
        headers={**fan.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert placed.status_code == 201, placed.text
    order = dict(placed.json())
    if order["status"] == "pending_payment":
        order = await pay(client, runtime, fan, order["id"])
    assert order["status"] == "paid"
    return order


async def _refund(
    client: Any, merchant: Actor, order_id: str, amount: int, key: str | None = None
) -> Any:
    return await client.post(
        f"/merchant/orders/{order_id}/refunds",
        json={"amount_minor": amount, "reason": "goodwill"},
        headers={**merchant.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def _verified(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as s:
        assert await wallet.verify(s) == []


async def test_a_refund_returns_card_money_first_then_store_credit(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan, merchant = await make_account("fan"), await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    await top_up(client, runtime, fan, 3000)
    order = await _paid_order(client, runtime, fan, shop.sku_ids[0], 3000)  # card pays 6900

    first = await _refund(client, merchant, order["id"], 5000, key="refund-1")
    assert first.status_code == 201, first.text
    assert (first.json()["card_minor"], first.json()["wallet_minor"]) == (5000, 0)
    replay = await _refund(client, merchant, order["id"], 5000, key="refund-1")
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    assert await balance(client, fan) == 0

    second = await _refund(client, merchant, order["id"], 4000)
    assert (second.json()["card_minor"], second.json()["wallet_minor"]) == (1900, 2100)
    assert second.json()["payment_id"] == first.json()["payment_id"]
    assert await balance(client, fan) == 2100
    too_much = await _refund(client, merchant, order["id"], 1000)  # 900 left
    assert too_much.status_code == 409 and too_much.json()["code"] == "refund.exceeds_captured"
    last = await _refund(client, merchant, order["id"], 900)
    assert (last.json()["card_minor"], last.json()["wallet_minor"], last.json()["payment_id"]) == (
        0,
        900,
        None,
    )
    assert await balance(client, fan) == 3000
    got = (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()
    assert (got["refunded_minor"], got["wallet_refunded_minor"]) == (PRICE, 3000)
    payments = (await client.get(f"/orders/{order['id']}/payments", headers=fan.headers)).json()
    assert (payments[0]["status"], payments[0]["refunded_minor"]) == ("refunded", PRICE - 3000)
    nothing = await _refund(client, merchant, order["id"], 1)
    assert nothing.status_code == 409 and nothing.json()["code"] == "refund.nothing_captured"
    entries = (await client.get("/wallet/entries", headers=fan.headers)).json()["items"]
    assert [(e["kind"], e["amount_minor"], e["ref"]) for e in entries[:2]] == [
        ("store_credit_refund", 900, last.json()["id"]),
        ("store_credit_refund", 2100, second.json()["id"]),
    ]
    await _verified(runtime)


async def test_an_order_paid_wholly_with_credit_is_refunded_to_the_wallet(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan, merchant = await make_account("fan"), await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    await top_up(client, runtime, fan, PRICE)
    order = await _paid_order(client, runtime, fan, shop.sku_ids[0], PRICE)
    partial = await _refund(client, merchant, order["id"], 1500)
    assert partial.status_code == 201, partial.text
    assert (partial.json()["card_minor"], partial.json()["wallet_minor"]) == (0, 1500)
    assert partial.json()["payment_id"] is None
    assert await balance(client, fan) == 1500
    cancelled = await client.post(
        f"/merchant/orders/{order['id']}/cancel",
        json={"reason": "out of stock"},
        headers={**merchant.headers, "Idempotency-Key": "m-cancel"},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["refunded_minor"] == PRICE
    assert cancelled.json()["wallet_refunded_minor"] == PRICE
    assert await balance(client, fan) == PRICE
    await _verified(runtime)


async def test_cancelling_a_paid_order_refunds_the_card_part_and_the_credit_part(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    await top_up(client, runtime, fan, 2000)
    order = await _paid_order(client, runtime, fan, shop.sku_ids[0], 2000)
    cancelled = await client.post(
        f"/orders/{order['id']}/cancel",
        json={"reason": "changed my mind"},
        headers={**fan.headers, "Idempotency-Key": "cancel-paid"},
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["refunded_minor"], body["wallet_refunded_minor"]) == (
        "cancelled",
        PRICE,
        2000,
    )
    payments = (await client.get(f"/orders/{order['id']}/payments", headers=fan.headers)).json()
    assert (payments[0]["status"], payments[0]["refunded_minor"]) == ("refunded", PRICE - 2000)
    assert await balance(client, fan) == 2000
    await _verified(runtime)
