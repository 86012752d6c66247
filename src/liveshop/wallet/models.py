"""Tables of the wallet: one balance row per (account, currency) and the append-only ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

ENTRY_KINDS = (
    "top_up",
    "envelope_fund",
    "envelope_grab",
    "envelope_refund",
    "store_credit_spend",
    "store_credit_refund",
    "coupon_budget",
    "coupon_budget_refund",
    "adjustment",
)
TOP_UP_STATUSES = ("requires_action", "succeeded", "failed")


class WalletBalance(Base):
    """What an account holds in one currency: always the sum of its ledger entries, never
    negative (a CHECK constraint backs the guarded UPDATE of ``service.debit``)."""

    __tablename__ = "wallet_balances"
    __table_args__ = (CheckConstraint("balance_minor >= 0", name="balance_non_negative"),)

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WalletEntry(Base):
    """The append-only wallet ledger: one signed row per credit or debit.

    ``(account_id, kind, ref)`` is unique, so one reason moves one account's money once
    (an envelope grab per envelope, a store-credit spend per order ...).
    """

    __tablename__ = "wallet_entries"
    __table_args__ = (
        UniqueConstraint("account_id", "kind", "ref"),
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
        Index("ix_wallet_entries_account_currency_id", "account_id", "currency", "id"),
    )

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    ref: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WalletTopUp(Base):
    """Money paid into a wallet through the payment provider: its own intent at the provider,
    credited (``top_up`` entry, ``ref`` = this id) once the provider reports success.

    ``status`` goes ``requires_action`` -> ``succeeded`` | ``failed`` by a guarded UPDATE, so a
    replayed webhook credits nothing more. ``provider`` is ``seed`` for the demo seed's grant
    (no intent, succeeded at once).
    """

    __tablename__ = "wallet_top_ups"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        Index("ix_wallet_top_ups_account_id_id", "account_id", "id"),
    )

    id: Mapped[str] = id_column()
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str] = mapped_column(String(32))
    provider_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(24))
    pay_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
