"""The flash-sale benchmark's arithmetic and report: percentiles, the database counts,
rates, the summary (one JSON-ready dict), the targets and a table.

Everything here is pure (no I/O), so ``tests/benchmarks/test_flash_bench.py`` checks it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

# The targets (2-core machine).
TARGET_RATIO = 5.0  # attempts/s of the gate over the naive baseline
TARGET_P99_FACTOR = 3.0  # p99 <= baseline p99 / 3
TARGET_SOLDOUT_SHARE = 0.8  # sold-out rejections/s >= 80 % of an empty endpoint's requests/s


def percentile(values: Sequence[int] | Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values`` (None when empty)."""
    if not values:
        return None
    if not 0 < q <= 100:
        raise ValueError("q must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return float(ordered[min(len(ordered), max(1, rank)) - 1])


def rate(count: int, seconds: float) -> float | None:
    """``count`` per second (None when no time passed)."""
    return count / seconds if seconds > 0 else None


def ratio(ours: float | None, baseline: float | None) -> float | None:
    """``ours / baseline`` (None when either is missing or the baseline is 0)."""
    if ours is None or not baseline:
        return None
    return ours / baseline


def oversold(sold: int, stock: int) -> int:
    return max(0, sold - stock)


def limit_violations(holdings: Mapping[str, int], limit: int) -> int:
    """Buyers holding more units than the per-user limit."""
    return sum(1 for units in holdings.values() if units > limit)


@dataclass(frozen=True)
class DbCheck:
    """What the database says after a race, against what the HTTP answers said."""

    sold: int  # units of live and paid reservations of the sale
    oversold: int
    limit_violations: int
    buyers_holding: int
    reservations: int  # live and paid rows
    answered_created: int  # 201 answers
    answered_missing: int  # 201s whose order (or reservation for that buyer) is not there
    unanswered_rows: int  # held rows no 201 told about (e.g. a client error after the commit)


def check_database(
    *,
    rows: Iterable[tuple[str, str, int, bool]],
    answers: Iterable[tuple[str, str]],
    stock: int,
    limit: int,
) -> DbCheck:
    """``rows``: (user id, order id, quantity, order exists) of the sale's live and paid
    reservations; ``answers``: (user id, order id) of every 201 of the race."""
    holdings: Counter[str] = Counter()
    held: dict[str, str] = {}  # order id -> user id, for orders that exist
    count = 0
    for user_id, order_id, quantity, order_exists in rows:
        holdings[user_id] += quantity
        count += 1
        if order_exists:
            held[order_id] = user_id
    answered = 0
    missing = 0
    told: set[str] = set()
    for user_id, order_id in answers:
        answered += 1
        told.add(order_id)
        if held.get(order_id) != user_id:
            missing += 1
    sold = sum(holdings.values())
    return DbCheck(
        sold=sold,
        oversold=oversold(sold, stock),
        limit_violations=limit_violations(holdings, limit),
        buyers_holding=len(holdings),
        reservations=count,
        answered_created=answered,
        answered_missing=missing,
        unanswered_rows=sum(1 for order_id in held if order_id not in told),
    )


@dataclass
class Phase:
    """A load phase merged over the workers."""

    requests: int = 0  # sent (answered or not)
    answered: int = 0
    wall_s: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_us: list[int] = field(default_factory=list)
    resent: int = 0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0

    @property
    def per_s(self) -> float | None:
        return rate(self.answered, self.wall_s)

    def p_ms(self, q: float) -> float | None:
        value = percentile(self.latencies_us, q)
        return None if value is None else value / 1000

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "answered": self.answered,
            "wall_s": _round(self.wall_s, 3),
            "per_s": _round(self.per_s, 1),
            "p50_ms": _round(self.p_ms(50), 1),
            "p90_ms": _round(self.p_ms(90), 1),
            "p99_ms": _round(self.p_ms(99), 1),
            "max_ms": _round(self.p_ms(100), 1),
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "resent": self.resent,
            "server_cpu_s": _round(self.server_cpu_s, 2),
            "client_cpu_s": _round(self.client_cpu_s, 2),
        }


def merge(
    messages: Sequence[Mapping[str, Any]], *, requests: int, start_ns: int
) -> tuple[Phase, list[tuple[int, str]]]:
    """Merge the workers' phase stats; the wall time runs from the common start to the last
    answer of any worker. Returns the phase and the (buyer, order id) pairs of the 201s."""
    from array import array

    phase = Phase(requests=requests)
    orders: list[tuple[int, str]] = []
    last = start_ns
    for m in messages:
        phase.answered += int(m["answered"])
        phase.statuses.update(m["statuses"])
        phase.errors.update(m["errors"])
        samples = array("q")
        samples.frombytes(m["latencies_us"])
        phase.latencies_us.extend(samples)
        phase.resent += int(m["resent"])
        phase.client_cpu_s += float(m["cpu_s"])
        orders.extend((int(b), str(o)) for b, o in m["orders"])
        last = max(last, int(m["last_ns"]))
    phase.wall_s = (last - start_ns) / 1e9
    return phase, orders


@dataclass
class VariantResult:
    """One flash mode (``gate`` or ``naive``) of one run."""

    flash_mode: str
    sale_id: str = ""
    race: Phase = field(default_factory=Phase)
    soldout: Phase | None = None
    healthz: Phase | None = None
    db: DbCheck | None = None
    ledger_problems: int | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "sale_id": self.sale_id,
            "race": self.race.summary(),
            "soldout_burst": self.soldout.summary() if self.soldout else None,
            "healthz_burst": self.healthz.summary() if self.healthz else None,
            "db": vars(self.db) if self.db else None,
            "ledger_problems": self.ledger_problems,
        }


def summary(
    *,
    mode: str,
    buyers: int,
    stock: int,
    concurrency: int,
    workers: int,
    nodes: int,
    ours: VariantResult,
    baseline: VariantResult | None,
) -> dict[str, Any]:
    db = ours.db
    base_rate = baseline.race.per_s if baseline else None
    soldout_rate = ours.soldout.per_s if ours.soldout else None
    empty_rate = ours.healthz.per_s if ours.healthz else None
    out: dict[str, Any] = {
        "bench": "flash-sale",
        "mode": mode,
        "nodes": nodes,
        "buyers": buyers,
        "stock": stock,
        "concurrency": concurrency,
        "client_workers": workers,
        "sold": db.sold if db else None,
        "oversold": db.oversold if db else None,
        "limit_violations": db.limit_violations if db else None,
        "answered_missing": db.answered_missing if db else None,
        "attempts_per_s": _round(ours.race.per_s, 1),
        "p50_ms": _round(ours.race.p_ms(50), 1),
        "p99_ms": _round(ours.race.p_ms(99), 1),
        "baseline_attempts_per_s": _round(base_rate, 1),
        "baseline_p99_ms": _round(baseline.race.p_ms(99), 1) if baseline else None,
        "ratio": _round(ratio(ours.race.per_s, base_rate), 2),
        "soldout_rejects_per_s": _round(soldout_rate, 1),
        "empty_endpoint_per_s": _round(empty_rate, 1),
        "soldout_share": _round(ratio(soldout_rate, empty_rate), 3),
        "gate": ours.summary(),
        "baseline": baseline.summary() if baseline else None,
    }
    if baseline is not None and baseline.db is not None:
        out["baseline_sold"] = baseline.db.sold
        out["baseline_oversold"] = baseline.db.oversold
        out["baseline_limit_violations"] = baseline.db.limit_violations
    out["targets"] = targets(out)
    return out


def targets(out: Mapping[str, Any]) -> dict[str, bool | None]:
    """Each target: True/False when this run measures it, None when it does not apply."""
    expected = min(out["stock"], out["buyers"])
    p99, base_p99 = out["p99_ms"], out["baseline_p99_ms"]
    share = out["soldout_share"]
    return {
        "oversold==0": None if out["oversold"] is None else out["oversold"] == 0,
        "limit_violations==0": None if out["limit_violations"] is None
        else out["limit_violations"] == 0,
        "sold==min(stock,buyers)": None if out["sold"] is None else out["sold"] == expected,
        "ratio>=5": None if out["ratio"] is None else out["ratio"] >= TARGET_RATIO,
        "p99<=baseline_p99/3": None if p99 is None or base_p99 is None
        else p99 <= base_p99 / TARGET_P99_FACTOR,
        "soldout>=0.8*empty": None if share is None else share >= TARGET_SOLDOUT_SHARE,
    }  # fmt: skip


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def print_table(out: Mapping[str, Any], console: Console) -> None:
    rows = [
        ("buy attempts answered", "requests", "answered", "{:,}"),
        ("race wall time (s)", "wall_s", None, "{:.2f}"),
        ("attempts / s", "per_s", None, "{:,.0f}"),
        ("latency p50 (ms)", "p50_ms", None, "{:.1f}"),
        ("latency p90 (ms)", "p90_ms", None, "{:.1f}"),
        ("latency p99 (ms)", "p99_ms", None, "{:.1f}"),
        ("latency max (ms)", "max_ms", None, "{:.1f}"),
        ("answers", "statuses", None, "{}"),
        ("client errors", "errors", None, "{}"),
        ("server CPU s (all nodes)", "server_cpu_s", None, "{:.1f}"),
        ("client CPU s", "client_cpu_s", None, "{:.1f}"),
    ]
    table = Table(
        title=f"flash sale ({out['mode']}, {out['nodes']} node(s)): {out['buyers']:,} buyers, "
        f"{out['stock']:,} units, {out['concurrency']} connections"
    )
    table.add_column("race")
    table.add_column("gate (ours)", justify="right")
    if out["baseline"]:
        table.add_column("naive baseline", justify="right")
    for label, key, second, fmt in rows:
        cells = [label]
        for variant in ("gate", "baseline"):
            data = out[variant]
            if data is None:
                continue
            value = data["race"].get(second or key)
            cells.append("-" if value is None else fmt.format(value))
        table.add_row(*cells)
    console.print(table)
    for variant, label in (("gate", "gate"), ("baseline", "naive")):
        data = out[variant]
        if data and data["db"]:
            d = data["db"]
            console.print(
                f"{label}: database says sold {d['sold']}, oversold {d['oversold']}, "
                f"limit violations {d['limit_violations']}, 201s not in the database "
                f"{d['answered_missing']}, rows nobody was told about {d['unanswered_rows']}, "
                f"stock ledger problems {data['ledger_problems']}"
            )
    if out["ratio"] is not None:
        console.print(f"attempts/s gate / naive = [bold]{out['ratio']:.1f}[/bold]")
    if out["soldout_rejects_per_s"] is not None:
        console.print(
            f"sold-out rejections/s {out['soldout_rejects_per_s']:,.0f} vs GET /healthz/s "
            f"{out['empty_endpoint_per_s'] or 0:,.0f} (share {out['soldout_share'] or 0:.2f})"
        )
    for name, met in out["targets"].items():
        mark = "n/a" if met is None else ("[green]met[/green]" if met else "[red]missed[/red]")
        console.print(f"target {name}: {mark}")
