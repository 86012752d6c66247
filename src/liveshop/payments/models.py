from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

PAYMENT_STATUSES = ("requires_action", "succeeded", "failed", "refunded", "partially_refunded")


class Payment(Base):
    """Our record of one payment attempt for an order at a provider."""

    __tablename__ = "payments"
    __table_args__ = (
        # One payment awaiting the buyer per order (payment starts also take the order's lock).
        Index(
            "uq_payments_one_open_per_order",
            "order_id",
            unique=True,
            sqlite_where=text("status = 'requires_action'"),
            postgresql_where=text("status = 'requires_action'"),
        ),
    )

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_intent_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(24))
    pay_url: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Refund(Base):
    """One refund of an order: ``amount_minor`` in all, of which ``wallet_minor`` went back to
    the buyer's wallet as store credit and the rest to the card through the provider
    (``payment_id`` / ``provider_refund_id`` are null when no card money was refunded)."""

    __tablename__ = "refunds"

    id: Mapped[str] = id_column()
    payment_id: Mapped[str | None] = mapped_column(
        ForeignKey("payments.id"), index=True, nullable=True
    )
    order_id: Mapped[str] = mapped_column(String(26), index=True)
    provider_refund_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    wallet_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """Provider events already applied; the unique id makes each apply exactly once."""

    __tablename__ = "payment_webhook_events"

    id: Mapped[str] = id_column()
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- the sandbox provider's own books (a real provider keeps these on its side) ---------------


class SandboxIntent(Base):
    __tablename__ = "sandbox_intents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(24))  # requires_action|succeeded|declined
    return_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SandboxRefund(Base):
    __tablename__ = "sandbox_refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    intent_id: Mapped[str] = mapped_column(ForeignKey("sandbox_intents.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SandboxEvent(Base):
    """The sandbox's webhook outbox: delivered with retries until our endpoint accepts."""

    __tablename__ = "sandbox_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
