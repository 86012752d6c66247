"""Payments under concurrency: one open payment per order, one decision on the pay page, one
order paid however many success events arrive, and events for another amount refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from liveshop.orders.models import OrderStatusChange
from liveshop.payments.models import Payment, SandboxEvent
from liveshop.payments.sandbox import SandboxProvider
from tests.concurrency.helpers import at_once, key, outcomes
from tests.factories import make_shop
from tests.payments.helpers import place_order, start_payment
from tests.payments.test_sandbox import event_body, post_webhook
from tests.wallet.helpers import start_top_up

pytestmark = pytest.mark.usefixtures("backend")


async def _pending_order(client: Any, runtime: Any, make_account: Any) -> tuple[Any, dict]:
    fan = await make_account("fan")
    shop = await make_shop(runtime, prices=(1000,))
    return fan, await place_order(client, fan, shop.sku_ids[0])


async def _payments(runtime: Any, order_id: str) -> list[Payment]:
    async with runtime.sessionmaker() as s:
        rows = await s.execute(select(Payment).where(Payment.order_id == order_id))
        return list(rows.scalars())


async def _paid_transitions(runtime: Any, order_id: str) -> int:
    async with runtime.sessionmaker() as s:
        return int(
            await s.scalar(
                select(func.count()).where(
                    OrderStatusChange.order_id == order_id, OrderStatusChange.to_status == "paid"
                )
            )
            or 0
        )


async def test_twenty_concurrent_payment_starts_open_one_payment(
    client: Any, runtime: Any, make_account: Any
) -> None:
    fan, order = await _pending_order(client, runtime, make_account)
    responses = await at_once(
        client.post(f"/orders/{order['id']}/payments", headers={**fan.headers, **key()})
        for _ in range(20)
    )
    assert outcomes(responses) == {"201": 20}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await _payments(runtime, order["id"])) == 1
    # and the order can still be paid: a later start answers with the same payment
    again = await start_payment(client, fan, order["id"])
    assert again["id"] == responses[0].json()["id"]


async def test_twenty_concurrent_approvals_on_the_pay_page_decide_once(
    client: Any, runtime: Any, make_account: Any
) -> None:
    fan, order = await _pending_order(client, runtime, make_account)
    payment = await start_payment(client, fan, order["id"])
    path = httpx.URL(payment["pay_url"]).path
    responses = await at_once(
        client.post(f"{path}/decision", data={"decision": "approve"}) for _ in range(20)
    )
    assert outcomes(responses) == {"303": 1, "409 payment.already_decided": 19}
    assert isinstance(runtime.payments, SandboxProvider)
    await runtime.payments.drain()
    async with runtime.sessionmaker() as s:
        events = await s.scalar(
            select(func.count()).where(SandboxEvent.event_type == "payment_intent.succeeded")
        )
    assert events == 1
    assert (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()[
        "status"
    ] == "paid"


async def test_twenty_success_events_of_one_intent_pay_the_order_once(
    client: Any, runtime: Any, make_account: Any
) -> None:
    fan, order = await _pending_order(client, runtime, make_account)
    payment = await start_payment(client, fan, order["id"])
    intent = (await _payments(runtime, order["id"]))[0].provider_intent_id
    responses = await at_once(
        post_webhook(client, runtime, event_body(intent, 1000)) for _ in range(20)
    )
    results = [r.json()["outcome"] for r in responses]
    assert outcomes(responses) == {"200": 20}
    assert results.count("order_paid") == 1
    assert results.count("ignored_payment_succeeded") == 19
    assert await _paid_transitions(runtime, order["id"]) == 1
    assert [p.status for p in await _payments(runtime, order["id"])] == ["succeeded"]
    assert payment["amount_minor"] == 1000


async def test_one_event_delivered_twenty_times_at_once_applies_once(
    client: Any, runtime: Any, make_account: Any
) -> None:
    fan, order = await _pending_order(client, runtime, make_account)
    await start_payment(client, fan, order["id"])
    intent = (await _payments(runtime, order["id"]))[0].provider_intent_id
    body = event_body(intent, 1000)
    responses = await at_once(post_webhook(client, runtime, body) for _ in range(20))
    assert outcomes(responses) == {"200": 1, "409 webhook.replayed": 19}
    assert await _paid_transitions(runtime, order["id"]) == 1


async def test_a_signed_event_for_another_amount_pays_nothing(
    client: Any, runtime: Any, make_account: Any
) -> None:
    fan, order = await _pending_order(client, runtime, make_account)
    await start_payment(client, fan, order["id"])
    intent = (await _payments(runtime, order["id"]))[0].provider_intent_id
    wrong = await post_webhook(client, runtime, event_body(intent, 1))
    assert outcomes([wrong]) == {"422 webhook.amount_mismatch": 1}
    assert (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()[
        "status"
    ] == "pending_payment"
    # the right event still applies afterwards (the refused one left nothing behind)
    right = await post_webhook(client, runtime, event_body(intent, 1000))
    assert right.json()["outcome"] == "order_paid"


async def test_a_signed_top_up_event_for_another_amount_credits_nothing(
    client: Any, runtime: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    started = (await start_top_up(client, fan, 1000)).json()
    from liveshop.wallet.models import WalletTopUp

    async with runtime.sessionmaker() as s:
        top_up = await s.get(WalletTopUp, started["id"])
        assert top_up is not None
        intent = top_up.provider_intent_id
    wrong = await post_webhook(client, runtime, event_body(intent, 100_000_000))
    assert outcomes([wrong]) == {"422 webhook.amount_mismatch": 1}
    balances = (await client.get("/wallet", headers=fan.headers)).json()["balances"]
    assert sum(b["balance_minor"] for b in balances) == 0


def test_production_refuses_the_sandbox_provider_unless_told(settings: Any) -> None:
    from liveshop.app import create_app
    from liveshop.config import ConfigError

    production = settings.model_copy(update={"env": "production"})
    with pytest.raises(ConfigError, match="LIVESHOP_SANDBOX_IN_PRODUCTION"):
        create_app(production, background=False)
    staging = production.model_copy(update={"sandbox_in_production": True})
    assert create_app(staging, background=False) is not None
