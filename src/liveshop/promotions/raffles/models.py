"""Tables of raffles: the raffle (with its secret seed until the draw), entries, winners.

The draw itself is ``promotions/raffles/proof.py``; these rows are what it is run on and what
the proof is rebuilt from. Entries are frozen when the raffle closes: nothing writes them after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

# open: entries accepted; closed: list frozen, the draw waits for an announced public seed;
# drawn: winners drawn and the server seed revealed.
RAFFLE_STATUSES = ("open", "closed", "drawn")
ELIGIBILITY_RULES = ("everyone", "keyword", "bought_in_session", "follower", "fan_group")


class Raffle(Base):
    __tablename__ = "raffles"
    __table_args__ = (Index("ix_raffles_status_closes_at", "status", "closes_at"),)

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(ForeignKey("live_sessions.id"), index=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("live_rundown_items.id"))
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"))
    product_id: Mapped[str] = mapped_column(String(26))
    title: Mapped[str] = mapped_column(String(120))
    eligibility: Mapped[str] = mapped_column(String(24))
    keyword: Mapped[str | None] = mapped_column(String(50), nullable=True)
    winners_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    # Secret until the draw: only its commitment is published at the open.
    server_seed: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))
    # Where the public seed comes from, announced at the open; None: the fallback
    # ``{raffle_id}:{entrants_hash}`` (raffle_proof.suggested_public_seed).
    public_seed_source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    public_seed: Mapped[str | None] = mapped_column(String(500), nullable=True)
    entrants_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    entrants_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(26))


class RaffleEntry(Base):
    """One entrant of a raffle; the entrant id in the proof is the account id."""

    __tablename__ = "raffle_entries"

    raffle_id: Mapped[str] = mapped_column(
        ForeignKey("raffles.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RaffleWinner(Base):
    """A winner in rank order (rank 1 first) and, once claimed, the prize order."""

    __tablename__ = "raffle_winners"
    __table_args__ = (UniqueConstraint("raffle_id", "account_id"),)

    raffle_id: Mapped[str] = mapped_column(
        ForeignKey("raffles.id", ondelete="CASCADE"), primary_key=True
    )
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    order_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
