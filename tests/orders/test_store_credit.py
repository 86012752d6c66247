"""Store credit at checkout on both databases: part or all of an order paid from the wallet,
refused when too much or not held (nothing written), the quote, idempotent retries, and the
credit back exactly once when an unpaid order is cancelled or expires."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.deps import Runtime
from liveshop.orders.models import Order
from liveshop.orders.scheduled import expire_overdue
from liveshop.wallet import service as wallet
from liveshop.wallet.models import WalletEntry
from tests.conftest import Actor
from tests.factories import idempotency_key as _key
from tests.factories import make_shop, order_body
from tests.payments.helpers import decide_on_pay_page, start_payment
from tests.wallet.helpers import balance, top_up

pytestmark = pytest.mark.usefixtures("backend")

PRICE = 9900  # make_shop's SKU


async def _order(
    client: Any, fan: Actor, sku_id: str, wallet_minor: Any = 0, key: str | None = None
) -> Any:
    return await client.post(
        "/orders",
        json={**order_body(sku_id), "wallet_minor": wallet_minor},
        headers={**fan.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def _ledger(runtime: Runtime, account_id: str) -> list[tuple[str, int]]:
    async with runtime.sessionmaker() as s:
        assert await wallet.verify(s) == []
        rows = await s.execute(
            select(WalletEntry.kind, WalletEntry.amount_minor)
            .where(WalletEntry.account_id == account_id)
            .order_by(WalletEntry.id)
        )
        return [(kind, amount) for kind, amount in rows]


async def _orders(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(Order)) or 0)


async def test_partial_store_credit_leaves_the_rest_to_pay_at_the_provider(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    await top_up(client, runtime, fan, 5000)
    placed = await _order(client, fan, shop.sku_ids[0], 3000)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "pending_payment"
    assert (order["total_minor"], order["wallet_minor"], order["payable_minor"]) == (
        PRICE,
        3000,
        PRICE - 3000,
    )
    assert await balance(client, fan) == 2000
    payment = await start_payment(client, fan, order["id"])
    assert payment["amount_minor"] == PRICE - 3000
    await decide_on_pay_page(client, runtime, payment["pay_url"])
    paid = (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()
    assert paid["status"] == "paid" and paid["wallet_minor"] == 3000
    assert await _ledger(runtime, fan.id) == [("top_up", 5000), ("store_credit_spend", -3000)]


async def test_store_credit_covering_the_total_pays_the_order_at_once(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    await top_up(client, runtime, fan, PRICE)
    placed = await _order(client, fan, shop.sku_ids[0], PRICE)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["status"], order["payable_minor"]) == ("paid", 0)
    assert order["paid_at"] is not None
    assert [a["status"] for a in order["allocations"]] == ["committed"]
    history = (await client.get(f"/orders/{order['id']}/history", headers=fan.headers)).json()
    assert [h["to_status"] for h in history] == ["pending_payment", "paid"]
    nothing_to_pay = await client.post(
        f"/orders/{order['id']}/payments", headers={**fan.headers, **_key()}
    )
    assert nothing_to_pay.status_code == 409
    assert nothing_to_pay.json()["code"] == "order.invalid_state"
    assert await balance(client, fan) == 0


@pytest.mark.parametrize(
    ("wallet_minor", "status", "code"),
    [
        (PRICE + 1, 422, "wallet.too_much"),
        (4001, 409, "wallet.insufficient_funds"),
        (-1, 422, "wallet.bad_amount"),
        (10.5, 422, "request.invalid"),
        ("100", 422, "request.invalid"),
    ],
)
async def test_store_credit_that_cannot_be_applied_is_refused_and_writes_nothing(
    client: Any,
    runtime: Runtime,
    make_account: Any,
    wallet_minor: Any,
    status: int,
    code: str,
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime, stock={"HZ": 1})
    await top_up(client, runtime, fan, 4000)
    refused = await _order(client, fan, shop.sku_ids[0], wallet_minor, key="checkout-1")
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert await _orders(runtime) == 0
    assert await balance(client, fan) == 4000
    # nothing was held: the one unit in stock and the key are still free
    bought = await _order(client, fan, shop.sku_ids[0], 4000, key="checkout-1")
    assert bought.status_code == 201, bought.text


async def test_too_much_is_judged_against_the_total_after_coupons(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    owner, fan = await make_account("merchant"), await make_account("fan")
    shop = await make_shop(runtime, owner_id=owner.id)
    template = await client.post(
        "/coupon-templates",
        json={
            "title": "10 off",
            "kind": "fixed",
            "amount_off_minor": 1000,
            "valid_until": (runtime.clock.now() + timedelta(days=1)).isoformat(),
            "quota": 10,
        },
        headers={**owner.headers, **_key()},
    )
    assert template.status_code == 201, template.text
    claimed = await client.post(
        f"/coupon-templates/{template.json()['id']}/claim", headers={**fan.headers, **_key()}
    )
    coupon_id = claimed.json()["id"]
    await top_up(client, runtime, fan, PRICE)
    lines = order_body(shop.sku_ids[0])["lines"]
    quote = await client.post(
        "/orders/quote",
        json={"lines": lines, "coupon_ids": [coupon_id], "wallet_minor": PRICE - 1000},
        headers=fan.headers,
    )
    assert quote.status_code == 200, quote.text
    assert quote.json()["wallet"] == {
        "balance_minor": PRICE,
        "wallet_minor": PRICE - 1000,
        "payable_minor": 0,
    }
    too_much_quote = await client.post(
        "/orders/quote",
        json={"lines": lines, "coupon_ids": [coupon_id], "wallet_minor": PRICE},
        headers=fan.headers,
    )
    assert too_much_quote.json()["code"] == "wallet.too_much"
    without = await client.post("/orders/quote", json={"lines": lines}, headers=fan.headers)
    assert without.json()["wallet"] is None
    short = await client.post(
        "/orders/quote", json={"lines": lines, "wallet_minor": PRICE + 1}, headers=fan.headers
    )
    assert short.json()["code"] == "wallet.too_much"

    body = {**order_body(shop.sku_ids[0]), "coupon_ids": [coupon_id]}
    too_much = await client.post(
        "/orders", json={**body, "wallet_minor": PRICE}, headers={**fan.headers, **_key()}
    )
    assert (too_much.status_code, too_much.json()["code"]) == (422, "wallet.too_much")
    placed = await client.post(
        "/orders", json={**body, "wallet_minor": PRICE - 1000}, headers={**fan.headers, **_key()}
    )
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["discount_minor"], order["wallet_minor"], order["status"]) == (
        1000,
        PRICE - 1000,
        "paid",
    )
    assert await balance(client, fan) == 1000


async def test_a_retried_checkout_spends_the_credit_once(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    await top_up(client, runtime, fan, 5000)
    first = await _order(client, fan, shop.sku_ids[0], 2500, key="buy-1")
    again = await _order(client, fan, shop.sku_ids[0], 2500, key="buy-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert await _orders(runtime) == 1
    assert await balance(client, fan) == 2500


async def test_cancelling_an_unpaid_order_gives_the_credit_back_once(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    await top_up(client, runtime, fan, 5000)
    order = (await _order(client, fan, shop.sku_ids[0], 4000)).json()
    headers = {**fan.headers, "Idempotency-Key": "cancel-1"}
    cancelled = await client.post(f"/orders/{order['id']}/cancel", json={}, headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["wallet_refunded_minor"] == 4000
    replayed = await client.post(f"/orders/{order['id']}/cancel", json={}, headers=headers)
    assert replayed.headers["idempotent-replayed"] == "true"
    twice = await client.post(
        f"/orders/{order['id']}/cancel", json={}, headers={**fan.headers, **_key()}
    )
    assert twice.status_code == 409 and twice.json()["code"] == "order.invalid_state"
    assert await balance(client, fan) == 5000
    assert await _ledger(runtime, fan.id) == [
        ("top_up", 5000),
        ("store_credit_spend", -4000),
        ("store_credit_refund", 4000),
    ]


async def test_an_order_that_expires_unpaid_gives_the_credit_back_once(
    client: Any, runtime: Runtime, make_account: Any, clock: Any
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    await top_up(client, runtime, fan, 5000)
    order = (await _order(client, fan, shop.sku_ids[0], 1000)).json()
    payment = await start_payment(client, fan, order["id"])
    clock.advance(seconds=runtime.settings.payment_window_seconds + 1)
    assert await expire_overdue(runtime) == 1
    assert await expire_overdue(runtime) == 0
    # the buyer pays after all: the card money goes back, the credit is not returned twice
    await decide_on_pay_page(client, runtime, payment["pay_url"])
    got = (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()
    assert (got["status"], got["wallet_refunded_minor"]) == ("expired", 1000)
    payments = (await client.get(f"/orders/{order['id']}/payments", headers=fan.headers)).json()
    assert (payments[0]["status"], payments[0]["refunded_minor"]) == ("refunded", PRICE - 1000)
    assert await balance(client, fan) == 5000
    assert await _ledger(runtime, fan.id) == [
        ("top_up", 5000),
        ("store_credit_spend", -1000),
        ("store_credit_refund", 1000),
    ]
