"""The room benchmark's arithmetic: percentiles, per-mode rates, the naive/ours ratio and the
targets. Pure functions on made-up numbers: nothing here runs a server or times anything."""

from __future__ import annotations

from array import array

import pytest

from liveshop.benchmarks.room_report import mode_summary, summary
from liveshop.benchmarks.room_results import ModeResult, RoomBenchConfig, percentile


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0.5) == 1
    assert percentile([7], 99) == 7
    assert percentile([3, 1, 2], 50) == 2  # unsorted input
    assert percentile([10, 20, 30, 40], 50) == 20
    assert percentile([10, 20, 30, 40], 51) == 30


def test_percentile_of_nothing_is_none_and_bad_q_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1, 2], 0)
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def result(mode: str = "batched", **values: object) -> ModeResult:
    r = ModeResult(mode)  # type: ignore[arg-type]
    for key, value in values.items():
        setattr(r, key, value)
    return r


def test_mode_rates_and_memory_per_connection() -> None:
    r = result(
        viewers=2000,
        window_s=10.0,
        events=2_000_000,
        chat=1_800_000,
        frames=130_000,
        server_cpu_s=4.0,
        client_cpu_s=2.0,
        machine_busy=0.5,
        cores=2,
        rss_before_kb=100_000,
        rss_idle_kb=180_000,
        latencies_us=array("q", [100_000, 150_000, 200_000, 250_000]),
    )
    assert r.delivered_per_s == 200_000
    assert r.cpu_s_per_1k == pytest.approx(0.002)
    assert r.deliveries_per_cpu_s == 500_000
    assert r.mem_kb_per_conn == 40
    assert r.other_cpu_util == pytest.approx(0.4)  # 1.0 core busy, 0.6 of it ours
    assert r.percentile_ms(50) == 150
    out = mode_summary(r)
    assert out["p99_ms"] == 250
    assert out["server_cpu_util"] == 0.4
    assert out["frames_per_s"] == 13_000


def test_nothing_delivered_gives_no_rates_rather_than_a_division_by_zero() -> None:
    r = result(viewers=10, window_s=5.0, server_cpu_s=0.5)
    assert r.delivered_per_s == 0
    assert r.cpu_s_per_1k is None
    assert r.percentile_ms(99) is None
    assert result().deliveries_per_cpu_s is None
    assert result().other_cpu_util == 0


def test_ratio_is_naive_cpu_per_delivery_over_ours() -> None:
    cfg = RoomBenchConfig(viewers=5000, chat_rate=100, like_rate=1000)
    ours = result(viewers=5000, window_s=10, events=5_000_000, server_cpu_s=5.0)  # 1 ms / 1k
    naive = result("naive", viewers=5000, window_s=10, events=300_000, server_cpu_s=6.0)
    out = summary(cfg, ours, naive)
    assert out["cpu_s_per_1k"] == pytest.approx(0.001)
    assert out["naive_cpu_s_per_1k"] == pytest.approx(0.02)
    assert out["ratio"] == pytest.approx(20.0)
    assert out["naive_delivered_per_s"] == 30_000
    for key in ("viewers", "delivered_per_s", "p50_ms", "p99_ms", "cpu_s_per_1k"):
        assert key in out
    assert out["mem_kb_per_conn"] == 0


def test_without_naive_there_is_no_ratio() -> None:
    cfg = RoomBenchConfig(viewers=100, naive=False)
    out = summary(cfg, result(viewers=100, window_s=1, events=1000, server_cpu_s=0.1), None)
    assert out["ratio"] is None and out["naive"] is None
    assert out["targets"]["ratio>=5"] is None


def test_targets_apply_only_to_the_runs_that_measure_them() -> None:
    latencies = array("q", [200_000] * 99 + [300_000])  # p99 = 200 ms
    ours = result(
        viewers=5000,
        window_s=10,
        events=5_000_000,
        server_cpu_s=5.0,
        rss_before_kb=0,
        rss_idle_kb=5000 * 30,
        latencies_us=latencies,
    )
    naive = result("naive", viewers=5000, window_s=10, events=100_000, server_cpu_s=0.4)
    met = summary(RoomBenchConfig(viewers=5000), ours, naive)["targets"]
    assert met["deliveries_per_cpu_s>=40000"] is True
    assert met["ratio>=5"] is False  # 4 ms / 1k over 1 ms / 1k
    assert met["p99<=250ms@5000"] is True
    assert met["mem<=20KB/conn"] is False  # 30 KB each
    lighter = summary(RoomBenchConfig(viewers=5000, chat_rate=10), ours, naive)["targets"]
    assert lighter["p99<=250ms@5000"] is None  # not the load the target is stated for
    fewer = summary(RoomBenchConfig(viewers=2000), ours, naive)["targets"]
    assert fewer["p99<=250ms@5000"] is None


def test_slow_readers_only_count_the_configured_share() -> None:
    assert RoomBenchConfig(viewers=2000, slow_pct=1).slow_viewers == 20
    assert RoomBenchConfig(viewers=10, slow_pct=100).slow_viewers == 10
    assert RoomBenchConfig(viewers=10_000).worker_count >= 1
