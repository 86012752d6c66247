"""The room benchmark's configuration and per-mode results (plain data, no I/O): shared by
the run (``room.py``) and the report (``room_report.py``)."""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["batched", "naive"]


def percentile(values: Sequence[int] | Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): the smallest value with at least
    ``q`` % of the values at or below it; None for no values."""
    if not values:
        return None
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) / 100))
    return float(ordered[rank - 1])


VIEWERS_PER_WORKER = 2500


@dataclass(frozen=True)
class RoomBenchConfig:
    viewers: int = 2000
    seconds: float = 15.0
    slow_pct: float = 0.0
    chat_rate: float = 100.0
    like_rate: float = 1000.0  # kept whatever the bursts' sizes
    like_batch: int = 50  # the largest like burst; the simulator's bursts are 1-20 likes
    chatters: int = 20
    warmup: float = 3.0
    idle: float = 2.0
    workers: int = 0  # 0: one per 2,500 viewers
    sample_viewers: int = 200  # viewers that record latencies (the others only count)
    compression: bool = True  # viewers offer permessage-deflate, as browsers do
    server_compression: bool = False  # the server's LIVESHOP_WS_COMPRESSION (accepts deflate)
    naive: bool = True

    @property
    def worker_count(self) -> int:
        return self.workers or max(1, math.ceil(self.viewers / VIEWERS_PER_WORKER))

    @property
    def slow_viewers(self) -> int:
        return min(self.viewers, round(self.viewers * self.slow_pct / 100))


@dataclass
class ModeResult:
    mode: Mode
    viewers: int = 0  # connected
    connect_failures: dict[str, int] = field(default_factory=dict)
    connect_s: float = 0.0
    rss_before_kb: int = 0
    rss_idle_kb: int = 0
    window_s: float = 0.0
    window_started_at: float = 0.0  # Unix time, to line the window up with server logs
    events: int = 0  # room events delivered to the (reading) viewers in the window
    chat: int = 0  # of which chat messages
    frames: int = 0
    bytes: int = 0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_busy: float = 0.0  # share of all cores busy during the window
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    chat_sent: int = 0
    likes_sent: int = 0
    chatter_errors: dict[str, int] = field(default_factory=dict)
    fast_closed: dict[str, int] = field(default_factory=dict)
    slow: dict[str, int] = field(default_factory=dict)  # how the slow readers ended
    slow_backlog: dict[str, int] = field(default_factory=dict)  # what they read at the end
    latency_samples: int = 0
    deflate_accepted: int = 0  # viewers whose handshake the server answered with deflate
    latencies_us: array[int] = field(default_factory=lambda: array("q"), repr=False)

    @property
    def mem_kb_per_conn(self) -> float:
        return (self.rss_idle_kb - self.rss_before_kb) / max(1, self.viewers)

    @property
    def delivered_per_s(self) -> float:
        return self.events / self.window_s if self.window_s else 0.0

    @property
    def cpu_s_per_1k(self) -> float | None:
        return self.server_cpu_s / self.events * 1000 if self.events else None

    @property
    def deliveries_per_cpu_s(self) -> float | None:
        return self.events / self.server_cpu_s if self.server_cpu_s else None

    @property
    def other_cpu_util(self) -> float:
        """Cores busy with neither the server nor the bench's clients (other work on the box)."""
        if not self.window_s:
            return 0.0
        ours = (self.server_cpu_s + self.client_cpu_s) / self.window_s
        return max(0.0, self.machine_busy * self.cores - ours)

    def percentile_ms(self, q: float) -> float | None:
        value = percentile(self.latencies_us, q)
        return None if value is None else value / 1000
