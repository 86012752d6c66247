"""Store credit at checkout: part (or all) of an order paid from the buyer's wallet.

- **Spend** (:func:`spend`): ``POST /orders`` with ``wallet_minor`` debits the wallet
  (``store_credit_spend``, ``ref`` = the order id) in the order's transaction; the order records
  it in ``wallet_minor`` and the provider is asked for ``total - wallet`` only
  (:func:`payable`). Nothing to pay: the order is paid at once.
- **Release** (:func:`release`): an order cancelled or expired before it was paid gives all of
  it back (``store_credit_refund``, ``ref`` = the order id: once, whatever retries or sweeps).
- **Refund** (:func:`refund`): a refund of a paid order returns card money first, up to what
  the payment captured and has not refunded yet, and only then store credit
  (``store_credit_refund``, ``ref`` = the refund's id). So a full refund returns both parts
  exactly, and a partial one never turns paid cash into store credit.

``wallet_refunded_minor`` counts the credit that went back, by release or refund.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from liveshop.errors import conflict, invalid
from liveshop.orders.models import Order
from liveshop.wallet import service as wallet


def payable(order: Order) -> int:
    """What is left to pay at the provider: the total less the store credit applied."""
    return order.total_minor - order.wallet_minor


async def check(
    session: AsyncSession,
    *,
    account_id: str,
    currency: str,
    total_minor: int,
    wallet_minor: int,
) -> None:
    """Whether ``wallet_minor`` of store credit may pay an order of ``total_minor`` (after
    coupons): 422 ``wallet.bad_amount`` (negative), 422 ``wallet.too_much`` (more than the
    total), 409 ``wallet.insufficient_funds`` (more than the balance)."""
    if wallet_minor < 0:
        raise invalid("wallet.bad_amount", "wallet_minor cannot be negative", "wallet_minor")
    if wallet_minor > total_minor:
        raise invalid(
            "wallet.too_much",
            f"store credit of {wallet_minor} is more than the order total of {total_minor}",
            "wallet_minor",
        )
    if wallet_minor == 0:
        return
    held = await wallet.balance(session, account_id=account_id, currency=currency)
    if wallet_minor > held:
        raise wallet.insufficient_funds(currency=currency, amount_minor=wallet_minor)


async def spend(session: AsyncSession, *, order: Order, wallet_minor: int, now: datetime) -> None:
    """Pay ``wallet_minor`` of ``order`` (its total already set) from the buyer's wallet."""
    await check(
        session,
        account_id=order.buyer_id,
        currency=order.currency,
        total_minor=order.total_minor,
        wallet_minor=wallet_minor,
    )
    if wallet_minor == 0:
        return
    # The guarded debit decides under concurrency: the check above only gives the early answer.
    await wallet.debit(
        session,
        account_id=order.buyer_id,
        currency=order.currency,
        amount_minor=wallet_minor,
        kind="store_credit_spend",
        ref=order.id,
        now=now,
    )
    order.wallet_minor = wallet_minor
    await session.flush()


async def release(session: AsyncSession, *, order: Order, now: datetime) -> int:
    """Give an unpaid order's store credit back (it was cancelled or expired); returns how
    much. The order's guarded transition runs first, so this runs once per order."""
    left = order.wallet_minor - order.wallet_refunded_minor
    if left <= 0:
        return 0
    await _count_returned(session, order=order, amount_minor=left)
    await wallet.credit(
        session,
        account_id=order.buyer_id,
        currency=order.currency,
        amount_minor=left,
        kind="store_credit_refund",
        ref=order.id,
        now=now,
    )
    return left


def refundable(order: Order) -> int:
    """Store credit a refund of this order may still return (0 for an order never paid)."""
    if order.paid_at is None:
        return 0
    return order.wallet_minor - order.wallet_refunded_minor


async def refund(
    session: AsyncSession, *, order: Order, amount_minor: int, refund_id: str, now: datetime
) -> None:
    """Return ``amount_minor`` of a paid order's store credit to the buyer's wallet."""
    if not 0 < amount_minor <= refundable(order):
        raise ValueError(f"{amount_minor} is more store credit than order {order.id} holds")
    await _count_returned(session, order=order, amount_minor=amount_minor)
    await wallet.credit(
        session,
        account_id=order.buyer_id,
        currency=order.currency,
        amount_minor=amount_minor,
        kind="store_credit_refund",
        ref=refund_id,
        now=now,
    )


async def _count_returned(session: AsyncSession, *, order: Order, amount_minor: int) -> None:
    """Count credit going back on the order: one guarded update, never more than it spent
    (callers hold the order's lock too; this holds without it)."""
    returned = await session.scalar(
        update(Order)
        .where(
            Order.id == order.id,
            Order.wallet_refunded_minor + amount_minor <= Order.wallet_minor,
        )
        .values(wallet_refunded_minor=Order.wallet_refunded_minor + amount_minor)
        .returning(Order.wallet_refunded_minor)
        .execution_options(synchronize_session=False)
    )
    if returned is None:
        raise conflict(
            "refund.exceeds_captured", "more store credit would go back than the order spent"
        )
    set_committed_value(order, "wallet_refunded_minor", returned)
