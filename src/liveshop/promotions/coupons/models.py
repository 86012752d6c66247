"""Tables of coupons: templates (the terms), drops in a live session, the coupons fans hold,
and the redemptions that record which coupons an order used.

The arithmetic is ``promotions/coupons/discounts.py``'s; these rows hold what it is run on. Quotas
are counters kept by guarded UPDATEs (``claimed_count < quota``), and CHECK constraints make
the database itself refuse to hand out more than a quota.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

COUPON_STATUSES = ("unused", "used")
FUNDERS = ("merchant", "wallet", "deal", "platform")
"""Who loses the money a coupon takes off (``promotions/coupons/funding.py``)."""
DROP_STATUSES = ("active", "ended")
DROP_END_REASONS = ("claimed_out", "expired")


class CouponTemplate(Base):
    """The terms of a coupon and its total quota.

    Issued by a merchant for its own goods (``merchant_id``), by a manager of a live session
    for that session (``session_id``), or by an admin (either, or neither: a platform coupon).
    ``scope_merchant_id`` / ``sku_ids`` say which lines it looks at (``coupon_math.Coupon``).

    ``funded_by`` says who pays what it takes off: the merchant (its own coupon), the
    ``funder_id``'s wallet (``budget_minor`` escrowed at creation, ``budget_used_minor``
    consumed by guarded UPDATEs, the rest back when it ends: ``budget_refunded_minor``), a
    deal's coupon budget (``deal_id``) or the platform. ``ended_at``: ended (no more claims
    or uses; a wallet budget's unused part went back).
    """

    __tablename__ = "coupon_templates"
    __table_args__ = (
        CheckConstraint("quota >= 1", name="quota_positive"),
        CheckConstraint("claimed_count >= 0 AND claimed_count <= quota", name="claimed_within"),
        CheckConstraint("per_user_limit >= 1", name="per_user_limit_positive"),
        CheckConstraint(
            "budget_used_minor >= 0 AND budget_refunded_minor >= 0 AND (budget_minor IS NULL "
            "OR budget_used_minor + budget_refunded_minor <= budget_minor)",
            name="budget_within",
        ),
    )

    id: Mapped[str] = id_column()
    issuer_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    merchant_id: Mapped[str | None] = mapped_column(
        ForeignKey("merchants.id"), nullable=True, index=True
    )
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("live_sessions.id"), nullable=True, index=True
    )
    title: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(8))
    amount_off_minor: Mapped[int] = mapped_column(BigInteger)
    percent_off: Mapped[int] = mapped_column(Integer)
    cap_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    min_spend_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    scope: Mapped[str] = mapped_column(String(8))
    scope_merchant_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    sku_ids: Mapped[list[str]] = mapped_column(JSON)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    live_session_only: Mapped[bool] = mapped_column(Boolean)
    quota: Mapped[int] = mapped_column(Integer)
    claimed_count: Mapped[int] = mapped_column(Integer, default=0)
    per_user_limit: Mapped[int] = mapped_column(Integer)
    eligibility: Mapped[str] = mapped_column(String(16))
    stackable: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    funded_by: Mapped[str] = mapped_column(String(16), server_default="merchant")
    funder_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    deal_id: Mapped[str | None] = mapped_column(ForeignKey("deals.id"), nullable=True)
    budget_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    budget_used_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    budget_refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CouponDrop(Base):
    """A template handed out in a live session: ``quota`` claims until ``ends_at``.

    ``active`` until the last claim (``claimed_out``) or its end time, when the sweeper ends
    it (``expired``; also when the template's own quota ran out first).
    """

    __tablename__ = "coupon_drops"
    __table_args__ = (
        CheckConstraint("quota >= 1", name="quota_positive"),
        CheckConstraint("claimed_count >= 0 AND claimed_count <= quota", name="claimed_within"),
        Index("ix_coupon_drops_status_ends_at", "status", "ends_at"),
    )

    id: Mapped[str] = id_column()
    template_id: Mapped[str] = mapped_column(ForeignKey("coupon_templates.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    quota: Mapped[int] = mapped_column(Integer)
    claimed_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Coupon(Base):
    """A coupon a fan holds: ``unused`` or ``used`` by ``order_id`` (released back to
    ``unused`` when that order is cancelled or expires). ``number`` is the holder's n-th
    coupon of the template: unique, so the per-user limit holds even under races."""

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("template_id", "account_id", "number"),
        Index("ix_coupons_account_status", "account_id", "status"),
        CheckConstraint("number >= 1", name="number_positive"),
    )

    id: Mapped[str] = id_column()
    template_id: Mapped[str] = mapped_column(ForeignKey("coupon_templates.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    drop_id: Mapped[str | None] = mapped_column(ForeignKey("coupon_drops.id"), nullable=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), nullable=True, index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CouponRedemption(Base):
    """What a coupon took off an order (append-only; ``released_at`` when the order was
    cancelled or expired and the coupon went back to its holder). ``per_line_minor`` maps
    each SKU of the order to its share of the discount, for later partial refunds."""

    __tablename__ = "coupon_redemptions"
    __table_args__ = (CheckConstraint("amount_minor >= 0", name="amount_non_negative"),)

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    coupon_id: Mapped[str] = mapped_column(ForeignKey("coupons.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(26))
    account_id: Mapped[str] = mapped_column(String(26))
    # the coupon's place in the order's canonical application order (coupon_math), from 0
    position: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    per_line_minor: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # who paid what this redemption took off (the template's funded_by when it was used)
    funded_by: Mapped[str] = mapped_column(String(16), server_default="merchant")
