"""Tables of the live room: sessions, rundown, pins, announcements, moderation, event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

SESSION_STATUSES = ("scheduled", "live", "ended")
SANCTION_KINDS = ("mute", "ban")

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class LiveSession(Base):
    __tablename__ = "live_sessions"

    id: Mapped[str] = id_column()
    anchor_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    cover_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="scheduled", index=True)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    slow_mode_seconds: Mapped[int] = mapped_column(Integer, default=0)
    pinned_item_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    # Final room statistics, written when the session ends (live values sit in the broker).
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    unique_viewers: Mapped[int] = mapped_column(Integer, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RundownItem(Base):
    """One product (SKU) the anchor presents in a session, at its live price."""

    __tablename__ = "live_rundown_items"
    __table_args__ = (UniqueConstraint("session_id", "sku_id"),)

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id"))
    live_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(String(200), default="")
    # Price when bought from the replay, set by the product's merchant; None: the list price.
    replay_price_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Removed from the rundown: kept (the pin timeline and orders point at it), hidden.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SessionOperator(Base):
    __tablename__ = "live_session_operators"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PinRecord(Base):
    """The pin timeline: every pin with its time, closed by the next unpin (replays read it)."""

    __tablename__ = "live_pins"

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True
    )
    item_id: Mapped[str] = mapped_column(ForeignKey("live_rundown_items.id"))
    pinned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    pinned_by: Mapped[str] = mapped_column(String(26))
    unpinned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    unpinned_by: Mapped[str | None] = mapped_column(String(26), nullable=True)


class Announcement(Base):
    __tablename__ = "live_announcements"

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BannedWord(Base):
    """A word refused (or masked) in chat: global when ``anchor_id`` is null."""

    __tablename__ = "live_banned_words"
    __table_args__ = (UniqueConstraint("anchor_id", "word"),)

    id: Mapped[str] = id_column()
    anchor_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True, index=True
    )
    word: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModerationSetting(Base):
    """Per-anchor chat moderation settings."""

    __tablename__ = "live_moderation_settings"

    anchor_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    banned_word_action: Mapped[str] = mapped_column(String(8), default="reject")  # or mask
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Sanction(Base):
    """A timed (or, with ``until`` null, permanent) mute or ban in an anchor's rooms."""

    __tablename__ = "live_sanctions"

    id: Mapped[str] = id_column()
    anchor_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    session_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    created_by: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_live_sanctions_anchor_account", "anchor_id", "account_id"),)


class RoomEvent(Base):
    """The append-only room event log (join, leave, chat, like batch, pin, moderation ...).

    Written in batches by the event log writer, never one INSERT per event on the hot path.
    No foreign keys: the log must accept a write whatever else happens to the rows it names.
    """

    __tablename__ = "live_room_events"
    __table_args__ = (Index("ix_live_room_events_session_at", "session_id", "at"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(26))
    account_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    guest_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
