"""The PaymentProvider protocol: what liveshop needs from a payment service provider.

A provider creates payment intents (the buyer pays on the provider's hosted page), tells us
the outcome through signed webhooks, and refunds. The built-in ``sandbox`` provider
(:mod:`liveshop.payments.sandbox`) behaves like a real one and is what the demo and the tests
use; a real provider (Alipay, WeChat Pay, Stripe ...) implements the same four methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.errors import Problem

EventType = Literal["payment_intent.succeeded", "payment_intent.failed", "refund.succeeded"]


@dataclass(frozen=True, slots=True)
class Intent:
    id: str
    amount_minor: int
    currency: str
    status: str
    pay_url: str


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    id: str
    intent_id: str
    amount_minor: int
    status: Literal["succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified webhook event."""

    id: str
    type: str
    intent_id: str
    amount_minor: int
    currency: str
    created: int
    data: Mapping[str, Any] = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    async def create_intent(
        self,
        session: AsyncSession,
        *,
        amount_minor: int,
        currency: str,
        reference: str,
        description: str,
        return_url: str | None,
        idempotency_key: str,
    ) -> Intent:
        """Start a payment. ``session`` is the caller's transaction: a provider with local
        state (the sandbox) writes in it so that nothing is half-written; a remote provider
        ignores it."""
        ...

    async def refund(
        self,
        session: AsyncSession,
        *,
        intent_id: str,
        amount_minor: int,
        idempotency_key: str,
    ) -> ProviderRefund: ...

    def verify_webhook(
        self, *, headers: Mapping[str, str], body: bytes, now: float
    ) -> ProviderEvent:
        """Check signature and freshness; raise a 400 Problem when either fails."""
        ...

    async def aclose(self) -> None: ...


def check_event_amount(event: ProviderEvent, *, amount_minor: int, currency: str) -> None:
    """A success event must carry exactly what the payment asked for (422
    ``webhook.amount_mismatch``): a signed event for another amount pays nothing."""
    if event.amount_minor != amount_minor or event.currency != currency:
        raise Problem(
            422,
            "webhook.amount_mismatch",
            f"the event is for {event.amount_minor} {event.currency}; "
            f"the payment is for {amount_minor} {currency}",
        )
