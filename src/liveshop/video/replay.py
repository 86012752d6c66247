"""Replays: a session's recordings joined into one HLS VOD, with its pin timeline on top.

nginx-rtmp records every publish (``var/video/rec/<session id>-<unix time>.flv``) and tells
us when a file is closed (``on_record_done``: ``recorded``). When the session has ended and
no encoder is publishing, ``build_due`` joins its recordings, in order, into
``var/video/replays/<session id>/index.m3u8`` (ffmpeg, stream copy: no re-encoding) and
keeps ``parts``: where each recording starts in replay time. The gaps between publishes
(an encoder that reconnected) are cut, so wall-clock time maps to replay time as

    replay_ms = part.offset_ms + (t - part.started_at), within the part that covers t

and a moment in a gap maps to the start of the next part. ``timeline`` maps the session's
pins that way: the product card that was "now explaining" at each moment of the video.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.config import Settings
from liveshop.db import insert_unique
from liveshop.deps import Runtime
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.video import service as video
from liveshop.video.models import VideoRecording, VideoReplay, VideoStream
from liveshop.video.nginx import Layout

log = structlog.get_logger(__name__)

REPLAY_SEGMENT_SECONDS = 4
STALE_PROCESSING = timedelta(minutes=10)  # a build that died (node crash) is retried


class RecordingRefused(Exception):
    """``on_record_done`` named a file we do not keep (outside var/video/rec, not FLV)."""


def recording_path(layout: Layout, reported: str) -> Path:
    """The recording nginx reported, checked to be one of ours; returns it relative to the
    recordings directory."""
    path = Path(reported)
    root = layout.recordings.resolve()
    try:
        relative = path.resolve().relative_to(root)
    except ValueError as exc:
        raise RecordingRefused("not under the recordings directory") from exc
    if path.suffix != ".flv" or len(relative.parts) != 1:
        raise RecordingRefused("not a recording")
    return relative


async def recorded(
    session: AsyncSession,
    *,
    session_id: str,
    relative: Path,
    client_id: str,
    now: datetime,
) -> VideoRecording | None:
    """Keep a closed recording (once: nginx may repeat a notification)."""
    live = await session.get(LiveSession, session_id)
    if live is None:
        return None
    stream = await video.get_stream(session, session_id=session_id)
    started = _started_from_name(relative.name)
    if stream is not None and stream.client_id == client_id and stream.online_at is not None:
        started = stream.online_at  # the publish this recording is of
    row = VideoRecording(
        session_id=session_id,
        path=str(relative),
        started_at=started or now,
        ended_at=now,
        created_at=now,
    )

    async def existing() -> VideoRecording | None:
        found = await session.execute(
            select(VideoRecording).where(VideoRecording.path == str(relative))
        )
        return found.scalars().first()

    kept, _ = await insert_unique(session, row, existing)
    return kept


def _started_from_name(name: str) -> datetime | None:
    """``<session id>-<unix time>.flv`` (nginx-rtmp's ``record_unique``)."""
    stem = name.rsplit(".", 1)[0]
    _, _, stamp = stem.rpartition("-")
    if stamp.isdigit():
        from datetime import UTC

        return datetime.fromtimestamp(int(stamp), tz=UTC)
    return None


# -- building -------------------------------------------------------------------------------


async def _probe_ms(ffprobe: str, path: Path) -> int:
    process = await asyncio.create_subprocess_exec(
        ffprobe,
        "-v",
        "error",
        "-show_entries",
        "format=duration",
        "-of",
        "json",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"ffprobe {path.name}: {err.decode(errors='replace')[-300:]}")
    duration = json.loads(out or b"{}").get("format", {}).get("duration")
    return int(float(duration) * 1000) if duration else 0


async def _join(ffmpeg: str, sources: list[Path], target: Path) -> None:
    """Concatenate the recordings (stream copy) into an HLS VOD in ``target``."""
    work = target.with_name(target.name + ".building")
    listing = work / "parts.txt"
    await asyncio.to_thread(_prepare, work, listing, sources)
    process = await asyncio.create_subprocess_exec(
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        str(REPLAY_SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_filename",
        str(work / "seg%05d.ts"),
        str(work / "index.m3u8"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        await asyncio.to_thread(shutil.rmtree, work, True)
        raise RuntimeError(f"ffmpeg: {err.decode(errors='replace')[-500:]}")
    await asyncio.to_thread(_swap, work, listing, target)


def _prepare(work: Path, listing: Path, sources: list[Path]) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    listing.write_text("".join(f"file '{p}'\n" for p in sources))


def _swap(work: Path, listing: Path, target: Path) -> None:
    """Put the new replay in place of the old one."""
    listing.unlink()
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    work.rename(target)
    shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Media:
    ffmpeg: str
    ffprobe: str


def media() -> Media | None:
    """ffmpeg and ffprobe, when installed (without them no replay is built)."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    return Media(ffmpeg, ffprobe) if ffmpeg and ffprobe else None


async def build(
    runtime: Runtime, media: Media, *, session_id: str, recordings: list[VideoRecording]
) -> tuple[int, list[dict[str, Any]]]:
    """Join the recordings; returns the replay's duration and its parts."""
    layout = Layout.of(runtime.settings)
    sources = [layout.recordings / r.path for r in recordings]
    exists = await asyncio.to_thread(lambda: [p.is_file() for p in sources])
    present = [(r, p) for r, p, ok in zip(recordings, sources, exists, strict=True) if ok]
    if not present:
        raise RuntimeError("no recording file is left")
    parts: list[dict[str, Any]] = []
    offset = 0
    for recording, path in present:
        duration = await _probe_ms(media.ffprobe, path)
        parts.append(
            {
                "recording_id": recording.id,
                "started_at": recording.started_at.isoformat(),
                "offset_ms": offset,
                "duration_ms": duration,
            }
        )
        offset += duration
    await _join(media.ffmpeg, [p for _, p in present], layout.replays / session_id)
    return offset, parts


async def build_due(runtime: Runtime, media: Media) -> list[str]:
    """Build the replays that are due: ended sessions, no encoder publishing, a recording
    newer than the replay (or none yet). Every node may run this: a replay row claims the
    work (``processing``); a build that stayed ``processing`` too long is taken over."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(LiveSession.id)
            .join(VideoRecording, VideoRecording.session_id == LiveSession.id)
            .outerjoin(VideoReplay, VideoReplay.session_id == LiveSession.id)
            .outerjoin(VideoStream, VideoStream.session_id == LiveSession.id)
            .where(LiveSession.status == "ended")
            .where((VideoStream.status.is_(None)) | (VideoStream.status != "online"))
            .where(
                (VideoReplay.session_id.is_(None))
                | (
                    (VideoReplay.status != "processing")
                    & (VideoRecording.created_at > VideoReplay.updated_at)
                )
                | (
                    (VideoReplay.status == "processing")
                    & (VideoReplay.updated_at < now - STALE_PROCESSING)
                )
            )
            .distinct()
        )
        due = list(rows.scalars())
    built: list[str] = []
    for session_id in due:
        if await _claim(runtime, session_id):
            await _build_one(runtime, media, session_id)
            built.append(session_id)
    return built


async def _claim(runtime: Runtime, session_id: str) -> bool:
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        replay = (
            (
                await session.execute(
                    select(VideoReplay)
                    .where(VideoReplay.session_id == session_id)
                    .with_for_update()
                )
            )
            .scalars()
            .first()
        )
        if replay is None:
            row = VideoReplay(
                session_id=session_id,
                status="processing",
                duration_ms=0,
                parts=[],
                created_at=now,
                updated_at=now,
            )

            async def existing() -> VideoReplay | None:
                return await session.get(VideoReplay, session_id)

            _, inserted = await insert_unique(session, row, existing)
            await session.commit()
            return inserted
        if replay.status == "processing" and replay.updated_at >= now - STALE_PROCESSING:
            return False
        replay.status = "processing"
        replay.updated_at = now
        await session.commit()
        return True


async def _build_one(runtime: Runtime, media: Media, session_id: str) -> None:
    async with runtime.sessionmaker() as session:
        recordings = list(
            (
                await session.execute(
                    select(VideoRecording)
                    .where(VideoRecording.session_id == session_id)
                    .order_by(VideoRecording.started_at, VideoRecording.id)
                )
            ).scalars()
        )
    status, error, duration = "ready", None, 0
    parts: list[dict[str, Any]] = []
    try:
        duration, parts = await build(runtime, media, session_id=session_id, recordings=recordings)
    except Exception as exc:  # a broken file must not stop the others
        status, error = "failed", str(exc)[:2000]
        log.warning("replay_failed", session_id=session_id, error=error)
    async with runtime.sessionmaker() as session:
        replay = await session.get(VideoReplay, session_id)
        if replay is None:
            return
        replay.status = status
        replay.error = error
        replay.duration_ms = duration
        replay.parts = parts
        replay.updated_at = runtime.clock.now()
        await session.commit()
    log.info("replay_built", session_id=session_id, status=status, duration_ms=duration)


# -- reading --------------------------------------------------------------------------------


def to_replay_ms(parts: list[dict[str, Any]], at: datetime) -> int | None:
    """Replay time of a wall-clock moment (a moment in a gap: the next part's start; after
    the last part: None)."""
    for part in parts:
        start = datetime.fromisoformat(part["started_at"])
        end = start + timedelta(milliseconds=part["duration_ms"])
        if at < start:
            return int(part["offset_ms"])
        if at <= end:
            return int(part["offset_ms"] + (at - start) / timedelta(milliseconds=1))
    return None


async def timeline(
    session: AsyncSession, *, session_id: str, replay: VideoReplay
) -> list[dict[str, Any]]:
    """The pins in replay time: ``[{"pin_id", "item", "price_minor", "from_ms", "to_ms"}]``
    (``price_minor``: what buying from the replay costs); a pin entirely outside the video
    is left out."""
    out: list[dict[str, Any]] = []
    duration = replay.duration_ms
    for record, line in await live_service.pin_timeline(session, session_id=session_id):
        start = to_replay_ms(replay.parts, record.pinned_at)
        if start is None:
            continue
        end = duration
        if record.unpinned_at is not None:
            mapped = to_replay_ms(replay.parts, record.unpinned_at)
            end = duration if mapped is None else mapped
        if end <= start:
            continue
        price = line.item.replay_price_minor
        out.append(
            {
                "pin_id": record.id,
                "item": live_service.showcase_item(line),
                "price_minor": line.sku.price_minor if price is None else price,
                "from_ms": start,
                "to_ms": end,
            }
        )
    return out


def replay_payload(
    settings: Settings, session_id: str, replay: VideoReplay | None
) -> dict[str, Any]:
    status = replay.status if replay is not None else "none"
    return {
        "session_id": session_id,
        "status": status,
        "playback_url": video.replay_url(settings, session_id) if status == "ready" else None,
        "duration_ms": replay.duration_ms if replay is not None else 0,
    }
