"""``liveshop bench video``: publish-to-playback latency of the live video (nginx-rtmp HLS).

A real server (its own SQLite database with the demo data) and, for each HLS setting (ours:
the ``LIVESHOP_HLS_*`` defaults, keyframes every fragment; then the baseline: nginx-rtmp's
usual ``hls_fragment 5s; hls_playlist_length 30s`` with a 5 s GOP), a fresh nginx-rtmp from
``liveshop.video.nginx`` whose hooks call that server. Then:

1. the demo anchor signs in and reads its ingest settings (``GET /live/sessions/{id}/stream``);
2. a publisher thread makes 320x240 gray frames in real time (15 fps, paced by the clock),
   each with the wall-clock time (ms) burned in as a barcode of 40x40 black/white blocks,
   and pipes them, with a tone's audio for the same interval, into ffmpeg (x264
   ultrafast/zerolatency, GOP = one fragment, AAC) that publishes to
   ``<server_url>/<stream_key>`` like OBS would;
3. a reader polls the live playlist (``playback_url``) every 50 ms; each new segment's
   appearance time is noted, the segment is downloaded and decoded (``ffmpeg -f rawvideo
   -pix_fmt gray``), and the barcodes of its first and last frames are read back.

After a warm-up (at least ``warmup`` seconds and until the playlist has reached its full
length, so that a player's live position is inside it) a window of ``seconds`` is measured:

- **available** latency, per new segment: ``appeared_at - t(last frame)``: how far the newest
  fetchable video lags behind the camera;
- **playback** latency, at every poll ``now`` of the window: what a player joining now at
  hls.js's default live position (``liveSyncDurationCount`` = 3 target durations behind the
  end of the playlist, clamped to its start) is behind the camera, for as long as it plays
  on at 1x: ``now - t(P)`` with ``P = end - 3 x EXT-X-TARGETDURATION`` in playlist time and
  ``t(P) = t(first frame of the segment holding P) + (P - that segment's start)``.

The report is described in docs/performance.md ("Live video latency").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin

import httpx

from liveshop.benchmarks import server as bench_server
from liveshop.benchmarks.room_results import percentile
from liveshop.config import Settings
from liveshop.video import nginx

Say = Callable[[str], None]

# -- the barcode ------------------------------------------------------------------------------

WIDTH, HEIGHT, FPS = 320, 240, 15
BLOCK = 40  # pixels per side of a block
COLS, ROWS = WIDTH // BLOCK, HEIGHT // BLOCK  # 8 x 6 = 48 blocks
FRAME_BYTES = WIDTH * HEIGHT  # gray: one byte per pixel
# the four corners are fixed (white, black / black, white) to tell a barcode from anything else
MARKERS = {0: True, COLS - 1: False, (ROWS - 1) * COLS: False, ROWS * COLS - 1: True}
DATA_BLOCKS = tuple(i for i in range(ROWS * COLS) if i not in MARKERS)
BITS = len(DATA_BLOCKS)  # 44: milliseconds since the epoch until the year 2527
MAX_VALUE = (1 << BITS) - 1
_WHITE, _BLACK = b"\xff" * BLOCK, b"\x00" * BLOCK
_SAMPLE = BLOCK // 2  # the middle 20x20 pixels of a block are read (its edges blur in x264)


def encode_frame(value_ms: int) -> bytes:
    """A gray WIDTH x HEIGHT frame whose blocks spell ``value_ms`` (big-endian, white = 1)."""
    if not 0 <= value_ms <= MAX_VALUE:
        raise ValueError(f"{value_ms} does not fit in {BITS} bits")
    on = dict(MARKERS)
    for n, index in enumerate(DATA_BLOCKS):
        on[index] = bool(value_ms >> (BITS - 1 - n) & 1)
    rows = []
    for r in range(ROWS):
        line = b"".join(_WHITE if on[r * COLS + c] else _BLACK for c in range(COLS))
        rows.append(line * BLOCK)
    return b"".join(rows)


def _block_means(frame: bytes) -> list[float]:
    margin = (BLOCK - _SAMPLE) // 2
    means = []
    for r in range(ROWS):
        for c in range(COLS):
            x = c * BLOCK + margin
            total = 0
            for y in range(r * BLOCK + margin, r * BLOCK + margin + _SAMPLE):
                total += sum(frame[y * WIDTH + x : y * WIDTH + x + _SAMPLE])
            means.append(total / (_SAMPLE * _SAMPLE))
    return means


def decode_frame(frame: bytes) -> int | None:
    """The value of a frame made by ``encode_frame`` (after lossy coding too), or None when
    it is not one: wrong size, markers wrong, too little contrast, or a block that is
    neither clearly dark nor clearly light."""
    if len(frame) != FRAME_BYTES:
        return None
    means = _block_means(frame)
    white = min(means[i] for i, on in MARKERS.items() if on)
    black = max(means[i] for i, on in MARKERS.items() if not on)
    if white - black < 96:
        return None
    threshold, slack = (white + black) / 2, (white - black) / 4
    value = 0
    for index in DATA_BLOCKS:
        mean = means[index]
        if abs(mean - threshold) < slack:
            return None
        value = value << 1 | (mean > threshold)
    return value


def decode_segment(ffmpeg: str, data: bytes, timeout: float = 30.0) -> tuple[int, int, int]:
    """(first frame's value, last frame's value, frames) of an MPEG-TS segment; raises
    ValueError when a frame has no barcode."""
    result = subprocess.run(
        [
            *(ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-map", "0:v:0"),
            *("-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"),
        ],
        input=data,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    frames = len(result.stdout) // FRAME_BYTES
    if result.returncode != 0 or not frames:
        raise ValueError(f"ffmpeg decoded no frame: {result.stderr.decode(errors='replace')}")
    first = decode_frame(result.stdout[:FRAME_BYTES])
    last = decode_frame(result.stdout[(frames - 1) * FRAME_BYTES : frames * FRAME_BYTES])
    if first is None or last is None:
        raise ValueError("a frame without a readable barcode")
    return first, last, frames


# -- the playlist and the latencies ------------------------------------------------------------

HLS_JS_SYNC_COUNT = 3  # hls.js liveSyncDurationCount: target durations behind the live edge


@dataclass(frozen=True, slots=True)
class Playlist:
    target_duration: float
    media_sequence: int
    segments: tuple[tuple[str, float], ...]  # (absolute URL, EXTINF seconds), oldest first

    @property
    def duration(self) -> float:
        return sum(d for _, d in self.segments)


def parse_playlist(text: str, base_url: str) -> Playlist:
    """A live media playlist (nginx-rtmp's: no byte ranges, no parts)."""
    target, sequence = 0.0, 0
    segments: list[tuple[str, float]] = []
    extinf: float | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = float(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            extinf = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and extinf is not None:
            segments.append((urljoin(base_url, line), extinf))
            extinf = None
    return Playlist(target, sequence, tuple(segments))


@dataclass(frozen=True, slots=True)
class Decoded:
    first_s: float  # wall-clock time burned into the first frame (Unix seconds)
    last_s: float  # ... and into the last one
    frames: int


def sync_position_time(playlist: Playlist, decoded: Mapping[str, Decoded]) -> float | None:
    """The wall-clock time burned at hls.js's live sync position of this playlist: ``P = end
    - 3 x target duration`` (no earlier than the playlist's start); None when the segment
    holding P was not decoded."""
    if not playlist.segments:
        return None
    position = max(0.0, playlist.duration - HLS_JS_SYNC_COUNT * playlist.target_duration)
    start = 0.0
    for n, (url, length) in enumerate(playlist.segments):
        if position < start + length or n == len(playlist.segments) - 1:
            segment = decoded.get(url)
            if segment is None:
                return None
            offset = max(0.0, position - start)
            return segment.first_s + min(offset, segment.last_s - segment.first_s)
        start += length
    return None  # pragma: no cover (the loop returns at the last segment)


# -- the publisher ----------------------------------------------------------------------------


SAMPLE_RATE = 44100
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 2,940: the audio of one frame interval


def _tone() -> bytes:
    """One second of a 440 Hz sine, s16le mono (440 whole periods: it loops seamlessly)."""
    import math
    from array import array

    samples = array("h", (round(8000 * math.sin(2 * math.pi * 440 * n / SAMPLE_RATE))
                          for n in range(SAMPLE_RATE)))  # fmt: skip
    return samples.tobytes()


def publisher_argv(ffmpeg: str, url: str, gop_frames: int, audio_fd: int) -> list[str]:
    """ffmpeg reading the raw frames on stdin and raw audio on ``audio_fd`` (both written
    in real time, like a capture device), publishing H.264 + AAC over RTMP like an encoder
    set to "zero latency"."""
    return [
        ffmpeg, "-hide_banner", "-loglevel", "warning",
        "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS),
        "-probesize", "32", "-analyzeduration", "0", "-thread_queue_size", "64", "-i", "pipe:0",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1",
        "-probesize", "32", "-analyzeduration", "0", "-thread_queue_size", "64",
        "-i", f"pipe:{audio_fd}",
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", str(gop_frames), "-keyint_min", str(gop_frames), "-sc_threshold", "0", "-bf", "0",
        "-c:a", "aac", "-b:a", "64k",
        "-f", "flv", url,
    ]  # fmt: skip


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Publisher:
    """ffmpeg publishing the barcode frames and a tone, written in real time by a thread:
    frame n is written at ``start + n / FPS`` with the clock read then burned in, together
    with the audio of its frame interval (both inputs follow the same clock, as a camera's
    and a microphone's do: ffmpeg's muxer never waits for one of them)."""

    def __init__(self, ffmpeg: str, url: str, gop_frames: int, log: IO[bytes]) -> None:
        import fcntl

        audio_read, self._audio = os.pipe()
        with contextlib.suppress(OSError):  # room for the audio while ffmpeg starts
            fcntl.fcntl(self._audio, fcntl.F_SETPIPE_SZ, 1 << 20)
        try:
            self.process = subprocess.Popen(
                publisher_argv(ffmpeg, url, gop_frames, audio_read),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                bufsize=0,
                pass_fds=(audio_read,),
            )
        except BaseException:
            os.close(self._audio)
            raise
        finally:
            os.close(audio_read)
        self.frames = 0
        self.late_frames = 0  # written more than one frame interval after their due time
        self.max_late_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="video-publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        tone = _tone()
        chunk = SAMPLES_PER_FRAME * 2
        start = time.monotonic()
        while not self._stop.is_set():
            due = start + self.frames / FPS
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            frame = encode_frame(time.time_ns() // 1_000_000)
            late = time.monotonic() - due
            offset = self.frames % FPS * chunk
            try:
                stdin.write(frame)
                _write_all(self._audio, tone[offset : offset + chunk])
            except (BrokenPipeError, ValueError, OSError):
                break
            self.frames += 1
            self.max_late_s = max(self.max_late_s, late)
            self.late_frames += late > 1 / FPS

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Close ffmpeg's input (it flushes and disconnects: nginx calls publish_done)."""
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(OSError):
            os.close(self._audio)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# -- one measurement --------------------------------------------------------------------------

POLL_S = 0.05
PLAUSIBLE_S = 120.0  # a decoded time further than this from now is not ours


@dataclass(frozen=True)
class VideoBenchConfig:
    seconds: float = 20.0
    warmup: float = 5.0
    fragment_s: float | None = None  # None: the LIVESHOP_HLS_FRAGMENT_SECONDS default
    playlist_s: float | None = None  # None: the LIVESHOP_HLS_PLAYLIST_SECONDS default
    baseline: bool = True
    baseline_fragment_s: float = 5.0
    baseline_playlist_s: float = 30.0


@dataclass
class Segment:
    url: str
    duration: float
    appeared_at: float | None  # Unix time of the first poll that listed it (None: at the start)
    in_window: bool
    decoded: Decoded | None = None
    error: str | None = None


@dataclass
class RunResult:
    label: str
    fragment_s: float
    playlist_s: float
    gop_frames: int
    target_durations: set[float] = field(default_factory=set)
    warmup_s: float = 0.0
    window_s: float = 0.0
    segments: list[Segment] = field(default_factory=list)
    available_s: list[float] = field(default_factory=list)  # appeared - last frame
    first_frame_age_s: list[float] = field(default_factory=list)  # appeared - first frame
    playback_s: list[float] = field(default_factory=list)  # one per poll in the window
    unresolved_polls: int = 0  # window polls whose sync position was in an undecoded segment
    decode_failures: int = 0
    published_frames: int = 0
    late_frames: int = 0
    max_late_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        def q(values: list[float], p: float) -> float | None:
            value = percentile(values, p)
            return None if value is None else round(value, 3)

        window = [s for s in self.segments if s.in_window]
        durations = [s.duration for s in window]
        return {
            "fragment_s": self.fragment_s,
            "playlist_s": self.playlist_s,
            "gop_frames": self.gop_frames,
            "target_duration_s": sorted(self.target_durations),
            "segment_s_mean": round(sum(durations) / len(durations), 3) if durations else None,
            "segments": len(self.available_s),
            "warmup_s": round(self.warmup_s, 1),
            "window_s": round(self.window_s, 1),
            "available_p50_s": q(self.available_s, 50),
            "available_p95_s": q(self.available_s, 95),
            "first_frame_age_p50_s": q(self.first_frame_age_s, 50),
            "playback_p50_s": q(self.playback_s, 50),
            "playback_p95_s": q(self.playback_s, 95),
            "playback_max_s": q(self.playback_s, 100),
            "playback_samples": len(self.playback_s),
            "unresolved_polls": self.unresolved_polls,
            "decode_failures": self.decode_failures,
            "published_frames": self.published_frames,
            "late_frames": self.late_frames,
            "max_late_s": round(self.max_late_s, 3),
        }


def _settings(env: Mapping[str, str]) -> Settings:
    """The Settings a process with exactly this environment would have."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited at start (code {process.returncode})")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nginx did not listen on :{port} within {timeout:.0f} s")


@contextmanager
def _nginx(settings: Settings, tools: nginx.Tools) -> Iterator[subprocess.Popen[bytes]]:
    layout = nginx.Layout.of(settings)
    shutil.rmtree(layout.hls, ignore_errors=True)  # no playlist of the previous run
    process = nginx.start(settings, tools)
    try:
        _wait_port(settings.rtmp_port, process)
        _wait_port(settings.hls_port, process)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _fetch_and_decode(http: httpx.Client, ffmpeg: str, segment: Segment) -> None:
    try:
        response = http.get(segment.url)
        response.raise_for_status()
        first, last, frames = decode_segment(ffmpeg, response.content)
    except (httpx.HTTPError, ValueError, subprocess.TimeoutExpired) as exc:
        segment.error = str(exc)[:300]
        return
    now = time.time()
    if abs(now - first / 1000) > PLAUSIBLE_S or last < first:
        segment.error = f"implausible times {first}..{last} at {now:.3f}"
        return
    segment.decoded = Decoded(first / 1000, last / 1000, frames)


def _steady(seen: Mapping[str, Segment], playlist: Playlist) -> bool:
    """The playlist has reached its full length: a segment has already left it."""
    listed = {url for url, _ in playlist.segments}
    return any(url not in listed for url in seen)


def measure(
    label: str,
    cfg: VideoBenchConfig,
    settings: Settings,
    tools: nginx.Tools,
    stream: Mapping[str, str],
    workdir: Path,
    say: Say,
    bar: Any,
) -> RunResult:
    """One nginx with ``settings``, one publisher, one reader; see the module docstring."""
    assert tools.ffmpeg is not None
    fragment, playlist_len = settings.hls_fragment_seconds, settings.hls_playlist_seconds
    gop = max(1, round(fragment * FPS))
    result = RunResult(label, fragment, playlist_len, gop)
    publish_url = f"{stream['server_url']}/{stream['stream_key']}"
    playlist_url = stream["playback_url"]
    # the longest a healthy warm-up can take: the playlist fills, plus slack
    warmup_limit = max(cfg.warmup, playlist_len + 3 * fragment) + 30
    seen: dict[str, Segment] = {}
    pending: list[Future[None]] = []
    polls: list[tuple[float, Playlist]] = []
    task = bar.add_task(f"{label}: warm-up", total=None) if bar else None
    with (
        _nginx(settings, tools),
        (workdir / f"ffmpeg-{label}.log").open("ab") as ffmpeg_log,
        httpx.Client(timeout=10) as http,
        httpx.Client(timeout=10) as segments_http,  # the readers' (threads): its own pool
        ThreadPoolExecutor(2, thread_name_prefix="video-reader") as pool,
    ):
        publisher = Publisher(tools.ffmpeg, publish_url, gop, ffmpeg_log)
        try:
            started = time.monotonic()
            window_start: float | None = None
            first_poll = True
            while True:
                tick = time.monotonic()
                if not publisher.alive():
                    raise RuntimeError(f"{label}: ffmpeg stopped publishing: {ffmpeg_log.name}")
                if window_start is None and tick - started > warmup_limit:
                    raise RuntimeError(f"{label}: the playlist did not fill in {warmup_limit} s")
                if window_start is not None and tick - window_start >= cfg.seconds:
                    break
                now = time.time()
                try:
                    response = http.get(playlist_url)
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code == 200:
                    playlist = parse_playlist(response.text, playlist_url)
                    if window_start is not None:
                        result.target_durations.add(playlist.target_duration)
                    for url, length in playlist.segments:
                        if url not in seen:
                            segment = Segment(
                                url,
                                length,
                                None if first_poll else now,
                                window_start is not None,
                            )
                            seen[url] = segment
                            pending.append(
                                pool.submit(_fetch_and_decode, segments_http, tools.ffmpeg, segment)
                            )
                    first_poll = False
                    if window_start is None:
                        if tick - started >= cfg.warmup and _steady(seen, playlist):
                            window_start = time.monotonic()
                            result.warmup_s = window_start - started
                            if bar is not None:
                                bar.update(task, description=f"{label}: measuring")
                    else:
                        polls.append((now, playlist))  # resolved below, once decoded
                if bar is not None:
                    bar.update(task, completed=time.monotonic() - started)
                time.sleep(max(0.0, POLL_S - (time.monotonic() - tick)))
            result.window_s = time.monotonic() - (window_start or started)
        finally:
            publisher.stop()
            result.published_frames = publisher.frames
            result.late_frames = publisher.late_frames
            result.max_late_s = publisher.max_late_s
        for future in pending:
            future.result()
    if bar is not None:
        bar.update(task, visible=False)
    latencies(result, list(seen.values()), polls)
    errors = [s.error for s in result.segments if s.error]
    if errors:
        say(f"[yellow]{label}: {len(errors)} segment(s) not decoded, e.g. {errors[0]}[/yellow]")
    return result


def latencies(
    result: RunResult, segments: list[Segment], polls: list[tuple[float, Playlist]]
) -> None:
    """Fill ``result`` from the decoded segments and the window's polls: per segment of the
    window, available = appeared - t(last frame); per poll, playback = now - t(sync position)."""
    result.segments = segments
    decoded = {s.url: s.decoded for s in segments if s.decoded is not None}
    result.decode_failures = sum(1 for s in segments if s.error is not None)
    for s in segments:
        if s.in_window and s.decoded is not None and s.appeared_at is not None:
            result.available_s.append(s.appeared_at - s.decoded.last_s)
            result.first_frame_age_s.append(s.appeared_at - s.decoded.first_s)
    for now, playlist in polls:
        at = sync_position_time(playlist, decoded)
        if at is None:
            result.unresolved_polls += 1
        else:
            result.playback_s.append(now - at)


# -- the whole run ----------------------------------------------------------------------------

TARGET_PLAYBACK_S = 5.0  # the aim, with the default settings


def _ports() -> tuple[int, int]:
    rtmp = bench_server.free_port()
    hls = bench_server.free_port()
    while hls == rtmp:
        hls = bench_server.free_port()
    return rtmp, hls


def _anchor_stream(server: bench_server.Server) -> dict[str, str]:
    """The demo anchor's ingest settings for its live session (as OBS would be set up)."""
    from liveshop.seed import DEMO_PASSWORD, demo_email

    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        response = http.post(
            "/auth/signin", json={"email": demo_email("anchor"), "password": DEMO_PASSWORD}
        )
        response.raise_for_status()
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        response = http.get("/anchor/sessions", params={"status": "live"}, headers=headers)
        response.raise_for_status()
        items = response.json()["items"]
        if not items:
            raise RuntimeError("the demo anchor has no live session (liveshop db seed-demo)")
        response = http.get(f"/live/sessions/{items[0]['id']}/stream", headers=headers)
        response.raise_for_status()
        body: dict[str, str] = response.json()
    return body


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log (without nginx's 404s for the playlist before it exists)."""
    with contextlib.suppress(OSError):
        kept = [
            line
            for line in path.read_text(errors="replace").splitlines()
            if "No such file or directory" not in line
        ]
        return "\n".join(kept[-lines:])
    return ""


def summary(cfg: VideoBenchConfig, ours: RunResult, baseline: RunResult | None) -> dict[str, Any]:
    o = ours.summary()
    b = baseline.summary() if baseline is not None else None
    ratio = None
    if b is not None and o["playback_p50_s"] and b["playback_p50_s"] is not None:
        ratio = round(b["playback_p50_s"] / o["playback_p50_s"], 2)
    p95 = o["playback_p95_s"]
    return {
        "bench": "video",
        "seconds": cfg.seconds,
        "fragment_s": o["fragment_s"],
        "playlist_s": o["playlist_s"],
        "target_duration_s": o["target_duration_s"],
        "segments": o["segments"],
        "playback_p50_s": o["playback_p50_s"],
        "playback_p95_s": p95,
        "available_p50_s": o["available_p50_s"],
        "available_p95_s": o["available_p95_s"],
        "baseline_fragment_s": b["fragment_s"] if b else None,
        "baseline_playback_p50_s": b["playback_p50_s"] if b else None,
        "baseline_playback_p95_s": b["playback_p95_s"] if b else None,
        "baseline_available_p50_s": b["available_p50_s"] if b else None,
        "ratio": ratio,
        "target_playback_p95<=5s": None if p95 is None else p95 <= TARGET_PLAYBACK_S,
        "ours": o,
        "baseline": b,
    }


def _hls_env(fragment_s: float | None, playlist_s: float | None) -> dict[str, str]:
    """The HLS settings of a run (None: the setting's default)."""
    env = {}
    if fragment_s is not None:
        env["LIVESHOP_HLS_FRAGMENT_SECONDS"] = f"{fragment_s:g}"
    if playlist_s is not None:
        env["LIVESHOP_HLS_PLAYLIST_SECONDS"] = f"{playlist_s:g}"
    return env


def run(cfg: VideoBenchConfig, tools: nginx.Tools, say: Say, bar: Any = None) -> dict[str, Any]:
    """One server; ours, then the baseline, each with its own nginx and publisher."""
    with tempfile.TemporaryDirectory(prefix="liveshop-bench-video-") as tmp:
        workdir = Path(tmp)
        rtmp_port, hls_port = _ports()
        env = bench_server.server_env(
            workdir,
            {
                "LIVESHOP_RTMP_PORT": str(rtmp_port),
                "LIVESHOP_HLS_PORT": str(hls_port),
                "LIVESHOP_VIDEO_HOOK_SECRET": secrets.token_hex(20),
            },
        )
        log_path = workdir / "server.log"
        try:
            with log_path.open("a") as log:
                bench_server.prepare_database(env, log)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"preparing the database failed: {exc}\n{_tail(log_path)}") from exc
        server = bench_server.start_server(env, log_path)
        try:
            stream = _anchor_stream(server)
            # nginx calls the hooks of this server (its port was picked by start_server)
            nginx_env = {
                **env,
                "LIVESHOP_PORT": str(server.port),
                "LIVESHOP_VIDEO_API_URL": server.base_url,
            }
            runs = [("ours", _hls_env(cfg.fragment_s, cfg.playlist_s))]
            if cfg.baseline:
                runs.append(
                    ("baseline", _hls_env(cfg.baseline_fragment_s, cfg.baseline_playlist_s))
                )
            results: list[RunResult] = []
            for label, extra in runs:
                settings = _settings({**nginx_env, **extra})
                if settings.rtmp_url != stream["server_url"]:
                    raise RuntimeError(f"{settings.rtmp_url} != {stream['server_url']}")
                say(
                    f"{label}: hls_fragment {settings.hls_fragment_seconds:g} s, "
                    f"hls_playlist_length {settings.hls_playlist_seconds:g} s, "
                    f"publishing to {stream['server_url']}/{stream['session_id']}"
                )
                try:
                    results.append(measure(label, cfg, settings, tools, stream, workdir, say, bar))
                except Exception:
                    layout = nginx.Layout.of(settings)
                    say(f"[red]{label} failed[/red]; nginx: {_tail(layout.logs / 'error.log')}")
                    say(f"ffmpeg: {_tail(workdir / f'ffmpeg-{label}.log')}")
                    say(f"server: {server.log_tail(15)}")
                    raise
        finally:
            server.stop()
    return summary(cfg, results[0], results[1] if len(results) > 1 else None)


def print_table(out: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    rows: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
        ("hls_fragment / playlist (s)", lambda d: f"{d['fragment_s']:g} / {d['playlist_s']:g}"),
        ("GOP (frames at 15 fps)", lambda d: str(d["gop_frames"])),
        ("EXT-X-TARGETDURATION (s)", lambda d: ", ".join(f"{t:g}" for t in d["target_duration_s"])),
        ("segment length, mean (s)", lambda d: _fmt(d["segment_s_mean"])),
        ("warm-up / window (s)", lambda d: f"{d['warmup_s']:g} / {d['window_s']:g}"),
        ("new segments in window", lambda d: str(d["segments"])),
        ("available p50 / p95 (s)", lambda d: _pair(d, "available")),
        ("age of first frame, p50 (s)", lambda d: _fmt(d["first_frame_age_p50_s"])),
        ("playback p50 / p95 (s)", lambda d: _pair(d, "playback")),
        ("playback max (s)", lambda d: _fmt(d["playback_max_s"])),
        ("playback samples (polls)", lambda d: str(d["playback_samples"])),
        ("segments not decoded", lambda d: str(d["decode_failures"])),
        ("frames published / late", lambda d: f"{d['published_frames']} / {d['late_frames']}"),
    ]
    table = Table(title=f"live video latency: publish -> HLS, {out['seconds']:g} s window")
    table.add_column("")
    table.add_column("ours (defaults)", justify="right")
    if out["baseline"]:
        table.add_column("baseline (5 s / 30 s)", justify="right")
    for label, cell in rows:
        table.add_row(label, *(cell(out[k]) for k in ("ours", "baseline") if out[k]))
    console.print(table)
    if out["ratio"] is not None:
        console.print(f"baseline playback p50 / ours = [bold]{out['ratio']:.2f}[/bold]")
    met = out["target_playback_p95<=5s"]
    mark = "n/a" if met is None else ("[green]met[/green]" if met else "[red]missed[/red]")
    console.print(f"target playback p95 <= {TARGET_PLAYBACK_S:g} s: {mark}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pair(d: Mapping[str, Any], name: str) -> str:
    return f"{_fmt(d[f'{name}_p50_s'])} / {_fmt(d[f'{name}_p95_s'])}"


def main(cfg: VideoBenchConfig, *, json_output: bool = False) -> int:
    """Run with progress on stderr; the table (or one JSON line) on stdout. 1 when nginx,
    its RTMP module or ffmpeg is missing, or the run fails."""
    import orjson
    from rich.console import Console
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    tools = nginx.find_tools()
    missing = [name for name in tools.missing if name != "ffprobe"]
    if missing:
        err.print(
            f"[red]bench video needs {', '.join(missing)}[/red]: install with "
            f"`{nginx.INSTALL_HINT}`"
        )
        return 1
    try:
        with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
            out = run(cfg, tools, err.print, bar)
    except RuntimeError as exc:
        err.print(f"[red]bench video failed:[/red] {exc}")
        return 1
    if json_output:
        print(orjson.dumps(out).decode(), flush=True)
    else:
        print_table(out, Console())
    return 0
