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
