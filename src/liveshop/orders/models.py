from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

ORDER_STATUSES = (
    "pending_payment",
    "paid",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "expired",
)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_buyer_id_id", "buyer_id", "id"),
        Index("ix_orders_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[str] = id_column()
    buyer_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    status: Mapped[str] = mapped_column(String(20))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Store credit: what the buyer's wallet paid, and what of it went back (orders/store_credit).
    wallet_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    wallet_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # What the coupons took off at the merchant's cost (its own coupons, a deal's budget), and
    # so what the merchant receives: subtotal + shipping - merchant_discount_minor. A discount
    # funded by an anchor's wallet or the platform is not the merchant's: it gets full price.
    merchant_discount_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    merchant_receives_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    destination_lat: Mapped[float] = mapped_column(Float)
    destination_lon: Mapped[float] = mapped_column(Float)
    carrier: Mapped[str | None] = mapped_column(String(60), nullable=True)
    tracking_number: Mapped[str | None] = mapped_column(String(80), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Where the order came from: "checkout" (expired by the order sweeper), or a promotion
    # ("flash_sale", "raffle") whose own module handles its expiry and stock.
    source: Mapped[str] = mapped_column(String(16), default="checkout", server_default="checkout")
    # The live session it was bought in, if any (analytics, raffle eligibility).
    live_session_id: Mapped[str | None] = mapped_column(String(26), nullable=True, index=True)


class OrderLine(Base):
    """A line with the product as it was when the order was placed (price snapshot)."""

    __tablename__ = "order_lines"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"))
    product_id: Mapped[str] = mapped_column(String(26))
    title: Mapped[str] = mapped_column(String(200))
    sku_code: Mapped[str] = mapped_column(String(64))
    sku_attributes: Mapped[dict[str, Any]] = mapped_column(JSON)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    line_total_minor: Mapped[int] = mapped_column(BigInteger)


class OrderStatusChange(Base):
    """Append-only history of an order's states."""

    __tablename__ = "order_status_changes"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
