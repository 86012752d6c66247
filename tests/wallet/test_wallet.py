"""The wallet on both databases: the balance is the ledger's sum and never negative, also
under concurrent debits; a reason is booked once; balances and entries over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from liveshop.deps import Runtime
from liveshop.errors import Problem
from liveshop.wallet import service as wallet
from liveshop.wallet.models import WalletBalance, WalletEntry

pytestmark = pytest.mark.usefixtures("backend")


async def _book(
    runtime: Runtime,
    account_id: str,
    amount: int,
    ref: str,
    *,
    kind: str = "adjustment",
    currency: str = "CNY",
    debit: bool = False,
) -> None:
    move = wallet.debit if debit else wallet.credit
    async with runtime.sessionmaker() as s:
        await move(
            s,
            account_id=account_id,
            currency=currency,
            amount_minor=amount,
            kind=kind,
            ref=ref,
            now=runtime.clock.now(),
        )
        await s.commit()


async def _state(runtime: Runtime, account_id: str, currency: str = "CNY") -> tuple[int, int, int]:
    """(balance, ledger sum, entries) of one wallet."""
    async with runtime.sessionmaker() as s:
        balance = await wallet.balance(s, account_id=account_id, currency=currency)
        total, entries = (
            await s.execute(
                select(func.coalesce(func.sum(WalletEntry.amount_minor), 0), func.count()).where(
                    WalletEntry.account_id == account_id, WalletEntry.currency == currency
                )
            )
        ).one()
        assert await wallet.verify(s) == []
    return balance, int(total), int(entries)


async def test_credits_and_debits_keep_the_balance_equal_to_the_ledger(
    runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    await _book(runtime, fan.id, 1000, "gift-1")
    await _book(runtime, fan.id, 250, "env-1", kind="envelope_grab")
    await _book(runtime, fan.id, 400, "order-1", kind="store_credit_spend", debit=True)
    await _book(runtime, fan.id, 400, "refund-1", kind="store_credit_refund")
    await _book(runtime, fan.id, 70, "gift-usd", currency="USD")
    assert await _state(runtime, fan.id) == (1250, 1250, 4)
    assert await _state(runtime, fan.id, "USD") == (70, 70, 1)


async def test_a_debit_that_would_go_negative_gets_409_and_changes_nothing(
    runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    await _book(runtime, fan.id, 300, "gift")
    for amount, currency in ((301, "CNY"), (1, "EUR")):  # short; a wallet never held
        with pytest.raises(Problem) as caught:
            await _book(
                runtime,
                fan.id,
                amount,
                f"order-{currency}",
                kind="store_credit_spend",
                currency=currency,
                debit=True,
            )
        assert (caught.value.status, caught.value.code) == (409, "wallet.insufficient_funds")
    assert await _state(runtime, fan.id) == (300, 300, 1)
    await _book(runtime, fan.id, 300, "order-all", kind="store_credit_spend", debit=True)
    assert await _state(runtime, fan.id) == (0, 0, 2)


async def test_fifty_concurrent_debits_against_a_balance_covering_twenty_exactly_twenty_win(
    runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    await _book(runtime, fan.id, 20 * 35, "top-up")

    async def spend(i: int) -> str:
        try:
            await _book(runtime, fan.id, 35, f"order-{i}", kind="store_credit_spend", debit=True)
        except Problem as exc:
            return exc.code
        return "ok"

    outcomes = await asyncio.gather(*(spend(i) for i in range(50)))
    assert outcomes.count("ok") == 20
    assert outcomes.count("wallet.insufficient_funds") == 30
    assert await _state(runtime, fan.id) == (0, 0, 21)


async def test_one_reason_is_booked_once_per_account(runtime: Runtime, make_account: Any) -> None:
    fan, other = await make_account("fan"), await make_account("fan")
    await _book(runtime, fan.id, 100, "env-9", kind="envelope_grab")
    with pytest.raises(Problem) as caught:
        await _book(runtime, fan.id, 100, "env-9", kind="envelope_grab")
    assert (caught.value.status, caught.value.code) == (409, "wallet.duplicate_entry")
    await _book(runtime, other.id, 100, "env-9", kind="envelope_grab")  # another account
    await _book(runtime, fan.id, 100, "env-9", kind="envelope_refund")  # another reason
    assert await _state(runtime, fan.id) == (200, 200, 2)


async def test_bad_movements_are_refused_with_a_stable_code(
    runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    cases: list[tuple[Any, str, str]] = [
        (0, "CNY", "wallet.bad_amount"),
        (-5, "CNY", "wallet.bad_amount"),
        (10**14, "CNY", "wallet.bad_amount"),
        (1.5, "CNY", "wallet.bad_amount"),
        (True, "CNY", "wallet.bad_amount"),
        (5, "cny", "wallet.bad_currency"),
    ]
    for amount, currency, code in cases:
        for debit in (False, True):
            kind = "store_credit_spend" if debit else "adjustment"
            with pytest.raises(Problem) as caught:
                await _book(runtime, fan.id, amount, "x", kind=kind, currency=currency, debit=debit)
            assert (caught.value.status, caught.value.code) == (422, code), (amount, currency)
    with pytest.raises(ValueError, match="not one of"):
        await _book(runtime, fan.id, 5, "x", kind="store_credit_spend")  # not a credit kind
    with pytest.raises(ValueError, match="not one of"):
        await _book(runtime, fan.id, 5, "x", kind="envelope_grab", debit=True)  # not a debit
    assert await _state(runtime, fan.id) == (0, 0, 0)


async def test_the_database_refuses_a_negative_balance_and_verify_sees_tampering(
    runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    await _book(runtime, fan.id, 100, "gift")
    async with runtime.sessionmaker() as s:
        with pytest.raises(IntegrityError):
            await s.execute(update(WalletBalance).values(balance_minor=-1))
        await s.rollback()
        await s.execute(update(WalletBalance).values(balance_minor=99))
        [mismatch] = await wallet.verify(s, account_id=fan.id)
        assert (mismatch.balance_minor, mismatch.ledger_minor) == (99, 100)
        await s.rollback()


async def test_balances_and_entries_over_http_newest_first_a_page_at_a_time(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    fan, other = await make_account("fan"), await make_account("fan")
    assert (await client.get("/wallet")).status_code == 401
    assert (await client.get("/wallet/entries")).status_code == 401
    empty = await client.get("/wallet", headers=fan.headers)
    assert empty.status_code == 200 and empty.json() == {"balances": []}
    for i in range(5):
        await _book(runtime, fan.id, 10 * (i + 1), f"gift-{i}")
    await _book(runtime, fan.id, 7, "usd", currency="USD")
    await _book(runtime, fan.id, 15, "order-1", kind="store_credit_spend", debit=True)
    await _book(runtime, other.id, 999, "theirs")

    balances = (await client.get("/wallet", headers=fan.headers)).json()["balances"]
    assert [(b["currency"], b["balance_minor"]) for b in balances] == [("CNY", 135), ("USD", 7)]
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "currency": "CNY"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/wallet/entries", params=params, headers=fan.headers)).json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6 and sum(e["amount_minor"] for e in seen) == 135
    assert [e["id"] for e in seen] == sorted((e["id"] for e in seen), reverse=True)
    assert {e["kind"] for e in seen} == {"adjustment", "store_credit_spend"}
    assert all(e["ref"] != "theirs" for e in seen)
    everything = (await client.get("/wallet/entries", headers=fan.headers)).json()
    assert len(everything["items"]) == 7 and everything["next_cursor"] is None
    bad = await client.get("/wallet/entries", params={"cursor": "nope"}, headers=fan.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "request.invalid"
