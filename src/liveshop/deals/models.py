"""Tables of deals: offers (a merchant's terms for one product), who an offer is for, the deals
anchors accepted (terms frozen, with their usage counters) and the ledger of every use.

The counters (``stock_used``, ``prize_used``, ``coupon_budget_used_minor``) change only by
guarded UPDATEs (``used = used + n WHERE used + n <= share``) in ``deals/consent.py``; CHECK
constraints make the database itself refuse a counter past its share, and each change is a
``deal_uses`` row, so a deal's counters are the sums of its ledger.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

OFFER_STATUSES = ("open", "withdrawn")
DEAL_STATUSES = ("active", "ended")
END_REASONS = ("ended", "expired")
USE_KINDS = ("stock", "prize", "coupon_budget")


class DealOffer(Base):
    """A merchant's terms for one product, open to every anchor (``open_to_all``) or to the
    anchors of ``deal_offer_targets``; anchors accept it until it is withdrawn or expires."""

    __tablename__ = "deal_offers"
    __table_args__ = (
        CheckConstraint("floor_price_minor >= 0", name="floor_non_negative"),
        CheckConstraint("stock_share >= 0", name="stock_share_non_negative"),
        CheckConstraint("prize_units >= 0", name="prize_units_non_negative"),
        CheckConstraint("coupon_budget_minor >= 0", name="coupon_budget_non_negative"),
        CheckConstraint("commission_bps >= 0 AND commission_bps <= 10000", name="commission_bps"),
        Index("ix_deal_offers_status_valid_until", "status", "valid_until"),
    )

    id: Mapped[str] = id_column()
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    open_to_all: Mapped[bool] = mapped_column(Boolean)
    floor_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock_share: Mapped[int] = mapped_column(Integer)
    prize_units: Mapped[int] = mapped_column(Integer)
    coupon_budget_minor: Mapped[int] = mapped_column(BigInteger)
    commission_bps: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DealOfferTarget(Base):
    """An anchor a targeted offer is for."""

    __tablename__ = "deal_offer_targets"

    offer_id: Mapped[str] = mapped_column(
        ForeignKey("deal_offers.id", ondelete="CASCADE"), primary_key=True
    )
    anchor_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Deal(Base):
    """An accepted offer: merchant, anchor and product with the offer's terms frozen.

    ``active`` until the merchant ends it (``ended``) or, found past ``valid_until``, it is
    marked ``expired``; an anchor holds at most one active deal per product (a partial unique
    index), and accepts an offer once.
    """

    __tablename__ = "deals"
    __table_args__ = (
        UniqueConstraint("offer_id", "anchor_id"),
        Index(
            "uq_deals_active_anchor_product",
            "anchor_id",
            "product_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        CheckConstraint("stock_used >= 0 AND stock_used <= stock_share", name="stock_within"),
        CheckConstraint("prize_used >= 0 AND prize_used <= prize_units", name="prizes_within"),
        CheckConstraint(
            "coupon_budget_used_minor >= 0 AND coupon_budget_used_minor <= coupon_budget_minor",
            name="coupon_budget_within",
        ),
        Index("ix_deals_merchant_id_id", "merchant_id", "id"),
    )

    id: Mapped[str] = id_column()
    offer_id: Mapped[str] = mapped_column(ForeignKey("deal_offers.id"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    anchor_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    floor_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stock_share: Mapped[int] = mapped_column(Integer)
    stock_used: Mapped[int] = mapped_column(Integer, default=0)
    prize_units: Mapped[int] = mapped_column(Integer)
    prize_used: Mapped[int] = mapped_column(Integer, default=0)
    coupon_budget_minor: Mapped[int] = mapped_column(BigInteger)
    coupon_budget_used_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    commission_bps: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    accepted_by: Mapped[str] = mapped_column(String(26))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(26), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DealUse(Base):
    """The ledger of a deal's counters: one signed row per change (``amount`` > 0 taken, < 0
    given back) of ``kind`` (``stock``, ``prize``, ``coupon_budget``) for ``source`` (the flash
    sale, raffle or order that used it)."""

    __tablename__ = "deal_uses"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_deal_uses_kind_source", "kind", "source"),
    )

    id: Mapped[str] = id_column()
    deal_id: Mapped[str] = mapped_column(ForeignKey("deals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
