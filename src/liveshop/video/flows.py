"""Live video commands with their room events: each commits, then tells the room."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from liveshop.deps import Runtime
from liveshop.live import service as live_service
from liveshop.video import service as video

log = structlog.get_logger(__name__)


async def on_publish(runtime: Runtime, *, name: str, key: str, client_id: str) -> str:
    """nginx-rtmp's ``on_publish`` (``name``: the session id); returns the session id."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        outcome = await video.publish(
            session, session_id=name, key=key, client_id=client_id, now=now
        )
        await session.commit()
        session_id = outcome.live.id
        if outcome.changed:
            async with runtime.rooms.command_lock(session_id):
                if outcome.went_live:
                    payload = await live_service.session_payload(session, outcome.live)
                    event = {"type": "session.live", "session": payload, "at": now.isoformat()}
                    await runtime.rooms.publish_priority(session_id, event)
                stream = video.stream_payload(runtime.settings, outcome.live, outcome.stream)
                await runtime.rooms.publish_priority(
                    session_id, {"type": "stream.online", "stream": stream, "at": now.isoformat()}
                )
    log.info("stream_online", session_id=session_id, client_id=client_id)
    return session_id


async def on_update(runtime: Runtime, *, name: str, client_id: str) -> None:
    """nginx-rtmp's ``on_update``: the publisher is alive."""
    async with runtime.sessionmaker() as session:
        if await video.touch(
            session, session_id=name, client_id=client_id, now=runtime.clock.now()
        ):
            await session.commit()


async def on_publish_done(runtime: Runtime, *, name: str, client_id: str | None) -> None:
    """nginx-rtmp's ``on_publish_done`` (``name``: the session id); ``client_id`` None: the
    publisher went silent (``end_stale`` found it)."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        stream = await video.publish_done(session, session_id=name, client_id=client_id, now=now)
        if stream is None:
            return
        await session.commit()
        live = await live_service.get_or_raise(session, session_id=name)
        payload = video.stream_payload(runtime.settings, live, stream)
    event: dict[str, Any] = {
        "type": "stream.offline",
        "stream": payload,
        "grace_seconds": runtime.settings.video_grace_seconds,
        "at": now.isoformat(),
    }
    async with runtime.rooms.command_lock(name):
        await runtime.rooms.publish_priority(name, event)
    log.info("stream_offline", session_id=name, client_id=client_id)


async def end_stale(runtime: Runtime) -> list[str]:
    """End the live sessions whose encoder stayed away longer than the grace (every node
    runs this; the session's row lock makes one of them do it)."""
    now = runtime.clock.now()
    grace = timedelta(seconds=runtime.settings.video_grace_seconds)
    async with runtime.sessionmaker() as session:
        silent = await video.silent_streams(session, now=now)
    for session_id in silent:  # nginx went away without publish_done: offline now
        await on_publish_done(runtime, name=session_id, client_id=None)
    async with runtime.sessionmaker() as session:
        candidates = await video.stale_sessions(session, now=now, grace=grace)
    ended: list[str] = []
    for session_id in candidates:
        async with runtime.rooms.command_lock(session_id), runtime.sessionmaker() as session:
            live = await live_service.get_or_raise(session, session_id=session_id, lock=True)
            stream = await video.get_stream(session, session_id=session_id, lock=True)
            if (
                live.status != "live"
                or stream is None
                or stream.status != "offline"
                or stream.offline_at is None
                or stream.offline_at > now - grace
            ):
                continue
            counters = await runtime.rooms.counters(session_id)
            await live_service.end_session(
                session, live=live, counters=counters, actor_id=live.anchor_id, now=now
            )
            await session.commit()
            payload = await live_service.session_payload(session, live)
            event = {"type": "session.ended", "session": payload, "at": now.isoformat()}
            await runtime.rooms.publish_priority(session_id, event)
            ended.append(session_id)
            log.info("stream_grace_over", session_id=session_id)
    return ended
