"""The red-envelope gate: one protocol, two implementations (memory, Redis), the same tests.

Concurrency tests assert exact counts. The Lua port of double mean is checked against
``envelopes.split_double_mean`` itself: fed the same random words, both gates hand out the
same amounts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import AsyncIterator

import pytest

from liveshop.promotions.envelopes.gate import (
    WORD_LIMIT,
    EnvelopeGate,
    Held,
    MemoryEnvelopeGate,
    Mode,
    UnknownEnvelope,
    WordRandom,
    WordsExhausted,
)
from liveshop.promotions.envelopes.gate_redis import RedisEnvelopeGate
from liveshop.promotions.envelopes.split import pre_split
from tests.conftest import connect_redis


@pytest.fixture(params=["memory", "redis"])
async def gate(request: pytest.FixtureRequest) -> AsyncIterator[EnvelopeGate]:
    """The gate under test. Redis gates use a unique key prefix, deleted afterwards."""
    if request.param == "memory":
        yield MemoryEnvelopeGate(random.Random(7))
        return
    prefix = f"t{uuid.uuid4().hex[:8]}"
    client = await connect_redis()
    try:
        yield RedisEnvelopeGate(client, prefix=prefix, rng=random.Random(7))
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def new_pot(gate: EnvelopeGate, *, amount: int, count: int, mode: Mode) -> str:
    pot = f"env-{uuid.uuid4().hex[:8]}"
    pieces = (
        list(enumerate(pre_split(amount, count, random.Random(1)))) if mode == "pre_split" else []
    )
    await gate.load(
        pot,
        mode=mode,
        remaining_minor=amount,
        remaining_count=count,
        pieces=pieces,
        grabbed={},
        next_seq=1,
    )
    return pot


@pytest.mark.parametrize("mode", ["double_mean", "pre_split"])
async def test_a_thousand_concurrent_grabbers_take_exactly_the_shares_once_each(
    gate: EnvelopeGate, mode: Mode
) -> None:
    pot = await new_pot(gate, amount=30_000, count=300, mode=mode)
    users = [f"u{i}" for i in range(1000)]
    decisions = await asyncio.gather(*(gate.grab(pot, user_id=u) for u in users))
    granted = {u: d for u, d in zip(users, decisions, strict=True) if d.outcome == "granted"}
    assert len(granted) == 300
    assert {d.outcome for d in decisions} == {"granted", "empty"}
    assert sum(d.amount_minor for d in granted.values()) == 30_000
    assert min(d.amount_minor for d in granted.values()) >= 1
    assert sorted(d.seq for d in granted.values()) == list(range(1, 301))
    snap = await gate.snapshot(pot)
    assert (snap.remaining_count, snap.remaining_minor, snap.next_seq) == (0, 0, 301)
    assert snap.grabbed == {u: Held(d.amount_minor, d.seq, d.piece) for u, d in granted.items()}
    again = await asyncio.gather(*(gate.grab(pot, user_id=u) for u in granted))
    assert all(a.outcome == "already" for a in again)
    assert [a.amount_minor for a in again] == [d.amount_minor for d in granted.values()]


async def test_double_mean_stays_below_twice_the_average_left(gate: EnvelopeGate) -> None:
    amount, count = 1000, 10
    pot = await new_pot(gate, amount=amount, count=count, mode="double_mean")
    left_minor, left_count = amount, count
    for i in range(count):
        decision = await gate.grab(pot, user_id=f"u{i}")
        assert decision.outcome == "granted" and decision.seq == i + 1
        if left_count > 1:
            assert 1 <= decision.amount_minor < 2 * left_minor / left_count
        else:
            assert decision.amount_minor == left_minor
        left_minor -= decision.amount_minor
        left_count -= 1
        assert (decision.remaining_minor, decision.remaining_count) == (left_minor, left_count)
    assert (await gate.grab(pot, user_id="late")).outcome == "empty"


async def test_pre_split_hands_out_the_pieces_in_order(gate: EnvelopeGate) -> None:
    pieces = [(0, 5), (1, 1), (2, 3), (3, 1)]
    await gate.load(
        "p",
        mode="pre_split",
        remaining_minor=10,
        remaining_count=4,
        pieces=pieces,
        grabbed={},
        next_seq=1,
    )
    got = [await gate.grab("p", user_id=f"u{i}") for i in range(5)]
    assert [(d.outcome, d.amount_minor, d.piece) for d in got[:4]] == [
        ("granted", 5, 0),
        ("granted", 1, 1),
        ("granted", 3, 2),
        ("granted", 1, 3),
    ]
    assert got[4].outcome == "empty"


async def test_a_rebuilt_pot_remembers_its_grabbers_and_skips_taken_pieces(
    gate: EnvelopeGate,
) -> None:
    # seq 2 (piece 1) was decided but never written before a crash: it is handed out again
    grabbed = {"a": Held(5, 1, 0), "c": Held(3, 3, 2)}
    await gate.load(
        "p",
        mode="pre_split",
        remaining_minor=2,
        remaining_count=2,
        pieces=[(1, 1), (3, 1)],
        grabbed=grabbed,
        next_seq=4,
    )
    assert (await gate.grab("p", user_id="a")).outcome == "already"
    fresh = await gate.grab("p", user_id="b")
    assert (fresh.outcome, fresh.amount_minor, fresh.seq, fresh.piece) == ("granted", 1, 4, 1)
    # replace=False never overwrites a pot the gate holds
    assert not await gate.load(
        "p",
        mode="pre_split",
        remaining_minor=2,
        remaining_count=2,
        pieces=[(1, 1), (3, 1)],
        grabbed=grabbed,
        next_seq=4,
        replace=False,
    )
    assert (await gate.snapshot("p")).remaining_count == 1
    snap = await gate.snapshot("p")  # a snapshot is what load takes
    fields = {f.name: getattr(snap, f.name) for f in dataclasses.fields(snap)}
    assert await gate.load("q", replace=True, **fields)
    assert await gate.snapshot("q") == snap


async def test_a_closed_pot_refuses_newcomers_and_still_answers_its_grabbers(
    gate: EnvelopeGate,
) -> None:
    pot = await new_pot(gate, amount=100, count=5, mode="double_mean")
    first = await gate.grab(pot, user_id="early")
    assert await gate.close(pot)
    assert (await gate.grab(pot, user_id="late")).outcome == "closed"
    again = await gate.grab(pot, user_id="early")
    assert (again.outcome, again.amount_minor) == ("already", first.amount_minor)
    await gate.forget(pot)
    assert (await gate.grab(pot, user_id="early")).outcome == "unknown"
    assert not await gate.close(pot)
    with pytest.raises(UnknownEnvelope):
        await gate.snapshot(pot)


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "lottery"},
        {"remaining_minor": 2, "remaining_count": 3},
        {"pieces": [(0, 5)]},  # a double-mean pot has no pieces
        {"mode": "pre_split", "pieces": [(0, 4)]},  # pieces must match count and amount
        {"grabbed": {"a": Held(1, 2)}, "next_seq": 2},  # seq not below next_seq
        {"grabbed": {"a": Held(0, 1)}, "next_seq": 2},
    ],
)
async def test_load_refuses_a_state_no_pot_can_be_in(
    gate: EnvelopeGate, bad: dict[str, object]
) -> None:
    args: dict[str, object] = {
        "mode": "double_mean",
        "remaining_minor": 5,
        "remaining_count": 1,
        "pieces": [],
        "grabbed": {},
        "next_seq": 1,
    }
    with pytest.raises(ValueError):
        await gate.load("x", **{**args, **bad})  # type: ignore[arg-type]


async def test_the_lua_port_draws_exactly_what_split_double_mean_draws() -> None:
    client = await connect_redis()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    try:
        for seed, (amount, count) in enumerate([(1000, 10), (7, 7), (10**9, 300), (101, 3)]):
            memory = MemoryEnvelopeGate(random.Random(seed))
            redis = RedisEnvelopeGate(client, prefix=prefix, rng=random.Random(seed))
            got = []
            for g in (memory, redis):
                pot = await new_pot(g, amount=amount, count=count, mode="double_mean")
                got.append(
                    [(await g.grab(pot, user_id=f"u{i}")).amount_minor for i in range(count)]
                )
            assert got[0] == got[1] and sum(got[0]) == amount
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


def test_word_random_rejects_words_above_the_last_whole_multiple() -> None:
    limit_for_3 = WORD_LIMIT - WORD_LIMIT % 3
    words = WordRandom([limit_for_3, WORD_LIMIT - 1, 7])  # the first two are rejected
    assert words.randrange(10, 13) == 10 + 7 % 3
    with pytest.raises(WordsExhausted):
        words.randrange(0, 3)
    assert WordRandom([5]).randrange(0, 1) == 0
