"""The demo's video: nginx-rtmp, and an ffmpeg test pattern that the demo anchor publishes.

``liveshop demo`` calls :func:`start_video`: it starts nginx with the demo's settings (its
hooks call the demo server), then, once the server answers, a thread signs in as the demo
anchor, fetches the session's ingest settings (``GET /live/sessions/{id}/stream``) exactly as
an anchor setting up OBS would, and publishes a 640x360 25 fps test pattern with a 440 Hz
tone in real time (``-re``). When ffmpeg exits while the demo runs (nginx restarted, the key
was rotated, ...) it fetches the settings again and restarts it, backing off when it keeps
failing. :meth:`DemoVideo.stop` (also run at exit, and on SIGTERM/SIGHUP) stops ffmpeg, then
nginx. Without the tools, :func:`start_video` raises :class:`VideoUnavailable` saying what to
install.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType

import httpx
import structlog

from liveshop.config import Settings
from liveshop.db import create_engine, create_sessionmaker
from liveshop.live.models import LiveSession
from liveshop.seed import DEMO_PASSWORD, demo_email
from liveshop.video import nginx
from liveshop.video import service as video

log = structlog.get_logger(__name__)

ENCODER_LOG = "demo-encoder.log"  # under var/video/logs
FRAME_RATE = 25
HEALTHY_RUN_SECONDS = 30.0  # an encoder that ran this long restarts at once, else backs off
MAX_BACKOFF_SECONDS = 15.0


class VideoUnavailable(RuntimeError):
    """Why the demo runs without video (the message says what to do)."""


def encoder_command(ffmpeg: str, target: str, *, fragment_seconds: float = 1.0) -> list[str]:
    """ffmpeg publishing a test pattern and a tone to ``target`` (``<server URL>/<stream
    key>``) in real time: 640x360 at 25 fps, x264 veryfast, a keyframe every HLS fragment
    (the settings docs/streaming.md recommends for OBS)."""
    gop = str(max(1, round(FRAME_RATE * fragment_seconds)))
    return [
        ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin",
        "-re", "-f", "lavfi", "-i", f"testsrc=size=640x360:rate={FRAME_RATE}",
        "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", gop, "-keyint_min", gop, "-sc_threshold", "0",
        "-b:v", "600k", "-maxrate", "600k", "-bufsize", "1200k",
        "-c:a", "aac", "-b:a", "96k",
        "-f", "flv", target,
    ]  # fmt: skip


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nginx does
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def check(settings: Settings, tools: nginx.Tools) -> None:
    """Raise :class:`VideoUnavailable` unless the demo can run its video here."""
    if not tools.ready:
        raise VideoUnavailable(
            f"missing {', '.join(tools.missing)}; install with `{nginx.INSTALL_HINT}`"
        )
    ports = {"LIVESHOP_RTMP_PORT": settings.rtmp_port, "LIVESHOP_HLS_PORT": settings.hls_port}
    for name, port in ports.items():
        if not _port_free(port):
            raise VideoUnavailable(f"port {port} ({name}) is in use")


async def prepare_stream(
    settings: Settings, session_id: str, *, now: datetime, own_ingest: bool
) -> str:
    """The demo session's OBS stream key (the stream is made the first time), before the
    server starts. A stream a previous demo run left ``offline`` goes back to ``idle``:
    otherwise the grace sweeper would end the demo session as soon as the server starts
    (its encoder stopped with the last run). So does one left ``online`` when the demo runs
    its own nginx (its ports were free: nothing is publishing)."""
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            live = await session.get(LiveSession, session_id)
            if live is None:
                raise VideoUnavailable(f"no live session {session_id}")
            if live.status == "ended":
                raise VideoUnavailable("the demo session has ended (`rm -r var/` starts afresh)")
            stream = await video.ensure_stream(session, live=live, now=now)
            if stream.status == "offline" or (stream.status == "online" and own_ingest):
                stream.status = "idle"
                stream.client_id = None
                stream.updated_at = now
            await session.commit()
            return video.obs_stream_key(stream)
    finally:
        await engine.dispose()


def _terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


@dataclass
class DemoVideo:
    """nginx and the demo anchor's encoder; :meth:`stop` stops both (safe to call again)."""

    settings: Settings
    base_url: str
    tools: nginx.Tools
    session_id: str | None = None
    email: str = field(default_factory=lambda: demo_email("anchor"))
    password: str = DEMO_PASSWORD
    nginx_process: subprocess.Popen[bytes] | None = None
    encoder: subprocess.Popen[bytes] | None = None
    publishes: int = 0  # encoders started
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    @property
    def layout(self) -> nginx.Layout:
        return nginx.Layout.of(self.settings)

    @property
    def encoder_log(self) -> Path:
        return self.layout.logs / ENCODER_LOG

    def start(self) -> None:
        """Start nginx (raises :class:`VideoUnavailable` when it does not come up), then the
        encoder thread."""
        try:
            self.nginx_process = nginx.start(self.settings, self.tools)
        except (OSError, RuntimeError) as exc:
            raise VideoUnavailable(f"nginx did not start: {exc}") from exc
        atexit.register(self.stop)
        deadline = time.monotonic() + 5
        while not _accepts(self.settings.rtmp_port):
            if self.nginx_process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise VideoUnavailable(f"nginx did not start: see {self.layout.logs / 'error.log'}")
            time.sleep(0.05)
        self._thread = threading.Thread(target=self._run, name="demo-video", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            encoder, self.encoder = self.encoder, None
        _terminate(encoder)
        _terminate(self.nginx_process)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # -- the encoder thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=10) as http:
                if self._wait_for_server(http):
                    self._publish_loop(http)
        except Exception:  # a demo helper: say what broke, never take the demo down
            log.exception("demo_video_failed")

    def _wait_for_server(self, http: httpx.Client) -> bool:
        while not self._stopping.is_set():
            with contextlib.suppress(httpx.HTTPError):
                if http.get("/healthz", timeout=1).status_code == 200:
                    return True
            self._stopping.wait(0.2)
        return False

    def _target(self, http: httpx.Client, token: str) -> str:
        """``<server URL>/<stream key>``, as the anchor's OBS would push to."""
        auth = {"Authorization": f"Bearer {token}"}
        if self.session_id is None:
            mine = http.get("/anchor/sessions", params={"status": "live"}, headers=auth)
            mine.raise_for_status()
            items = mine.json()["items"]
            if not items:
                raise VideoUnavailable("the demo anchor has no live session")
            self.session_id = str(items[0]["id"])
        live = http.get(f"/live/sessions/{self.session_id}", headers=auth)
        live.raise_for_status()
        if live.json()["status"] == "ended":  # publishing would be refused
            raise VideoUnavailable("the demo session has ended")
        got = http.get(f"/live/sessions/{self.session_id}/stream", headers=auth)
        got.raise_for_status()
        stream = got.json()
        return f"{stream['server_url']}/{stream['stream_key']}"

    def _publish_loop(self, http: httpx.Client) -> None:
        backoff = 1.0
        token: str | None = None
        while not self._stopping.is_set():
            if self.nginx_process is None or self.nginx_process.poll() is not None:
                code = None if self.nginx_process is None else self.nginx_process.returncode
                see = str(self.layout.logs / "error.log")
                if code:  # 0: it was stopped (Ctrl-C in the terminal reaches it too)
                    log.warning("demo_video_nginx_exited", code=code, see=see)
                return
            try:
                if token is None:
                    signin = http.post(
                        "/auth/signin", json={"email": self.email, "password": self.password}
                    )
                    signin.raise_for_status()
                    token = str(signin.json()["token"])
                target = self._target(http, token)
            except httpx.HTTPStatusError as exc:
                token = None
                log.warning("demo_video_api_refused", status=exc.response.status_code)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                log.warning("demo_video_api_failed", error=str(exc))
            except VideoUnavailable as exc:
                log.warning("demo_video_stopped", reason=str(exc))
                return
            else:
                started = time.monotonic()
                code = self._encode(target)
                if code is None:
                    return
                ran = time.monotonic() - started
                if ran >= HEALTHY_RUN_SECONDS:
                    backoff = 1.0
                # nginx going away (Ctrl-C reaches it too) ends the loop above, quietly
                if self._stopping.wait(backoff) or self.nginx_process.poll() is not None:
                    continue
                log.warning(
                    "demo_encoder_restarting",
                    code=code,
                    ran_seconds=round(ran, 1),
                    log=str(self.encoder_log),
                )
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def _encode(self, target: str) -> int | None:
        """Run one encoder until it exits (its exit code) or the demo stops (None)."""
        assert self.tools.ffmpeg is not None
        argv = encoder_command(
            self.tools.ffmpeg, target, fragment_seconds=self.settings.hls_fragment_seconds
        )
        self.encoder_log.parent.mkdir(parents=True, exist_ok=True)
        with self.encoder_log.open("ab") as out, self._lock:
            if self._stopping.is_set():
                return None
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            self.encoder = proc
            self.publishes += 1
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if self._stopping.is_set():
                    return None
        with self._lock:
            if self.encoder is proc:
                self.encoder = None
        return None if self._stopping.is_set() else code


def _exit_on(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def start_video(
    settings: Settings,
    base_url: str,
    *,
    session_id: str | None = None,
    tools: nginx.Tools | None = None,
) -> DemoVideo:
    """Start nginx and the demo anchor's encoder (see the module); raises
    :class:`VideoUnavailable` (say it, and run the demo without video). Called from the main
    thread, it also makes SIGTERM and SIGHUP exit through ``finally`` and ``atexit`` (their
    default would leave nginx and ffmpeg running)."""
    tools = tools or nginx.find_tools()
    check(settings, tools)
    handle = DemoVideo(settings=settings, base_url=base_url, tools=tools, session_id=session_id)
    handle.start()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, _exit_on)
    return handle


def start_demo(
    settings: Settings, base_url: str, session_id: str, *, enabled: bool, now: datetime
) -> tuple[DemoVideo | None, list[str]]:
    """What ``liveshop demo`` runs: the video when ``enabled`` and possible, and the lines of
    the banner about it (viewer playback URL, OBS settings; or, once, why there is no video).
    The demo session's stream is prepared either way (:func:`prepare_stream`)."""
    tools = nginx.find_tools()
    reason = None if enabled else "--no-video"
    if enabled:
        try:
            check(settings, tools)
        except VideoUnavailable as exc:
            reason = str(exc)
    handle: DemoVideo | None = None
    key: str | None = None
    try:
        own = reason is None
        key = asyncio.run(prepare_stream(settings, session_id, now=now, own_ingest=own))
        if own:
            handle = start_video(settings, base_url, session_id=session_id, tools=tools)
    except VideoUnavailable as exc:
        reason = reason or str(exc)
    obs = [f"OBS server URL:       {settings.rtmp_url}", f"OBS stream key:       {key}"]
    if handle is None and not enabled and key is not None:
        return None, [
            "Video:                off (--no-video); `liveshop video run` in another shell"
            " ingests it from OBS (docs/streaming.md):",
            *obs,
        ]
    if handle is None:
        return None, [f"Video:                off ({reason}): the demo runs without video"]
    return handle, [
        f"Video (viewers, HLS): {video.playback_url(settings, session_id)}",
        *obs,
        "The demo anchor publishes a test pattern with a tone (ffmpeg); to go live from OBS"
        " instead see docs/streaming.md.",
    ]
