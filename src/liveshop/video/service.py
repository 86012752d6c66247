"""Live video, the state machine: stream keys, publish / publish-done from nginx-rtmp, grace.

A session's encoder publishes ``rtmp://<server>/live/<stream key>``. nginx-rtmp asks us
(``on_publish``) before it accepts: an unknown or rotated key, or a key of an ended session,
is refused and the encoder fails to connect. A good key is answered with a redirect to the
session id, so the HLS playlist is ``/hls/<session id>.m3u8``: the public playback URL never
shows the secret key. Publishing to a scheduled session takes it live.

When the encoder stops (``on_publish_done``) the stream goes offline and the session stays
live for ``LIVESHOP_VIDEO_GRACE_SECONDS``; a reconnect within it puts the stream back
online, and after it the session ends (``end_stale``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.config import Settings
from liveshop.errors import Problem
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.video.models import VideoStream

KEY_PREFIX = "lsk_"


def new_stream_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


def playback_url(settings: Settings, session_id: str) -> str:
    return f"{settings.hls_url}/hls/{session_id}.m3u8"


def replay_url(settings: Settings, session_id: str) -> str:
    return f"{settings.hls_url}/replays/{session_id}/index.m3u8"


def stream_payload(
    settings: Settings, live: LiveSession, stream: VideoStream | None
) -> dict[str, Any]:
    """The room's view of the video (``RoomStream`` in live/events.py)."""
    status = stream.status if stream is not None else "idle"
    return {
        "status": status,
        "playback_url": playback_url(settings, live.id) if status == "online" else None,
        "online_at": live_service.iso(stream.online_at) if stream else None,
        "offline_at": live_service.iso(stream.offline_at) if stream else None,
    }


async def get_stream(
    session: AsyncSession, *, session_id: str, lock: bool = False
) -> VideoStream | None:
    query = select(VideoStream).where(VideoStream.session_id == session_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def ensure_stream(session: AsyncSession, *, live: LiveSession, now: datetime) -> VideoStream:
    """The session's stream, made (with a fresh key) the first time it is asked for."""
    stream = await get_stream(session, session_id=live.id)
    if stream is None:
        stream = VideoStream(
            session_id=live.id,
            stream_key=new_stream_key(),
            status="idle",
            publishes=0,
            created_at=now,
            updated_at=now,
        )
        session.add(stream)
        await session.flush()
    return stream


def rotate_key(stream: VideoStream, *, now: datetime) -> None:
    """A new key; the old one is refused from now on (a publish in progress goes on until
    the encoder disconnects)."""
    stream.stream_key = new_stream_key()
    stream.key_rotated_at = now
    stream.updated_at = now


class HookRefused(Problem):
    """nginx-rtmp refuses the publish on any 4xx: the encoder fails to connect."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(403, code, detail)


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    live: LiveSession
    stream: VideoStream
    went_live: bool  # the publish took a scheduled session live
    changed: bool  # the stream went online (False: nginx repeated a call already applied)


async def publish(
    session: AsyncSession, *, key: str, client_id: str, now: datetime
) -> PublishOutcome:
    """``on_publish``: a good key puts the stream online (and a scheduled session live)."""
    found = (
        (await session.execute(select(VideoStream).where(VideoStream.stream_key == key)))
        .scalars()
        .first()
    )
    if found is None:
        raise HookRefused("video.unknown_key", "no session has this stream key")
    live = await live_service.get_or_raise(session, session_id=found.session_id, lock=True)
    stream = await get_stream(session, session_id=live.id, lock=True)
    assert stream is not None
    if stream.stream_key != key:  # rotated while we waited for the lock
        raise HookRefused("video.unknown_key", "no session has this stream key")
    if live.status == "ended":
        raise HookRefused("video.session_ended", "the session has ended")
    if stream.status == "online" and stream.client_id == client_id:
        return PublishOutcome(live, stream, went_live=False, changed=False)
    went_live = live.status == "scheduled"
    if went_live:
        await live_service.start_session(session, live=live, now=now)
    stream.status = "online"
    stream.client_id = client_id
    stream.online_at = now
    stream.offline_at = None
    stream.publishes += 1
    stream.updated_at = now
    await session.flush()
    return PublishOutcome(live, stream, went_live=went_live, changed=True)


async def publish_done(
    session: AsyncSession, *, session_id: str, client_id: str, now: datetime
) -> VideoStream | None:
    """``on_publish_done``: the stream goes offline (the grace starts). Ignored when it is
    about another publisher than the current one (an old connection closing late)."""
    stream = await get_stream(session, session_id=session_id, lock=True)
    if stream is None or stream.status != "online" or stream.client_id != client_id:
        return None
    stream.status = "offline"
    stream.offline_at = now
    stream.updated_at = now
    await session.flush()
    return stream


async def stale_sessions(session: AsyncSession, *, now: datetime, grace: timedelta) -> list[str]:
    """Live sessions whose encoder has been gone longer than the grace."""
    rows = await session.execute(
        select(LiveSession.id)
        .join(VideoStream, VideoStream.session_id == LiveSession.id)
        .where(
            LiveSession.status == "live",
            VideoStream.status == "offline",
            VideoStream.offline_at <= now - grace,
        )
    )
    return list(rows.scalars())
