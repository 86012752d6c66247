"""Refunds under concurrency: never more than was paid, and every book agrees."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.orders.models import Order
from liveshop.payments.models import Payment, Refund, SandboxIntent, SandboxRefund
from tests.concurrency.helpers import at_once, key, outcomes

pytestmark = pytest.mark.usefixtures("backend")


async def _books(runtime: Any, order_id: str) -> dict[str, int]:
    async with runtime.sessionmaker() as s:
        order = await s.get(Order, order_id)
        payment = (
            await s.execute(select(Payment).where(Payment.order_id == order_id))
        ).scalar_one()
        intent = await s.get(SandboxIntent, payment.provider_intent_id)
        assert order is not None and intent is not None
        return {
            "order": order.refunded_minor,
            "payment": payment.refunded_minor,
            "provider": intent.refunded_minor,
            "refund_rows": await s.scalar(
                select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(
                    Refund.order_id == order_id
                )
            )
            or 0,
            "provider_refund_rows": await s.scalar(
                select(func.coalesce(func.sum(SandboxRefund.amount_minor), 0)).where(
                    SandboxRefund.intent_id == intent.id
                )
            )
            or 0,
        }


async def test_fifty_concurrent_refunds_never_exceed_what_was_paid(
    client: Any, runtime: Any, paid_order: Any
) -> None:
    order = await paid_order(1000)
    assert order.total_minor == 1000
    responses = await at_once(
        client.post(
            f"/merchant/orders/{order.id}/refunds",
            json={"amount_minor": 30, "reason": "goodwill"},
            headers={**order.merchant.headers, **key()},
        )
        for _ in range(50)
    )
    assert outcomes(responses) == {"201": 33, "409 refund.exceeds_captured": 17}
    assert await _books(runtime, order.id) == {
        "order": 990,
        "payment": 990,
        "provider": 990,
        "refund_rows": 990,
        "provider_refund_rows": 990,
    }


async def test_concurrent_refunds_with_one_key_refund_once(
    client: Any, runtime: Any, paid_order: Any
) -> None:
    order = await paid_order(1000)
    headers = {**order.merchant.headers, **key()}
    responses = await at_once(
        client.post(
            f"/merchant/orders/{order.id}/refunds",
            json={"amount_minor": 100, "reason": "goodwill"},
            headers=headers,
        )
        for _ in range(20)
    )
    assert outcomes(responses) == {"201": 20}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert (await _books(runtime, order.id))["provider"] == 100


async def test_concurrent_cancels_of_a_paid_order_cancel_and_refund_once(
    client: Any, runtime: Any, paid_order: Any
) -> None:
    order = await paid_order(1000)
    responses = await at_once(
        client.post(
            f"/orders/{order.id}/cancel",
            json={"reason": "changed my mind"},
            headers={**order.fan.headers, **key()},
        )
        for _ in range(20)
    )
    assert outcomes(responses) == {"200": 1, "409 order.invalid_state": 19}
    assert await _books(runtime, order.id) == {
        "order": 1000,
        "payment": 1000,
        "provider": 1000,
        "refund_rows": 1000,
        "provider_refund_rows": 1000,
    }


async def test_fifty_concurrent_refunds_of_a_card_and_store_credit_order_return_each_once(
    client: Any, runtime: Any, make_account: Any
) -> None:
    from liveshop.wallet import service as wallet
    from liveshop.wallet import top_ups
    from tests.factories import make_shop, order_body
    from tests.payments.helpers import pay

    merchant, fan = await make_account("merchant"), await make_account("fan")
    shop = await make_shop(runtime, owner_id=merchant.id, prices=(1000,))
    async with runtime.sessionmaker() as s:
        await top_ups.grant(
            s,
            account_id=fan.id,
            amount_minor=400,
            currency="CNY",
            source="t",
            now=runtime.clock.now(),
        )
        await s.commit()
    placed = await client.post(
        "/orders",
        json={**order_body(shop.sku_ids[0]), "wallet_minor": 400},
        headers={**fan.headers, **key()},
    )
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert (await pay(client, runtime, fan, order_id))["status"] == "paid"
    responses = await at_once(
        client.post(
            f"/merchant/orders/{order_id}/refunds",
            json={"amount_minor": 30, "reason": "goodwill"},
            headers={**merchant.headers, **key()},
        )
        for _ in range(50)
    )
    assert outcomes(responses) == {"201": 33, "409 refund.exceeds_captured": 17}
    card = sum(r.json()["card_minor"] for r in responses if r.status_code == 201)
    credit = sum(r.json()["wallet_minor"] for r in responses if r.status_code == 201)
    assert (card, credit) == (600, 390)
    books = await _books(runtime, order_id)
    assert books["order"] == books["refund_rows"] == 990
    assert books["payment"] == books["provider"] == books["provider_refund_rows"] == 600
    async with runtime.sessionmaker() as s:
        order = await s.get(Order, order_id)
        assert order is not None and order.wallet_refunded_minor == 390
        assert await wallet.verify(s) == []
        assert await wallet.balance(s, account_id=fan.id, currency="CNY") == 390


async def test_store_credit_returns_are_guarded_even_without_the_order_lock(
    client: Any, runtime: Any, make_account: Any
) -> None:
    """Two transactions that each read the order unlocked and return 300 of its 400 of store
    credit: the counter's guarded update lets exactly one through (read-modify-write let both)."""
    import asyncio

    if runtime.settings.is_sqlite:
        pytest.skip(
            "SQLite takes its write lock at BEGIN: two transactions cannot both read before "
            "either writes, so this interleaving exists only on PostgreSQL"
        )
    from liveshop.errors import Problem
    from liveshop.orders import store_credit
    from liveshop.wallet import service as wallet
    from liveshop.wallet import top_ups
    from tests.factories import make_shop, order_body

    fan = await make_account("fan")
    shop = await make_shop(runtime, prices=(400,))
    async with runtime.sessionmaker() as s:
        await top_ups.grant(
            s,
            account_id=fan.id,
            amount_minor=400,
            currency="CNY",
            source="t",
            now=runtime.clock.now(),
        )
        await s.commit()
    placed = await client.post(
        "/orders",
        json={**order_body(shop.sku_ids[0]), "wallet_minor": 400},
        headers={**fan.headers, **key()},
    )
    assert placed.json()["status"] == "paid"  # nothing left to pay
    order_id = placed.json()["id"]
    both_read = asyncio.Barrier(2)

    async def give_back(ref: str) -> str:
        async with runtime.sessionmaker() as s:
            order = await s.get(Order, order_id)
            assert order is not None and store_credit.refundable(order) == 400
            await both_read.wait()
            try:
                await store_credit.refund(
                    s, order=order, amount_minor=300, refund_id=ref, now=runtime.clock.now()
                )
                await s.commit()
                return "ok"
            except Problem as exc:
                await s.rollback()
                return exc.code

    results = sorted(await asyncio.gather(give_back("r1"), give_back("r2")))
    assert results == ["ok", "refund.exceeds_captured"]
    async with runtime.sessionmaker() as s:
        order = await s.get(Order, order_id)
        assert order is not None and order.wallet_refunded_minor == 300
        assert await wallet.balance(s, account_id=fan.id, currency="CNY") == 300
