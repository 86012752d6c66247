"""Live video, the state machine: stream keys, publish / publish-done from nginx-rtmp, grace.

A session's encoder publishes ``rtmp://<server>/live/<session id>?key=<secret>``: the OBS
"stream key" is ``<session id>?key=<secret>``. nginx-rtmp names the stream after the part
before ``?`` (so the HLS playlist is ``/hls/<session id>.m3u8`` and the public playback URL
never shows the secret) and passes the arguments to ``on_publish``, where we check the
secret: an unknown session, a wrong or rotated secret, or an ended session is refused and
the encoder fails to connect. Publishing to a scheduled session takes it live.

When the encoder stops (``on_publish_done``) the stream goes offline and the session stays
live for ``LIVESHOP_VIDEO_GRACE_SECONDS``; a reconnect within it puts the stream back
online, and after it the session ends (``end_stale``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.config import Settings
from liveshop.errors import Problem
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.video.models import VideoStream

KEY_PREFIX = "lsk_"
UPDATE_SECONDS = 10  # nginx-rtmp's on_update period while a stream is published
SILENT_AFTER = timedelta(seconds=3 * UPDATE_SECONDS)  # no word for this long: gone


def _plausible(session_id: str) -> bool:
    return 0 < len(session_id) <= 26 and session_id.isalnum()


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


def obs_stream_key(stream: VideoStream) -> str:
    """What the anchor enters as OBS's "Stream Key" (after the server URL)."""
    return f"{stream.session_id}?key={stream.stream_key}"


async def publish(
    session: AsyncSession, *, session_id: str, key: str, client_id: str, now: datetime
) -> PublishOutcome:
    """``on_publish``: the right secret puts the stream online (and a scheduled session
    live); anything else is refused with the same answer (nothing to probe keys with)."""
    live = await session.get(LiveSession, session_id) if _plausible(session_id) else None
    if live is None:
        raise HookRefused("video.unknown_key", "this stream key is not valid")
    live = await live_service.get_or_raise(session, session_id=session_id, lock=True)
    stream = await get_stream(session, session_id=session_id, lock=True)
    if stream is None or not hmac.compare_digest(stream.stream_key.encode(), key.encode()):
        raise HookRefused("video.unknown_key", "this stream key is not valid")
    if live.status == "ended":
        raise HookRefused("video.session_ended", "the session has ended")
    if not await auth_service.is_active_anchor(session, account_id=live.anchor_id):
        # the key works only while its session's anchor is an active account and an anchor now
        raise HookRefused("video.anchor_not_active", "the session's anchor may not go live")
    if stream.status == "online":
        if stream.client_id == client_id:  # nginx repeating itself
            return PublishOutcome(live, stream, went_live=False, changed=False)
        if stream.updated_at > now - SILENT_AFTER:
            # nginx-rtmp would refuse it anyway ("already publishing"), then report its end,
            # which must not take the first encoder's stream offline
            raise HookRefused("video.already_publishing", "an encoder is publishing already")
        # the publisher we know has been silent (nginx restarted without telling): take over
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


async def touch(session: AsyncSession, *, session_id: str, client_id: str, now: datetime) -> bool:
    """``on_update`` (nginx-rtmp, every ``UPDATE_SECONDS`` while publishing): the current
    publisher is alive."""
    stream = await get_stream(session, session_id=session_id)
    if stream is None or stream.status != "online" or stream.client_id != client_id:
        return False
    stream.updated_at = now
    await session.flush()
    return True


async def silent_streams(session: AsyncSession, *, now: datetime) -> list[str]:
    """Streams "online" whose publisher has not been heard of for ``SILENT_AFTER`` (nginx
    stopped without ``publish_done``: a crash, a kill): their sessions get the grace."""
    rows = await session.execute(
        select(VideoStream.session_id).where(
            VideoStream.status == "online", VideoStream.updated_at <= now - SILENT_AFTER
        )
    )
    return list(rows.scalars())


async def publish_done(
    session: AsyncSession, *, session_id: str, client_id: str | None, now: datetime
) -> VideoStream | None:
    """``on_publish_done``: the stream goes offline (the grace starts). Ignored when it is
    about another publisher than the current one (an old connection closing late);
    ``client_id`` None: whoever it is (a silent stream)."""
    stream = await get_stream(session, session_id=session_id, lock=True)
    if stream is None or stream.status != "online":
        return None
    if client_id is not None and stream.client_id != client_id:
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
