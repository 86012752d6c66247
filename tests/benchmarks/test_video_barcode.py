"""The video benchmark's clock barcode: encode/decode round trips (also through a real x264
encode and decode when ffmpeg is installed), what is refused as "not a barcode", and the
playlist arithmetic of the playback latency. No server, no nginx, no timing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from liveshop.benchmarks.video import (
    BITS,
    FPS,
    FRAME_BYTES,
    HEIGHT,
    MAX_VALUE,
    WIDTH,
    Decoded,
    decode_frame,
    decode_segment,
    encode_frame,
    parse_playlist,
    sync_position_time,
)

NOW_MS = 1_795_651_025_829  # 2026-11-25, in ms since the epoch


@pytest.mark.parametrize(
    "value", [0, 1, NOW_MS, NOW_MS + 1, MAX_VALUE, 0xAAAAAAAAAAA, 0x55555555555, 1 << (BITS - 1)]
)
def test_round_trip(value: int) -> None:
    frame = encode_frame(value)
    assert len(frame) == FRAME_BYTES == WIDTH * HEIGHT
    assert decode_frame(frame) == value


def test_values_that_do_not_fit_are_refused() -> None:
    assert BITS >= 42  # ms since the epoch need 41 bits until 2039, 42 until 2109
    with pytest.raises(ValueError):
        encode_frame(-1)
    with pytest.raises(ValueError):
        encode_frame(MAX_VALUE + 1)


def test_lossy_levels_and_noise_still_decode() -> None:
    frame = encode_frame(NOW_MS)
    # limited-range levels (16..235) and +-30 of pseudo-random noise on every pixel
    noisy = bytes(
        max(0, min(255, (16 + p * 219 // 255) + ((i * 7919) % 61 - 30)))
        for i, p in enumerate(frame)
    )
    assert decode_frame(noisy) == NOW_MS


def test_what_is_not_a_barcode() -> None:
    frame = encode_frame(NOW_MS)
    assert decode_frame(frame[:-1]) is None  # wrong size
    assert decode_frame(b"\x80" * FRAME_BYTES) is None  # flat gray: no contrast
    assert decode_frame(b"\x00" * FRAME_BYTES) is None
    assert decode_frame(bytes(255 - p for p in frame)) is None  # inverted: markers wrong
    # one data block (row 0, column 1) turned mid-gray: neither dark nor light
    grayed = bytearray(frame)
    for y in range(40):
        grayed[y * WIDTH + 40 : y * WIDTH + 80] = b"\x80" * 40
    assert decode_frame(bytes(grayed)) is None


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_round_trip_through_x264() -> None:
    """Frames encoded as the publisher does (x264 ultrafast, zerolatency, yuv420p) into an
    MPEG-TS segment, decoded back as the reader does."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    values = [NOW_MS + round(n * 1000 / FPS) for n in range(20)]
    encoded = subprocess.run(
        [
            *(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "gray"),
            *("-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "pipe:0", "-c:v", "libx264"),
            *("-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "15"),
            *("-f", "mpegts", "pipe:1"),
        ],
        input=b"".join(encode_frame(v) for v in values),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert decode_segment(ffmpeg, encoded) == (values[0], values[-1], len(values))
    frames = subprocess.run(
        [ffmpeg, "-loglevel", "error", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        input=encoded,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    decoded = [
        decode_frame(frames[i : i + FRAME_BYTES]) for i in range(0, len(frames), FRAME_BYTES)
    ]
    assert decoded == values
    with pytest.raises(ValueError):
        decode_segment(ffmpeg, b"not a transport stream")


PLAYLIST = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-TARGETDURATION:1
#EXTINF:1.000,
s-10.ts
#EXTINF:1.000,
s-11.ts
#EXTINF:1.000,
s-12.ts
#EXTINF:1.000,
s-13.ts
#EXTINF:1.000,
s-14.ts
"""


def test_sync_position_is_three_target_durations_behind_the_end() -> None:
    playlist = parse_playlist(PLAYLIST, "http://127.0.0.1:8088/hls/s.m3u8")
    assert playlist.target_duration == 1.0
    assert playlist.media_sequence == 10
    assert playlist.segments[0] == ("http://127.0.0.1:8088/hls/s-10.ts", 1.0)
    assert playlist.duration == 5.0
    base = "http://127.0.0.1:8088/hls/"
    # segment n's frames were shot from 100 + n s to 100 + n + 14/15 s
    decoded = {
        f"{base}s-{n}.ts": Decoded(100.0 + n, 100.0 + n + 14 / 15, 15) for n in range(10, 15)
    }
    # end = 5 s, P = 5 - 3 = 2 s: the start of s-12
    assert sync_position_time(playlist, decoded) == pytest.approx(112.0)
    # a segment not decoded: no answer
    del decoded[f"{base}s-12.ts"]
    assert sync_position_time(playlist, decoded) is None
    # shorter than 3 target durations: the playlist's start (as hls.js clamps)
    short = parse_playlist(PLAYLIST.replace("TARGETDURATION:1", "TARGETDURATION:5"), base)
    assert sync_position_time(short, decoded) == pytest.approx(110.0)
