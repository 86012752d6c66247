"""Tables of live video: a session's stream (key, state), its recordings, its replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from liveshop.db import Base, UTCDateTime, id_column

STREAM_STATUSES = ("idle", "online", "offline")
REPLAY_STATUSES = ("processing", "ready", "failed")


class VideoStream(Base):
    """One per live session, made when the anchor first asks for its ingest settings.

    ``stream_key`` is the secret an encoder publishes with (the RTMP stream name); rotating
    it refuses the old key from then on. ``status``: ``idle`` (never published), ``online``
    (an encoder is publishing), ``offline`` (it stopped; ``offline_at`` starts the grace).
    """

    __tablename__ = "video_streams"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    stream_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="idle")
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # nginx's
    online_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    offline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    publishes: Mapped[int] = mapped_column(Integer, default=0)
    key_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VideoRecording(Base):
    """One publish, recorded by nginx-rtmp (an FLV file under ``var/video/rec``)."""

    __tablename__ = "video_recordings"

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(500), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the publish began
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the recording was closed
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VideoReplay(Base):
    """The replay of an ended session: its recordings joined into one HLS VOD playlist.

    ``parts`` maps wall-clock time to replay time: one ``{"started_at", "offset_ms",
    "duration_ms"}`` per recording, in order (the gaps between publishes are cut).
    """

    __tablename__ = "video_replays"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("live_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default="processing")
    duration_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    parts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
