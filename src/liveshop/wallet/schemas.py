"""HTTP schemas of the wallet."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

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

    amount_minor: StrictInt
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
