"""Tables of flash sales: the sale, each accepted buy (reservation -> order), the waitlist.

The gate (``promotions/flash/gate.py``) decides buys in memory; these rows are what it is rebuilt
from after a restart: free units = quantity - units of live and paid reservations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

SALE_STATUSES = ("countdown", "open", "closed")
RESERVATION_STATUSES = ("live", "paid", "released", "cancelled")


class FlashSale(Base):
    __tablename__ = "flash_sales"

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("live_rundown_items.id"))
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"))
    product_id: Mapped[str] = mapped_column(String(26))
    merchant_id: Mapped[str] = mapped_column(String(26))
    title: Mapped[str] = mapped_column(String(200))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    list_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)
    per_user_limit: Mapped[int] = mapped_column(Integer)
    payment_window_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FlashReservation(Base):
    """One accepted buy. Its id is derived from the buyer and the Idempotency-Key, so a retry
    finds it; ``fingerprint`` is the request body's hash (a key reused with another body is
    refused)."""

    __tablename__ = "flash_reservations"
    __table_args__ = (
        Index("ix_flash_reservations_sale_status", "sale_id", "status"),
        Index("ix_flash_reservations_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sale_id: Mapped[str] = mapped_column(ForeignKey("flash_sales.id"))
    user_id: Mapped[str] = mapped_column(String(26), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str] = mapped_column(String(26), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    from_waitlist: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class FlashWaitlistEntry(Base):
    __tablename__ = "flash_waitlist"
    __table_args__ = (UniqueConstraint("sale_id", "user_id"),)

    id: Mapped[str] = id_column()
    sale_id: Mapped[str] = mapped_column(ForeignKey("flash_sales.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(26))
    position: Mapped[int] = mapped_column(Integer)
    # Where released units go if this user is granted some (the order needs an address).
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Set when released units went to this user (or the sale closed first: "closed").
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reservation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
