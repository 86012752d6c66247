"""The demo's video end to end, as a newcomer runs ``make demo``: a real ``liveshop demo``
process starts nginx-rtmp, the demo anchor publishes a test pattern through ffmpeg, a viewer
plays the HLS, and Ctrl-C stops the demo with nginx and ffmpeg.

Needs nginx with the RTMP module and ffmpeg (``apt-get install nginx libnginx-mod-rtmp
ffmpeg``): skipped with the reason without them, failed when LIVESHOP_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from liveshop.seed import DEMO_PASSWORD, demo_email
from liveshop.simulate import video as demo_video
from liveshop.video import nginx

CLI = [sys.executable, "-m", "liveshop"]
ANCHOR = demo_email("anchor")


def need_video_tools() -> nginx.Tools:
    tools = nginx.find_tools()
    if not tools.ready:
        reason = f"live video needs {', '.join(tools.missing)} (`{nginx.INSTALL_HINT}`)"
        if os.environ.get("LIVESHOP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"LIVESHOP_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return tools


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (each bound at once, so the OS hands out different ones)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def processes_mentioning(*needles: str) -> dict[int, str]:
    """Processes whose command line contains one of ``needles`` (Linux /proc)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in cmdline for needle in needles):
            found[int(entry.name)] = cmdline
    return found


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    base: str
    rtmp_port: int
    hls_port: int
    tmp: Path

    @property
    def output(self) -> str:
        return (self.tmp / "demo.log").read_text(errors="replace")

    def logs(self) -> str:
        """The demo's output and nginx's and the encoder's logs (for failure messages)."""
        parts = [f"--- demo output\n{self.output}"]
        for log in sorted((self.tmp / "var" / "video" / "logs").glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def markers(self) -> tuple[str, ...]:
        """What our nginx (its -p path) and ffmpeg (its RTMP URL) have in their command line."""
        return (str(self.tmp / "var"), f"127.0.0.1:{self.rtmp_port}/live")


def start_demo(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Demo:
    port, unused, rtmp_port, hls_port = free_ports(4)
    base = f"http://127.0.0.1:{port}"
    environ = {
        **os.environ,
        "LIVESHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "LIVESHOP_VAR_DIR": str(tmp_path / "var"),
        # --port wins over LIVESHOP_PORT: nginx's hooks and the sandbox's URLs follow it
        "LIVESHOP_PORT": str(unused),
        "LIVESHOP_RTMP_PORT": str(rtmp_port),
        "LIVESHOP_HLS_PORT": str(hls_port),
        "LIVESHOP_ARGON2_TIME_COST": "1",
        "LIVESHOP_ARGON2_MEMORY_COST_KIB": "64",
        "LIVESHOP_SWEEP_INTERVAL_SECONDS": "0.5",
        "COLUMNS": "200",
        **(env or {}),
    }
    for name in ("LIVESHOP_REDIS_URL", "LIVESHOP_DATABASE_SCHEMA", "LIVESHOP_PUBLIC_URL"):
        environ.pop(name, None)
    for name in ("LIVESHOP_RTMP_PUBLIC_URL", "LIVESHOP_HLS_PUBLIC_URL", "LIVESHOP_VIDEO_API_URL"):
        environ.pop(name, None)
    with (tmp_path / "demo.log").open("wb") as log:
        process = subprocess.Popen(
            [
                *CLI,
                "demo",
                "--no-promotions",
                "--viewers",
                "0",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                *args,
            ],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    demo = Demo(process, base, rtmp_port, hls_port, tmp_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return demo
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(demo)
            pytest.fail("the demo did not start:\n" + demo.logs())
        time.sleep(0.2)


def stop(demo: Demo) -> None:
    """Whatever the test did: no demo, nginx or ffmpeg of this test left running."""
    if demo.process.poll() is None:
        demo.process.kill()
        demo.process.wait(10)
    for pid in processes_mentioning(*demo.markers()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def video_demo(tmp_path: Path) -> Iterator[Demo]:
    need_video_tools()
    demo = start_demo(tmp_path)
    try:
        yield demo
    finally:
        stop(demo)


def wait_for(what: str, demo: Demo, check: Any, *, within: float) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            got = check()
        except httpx.HTTPError:
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within} s\n{demo.logs()}")
        time.sleep(0.25)


def test_the_demo_anchor_streams_a_test_pattern_viewers_play_it_and_ctrl_c_stops_it_all(
    video_demo: Demo, tmp_path: Path
) -> None:
    demo = video_demo
    started = time.monotonic()
    with httpx.Client(base_url=demo.base, timeout=10) as http:
        live = http.get("/live/sessions", params={"status": "live"}).json()["items"]
        session_id = live[0]["id"]

        def online() -> dict[str, Any] | None:
            stream: dict[str, Any] = http.get(f"/live/sessions/{session_id}/state").json()["stream"]
            return stream if stream["status"] == "online" else None

        stream = wait_for("the demo's stream online", demo, online, within=20)
    playback = f"http://127.0.0.1:{demo.hls_port}/hls/{session_id}.m3u8"
    assert stream["playback_url"] == playback
    # the banner tells viewers where to watch, and an anchor what to enter in OBS
    output = demo.output
    assert f"Video (viewers, HLS): {playback}" in output
    assert f"OBS server URL:       rtmp://127.0.0.1:{demo.rtmp_port}/live" in output
    assert f"OBS stream key:       {session_id}?key=lsk_" in output

    def playlist() -> list[str] | None:
        got = httpx.get(playback, timeout=5)
        segments = [line for line in got.text.splitlines() if line.endswith(".ts")]
        return segments if got.status_code == 200 and segments else None

    segments = wait_for("a playlist with a segment", demo, playlist, within=15)
    segment = httpx.get(playback.rsplit("/", 1)[0] + "/" + segments[-1], timeout=5)
    assert segment.status_code == 200
    assert segment.headers["content-type"] == "video/mp2t"
    (tmp_path / "segment.ts").write_bytes(segment.content)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(tmp_path / "segment.ts")],
        capture_output=True,
        check=True,
        timeout=30,
    )
    codecs = {s["codec_type"]: s["codec_name"] for s in json.loads(probe.stdout)["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}

    # the encoder dies: the demo starts it again, with the key it fetches again
    encoders = processes_mentioning(f"127.0.0.1:{demo.rtmp_port}/live/{session_id}?key=")
    assert len(encoders) == 1, encoders
    os.kill(next(iter(encoders)), signal.SIGKILL)
    with httpx.Client(base_url=demo.base, timeout=10) as http:
        signin = http.post("/auth/signin", json={"email": ANCHOR, "password": DEMO_PASSWORD})
        auth = {"Authorization": f"Bearer {signin.json()['token']}"}

        def republished() -> bool:
            got = http.get(f"/live/sessions/{session_id}/stream", headers=auth).json()
            return bool(got["status"] == "online" and got["publishes"] == 2)

        wait_for("the encoder restarted", demo, republished, within=15)

    demo.process.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        demo.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the demo did not exit on SIGINT\n" + demo.logs())
    assert not accepts(demo.rtmp_port), "nginx still ingests after the demo stopped"
    assert not accepts(demo.hls_port), "nginx still serves HLS after the demo stopped"
    assert not processes_mentioning(*demo.markers()), "nginx or ffmpeg outlived the demo"
    assert time.monotonic() - started < 40


def test_without_the_tools_the_demo_runs_without_video_and_says_so_once(tmp_path: Path) -> None:
    # no ffmpeg on the PATH
    demo = start_demo(tmp_path, env={"PATH": str(tmp_path)})
    try:
        with httpx.Client(base_url=demo.base, timeout=10) as http:
            session_id = http.get("/live/sessions", params={"status": "live"}).json()["items"][0]
            state = http.get(f"/live/sessions/{session_id['id']}/state").json()
        assert state["session"]["status"] == "live"
        assert state["stream"]["status"] == "idle"
        demo.process.send_signal(signal.SIGINT)
        demo.process.wait(timeout=20)
        output = demo.output
        assert output.count(nginx.INSTALL_HINT) == 1, output
        assert "the demo runs without video" in output
        assert "OBS stream key" not in output
        assert not accepts(demo.rtmp_port)
    finally:
        stop(demo)


def test_the_demo_has_an_audience_and_stops_by_itself_after_its_duration(tmp_path: Path) -> None:
    """``--viewers`` simulated viewers come and go in the room (a tenth of them talk);
    ``--duration`` stops the demo cleanly."""
    from websockets.sync.client import connect

    demo = start_demo(tmp_path, "--no-video", "--viewers", "20", "--duration", "25")
    try:
        with httpx.Client(base_url=demo.base, timeout=10) as http:
            session_id = http.get("/live/sessions", params={"status": "live"}).json()["items"][0]
        url = demo.base.replace("http://", "ws://") + f"/ws/rooms/{session_id['id']}"
        deadline = time.monotonic() + 20
        online, chat = 0, []
        with connect(url, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "hello", "token": None}))
            while time.monotonic() < deadline and (online < 10 or not chat):
                message = json.loads(ws.recv(timeout=5))
                counters = message.get("snapshot", {}).get("counters", {})
                for event in [counters, *message.get("events", [])]:
                    if event.get("type") == "counters" or "online" in event:
                        online = max(online, int(event.get("online", 0)))
                    if event.get("type") == "chat":
                        chat.append(event["text"])
        assert online >= 10, demo.output
        assert chat, "no simulated viewer chatted"
        assert "Simulated audience: about 20 viewers" in demo.output
        assert demo.process.wait(timeout=40) == 0  # --duration: a clean stop
    finally:
        stop(demo)


def test_check_says_what_to_install_and_the_encoder_keys_every_fragment() -> None:
    from liveshop.config import Settings

    missing = nginx.Tools(
        nginx=None, rtmp_module=None, rtmp_static=False, ffmpeg=None, ffprobe=None
    )
    with pytest.raises(demo_video.VideoUnavailable, match=re.escape(nginx.INSTALL_HINT)):
        demo_video.check(Settings(), missing)
    argv = demo_video.encoder_command("ffmpeg", "rtmp://h/live/s?key=k", fragment_seconds=2)
    assert argv[argv.index("-g") + 1] == "50"  # 25 fps: a keyframe every 2 s fragment
    assert argv[-1] == "rtmp://h/live/s?key=k" and argv.count("-re") == 2


async def test_a_stream_the_last_demo_run_left_offline_does_not_end_the_demo_session(
    tmp_path: Path, sqlite_template: Path
) -> None:
    from datetime import timedelta

    from liveshop.clock import SystemClock
    from liveshop.config import Settings
    from liveshop.db import create_engine, create_sessionmaker
    from liveshop.seed import seed_demo
    from liveshop.video import service as video

    shutil.copy(sqlite_template, tmp_path / "demo.db")
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        var_dir=tmp_path / "var",
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
    )
    now = SystemClock().now()
    session_id = (await seed_demo(settings, now=now)).session_id
    assert session_id
    key = await demo_video.prepare_stream(settings, session_id, now=now, own_ingest=True)
    engine = create_engine(settings.database_url)
    later, grace = now + timedelta(hours=1), timedelta(seconds=60)
    try:
        async with create_sessionmaker(engine)() as db:
            secret = key.split("?key=", 1)[1]
            await video.publish(db, session_id=session_id, key=secret, client_id="7", now=now)
            await video.publish_done(db, session_id=session_id, client_id="7", now=now)
            await db.commit()
            # the demo stopped with its encoder; started again an hour later, the grace is over
            assert await video.stale_sessions(db, now=later, grace=grace) == [session_id]
        again = await demo_video.prepare_stream(settings, session_id, now=later, own_ingest=False)
        assert again == key
        async with create_sessionmaker(engine)() as db:
            assert await video.stale_sessions(db, now=later, grace=grace) == []
            stream = await video.get_stream(db, session_id=session_id)
            assert stream is not None and stream.status == "idle"
    finally:
        await engine.dispose()
