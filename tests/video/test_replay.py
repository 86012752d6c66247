"""Replays: recordings (real FLV files, as nginx-rtmp writes them) joined by a real ffmpeg
into an HLS VOD, the pin timeline in replay time, and buying from the replay."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.video import replay
from liveshop.video.nginx import Layout
from tests.factories import address, idempotency_key, problem_code
from tests.live.conftest import Room

pytestmark = [
    pytest.mark.usefixtures("backend"),
    pytest.mark.skipif(
        replay.media() is None,
        reason="ffmpeg/ffprobe not installed (apt-get install nginx libnginx-mod-rtmp ffmpeg)",
    ),
]


def _record(path: Path, seconds: int) -> None:
    """A recording like nginx-rtmp's: FLV, H.264 + AAC."""
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
            "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip


def _probe_seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return float(json.loads(out)["format"]["duration"])


async def _hook(client: Any, runtime: Runtime, hook: str, **form: str) -> Any:
    secret = runtime.settings.hook_secret
    return await client.post(
        f"/video/hooks/{secret}/{hook}",
        content="&".join(f"{k}={v}" for k, v in form.items()),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


async def test_a_replay_joins_the_recordings_and_plays_the_pin_timeline(
    client: Any, runtime: Runtime, clock: FrozenClock, live_room: Room, make_account: Any
) -> None:
    sid, anchor = live_room.id, live_room.anchor
    layout = Layout.of(runtime.settings)
    layout.make()
    key = (await client.get(f"/live/sessions/{sid}/stream", headers=anchor.headers)).json()
    secret = key["stream_key"].split("?key=", 1)[1]
    first, second = layout.recordings / f"{sid}-1.flv", layout.recordings / f"{sid}-2.flv"
    await asyncio.gather(
        asyncio.to_thread(_record, first, 3), asyncio.to_thread(_record, second, 2)
    )

    async def pin(item_id: str) -> None:
        path = f"/live/sessions/{sid}/pin"
        response = await client.post(path, json={"item_id": item_id}, headers=anchor.headers)
        assert response.status_code in (200, 201), response.text

    # publish 1 (3 s recorded), item A pinned 1 s in; the encoder drops; 7 s later it
    # reconnects (publish 2, 2 s recorded), item B pinned 1 s in; then the show ends
    assert (
        await _hook(client, runtime, "publish", name=sid, key=secret, clientid="1")
    ).status_code == 204
    clock.advance(seconds=1)
    await pin(live_room.item_ids[0])
    clock.advance(seconds=2)
    done = await _hook(client, runtime, "record_done", name=sid, path=str(first), clientid="1")
    assert done.status_code == 204, done.text
    assert (await _hook(client, runtime, "publish_done", name=sid, clientid="1")).status_code == 204
    clock.advance(seconds=7)
    assert (
        await _hook(client, runtime, "publish", name=sid, key=secret, clientid="2")
    ).status_code == 204
    clock.advance(seconds=1)
    await pin(live_room.item_ids[1])
    clock.advance(seconds=1)
    await _hook(client, runtime, "record_done", name=sid, path=str(second), clientid="2")
    again = await _hook(client, runtime, "record_done", name=sid, path=str(second), clientid="2")
    assert again.status_code == 204  # nginx repeating itself keeps one recording
    await _hook(client, runtime, "publish_done", name=sid, clientid="2")
    clock.advance(seconds=1)

    while_live = await client.get(f"/live/sessions/{sid}/replay")
    assert while_live.json()["status"] == "none"
    media = replay.media()
    assert media is not None
    assert await replay.build_due(runtime, media) == []  # not before the session ends
    ended = await client.post(f"/live/sessions/{sid}/end", headers=anchor.headers)
    assert ended.status_code == 200, ended.text
    assert await replay.build_due(runtime, media) == [sid]
    assert await replay.build_due(runtime, media) == []  # nothing new: not built again

    body = (await client.get(f"/live/sessions/{sid}/replay")).json()
    assert body["status"] == "ready", body
    assert body["playback_url"] == f"{runtime.settings.hls_url}/replays/{sid}/index.m3u8"
    playlist = layout.replays / sid / "index.m3u8"
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist.read_text()
    seconds = await asyncio.to_thread(_probe_seconds, playlist)
    assert abs(seconds * 1000 - body["duration_ms"]) < 400
    assert 4500 <= body["duration_ms"] <= 5500  # 3 s + 2 s: the 7 s gap is cut
    row = await _replay_row(runtime, sid)
    part2 = row.parts[1]["offset_ms"]
    assert row.parts[0]["offset_ms"] == 0 and 2800 <= part2 <= 3200
    timeline = [(e["item"]["id"], e["from_ms"], e["to_ms"]) for e in body["timeline"]]
    assert timeline == [
        (live_room.item_ids[0], 1000, part2 + 1000),  # A until B was pinned
        (live_room.item_ids[1], part2 + 1000, body["duration_ms"]),  # B to the end
    ]

    # buying from the replay: the list price, or the replay price the merchant set
    fan = await make_account("fan")
    sku = live_room.shop.sku_ids[0]  # list 9900, live 7900
    bought = await _order(client, fan, sku, sid)
    assert bought.status_code == 201, bought.text
    assert bought.json()["subtotal_minor"] == 9900
    item = live_room.item_ids[0]
    price_path = f"/live/sessions/{sid}/rundown/{item}/replay-price"
    refused = await client.put(price_path, json={"replay_price_minor": 1}, headers=fan.headers)
    assert refused.status_code == 403
    admin = await make_account("admin")
    bad = await client.put(price_path, json={"replay_price_minor": 0}, headers=admin.headers)
    assert bad.status_code == 422
    put = await client.put(price_path, json={"replay_price_minor": 8900}, headers=admin.headers)
    assert put.status_code == 200, put.text
    assert put.json()["replay_price_minor"] == 8900
    cheaper = await _order(client, fan, sku, sid)
    assert cheaper.status_code == 201 and cheaper.json()["subtotal_minor"] == 8900


async def test_record_done_keeps_only_our_recordings(
    client: Any, runtime: Runtime, live_room: Room, tmp_path: Path
) -> None:
    layout = Layout.of(runtime.settings)
    layout.make()
    outside = tmp_path / f"{live_room.id}-1.flv"
    outside.write_bytes(b"FLV")
    for path in (str(outside), str(layout.recordings / ".." / "x.flv"), "relative.flv"):
        response = await _hook(client, runtime, "record_done", name=live_room.id, path=path)
        assert response.status_code == 422 and problem_code(response) == "video.bad_recording"
    unknown = await _hook(
        client, runtime, "record_done", name="nosuchsession", path=str(layout.recordings / "a.flv")
    )
    assert unknown.status_code == 404
    forged = await client.post(
        "/video/hooks/not-the-secret/record_done",
        content=f"name={live_room.id}&path={layout.recordings / 'a.flv'}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert forged.status_code == 403 and problem_code(forged) == "video.bad_hook_secret"


async def test_a_broken_recording_fails_the_replay_without_stopping_others(
    client: Any, runtime: Runtime, live_room: Room, make_account: Any
) -> None:
    sid = live_room.id
    layout = Layout.of(runtime.settings)
    layout.make()
    broken = layout.recordings / f"{sid}-9.flv"
    broken.write_bytes(b"not a video")
    await _hook(client, runtime, "record_done", name=sid, path=str(broken), clientid="1")
    await client.post(f"/live/sessions/{sid}/end", headers=live_room.anchor.headers)
    media = replay.media()
    assert media is not None
    assert await replay.build_due(runtime, media) == [sid]
    body = (await client.get(f"/live/sessions/{sid}/replay")).json()
    assert body["status"] == "failed" and body["playback_url"] is None
    fan = await make_account("fan")
    bought = await _order(client, fan, live_room.shop.sku_ids[0], sid)
    assert bought.status_code == 409 and problem_code(bought) == "live.not_live"
    shutil.rmtree(layout.replays, ignore_errors=True)


def test_wall_clock_to_replay_time() -> None:
    parts = [
        {"started_at": "2026-01-01T10:00:00+00:00", "offset_ms": 0, "duration_ms": 3000},
        {"started_at": "2026-01-01T10:00:10+00:00", "offset_ms": 3000, "duration_ms": 2000},
    ]
    from datetime import datetime

    def at(text: str) -> int | None:
        return replay.to_replay_ms(parts, datetime.fromisoformat(f"2026-01-01T{text}+00:00"))

    assert at("09:59:59") == 0  # before the video: its start
    assert at("10:00:01.500") == 1500
    assert at("10:00:05") == 3000  # in the gap: where the next part starts
    assert at("10:00:11") == 4000
    assert at("10:00:12") == 5000
    assert at("10:00:13") is None  # after the video


async def _order(client: Any, fan: Any, sku_id: str, session_id: str) -> Any:
    payload = {
        "lines": [{"sku_id": sku_id, "quantity": 1}],
        "shipping_address": address("Hangzhou"),
        "live_session_id": session_id,
    }
    return await client.post("/orders", json=payload, headers={**fan.headers, **idempotency_key()})


async def _replay_row(runtime: Runtime, session_id: str) -> Any:
    from liveshop.video.models import VideoReplay

    async with runtime.sessionmaker() as session:
        return await session.get(VideoReplay, session_id)
