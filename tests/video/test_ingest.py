"""Live video end to end: a real nginx-rtmp (``liveshop.video.nginx.start``), a real ffmpeg
encoder and the app on a real loopback port, on both databases.

nginx calls the hooks over HTTP on the app's uvicorn (in the test's event loop, sharing the
app, its lifespan and its frozen clock with the ``client`` fixture). The test clock never moves
by itself, so the grace cannot run out unless a test advances it; the grace sweeper does not
run in the background (``background=False``): tests call ``end_stale``. Recording is off here
(the replay pipeline is tested on its own), so nginx calls only ``publish``/``publish_done``.

Without nginx, its RTMP module, ffmpeg or ffprobe the module is skipped with the reason; with
LIVESHOP_REQUIRE_SERVICES=1 (CI) every test fails instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from liveshop.clock import FrozenClock
from liveshop.config import Settings
from liveshop.deps import Runtime
from liveshop.video import flows, nginx, replay
from liveshop.video.models import VideoRecording
from tests.conftest import REQUIRE_SERVICES, Actor
from tests.factories import make_deal, make_shop
from tests.servers import bound_socket, free_port, serve
from tests.video.conftest import get_stream, key_of, schedule_session, session_status
from tests.web.axe import violations
from tests.web.conftest import browser

TOOLS = nginx.find_tools()
MISSING = (
    f"live video tools missing: {', '.join(TOOLS.missing)} (install with `{nginx.INSTALL_HINT}`)"
    if TOOLS.missing
    else ""
)
if MISSING and not REQUIRE_SERVICES:
    pytest.skip(MISSING, allow_module_level=True)

pytestmark = pytest.mark.usefixtures("backend")
__all__ = ["browser"]

T = TypeVar("T")
REFUSED_WITHIN = 10.0  # seconds for ffmpeg to give up on a refused publish
ONLINE_WITHIN = 10.0
HLS_WITHIN = 15.0


@pytest.fixture(autouse=True)
def _tools_present() -> None:
    if MISSING:
        pytest.fail(f"LIVESHOP_REQUIRE_SERVICES=1 but {MISSING}", pytrace=False)


# -- ports, settings, the app server and nginx -----------------------------------------------


@pytest.fixture
def app_socket() -> Iterator[socket.socket]:
    """The app's listening socket, bound first so the settings (and nginx.conf) know the port."""
    with bound_socket() as sock:
        yield sock


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, app_socket: socket.socket, request: pytest.FixtureRequest
) -> Settings:
    """The test settings (tests/conftest.py) plus the video ports and the app's real port;
    recording only for tests marked ``recording``."""
    port = int(app_socket.getsockname()[1])
    return Settings(
        env="test",
        database_url=database_url,
        var_dir=tmp_path / "var",
        secret_key="test-secret-key-0123456789abcdefghijklmnop",
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        public_url=f"http://127.0.0.1:{port}",
        log_json=False,
        host="127.0.0.1",
        port=port,
        video_api_url=f"http://127.0.0.1:{port}",
        rtmp_port=free_port(),
        hls_port=free_port(),
        hls_fragment_seconds=1.0,
        hls_playlist_seconds=3.0,
        video_grace_seconds=60,
        video_record=request.node.get_closest_marker("recording") is not None,
    )


@pytest.fixture
async def app_server(app: FastAPI, app_socket: socket.socket) -> AsyncIterator[str]:
    """uvicorn serving ``app`` on ``app_socket`` (nginx's hooks arrive here), with uvicorn's
    default WebSocket implementation (``ws="auto"``), not the app's lean one."""
    async with serve(app, app_socket, ws="auto") as served:
        yield served.http_base


def _nginx_log(settings: Settings) -> str:
    path = nginx.Layout.of(settings).logs / "error.log"
    return path.read_text(errors="replace") if path.exists() else "(no error.log)"


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def video_nginx(settings: Settings, app_server: str) -> Iterator[subprocess.Popen[bytes]]:
    """nginx-rtmp started by ``liveshop.video.nginx.start``, stopped at teardown (before the
    app server, which it depends on)."""
    proc = nginx.start(settings, TOOLS)
    try:
        deadline = time.monotonic() + 10
        while not (_listening(settings.rtmp_port) and _listening(settings.hls_port)):
            assert proc.poll() is None, f"nginx exited ({proc.returncode}):\n{_nginx_log(settings)}"
            assert time.monotonic() < deadline, f"nginx is not listening:\n{_nginx_log(settings)}"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Ingest:
    settings: Settings
    runtime: Runtime
    client: httpx.AsyncClient  # the app, in-process
    http: httpx.AsyncClient  # real HTTP (nginx's HLS)
    clock: FrozenClock
    anchor: Actor
    tmp: Path
    nginx: subprocess.Popen[bytes]

    @property
    def hls_dir(self) -> Path:
        return nginx.Layout.of(self.settings).hls


@pytest.fixture
async def ingest(
    settings: Settings,
    runtime: Runtime,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    make_account: Any,
    tmp_path: Path,
    video_nginx: subprocess.Popen[bytes],
) -> AsyncIterator[Ingest]:
    anchor = await make_account("anchor")
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield Ingest(settings, runtime, client, http, clock, anchor, tmp_path, video_nginx)


# -- ffmpeg ----------------------------------------------------------------------------------


@dataclass
class Encoder:
    proc: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    async def exited(self, within: float) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout=within)
        except TimeoutError:
            await self.stop()
            pytest.fail(f"ffmpeg still running after {within} s:\n{self.output()}")

    async def stop(self) -> None:
        """Stop publishing the way a user does (ffmpeg ends the stream on SIGINT)."""
        if self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@pytest.fixture
async def encode(tmp_path: Path) -> AsyncIterator[Callable[[str], Awaitable[Encoder]]]:
    """encode(rtmp_url) -> Encoder: a test pattern with a tone, published with ffmpeg (20 s
    at most); every encoder still running is stopped at teardown."""
    started: list[Encoder] = []

    async def factory(url: str) -> Encoder:
        assert TOOLS.ffmpeg is not None
        log = tmp_path / f"ffmpeg-{len(started)}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                TOOLS.ffmpeg,
                *("-hide_banner", "-nostdin", "-loglevel", "warning", "-re"),
                *("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15"),
                *("-f", "lavfi", "-i", "sine=frequency=440"),
                *("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"),
                *("-g", "15", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"),
                *("-t", "20", "-f", "flv", url),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=out,
            )
        encoder = Encoder(proc, log)
        started.append(encoder)
        return encoder

    yield factory
    for encoder in started:
        await encoder.stop()


def publish_url(stream: dict[str, Any], *, key: str | None = None) -> str:
    """What OBS pushes to: the server URL, "/", the stream key (``<session id>?key=...``)."""
    stream_key = stream["stream_key"] if key is None else f"{stream['session_id']}?key={key}"
    return f"{stream['server_url']}/{stream_key}"


# -- waiting ---------------------------------------------------------------------------------


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, within: float, what: str, encoder: Encoder | None
) -> T:
    """Poll ``probe`` until it returns something (not None)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = await probe()
        if found is not None:
            return found
        if loop.time() > deadline:
            detail = f"\nffmpeg said:\n{encoder.output()}" if encoder else ""
            pytest.fail(f"{what} within {within} s{detail}")
        if encoder is not None and encoder.proc.returncode is not None:
            pytest.fail(
                f"ffmpeg exited ({encoder.proc.returncode}) before {what}:\n{encoder.output()}"
            )
        await asyncio.sleep(0.1)


async def stream_status(
    ingest: Ingest, session_id: str, status: str, encoder: Encoder | None = None
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        stream = await get_stream(ingest.client, session_id, ingest.anchor)
        return stream if stream["status"] == status else None

    return await eventually(
        probe, within=ONLINE_WITHIN, what=f"the stream is {status}", encoder=encoder
    )


@dataclass
class Playlist:
    response: httpx.Response
    media_sequence: int
    segments: list[str]


def parse_playlist(response: httpx.Response) -> Playlist:
    text = response.text
    assert text.startswith("#EXTM3U"), text
    found = re.search(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", text, re.MULTILINE)
    assert found is not None, text
    segments = [line for line in text.splitlines() if line and not line.startswith("#")]
    return Playlist(response, int(found.group(1)), segments)


async def playlist(
    ingest: Ingest, url: str, encoder: Encoder, accept: Callable[[Playlist], bool] = bool
) -> Playlist:
    async def probe() -> Playlist | None:
        response = await ingest.http.get(url)
        if response.status_code != 200:
            return None
        parsed = parse_playlist(response)
        return parsed if parsed.segments and accept(parsed) else None

    return await eventually(probe, within=HLS_WITHIN, what=f"a playlist at {url}", encoder=encoder)


async def ffprobe(path: Path) -> dict[str, Any]:
    assert TOOLS.ffprobe is not None
    proc = await asyncio.create_subprocess_exec(
        TOOLS.ffprobe,
        *("-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=15)
    assert proc.returncode == 0, err.decode(errors="replace")
    probed: dict[str, Any] = json.loads(out)
    return probed


async def assert_refused(ingest: Ingest, encode: Any, url: str) -> None:
    encoder = await encode(url)
    code = await encoder.exited(within=REFUSED_WITHIN)
    assert code != 0, f"ffmpeg published to {url}:\n{encoder.output()}"


# -- the tests -------------------------------------------------------------------------------


async def test_a_good_key_publishes_and_viewers_get_hls(ingest: Ingest, encode: Any) -> None:
    sid = await schedule_session(ingest.client, ingest.runtime, ingest.anchor)
    stream = await get_stream(ingest.client, sid, ingest.anchor)
    assert stream["server_url"] == f"rtmp://127.0.0.1:{ingest.settings.rtmp_port}/live"
    encoder = await encode(publish_url(stream))

    online = await stream_status(ingest, sid, "online", encoder)
    assert online["publishes"] == 1
    assert await session_status(ingest.client, sid) == "live"  # the publish took it live

    url = stream["playback_url"]
    assert url == f"http://127.0.0.1:{ingest.settings.hls_port}/hls/{sid}.m3u8"
    first = await playlist(ingest, url, encoder)
    headers = first.response.headers
    assert headers["content-type"] == "application/vnd.apple.mpegurl"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["cache-control"] == "no-cache"
    assert all(re.fullmatch(rf"{sid}-\d+\.ts", name) for name in first.segments), first.segments
    assert key_of(stream) not in first.response.text

    # the live window moves on: later fragments come, the oldest leave the playlist
    later = await playlist(
        ingest,
        url,
        encoder,
        lambda p: p.media_sequence > first.media_sequence and p.segments[-1] != first.segments[-1],
    )
    assert later.segments[0] not in first.segments[:1]

    segment = await ingest.http.get(urljoin(url, later.segments[-1]))
    assert segment.status_code == 200
    assert segment.headers["content-type"] == "video/mp2t"
    assert segment.headers["access-control-allow-origin"] == "*"
    assert len(segment.content) > 1000
    fetched = ingest.tmp / "segment.ts"
    fetched.write_bytes(segment.content)
    probed = await ffprobe(fetched)
    assert probed["format"]["format_name"] == "mpegts"
    video = [s for s in probed["streams"] if s["codec_type"] == "video"]
    audio = [s for s in probed["streams"] if s["codec_type"] == "audio"]
    assert [(s["codec_name"], s["width"], s["height"]) for s in video] == [("h264", 320, 240)]
    assert [s["codec_name"] for s in audio] == ["aac"]

    still = await get_stream(ingest.client, sid, ingest.anchor)
    assert still["status"] == "online" and still["publishes"] == 1
    assert encoder.proc.returncode is None, encoder.output()
    await encoder.stop()


async def test_a_bad_or_rotated_key_cannot_publish(ingest: Ingest, encode: Any) -> None:
    sid = await schedule_session(ingest.client, ingest.runtime, ingest.anchor)
    stream = await get_stream(ingest.client, sid, ingest.anchor)
    await assert_refused(ingest, encode, publish_url(stream, key="lsk_" + "x" * 32))
    await assert_refused(ingest, encode, publish_url(stream, key=""))
    unknown = {**stream, "session_id": "0" * 26}
    await assert_refused(ingest, encode, publish_url(unknown, key=key_of(stream)))
    rotated = await ingest.client.post(
        f"/live/sessions/{sid}/stream/rotate-key", headers=ingest.anchor.headers
    )
    assert rotated.status_code == 200, rotated.text
    await assert_refused(ingest, encode, publish_url(stream))  # the old key

    assert not (ingest.hls_dir / f"{sid}.m3u8").exists()
    assert list(ingest.hls_dir.iterdir()) == []
    missing = await ingest.http.get(stream["playback_url"])
    assert missing.status_code == 404
    after = await get_stream(ingest.client, sid, ingest.anchor)
    assert after["status"] == "idle" and after["publishes"] == 0
    assert await session_status(ingest.client, sid) == "scheduled"
    log = _nginx_log(ingest.settings)
    assert ingest.settings.hook_secret not in log and key_of(stream) not in log

    # the new key works: the refusals were about the keys
    encoder = await encode(publish_url(rotated.json()))
    await stream_status(ingest, sid, "online", encoder)
    await encoder.stop()


async def test_the_encoder_leaves_and_comes_back_within_the_grace(
    ingest: Ingest, encode: Any
) -> None:
    client, anchor = ingest.client, ingest.anchor
    sid = await schedule_session(client, ingest.runtime, anchor)
    stream = await get_stream(client, sid, anchor)
    first = await encode(publish_url(stream))
    online = await stream_status(ingest, sid, "online", first)
    await playlist(ingest, stream["playback_url"], first)
    await first.stop()

    offline = await stream_status(ingest, sid, "offline")
    assert offline["publishes"] == 1 and offline["offline_at"] is not None
    assert await session_status(client, sid) == "live"
    assert await flows.end_stale(ingest.runtime) == []  # within the grace

    ingest.clock.advance(seconds=ingest.settings.video_grace_seconds - 1)
    second = await encode(publish_url(stream))
    back = await stream_status(ingest, sid, "online", second)
    assert back["publishes"] == 2 and back["offline_at"] is None
    assert back["online_at"] != online["online_at"]
    assert await session_status(client, sid) == "live"
    await playlist(ingest, stream["playback_url"], second)
    await second.stop()
    await stream_status(ingest, sid, "offline")

    # the encoder stays away past the grace: the session ends and the key is refused
    ingest.clock.advance(seconds=ingest.settings.video_grace_seconds)
    assert await flows.end_stale(ingest.runtime) == [sid]
    assert await session_status(client, sid) == "ended"
    await assert_refused(ingest, encode, publish_url(stream))
    final = await get_stream(client, sid, anchor)
    assert final["status"] == "offline" and final["publishes"] == 2


@pytest.mark.recording
async def test_a_recorded_show_becomes_a_replay_served_by_nginx(
    ingest: Ingest, encode: Any
) -> None:
    """nginx records the publish and reports the file (on_record_done); when the session
    ends the replay is built, and nginx serves it: a VOD playlist whose segments decode."""
    client, anchor = ingest.client, ingest.anchor
    sid = await schedule_session(client, ingest.runtime, anchor)
    stream = await get_stream(client, sid, anchor)
    encoder = await encode(publish_url(stream))
    await stream_status(ingest, sid, "online", encoder)
    await asyncio.sleep(3)
    await encoder.stop()
    await stream_status(ingest, sid, "offline")

    async def recorded() -> list[Any] | None:
        async with ingest.runtime.sessionmaker() as session:
            rows = (await session.execute(select(VideoRecording))).scalars().all()
        return list(rows) or None

    recordings = await eventually(
        recorded, within=10, what="nginx reporting the recording", encoder=None
    )
    assert len(recordings) == 1 and recordings[0].path.startswith(f"{sid}-")
    ended = await client.post(f"/live/sessions/{sid}/end", headers=anchor.headers)
    assert ended.status_code == 200, ended.text
    media = replay.media()
    assert media is not None
    assert await replay.build_due(ingest.runtime, media) == [sid]
    body = (await client.get(f"/live/sessions/{sid}/replay")).json()
    assert body["status"] == "ready" and body["duration_ms"] >= 2000, body
    served = await ingest.http.get(body["playback_url"])
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert served.headers["access-control-allow-origin"] == "*"
    assert "#EXT-X-ENDLIST" in served.text
    first = next(line for line in served.text.splitlines() if line.endswith(".ts"))
    segment = await ingest.http.get(body["playback_url"].rsplit("/", 1)[0] + "/" + first)
    assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
    path = ingest.tmp / "replay.ts"
    path.write_bytes(segment.content)
    probe = await ffprobe(path)
    assert any(s.get("codec_name") == "h264" for s in probe["streams"]), probe


async def test_the_viewer_page_plays_the_live_video(
    ingest: Ingest, encode: Any, browser: Any, app_server: str
) -> None:
    """The room page in Chromium (hls.js from /static/vendor): the video's currentTime
    advances while the anchor publishes."""
    sid = await schedule_session(ingest.client, ingest.runtime, ingest.anchor)
    stream = await get_stream(ingest.client, sid, ingest.anchor)
    encoder = await encode(publish_url(stream))
    await stream_status(ingest, sid, "online", encoder)
    await playlist(ingest, stream["playback_url"], encoder)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await page.goto(f"{app_server}/live/{sid}?lang=en")
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    assert await page.is_hidden("#poster")
    await page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=20_000)
    first = await page.evaluate("document.getElementById('video').currentTime")
    await asyncio.sleep(2)
    later = await page.evaluate("document.getElementById('video').currentTime")
    assert later > first + 1, (first, later)
    await encoder.stop()
    await page.wait_for_selector("#poster:not([hidden])", timeout=10_000)  # offline: the poster


@pytest.mark.recording
async def test_the_replay_plays_in_the_room_page_with_its_pin_timeline(
    ingest: Ingest, encode: Any, browser: Any, app_server: str
) -> None:
    """A recorded show with two pins: after it ends, the room page plays the replay and
    shows the product that was pinned at each moment of the video."""
    client, anchor, clock = ingest.client, ingest.anchor, ingest.clock
    sid = await schedule_session(client, ingest.runtime, anchor)
    shop = await make_shop(ingest.runtime, prices=(9900, 19900))
    await make_deal(ingest.runtime, product_id=shop.product_id, anchor_id=anchor.id)
    rundown = await client.put(
        f"/live/sessions/{sid}/rundown",
        json={
            "items": [
                {"sku_id": shop.sku_ids[0], "live_price_minor": 7900},
                {"sku_id": shop.sku_ids[1], "live_price_minor": 15900},
            ]
        },
        headers=anchor.headers,
    )
    assert rundown.status_code == 200, rundown.text
    first, second = (item["id"] for item in rundown.json()["items"])
    stream = await get_stream(client, sid, anchor)
    encoder = await encode(publish_url(stream))
    await stream_status(ingest, sid, "online", encoder)
    for item, seconds in ((first, 1.0), (second, 1.5)):  # the frozen clock keeps pace
        await asyncio.sleep(seconds)
        clock.advance(seconds=seconds)
        pinned = await client.post(
            f"/live/sessions/{sid}/pin", json={"item_id": item}, headers=anchor.headers
        )
        assert pinned.status_code == 200, pinned.text
    await asyncio.sleep(2)
    clock.advance(seconds=2)
    await encoder.stop()
    await stream_status(ingest, sid, "offline")

    async def recorded() -> bool | None:
        async with ingest.runtime.sessionmaker() as session:
            return bool((await session.execute(select(VideoRecording))).first()) or None

    await eventually(recorded, within=10, what="nginx reporting the recording", encoder=None)
    ended = await client.post(f"/live/sessions/{sid}/end", headers=anchor.headers)
    assert ended.status_code == 200, ended.text
    media = replay.media()
    assert media is not None
    assert await replay.build_due(ingest.runtime, media) == [sid]

    page = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    await page.goto(f"{app_server}/live/{sid}?lang=en")
    await page.wait_for_selector("body[data-replay='1']", timeout=10_000)
    await page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=15_000)
    await page.evaluate("document.getElementById('video').currentTime = 1.8")
    await page.wait_for_selector("#pinned-price:has-text('Price 99.00 CNY')", timeout=5_000)
    await page.evaluate("document.getElementById('video').currentTime = 3.4")
    await page.wait_for_selector("#pinned-price:has-text('Price 199.00 CNY')", timeout=5_000)
    await page.evaluate("document.getElementById('video').currentTime = 0.3")
    await page.wait_for_selector("#pinned", state="hidden", timeout=5_000)  # nothing pinned yet
    assert await violations(page) == []  # the replay passes the accessibility audit
