"""The flash-sale benchmark's pure parts: percentiles, the database counts, rates, the
ratio, the targets, and the client's HTTP framing (no servers, no timing)."""

from __future__ import annotations

from array import array

import orjson
import pytest

from liveshop.benchmarks.flash_clients import (
    BUY_BODY,
    BadResponse,
    chunks,
    parse_response,
    problem_code,
    request_bytes,
    split,
)
from liveshop.benchmarks.flash_report import (
    Phase,
    VariantResult,
    check_database,
    limit_violations,
    merge,
    oversold,
    percentile,
    rate,
    ratio,
    summary,
    targets,
)
from liveshop.promotions.flash.schemas import BuyIn
from liveshop.simulate import talk


def test_percentile_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7], 99) == 7
    assert percentile([3, 1, 2], 50) == 2  # unsorted input
    assert percentile([], 99) is None
    with pytest.raises(ValueError):
        percentile(values, 0)


def test_rate_and_ratio() -> None:
    assert rate(1000, 2.0) == 500
    assert rate(10, 0.0) is None
    assert ratio(500.0, 100.0) == 5.0
    assert ratio(500.0, 0.0) is None
    assert ratio(None, 100.0) is None
    assert ratio(500.0, None) is None


def test_oversold_and_limit_violations() -> None:
    assert oversold(1000, 1000) == 0
    assert oversold(999, 1000) == 0
    assert oversold(1003, 1000) == 3
    assert limit_violations({"a": 1, "b": 2, "c": 1, "d": 5}, 1) == 2
    assert limit_violations({"a": 2}, 2) == 0
    assert limit_violations({}, 1) == 0


def test_check_database_counts_and_cross_checks() -> None:
    rows = [
        ("u1", "o1", 1, True),
        ("u2", "o2", 1, True),
        ("u2", "o3", 1, True),  # u2 holds two: a limit violation
        ("u4", "o4", 1, False),  # the order row is missing
        ("u5", "o5", 1, True),  # nobody was told about this one
    ]
    answers = [("u1", "o1"), ("u2", "o2"), ("u2", "o3"), ("u4", "o4"), ("u9", "o9"), ("u3", "o1")]
    check = check_database(rows=rows, answers=answers, stock=4, limit=1)
    assert check.sold == 5
    assert check.oversold == 1
    assert check.limit_violations == 1
    assert check.buyers_holding == 4
    assert check.reservations == 5
    assert check.answered_created == 6
    # o4 (no order), o9 (no reservation), o1 answered to the wrong buyer
    assert check.answered_missing == 3
    assert check.unanswered_rows == 1  # o5


def test_check_database_clean_run() -> None:
    rows = [(f"u{i}", f"o{i}", 1, True) for i in range(10)]
    answers = [(f"u{i}", f"o{i}") for i in range(10)]
    check = check_database(rows=rows, answers=answers, stock=10, limit=1)
    assert (check.sold, check.oversold, check.limit_violations) == (10, 0, 0)
    assert (check.answered_missing, check.unanswered_rows) == (0, 0)


def _message(latencies: list[int], last_ns: int, **extra: object) -> dict[str, object]:
    return {
        "answered": len(latencies),
        "statuses": extra.get("statuses", {"409 flash.sold_out": len(latencies)}),
        "errors": extra.get("errors", {}),
        "latencies_us": array("q", latencies).tobytes(),
        "resent": 0,
        "cpu_s": 0.5,
        "orders": extra.get("orders", []),
        "last_ns": last_ns,
    }


def test_merge_takes_the_wall_time_to_the_last_answer() -> None:
    start = 1_000_000_000
    phase, orders = merge(
        [
            _message([1000, 2000], start + 1_500_000_000, orders=[(0, "o0")]),
            _message([3000], start + 2_000_000_000, errors={"ClosedEarly": 1}),
        ],
        requests=4,
        start_ns=start,
    )
    assert phase.wall_s == 2.0
    assert phase.answered == 3
    assert phase.per_s == 1.5
    assert phase.errors == {"ClosedEarly": 1}
    assert phase.p_ms(100) == 3.0
    assert phase.client_cpu_s == 1.0
    assert orders == [(0, "o0")]


def _variant(per_s: float, p99_us: int, *, sold: int = 10) -> VariantResult:
    race = Phase(requests=100, answered=100, wall_s=100 / per_s, latencies_us=[p99_us] * 100)
    result = VariantResult("gate", race=race)
    rows = [(f"u{i}", f"o{i}", 1, True) for i in range(sold)]
    result.db = check_database(rows=rows, answers=[], stock=10, limit=1)
    return result


def test_summary_ratio_and_targets() -> None:
    ours = _variant(1000.0, 100_000)
    ours.soldout = Phase(requests=10, answered=10, wall_s=0.01)  # 1000/s
    ours.healthz = Phase(requests=10, answered=10, wall_s=0.008)  # 1250/s
    baseline = _variant(100.0, 600_000)
    out = summary(
        mode="embedded",
        buyers=100,
        stock=10,
        concurrency=10,
        workers=1,
        nodes=1,
        ours=ours,
        baseline=baseline,
    )
    assert out["ratio"] == 10.0
    assert out["p99_ms"] == 100.0 and out["baseline_p99_ms"] == 600.0
    assert out["soldout_share"] == 0.8
    assert all(out["targets"].values()), out["targets"]


def test_targets_missed_and_not_applicable() -> None:
    base = {
        "stock": 10,
        "buyers": 100,
        "sold": 11,
        "oversold": 1,
        "limit_violations": 2,
        "ratio": 4.9,
        "p99_ms": 201.0,
        "baseline_p99_ms": 600.0,
        "soldout_share": 0.79,
    }
    assert not any(targets(base).values())
    missing = {**base, "ratio": None, "baseline_p99_ms": None, "soldout_share": None}
    got = targets(missing)
    assert got["ratio>=5"] is None
    assert got["p99<=baseline_p99/3"] is None
    assert got["soldout>=0.8*empty"] is None
    fewer_buyers = {**base, "buyers": 5, "sold": 5, "oversold": 0}
    assert targets(fewer_buyers)["sold==min(stock,buyers)"] is True


def test_parse_response_content_length() -> None:
    raw = b"HTTP/1.1 409 Conflict\r\ncontent-length: 5\r\ncontent-type: x\r\n\r\nhelloHTTP/1.1"
    assert parse_response(raw) == (409, b"hello", len(raw) - len(b"HTTP/1.1"), True)
    assert parse_response(raw[:20]) is None  # head incomplete
    assert parse_response(raw[:-10]) is None  # body incomplete


def test_parse_response_chunked_and_close() -> None:
    raw = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert parse_response(raw) == (201, b"abcde", len(raw), False)
    assert parse_response(raw[:-4]) is None


def test_parse_response_refuses_unknown_framing() -> None:
    with pytest.raises(BadResponse):
        parse_response(b"HTTP/1.1 200 OK\r\n\r\nbody")
    with pytest.raises(BadResponse):
        parse_response(b"garbage\r\n\r\n")


def test_request_bytes_and_problem_code() -> None:
    data = request_bytes("POST", "/x", "h:1", {"Idempotency-Key": "k"}, b"{}")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /x HTTP/1.1\r\nHost: h:1\r\nIdempotency-Key: k\r\n")
    assert b"Content-Length: 2" in head and body == b"{}"
    assert b"Content-Length" not in request_bytes("GET", "/healthz", "h:1", {})
    assert problem_code(b'{"code":"flash.sold_out","status":409}') == "flash.sold_out"
    assert problem_code(b"not json") == ""
    assert problem_code(b"[1]") == ""


def test_a_buy_is_what_the_simulated_fans_send() -> None:
    assert orjson.loads(BUY_BODY) == talk.flash_buy_body(quantity=1)
    buy = BuyIn.model_validate_json(BUY_BODY)
    assert buy.quantity == 1 and buy.shipping_address.city == talk.ADDRESS["city"]


def test_split_and_chunks() -> None:
    assert split(10, 3) == [4, 3, 3]
    assert split(2, 4) == [1, 1, 0, 0]
    assert chunks(10, 3) == [range(0, 4), range(4, 7), range(7, 10)]
    assert sum(len(r) for r in chunks(20_000, 7)) == 20_000
