"""Wallet top-ups on both databases: paid on the sandbox pay page, credited by the webhook
exactly once (replays, duplicate events, retried commands), declines credit nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.deps import Runtime
from liveshop.payments.models import SandboxEvent, SandboxIntent
from liveshop.wallet import service as wallet
from liveshop.wallet.models import WalletEntry, WalletTopUp
from liveshop.wallet.top_ups import MAX_TOP_UP_MINOR
from tests.payments.helpers import decide_on_pay_page
from tests.payments.test_sandbox import event_body, post_webhook
from tests.wallet.helpers import balance, start_top_up, top_up

pytestmark = pytest.mark.usefixtures("backend")


async def _entries(runtime: Runtime, account_id: str) -> list[tuple[str, int]]:
    async with runtime.sessionmaker() as s:
        assert await wallet.verify(s) == []
        rows = await s.execute(
            select(WalletEntry.kind, WalletEntry.amount_minor)
            .where(WalletEntry.account_id == account_id)
            .order_by(WalletEntry.id)
        )
        return [(kind, amount) for kind, amount in rows]


async def test_a_paid_top_up_is_credited_once_whatever_the_webhook_replays(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    started = await start_top_up(client, fan, 5000)
    assert started.status_code == 201, started.text
    body = started.json()
    assert (body["status"], body["amount_minor"], body["currency"]) == (
        "requires_action",
        5000,
        "CNY",
    )
    assert await balance(client, fan) == 0
    page = await client.get(body["pay_url"].removeprefix("http://testserver"))
    assert "50.00 CNY" in page.text
    await decide_on_pay_page(client, runtime, body["pay_url"])
    done = (await client.get(f"/wallet/top-ups/{body['id']}", headers=fan.headers)).json()
    assert done["status"] == "succeeded" and done["succeeded_at"] is not None
    assert await balance(client, fan) == 5000

    async with runtime.sessionmaker() as s:
        [delivered] = (await s.execute(select(SandboxEvent.body))).scalars().all()
    replay = await post_webhook(client, runtime, delivered.encode())  # the same event again
    assert replay.status_code == 409 and replay.json()["code"] == "webhook.replayed"
    intent = body["pay_url"].rsplit("/", 1)[1]
    duplicate = await post_webhook(client, runtime, event_body(intent, 5000))  # a new event id
    assert duplicate.status_code == 200
    assert duplicate.json()["outcome"] == "ignored_top_up_succeeded"
    late_failure = await post_webhook(
        client, runtime, event_body(intent, 5000, event_type="payment_intent.failed")
    )
    assert late_failure.json()["outcome"] == "ignored_top_up_succeeded"
    assert await balance(client, fan) == 5000
    assert await _entries(runtime, fan.id) == [("top_up", 5000)]
    entries = (await client.get("/wallet/entries", headers=fan.headers)).json()["items"]
    assert [(e["kind"], e["ref"]) for e in entries] == [("top_up", body["id"])]


async def test_a_retried_top_up_command_opens_one_intent(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    first = await start_top_up(client, fan, 700, key="top-up-1")
    again = await start_top_up(client, fan, 700, key="top-up-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other_body = await start_top_up(client, fan, 800, key="top-up-1")
    assert other_body.status_code == 409
    assert other_body.json()["code"] == "idempotency.key_reused"
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(WalletTopUp)) == 1
        assert await s.scalar(select(func.count()).select_from(SandboxIntent)) == 1
    await decide_on_pay_page(client, runtime, first.json()["pay_url"])
    assert await balance(client, fan) == 700


async def test_a_declined_top_up_credits_nothing(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    started = (await start_top_up(client, fan, 900)).json()
    await decide_on_pay_page(client, runtime, started["pay_url"], "decline")
    got = (await client.get(f"/wallet/top-ups/{started['id']}", headers=fan.headers)).json()
    assert got["status"] == "failed" and got["succeeded_at"] is None
    intent = started["pay_url"].rsplit("/", 1)[1]
    forged_late = await post_webhook(client, runtime, event_body(intent, 900))
    assert forged_late.json()["outcome"] == "ignored_top_up_failed"
    assert await balance(client, fan) == 0
    assert await _entries(runtime, fan.id) == []


async def test_bad_top_ups_are_refused_with_a_stable_code_and_create_nothing(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan, other = await make_account("fan"), await make_account("fan")
    for amount, code in (
        (0, "wallet.bad_amount"),
        (-100, "wallet.bad_amount"),
        (MAX_TOP_UP_MINOR + 1, "wallet.bad_amount"),
        (10**30, "wallet.bad_amount"),  # past 64 bits: still a 422, not a 500
        (10.5, "request.invalid"),
        ("100", "request.invalid"),
    ):
        response = await start_top_up(client, fan, amount)  # type: ignore[arg-type]
        assert (response.status_code, response.json()["code"]) == (422, code), amount
    keyless = await client.post("/wallet/top-ups", json={"amount_minor": 100}, headers=fan.headers)
    assert keyless.status_code == 400 and keyless.json()["code"] == "idempotency.key_required"
    guest = await client.post(
        "/wallet/top-ups", json={"amount_minor": 100}, headers={"Idempotency-Key": "k"}
    )
    assert guest.status_code == 401
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(WalletTopUp)) == 0
    mine = await top_up(client, runtime, fan, 100)
    theirs = await client.get(f"/wallet/top-ups/{mine['id']}", headers=other.headers)
    assert theirs.status_code == 404 and theirs.json()["code"] == "wallet.top_up_not_found"


async def test_the_demo_script_tops_up_a_wallet_too_short_for_its_red_envelope(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    from liveshop.simulate.promotions import ENVELOPE_MINOR, TOP_UP_MINOR, _ensure_balance

    operator = await make_account("operator")
    await _ensure_balance(client, operator.token, ENVELOPE_MINOR)  # pays on the pay page
    assert await balance(client, operator) == TOP_UP_MINOR
    await _ensure_balance(client, operator.token, ENVELOPE_MINOR)  # enough: no second one
    async with runtime.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(WalletTopUp)) == 1
