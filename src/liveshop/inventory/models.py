from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

MOVEMENT_KINDS = ("receipt", "adjustment", "reservation", "release", "shipment", "return")
RESERVATION_STATUSES = ("active", "committed", "consumed", "released")


class Warehouse(Base):
    __tablename__ = "warehouses"

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    city: Mapped[str] = mapped_column(String(80))
    region: Mapped[str] = mapped_column(String(80))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("merchant_id", "code"),)


class Stock(Base):
    """Units of one SKU in one warehouse. ``on_hand`` and ``reserved`` are the ledger's sums."""

    __tablename__ = "stocks"
    __table_args__ = (
        UniqueConstraint("sku_id", "warehouse_id"),
        CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
        CheckConstraint("reserved >= 0", name="reserved_non_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )

    id: Mapped[str] = id_column()
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"), index=True)
    warehouse_id: Mapped[str] = mapped_column(ForeignKey("warehouses.id"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)


class StockMovement(Base):
    """The append-only stock ledger: one row per change of on-hand or reserved units."""

    __tablename__ = "stock_movements"
    __table_args__ = (Index("ix_stock_movements_stock_id_id", "stock_id", "id"),)

    id: Mapped[str] = id_column()
    stock_id: Mapped[str] = mapped_column(ForeignKey("stocks.id"))
    sku_id: Mapped[str] = mapped_column(String(26), index=True)
    warehouse_id: Mapped[str] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    order_id: Mapped[str | None] = mapped_column(String(26), nullable=True, index=True)
    reservation_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    actor_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Reservation(Base):
    """Units held for an order. Active ones expire at ``expires_at``; paid ones are committed."""

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = id_column()
    stock_id: Mapped[str] = mapped_column(ForeignKey("stocks.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    warehouse_id: Mapped[str] = mapped_column(String(26))
    order_id: Mapped[str] = mapped_column(String(26), index=True)
    order_line_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
