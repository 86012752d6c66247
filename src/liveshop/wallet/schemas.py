"""HTTP schemas of the wallet."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

EntryKind = Literal[
    "envelope_grab", "envelope_refund", "store_credit_spend", "store_credit_refund", "adjustment"
]


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
