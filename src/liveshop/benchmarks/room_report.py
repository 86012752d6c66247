"""The room benchmark's report: one JSON-ready summary, a table, and the targets."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from liveshop.benchmarks.room_results import ModeResult, RoomBenchConfig

# The targets (2-core machine): deliveries per server CPU-second, naive/ours CPU ratio,
# p99 at 5,000 viewers with 100 chat/s and 1,000 likes/s, memory per idle connection.
TARGET_DELIVERIES_PER_CPU_S = 40_000
TARGET_RATIO = 5.0
TARGET_P99_MS = 250.0
TARGET_MEM_KB = 20.0


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def mode_summary(r: ModeResult) -> dict[str, Any]:
    return {
        "viewers": r.viewers,
        "connect_failures": r.connect_failures,
        "connect_s": _round(r.connect_s, 1),
        "window_s": _round(r.window_s, 2),
        "window_started_at": _round(r.window_started_at, 3),
        "delivered_per_s": _round(r.delivered_per_s, 1),
        "chat_delivered_per_s": _round(r.chat / r.window_s if r.window_s else 0.0, 1),
        "frames_per_s": _round(r.frames / r.window_s if r.window_s else 0.0, 1),
        "mbytes_per_s": _round(r.bytes / r.window_s / 1e6 if r.window_s else 0.0, 2),
        "p50_ms": _round(r.percentile_ms(50), 1),
        "p99_ms": _round(r.percentile_ms(99), 1),
        "max_ms": _round(r.percentile_ms(100), 1),
        "latency_samples": len(r.latencies_us),
        "deflate_accepted": r.deflate_accepted,
        "server_cpu_s": _round(r.server_cpu_s, 2),
        "server_cpu_util": _round(r.server_cpu_s / r.window_s if r.window_s else 0.0),
        "cpu_s_per_1k": _round(r.cpu_s_per_1k, 5),
        "deliveries_per_cpu_s": _round(r.deliveries_per_cpu_s, 0),
        "client_cpu_util": _round(r.client_cpu_s / r.window_s if r.window_s else 0.0),
        "machine_busy": _round(r.machine_busy),
        "cores": r.cores,
        "other_cpu_util": _round(r.other_cpu_util),
        "mem_kb_per_conn": _round(r.mem_kb_per_conn, 1),
        "rss_before_mb": _round(r.rss_before_kb / 1024, 1),
        "rss_idle_mb": _round(r.rss_idle_kb / 1024, 1),
        "chat_sent": r.chat_sent,
        "likes_sent": r.likes_sent,
        "chat_delivery_ratio": _round(
            r.chat / (r.chat_sent * reading) if (reading := _reading(r)) and r.chat_sent else None
        ),
        "chatter_errors": r.chatter_errors,
        "closed_by_server": r.fast_closed,
        "slow_readers": r.slow,
        "slow_backlog": r.slow_backlog,
    }


def _reading(r: ModeResult) -> int:
    """Viewers that kept reading (slow readers receive nothing while measured)."""
    return r.viewers - sum(r.slow.values())


def summary(cfg: RoomBenchConfig, ours: ModeResult, naive: ModeResult | None) -> dict[str, Any]:
    o = mode_summary(ours)
    n = mode_summary(naive) if naive is not None else None
    ratio = None
    if naive is not None and naive.cpu_s_per_1k and ours.cpu_s_per_1k:
        ratio = naive.cpu_s_per_1k / ours.cpu_s_per_1k
    out: dict[str, Any] = {
        "bench": "room",
        "viewers": cfg.viewers,
        "seconds": cfg.seconds,
        "slow_pct": cfg.slow_pct,
        "chat_rate": cfg.chat_rate,
        "like_rate": cfg.like_rate,
        "compression": cfg.compression,
        "server_compression": cfg.server_compression,
        "deflate_accepted": o["deflate_accepted"],
        "delivered_per_s": o["delivered_per_s"],
        "p50_ms": o["p50_ms"],
        "p99_ms": o["p99_ms"],
        "cpu_s_per_1k": o["cpu_s_per_1k"],
        "deliveries_per_cpu_s": o["deliveries_per_cpu_s"],
        "mem_kb_per_conn": o["mem_kb_per_conn"],
        "naive_delivered_per_s": n["delivered_per_s"] if n else None,
        "naive_cpu_s_per_1k": n["cpu_s_per_1k"] if n else None,
        "naive_p99_ms": n["p99_ms"] if n else None,
        "ratio": _round(ratio, 2),
        "batched": o,
        "naive": n,
    }
    out["targets"] = targets(cfg, out)
    return out


def targets(cfg: RoomBenchConfig, out: dict[str, Any]) -> dict[str, bool | None]:
    """Each target: True/False when this run measures it, None when it does not apply."""
    per_cpu = out["deliveries_per_cpu_s"]
    p99_applies = cfg.viewers >= 5000 and cfg.chat_rate >= 100 and cfg.like_rate >= 1000
    return {
        "deliveries_per_cpu_s>=40000": None if per_cpu is None
        else per_cpu >= TARGET_DELIVERIES_PER_CPU_S,
        "ratio>=5": None if out["ratio"] is None else out["ratio"] >= TARGET_RATIO,
        "p99<=250ms@5000": None if not p99_applies or out["p99_ms"] is None
        else out["p99_ms"] <= TARGET_P99_MS,
        "mem<=20KB/conn": out["mem_kb_per_conn"] <= TARGET_MEM_KB,
    }  # fmt: skip


def print_table(out: dict[str, Any], console: Console) -> None:
    rows = [
        ("viewers connected", "viewers", "{}"),
        ("delivered events / s", "delivered_per_s", "{:,.0f}"),
        ("  of which chat / s", "chat_delivered_per_s", "{:,.0f}"),
        ("frames / s", "frames_per_s", "{:,.0f}"),
        ("chat latency p50 (ms)", "p50_ms", "{:.1f}"),
        ("chat latency p99 (ms)", "p99_ms", "{:.1f}"),
        ("chat latency max (ms)", "max_ms", "{:.1f}"),
        ("server CPU s / 1k deliveries", "cpu_s_per_1k", "{:.5f}"),
        ("deliveries / server CPU-s", "deliveries_per_cpu_s", "{:,.0f}"),
        ("server CPU use (cores)", "server_cpu_util", "{:.2f}"),
        ("client CPU use (cores)", "client_cpu_util", "{:.2f}"),
        ("machine busy (all cores)", "machine_busy", "{:.0%}"),
        ("other processes' CPU (cores)", "other_cpu_util", "{:.2f}"),
        ("server KB / idle connection", "mem_kb_per_conn", "{:.1f}"),
        ("viewers with deflate accepted", "deflate_accepted", "{}"),
        ("chat sent in window", "chat_sent", "{}"),
        ("chat delivery ratio", "chat_delivery_ratio", "{:.3f}"),
        ("chatter errors", "chatter_errors", "{}"),
        ("viewers closed by server", "closed_by_server", "{}"),
        ("slow readers at the end", "slow_readers", "{}"),
    ]
    table = Table(
        title=f"room fan-out: {out['viewers']} viewers, {out['chat_rate']:g} chat/s, "
        f"{out['like_rate']:g} likes/s, {out['slow_pct']:g}% slow, {out['seconds']:g} s"
    )
    table.add_column("")
    table.add_column("batched (ours)", justify="right")
    if out["naive"]:
        table.add_column("naive", justify="right")
    for label, key, fmt in rows:
        cells = [label]
        for mode in ("batched", "naive"):
            data = out[mode]
            if data is None:
                continue
            value = data.get(key)
            cells.append("-" if value is None else fmt.format(value))
        table.add_row(*cells)
    console.print(table)
    if out["ratio"] is not None:
        console.print(f"naive CPU per delivered message / ours = [bold]{out['ratio']:.1f}[/bold]")
    for name, met in out["targets"].items():
        mark = "n/a" if met is None else ("[green]met[/green]" if met else "[red]missed[/red]")
        console.print(f"target {name}: {mark}")
