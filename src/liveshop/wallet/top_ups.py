"""Top-ups: money paid into a wallet through the payment provider, credited exactly once.

A top-up reuses the payments machinery as it is: it opens its own intent at the provider
(``reference`` = ``top_up:<id>``), the buyer pays on the provider's page, and the provider's
webhook reaches ``POST /payments/webhooks/sandbox`` like an order's. There
:func:`liveshop.payments.service.apply_event` records the event once (a replayed event id is
``409 webhook.replayed``) and, when the intent is no order payment, hands it to
:func:`apply_event` here. The credit is guarded twice: ``requires_action -> succeeded`` is a
guarded UPDATE (a second success event of the same intent changes nothing), and the ledger row
``(account, "top_up", <top-up id>)`` is unique.

Services flush, never commit (the API or the webhook commits).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.errors import invalid, not_found
from liveshop.payments.provider import PaymentProvider, ProviderEvent, check_event_amount
from liveshop.wallet import service as wallet
from liveshop.wallet.models import WalletTopUp
from liveshop.wallet.schemas import MAX_TOP_UP_MINOR

REFERENCE_PREFIX = "top_up:"


def check_amount(amount_minor: int) -> None:
    if not 0 < amount_minor <= MAX_TOP_UP_MINOR:
        raise invalid(
            "wallet.bad_amount",
            f"a top-up is 1..{MAX_TOP_UP_MINOR} minor units, not {amount_minor}",
            "amount_minor",
        )


async def start(
    session: AsyncSession,
    *,
    account_id: str,
    amount_minor: int,
    currency: str,
    provider: PaymentProvider,
    idempotency_key: str,
    now: datetime,
) -> WalletTopUp:
    """Open a top-up and its intent at the provider; the wallet is credited when it succeeds."""
    check_amount(amount_minor)
    top_up = WalletTopUp(
        account_id=account_id,
        currency=currency,
        amount_minor=amount_minor,
        provider=provider.name,
        status="requires_action",
        created_at=now,
    )
    session.add(top_up)
    await session.flush()
    intent = await provider.create_intent(
        session,
        amount_minor=amount_minor,
        currency=currency,
        reference=REFERENCE_PREFIX + top_up.id,
        description="liveshop wallet top-up",
        return_url=None,
        idempotency_key=idempotency_key,
    )
    top_up.provider_intent_id = intent.id
    top_up.pay_url = intent.pay_url
    await session.flush()
    return top_up


async def grant(
    session: AsyncSession,
    *,
    account_id: str,
    amount_minor: int,
    currency: str,
    source: str,
    now: datetime,
) -> WalletTopUp:
    """A top-up that needs no payment (the demo seed's): succeeded and credited at once.

    ``source`` is recorded as the provider; one grant per account and source (a second call
    returns the first)."""
    existing = (
        await session.execute(
            select(WalletTopUp).where(
                WalletTopUp.account_id == account_id,
                WalletTopUp.provider == source,
                WalletTopUp.currency == currency,
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    check_amount(amount_minor)
    top_up = WalletTopUp(
        account_id=account_id,
        currency=currency,
        amount_minor=amount_minor,
        provider=source,
        status="succeeded",
        created_at=now,
        succeeded_at=now,
    )
    session.add(top_up)
    await session.flush()
    await _credit(session, top_up=top_up, now=now)
    return top_up


async def _credit(session: AsyncSession, *, top_up: WalletTopUp, now: datetime) -> None:
    await wallet.credit(
        session,
        account_id=top_up.account_id,
        currency=top_up.currency,
        amount_minor=top_up.amount_minor,
        kind="top_up",
        ref=top_up.id,
        now=now,
    )


async def apply_event(
    session: AsyncSession, *, provider: PaymentProvider, event: ProviderEvent, now: datetime
) -> str | None:
    """Apply a provider event to the top-up of its intent; None when no top-up has it."""
    top_up = (
        await session.execute(
            select(WalletTopUp).where(
                WalletTopUp.provider == provider.name,
                WalletTopUp.provider_intent_id == event.intent_id,
            )
        )
    ).scalar_one_or_none()
    if top_up is None:
        return None
    if event.type not in ("payment_intent.succeeded", "payment_intent.failed"):
        return "ignored_unknown_type"
    succeeded = event.type == "payment_intent.succeeded"
    if succeeded:
        check_event_amount(event, amount_minor=top_up.amount_minor, currency=top_up.currency)
    result = await session.execute(
        update(WalletTopUp)
        .where(WalletTopUp.id == top_up.id, WalletTopUp.status == "requires_action")
        .values(
            status="succeeded" if succeeded else "failed",
            succeeded_at=now if succeeded else None,
        )
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    await session.refresh(top_up)
    if result.rowcount != 1:
        return f"ignored_top_up_{top_up.status}"
    if not succeeded:
        return "top_up_failed"
    await _credit(session, top_up=top_up, now=now)
    return "wallet_topped_up"


async def get_or_raise(session: AsyncSession, *, top_up_id: str, account_id: str) -> WalletTopUp:
    """The account's own top-up; anyone else's is a 404."""
    top_up = await session.get(WalletTopUp, top_up_id)
    if top_up is None or top_up.account_id != account_id:
        raise not_found("wallet.top_up_not_found", "no such top-up")
    return top_up
