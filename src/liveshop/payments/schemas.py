from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from liveshop.inputs import PositiveMoney


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    return_url: str | None = Field(
        default=None, max_length=500, description="Where the pay page sends the buyer after."
    )


class PaymentOut(BaseModel):
    id: str
    order_id: str
    provider: str
    status: str
    amount_minor: int
    refunded_minor: int
    currency: str
    pay_url: str
    created_at: datetime
    succeeded_at: datetime | None


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_minor: PositiveMoney
    reason: str = Field(default="", max_length=200)


class RefundOut(BaseModel):
    """``amount_minor`` in all: ``card_minor`` back through the provider (first, up to what
    the payment captured), ``wallet_minor`` back to the buyer's wallet as store credit."""

    id: str
    order_id: str
    payment_id: str | None
    amount_minor: int
    card_minor: int
    wallet_minor: int
    currency: str
    status: str
    reason: str
    created_at: datetime


class WebhookResult(BaseModel):
    event_id: str
    outcome: str
