from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

MERCHANT_KINDS = ("brand", "factory")
PRODUCT_STATUSES = ("draft", "published", "unpublished")


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(80), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MerchantMember(Base):
    __tablename__ = "merchant_members"

    merchant_id: Mapped[str] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="staff")  # owner | staff


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[str] = id_column()
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"), nullable=True)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (Index("ix_products_status_id", "status", "id"),)

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    category_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    currency: Mapped[str] = mapped_column(String(3))
    image_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    # Cheapest and dearest active SKU, kept in step with the SKUs for price filters.
    price_min_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    price_max_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Target audience, used by anchor matching: gender (female|male|any), age bands such as
    # "18-24", city tiers 1..5; interest tags live in product_tags so they can be filtered.
    audience_gender: Mapped[str] = mapped_column(String(8), default="any")
    audience_age_bands: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience_city_tiers: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProductTag(Base):
    __tablename__ = "product_tags"

    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)


class Sku(Base):
    __tablename__ = "skus"
    __table_args__ = (UniqueConstraint("product_id", "code"),)

    id: Mapped[str] = id_column()
    product_id: Mapped[str] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    list_price_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
