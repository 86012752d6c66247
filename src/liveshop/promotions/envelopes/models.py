"""Tables of red envelopes: the pot and its grabs (the money itself is in the wallet ledger)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

ENVELOPE_STATUSES = ("active", "finished", "expired")


class RedEnvelope(Base):
    """A pot shared by the first ``count`` grabbers of a live session.

    ``status`` is ``active`` from creation (grabs start at ``opens_at``) until the last share
    is taken (``finished``) or ``expires_at`` passes and the remainder goes back to the funder
    (``expired``, ``refunded_minor``). ``grabbed_count`` / ``grabbed_minor`` are the sums of
    the grabs, kept by a guarded UPDATE so the database itself never hands out more than the
    pot. ``pieces`` holds the pre-split amounts (null for double mean); never shown to clients.
    """

    __tablename__ = "red_envelopes"
    __table_args__ = (
        CheckConstraint("count >= 1", name="count_positive"),
        CheckConstraint("amount_minor >= count", name="amount_covers_count"),
        CheckConstraint("grabbed_count <= count", name="grabbed_count_within"),
        CheckConstraint("grabbed_minor + refunded_minor <= amount_minor", name="paid_within"),
    )

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    funder_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    eligibility: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    grabbed_count: Mapped[int] = mapped_column(Integer, default=0)
    grabbed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    pieces: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RedEnvelopeGrab(Base):
    """One share taken: once per user per envelope; ``seq`` is the gate's grab order and
    ``piece`` the index into the pre-split amounts (null for double mean)."""

    __tablename__ = "red_envelope_grabs"
    __table_args__ = (
        UniqueConstraint("envelope_id", "account_id"),
        UniqueConstraint("envelope_id", "seq"),
        CheckConstraint("amount_minor >= 1", name="amount_positive"),
    )

    id: Mapped[str] = id_column()
    envelope_id: Mapped[str] = mapped_column(ForeignKey("red_envelopes.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer)
    piece: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
