"""Wallet money you can trust: every change is a ledger row plus a guarded balance update.

Invariants (checked by :func:`verify` and the tests):

- a balance equals the sum of its account's ledger entries in that currency;
- a balance is never negative (also a CHECK constraint in the database).

Concurrency, with no read-modify-write anywhere:

- :func:`credit` is one upsert, ``INSERT ... ON CONFLICT DO UPDATE SET balance_minor =
  balance_minor + x``;
- :func:`debit` is ``UPDATE ... SET balance_minor = balance_minor - x WHERE balance_minor >= x``
  and checks the row count. PostgreSQL (READ COMMITTED) re-evaluates the guard after waiting
  for a concurrent debit's row lock; SQLite holds the write lock for the whole transaction
  (BEGIN IMMEDIATE). So concurrent debits can never overdraw, on either database.

Both add the ledger row in the caller's transaction and flush, never commit: the caller commits
the money movement together with whatever caused it (a grab, an order), so either both land or
neither does.

For other domains (checkout's store credit, a red envelope's funding): ``debit(session,
account_id=buyer, currency="CNY", amount_minor=500, kind="store_credit_spend", ref=order_id,
now=now)`` raises a 409 ``wallet.insufficient_funds`` Problem when the balance is short, and a
409 ``wallet.duplicate_entry`` when ``(account, kind, ref)`` was already booked; a refund is
``credit(..., kind="store_credit_refund", ref=<refund or order id>)``. Money enters a wallet
from outside through a top-up (:mod:`liveshop.wallet.top_ups`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.errors import Problem, conflict, invalid
from liveshop.wallet.models import WalletBalance, WalletEntry

CREDIT_KINDS = frozenset(
    {
        "top_up",
        "envelope_grab",
        "envelope_refund",
        "store_credit_refund",
        "coupon_budget_refund",
        "adjustment",
    }
)
DEBIT_KINDS = frozenset({"envelope_fund", "store_credit_spend", "coupon_budget", "adjustment"})
INSUFFICIENT_FUNDS = "wallet.insufficient_funds"
MAX_AMOUNT_MINOR = 10**13
"""The largest single movement (a sanity bound, far above any real one)."""

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A balance that differs from its ledger (what :func:`verify` reports)."""

    account_id: str
    currency: str
    balance_minor: int | None
    ledger_minor: int


def _check(
    *, amount_minor: int, currency: str, kind: str, ref: str, allowed: frozenset[str]
) -> None:
    if kind not in allowed:
        raise ValueError(f"{kind!r} is not one of {sorted(allowed)}")
    if not ref or len(ref) > 80:
        raise ValueError("ref must be 1..80 characters")
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise invalid("wallet.bad_amount", "amounts are integer minor units", "amount_minor")
    if not 0 < amount_minor <= MAX_AMOUNT_MINOR:
        raise invalid(
            "wallet.bad_amount",
            f"the amount must be 1..{MAX_AMOUNT_MINOR} minor units, not {amount_minor}",
            "amount_minor",
        )
    if not _CURRENCY.match(currency):
        raise invalid("wallet.bad_currency", "currency is an ISO 4217 code", "currency")


async def _refuse_duplicate(session: AsyncSession, *, account_id: str, kind: str, ref: str) -> None:
    existing = await session.scalar(
        select(WalletEntry.id).where(
            WalletEntry.account_id == account_id, WalletEntry.kind == kind, WalletEntry.ref == ref
        )
    )
    if existing is not None:
        raise conflict(
            "wallet.duplicate_entry",
            f"this account already has a {kind} entry for {ref!r}",
            entry_id=existing,
        )


def insufficient_funds(*, currency: str, amount_minor: int) -> Problem:
    """409 ``wallet.insufficient_funds``: the wallet holds less than ``amount_minor``."""
    return conflict(
        INSUFFICIENT_FUNDS,
        f"the {currency} wallet holds less than {amount_minor} minor units",
        currency=currency,
    )


def _entry(
    *, account_id: str, currency: str, amount_minor: int, kind: str, ref: str, now: datetime
) -> WalletEntry:
    return WalletEntry(
        account_id=account_id,
        currency=currency,
        amount_minor=amount_minor,
        kind=kind,
        ref=ref,
        created_at=now,
    )


async def credit(
    session: AsyncSession,
    *,
    account_id: str,
    currency: str,
    amount_minor: int,
    kind: str,
    ref: str,
    now: datetime,
) -> WalletEntry:
    """Add ``amount_minor`` (> 0) to the account's wallet: a ledger row and the balance.

    ``kind`` is one of :data:`CREDIT_KINDS`; ``ref`` names the reason (an envelope id, a
    refund id) and may be booked once per account and kind.
    """
    _check(amount_minor=amount_minor, currency=currency, kind=kind, ref=ref, allowed=CREDIT_KINDS)
    await _refuse_duplicate(session, account_id=account_id, kind=kind, ref=ref)
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(WalletBalance).values(
        account_id=account_id, currency=currency, balance_minor=amount_minor, updated_at=now
    )
    statement = statement.on_conflict_do_update(
        index_elements=["account_id", "currency"],
        set_={
            "balance_minor": WalletBalance.__table__.c.balance_minor
            + statement.excluded.balance_minor,
            "updated_at": statement.excluded.updated_at,
        },
    )
    await session.execute(statement)
    entry = _entry(
        account_id=account_id,
        currency=currency,
        amount_minor=amount_minor,
        kind=kind,
        ref=ref,
        now=now,
    )
    session.add(entry)
    await session.flush()
    return entry


async def debit(
    session: AsyncSession,
    *,
    account_id: str,
    currency: str,
    amount_minor: int,
    kind: str,
    ref: str,
    now: datetime,
) -> WalletEntry:
    """Take ``amount_minor`` (> 0) from the wallet, or raise 409 ``wallet.insufficient_funds``
    having changed nothing. ``kind`` is one of :data:`DEBIT_KINDS`."""
    _check(amount_minor=amount_minor, currency=currency, kind=kind, ref=ref, allowed=DEBIT_KINDS)
    await _refuse_duplicate(session, account_id=account_id, kind=kind, ref=ref)
    result = await session.execute(
        update(WalletBalance)
        .where(
            WalletBalance.account_id == account_id,
            WalletBalance.currency == currency,
            WalletBalance.balance_minor >= amount_minor,
        )
        .values(balance_minor=WalletBalance.balance_minor - amount_minor, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        raise insufficient_funds(currency=currency, amount_minor=amount_minor)
    entry = _entry(
        account_id=account_id,
        currency=currency,
        amount_minor=-amount_minor,
        kind=kind,
        ref=ref,
        now=now,
    )
    session.add(entry)
    await session.flush()
    return entry


# -- reads -----------------------------------------------------------------------------------


async def balances(session: AsyncSession, *, account_id: str) -> list[WalletBalance]:
    """The account's balance in every currency it has ever held, by currency."""
    result = await session.execute(
        select(WalletBalance)
        .where(WalletBalance.account_id == account_id)
        .order_by(WalletBalance.currency)
    )
    return list(result.scalars())


async def balance(session: AsyncSession, *, account_id: str, currency: str) -> int:
    """The account's balance in ``currency`` (0 when it never held any)."""
    value = await session.scalar(
        select(WalletBalance.balance_minor).where(
            WalletBalance.account_id == account_id, WalletBalance.currency == currency
        )
    )
    return int(value or 0)


async def list_entries(
    session: AsyncSession,
    *,
    account_id: str,
    currency: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[WalletEntry], str | None]:
    """The account's ledger, newest first; ``cursor`` is the last id of the previous page."""
    query = select(WalletEntry).where(WalletEntry.account_id == account_id)
    if currency is not None:
        query = query.where(WalletEntry.currency == currency)
    if cursor is not None:
        query = query.where(WalletEntry.id < cursor)
    rows = list(
        (await session.execute(query.order_by(WalletEntry.id.desc()).limit(limit + 1))).scalars()
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


async def verify(session: AsyncSession, *, account_id: str | None = None) -> list[Mismatch]:
    """Balances that differ from the sum of their ledger (empty when all is well)."""
    sums = select(
        WalletEntry.account_id, WalletEntry.currency, func.sum(WalletEntry.amount_minor)
    ).group_by(WalletEntry.account_id, WalletEntry.currency)
    stored = select(WalletBalance.account_id, WalletBalance.currency, WalletBalance.balance_minor)
    if account_id is not None:
        sums = sums.where(WalletEntry.account_id == account_id)
        stored = stored.where(WalletBalance.account_id == account_id)
    ledger = {(a, c): int(total) for a, c, total in await session.execute(sums)}
    held = {(a, c): int(value) for a, c, value in await session.execute(stored)}
    mismatches = []
    for key in sorted(set(ledger) | set(held)):
        value = held.get(key)
        total = ledger.get(key, 0)
        if value != total and not (value is None and total == 0):
            mismatches.append(Mismatch(key[0], key[1], value, total))
    return mismatches
