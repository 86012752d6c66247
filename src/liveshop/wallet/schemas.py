"""HTTP schemas of the wallet."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from liveshop.inputs import Bounded

MAX_TOP_UP_MINOR = 100_000_000
"""The largest single top-up (1,000,000.00 in a two-decimal currency)."""

EntryKind = Literal[
    "top_up",
    "envelope_fund",
    "envelope_grab",
    "envelope_refund",
    "store_credit_spend",
    "store_credit_refund",
    "adjustment",
]
TopUpStatus = Literal["requires_action", "succeeded", "failed"]


class BalanceOut(BaseModel):
    currency: str
    balance_minor: int
    updated_at: datetime


class WalletOut(BaseModel):
    balances: list[BalanceOut]


class EntryOut(BaseModel):
    id: str
    currency: str
    amount_minor: int
    kind: EntryKind
    ref: str
    created_at: datetime


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None


class TopUpIn(BaseModel):
    """Pay money into your wallet through the payment provider (integer minor units)."""

    model_config = ConfigDict(extra="forbid")

    amount_minor: Annotated[StrictInt, Bounded(1, MAX_TOP_UP_MINOR, code="wallet.bad_amount")]
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")


class TopUpOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: TopUpStatus
    amount_minor: int
    currency: str
    provider: str
    pay_url: str | None
    created_at: datetime
    succeeded_at: datetime | None
