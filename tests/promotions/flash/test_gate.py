"""The flash-sale stock gate: one protocol, two implementations (memory, Redis), the same tests.

Concurrency tests assert exact counts. The property test runs random sequences of operations
against a plain reference model of the rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveshop.promotions.flash.gate import (
    Decision,
    GateError,
    GateSnapshot,
    MemoryGate,
    Released,
    Status,
    StockGate,
    UnknownSale,
    WaitlistRefused,
)
from liveshop.promotions.flash.gate_redis import RedisGate
from tests.conftest import connect_redis


@pytest.fixture(params=["memory", "redis"])
async def gate(request: pytest.FixtureRequest) -> AsyncIterator[StockGate]:
    """The gate under test. Redis gates use a unique key prefix, deleted afterwards."""
    if request.param == "memory":
        yield MemoryGate()
        return
    prefix = f"t{uuid.uuid4().hex[:8]}"
    client = await connect_redis()
    try:
        yield RedisGate(client, prefix=prefix)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def new_sale(
    gate: StockGate, *, stock: int, limit: int = 1, status: Status = "open", sale_id: str = ""
) -> str:
    sale_id = sale_id or f"sale-{uuid.uuid4().hex[:8]}"
    await gate.load(
        sale_id,
        stock=stock,
        per_user_limit=limit,
        taken={},
        reservations={},
        waitlist=[],
        status=status,
    )
    return sale_id


async def buy(gate: StockGate, sale: str, user: str, rid: str, qty: int = 1) -> Decision:
    return await gate.reserve(sale, user_id=user, qty=qty, reservation_id=rid)


# -- many buyers at once ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stock", "users", "limit"),
    [(300, 1000, 1), (300, 400, 2), (300, 120, 2)],
    ids=["limit1-demand1000", "limit2-demand800", "limit2-demand240"],
)
async def test_2000_concurrent_buyers_sell_exactly_min_of_stock_and_demand(
    gate: StockGate, stock: int, users: int, limit: int
) -> None:
    sale = await new_sale(gate, stock=stock, limit=limit)
    shuffle = random.Random(stock * users * limit)

    async def buyer(i: int) -> Decision:
        for _ in range(shuffle.randrange(3)):
            await asyncio.sleep(0)  # interleave the tasks differently from their creation order
        return await buy(gate, sale, f"u{i % users}", f"r{i}")

    decisions = await asyncio.gather(*(buyer(i) for i in range(2000)))

    sold = min(stock, users * limit)
    accepted = [d for d in decisions if d.accepted]
    assert len(accepted) == sold
    assert await gate.stock_left(sale) == stock - sold
    per_user = Counter(f"u{int(d.reservation_id[1:]) % users}" for d in accepted)
    assert max(per_user.values()) <= limit
    outcomes = Counter(d.outcome for d in decisions)
    assert set(outcomes) <= {"accepted", "sold_out", "limit_reached"}
    if sold < stock:
        assert outcomes["sold_out"] == 0
    # every accepted decision saw a distinct stock level: no two buyers took the same unit
    assert sorted(d.stock_left for d in accepted) == list(range(stock - sold, stock))
    snap = await gate.snapshot(sale)
    assert snap.taken == dict(per_user)
    assert sum(q for _, q in snap.reservations.values()) == sold


async def test_two_redis_nodes_never_oversell_together() -> None:
    clients = [await connect_redis(), await connect_redis()]
    prefix = f"t{uuid.uuid4().hex[:8]}"
    nodes = [RedisGate(c, prefix=prefix) for c in clients]
    try:
        sale = await new_sale(nodes[0], stock=100, limit=1)
        decisions = await asyncio.gather(
            *(buy(nodes[i % 2], sale, f"u{i}", f"r{i}") for i in range(600))
        )
        assert sum(d.accepted for d in decisions) == 100
        assert await nodes[1].stock_left(sale) == 0
    finally:
        keys = [key async for key in clients[0].scan_iter(match=f"{prefix}:*")]
        if keys:
            await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()


async def test_the_same_reservation_id_sent_50_times_at_once_takes_one_unit(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=10, limit=5)
    decisions = await asyncio.gather(*(buy(gate, sale, "ann", "r1") for _ in range(50)))
    assert set(decisions) == {Decision("accepted", 9, "r1")}
    assert await gate.stock_left(sale) == 9


# -- reserve ---------------------------------------------------------------------------------


async def test_retried_reserve_returns_the_original_decision_and_takes_nothing(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=5, limit=2)
    first = await buy(gate, sale, "ann", "r1", qty=2)
    assert first == Decision("accepted", 3, "r1")
    await buy(gate, sale, "bob", "r2")
    assert await buy(gate, sale, "ann", "r1", qty=2) == first
    assert await gate.stock_left(sale) == 2
    assert (await gate.snapshot(sale)).taken == {"ann": 2, "bob": 1}


async def test_a_rejected_reserve_is_decided_afresh_when_retried(gate: StockGate) -> None:
    sale = await new_sale(gate, stock=1)
    await buy(gate, sale, "ann", "r1")
    assert (await buy(gate, sale, "bob", "r2")).outcome == "sold_out"
    await gate.release(sale, "r1")
    assert await buy(gate, sale, "bob", "r2") == Decision("accepted", 0, "r2")


async def test_per_user_limit_counts_units_across_reservations(gate: StockGate) -> None:
    sale = await new_sale(gate, stock=10, limit=3)
    assert (await buy(gate, sale, "ann", "r1", qty=4)).outcome == "limit_reached"
    assert (await buy(gate, sale, "ann", "r2", qty=2)).accepted
    assert await buy(gate, sale, "ann", "r3", qty=2) == Decision("limit_reached", 8, "r3")
    assert (await buy(gate, sale, "ann", "r4", qty=1)).accepted
    assert await gate.stock_left(sale) == 7


async def test_a_buy_larger_than_the_stock_left_is_sold_out_and_takes_nothing(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=1, limit=3)
    assert await buy(gate, sale, "ann", "r1", qty=2) == Decision("sold_out", 1, "r1")
    assert await gate.stock_left(sale) == 1


async def test_qty_below_one_is_an_error(gate: StockGate) -> None:
    sale = await new_sale(gate, stock=3)
    with pytest.raises(ValueError, match="qty"):
        await buy(gate, sale, "ann", "r1", qty=0)


async def test_buys_before_open_and_after_close_are_refused(gate: StockGate) -> None:
    sale = await new_sale(gate, stock=3, status="scheduled")
    assert await buy(gate, sale, "ann", "r1") == Decision("not_open", 3, "r1")
    assert await gate.open(sale) == "open"
    assert await gate.open(sale) == "open"
    assert (await buy(gate, sale, "ann", "r1")).accepted
    assert await gate.close(sale) == "closed"
    assert await buy(gate, sale, "bob", "r2") == Decision("closed", 2, "r2")
    assert (await buy(gate, sale, "ann", "r1")).accepted  # a retry still gets its decision
    with pytest.raises(GateError, match="cannot reopen"):
        await gate.open(sale)


async def test_an_unknown_sale_is_reported_not_created(gate: StockGate) -> None:
    assert (await buy(gate, "nope", "ann", "r1")).outcome == "unknown_sale"
    assert (await gate.release("nope", "r1")).outcome == "unknown_sale"
    assert await gate.confirm("nope", "r1") == "unknown_sale"
    for call in (gate.stock_left, gate.snapshot, gate.open, gate.close):
        with pytest.raises(UnknownSale):
            await call("nope")
    with pytest.raises(UnknownSale):
        await gate.join_waitlist("nope", "ann")


# -- waitlist and release ---------------------------------------------------------------------


async def test_released_units_go_to_the_waitlist_in_order_then_back_to_stock(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=4, limit=3)
    await buy(gate, sale, "ann", "r1", qty=3)
    await buy(gate, sale, "bob", "r2")
    assert [await gate.join_waitlist(sale, u) for u in ("cat", "dan")] == [1, 2]

    released = await gate.release(sale, "r1")

    assert released == Released(
        "released", "r1", units=3, granted=[("cat", "r1:w1"), ("dan", "r1:w2")], stock_left=1
    )
    snap = await gate.snapshot(sale)
    assert snap.taken == {"bob": 1, "cat": 1, "dan": 1}
    assert snap.reservations == {"r2": ("bob", 1), "r1:w1": ("cat", 1), "r1:w2": ("dan", 1)}
    assert snap.waitlist == []
    # a granted reservation is an ordinary one: retried, confirmed, released in turn
    assert await buy(gate, sale, "cat", "r1:w1") == Decision("accepted", 1, "r1:w1")
    assert (await gate.release(sale, "r1:w2")).stock_left == 2


async def test_the_waitlist_skips_users_who_reached_their_limit(gate: StockGate) -> None:
    sale = "rebuilt"
    await gate.load(
        sale,
        stock=0,
        per_user_limit=1,
        taken={"ann": 1, "bob": 1},
        reservations={"r1": ("ann", 1)},
        waitlist=["bob", "cat", "dan"],
        status="open",
    )
    released = await gate.release(sale, "r1")
    assert released.granted == [("cat", "r1:w1")]
    assert (await gate.snapshot(sale)).waitlist == ["dan"]


async def test_joining_the_waitlist_needs_an_open_sold_out_sale_and_room_under_the_limit(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=1, status="scheduled")

    async def refusal(user: str) -> str:
        with pytest.raises(WaitlistRefused) as refused:
            await gate.join_waitlist(sale, user)
        return refused.value.reason

    assert await refusal("ann") == "not_open"
    await gate.open(sale)
    assert await refusal("ann") == "not_sold_out"
    await buy(gate, sale, "ann", "r1")
    assert await refusal("ann") == "limit_reached"
    assert await gate.join_waitlist(sale, "bob") == 1
    assert await gate.join_waitlist(sale, "cat") == 2
    assert await gate.join_waitlist(sale, "bob") == 1  # once only
    assert (await gate.snapshot(sale)).waitlist == ["bob", "cat"]
    await gate.close(sale)
    assert await refusal("dan") == "closed"


async def test_after_close_released_units_go_back_to_stock_not_to_the_waitlist(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=1)
    await buy(gate, sale, "ann", "r1")
    await gate.join_waitlist(sale, "bob")
    await gate.close(sale)
    assert await gate.release(sale, "r1") == Released("released", "r1", 1, [], 1)
    assert (await gate.snapshot(sale)).waitlist == ["bob"]


async def test_a_second_release_returns_the_first_result_and_changes_nothing(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=2)
    await buy(gate, sale, "ann", "r1")
    await buy(gate, sale, "bob", "r2")
    await gate.join_waitlist(sale, "cat")
    first = await gate.release(sale, "r1")
    before = await gate.snapshot(sale)
    assert await gate.release(sale, "r1") == first
    assert await gate.snapshot(sale) == before
    assert (await gate.release(sale, "never")).outcome == "not_found"


async def test_a_confirmed_reservation_stays_taken_and_cannot_be_released(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=2, limit=2)
    await buy(gate, sale, "ann", "r1", qty=2)
    assert await gate.confirm(sale, "r1") == "confirmed"
    assert await gate.confirm(sale, "r1") == "confirmed"
    assert await gate.release(sale, "r1") == Released("confirmed", "r1", stock_left=0)
    snap = await gate.snapshot(sale)
    assert (snap.stock, snap.taken, snap.reservations) == (0, {"ann": 2}, {})
    assert await buy(gate, sale, "ann", "r1", qty=2) == Decision("accepted", 0, "r1")


async def test_paying_after_the_release_is_too_late(gate: StockGate) -> None:
    sale = await new_sale(gate, stock=1)
    await buy(gate, sale, "ann", "r1")
    await gate.release(sale, "r1")
    assert await gate.confirm(sale, "r1") == "expired"
    assert await gate.confirm(sale, "never") == "not_found"
    assert await gate.stock_left(sale) == 1


# -- rebuild ---------------------------------------------------------------------------------


async def test_load_from_a_snapshot_rebuilds_the_same_state_and_is_idempotent(
    gate: StockGate,
) -> None:
    sale = await new_sale(gate, stock=3, limit=2)
    await buy(gate, sale, "ann", "r1", qty=2)
    await buy(gate, sale, "bob", "r2")
    await gate.confirm(sale, "r2")
    await gate.join_waitlist(sale, "cat")
    await gate.join_waitlist(sale, "dan")
    before = await gate.snapshot(sale)

    await gate.load(sale, **dataclasses.asdict(before))
    assert await gate.snapshot(sale) == before
    await gate.load(sale, **dataclasses.asdict(before))
    assert await gate.snapshot(sale) == before
    other = await new_sale(gate, stock=0, sale_id=f"{sale}-copy")
    await gate.load(other, **dataclasses.asdict(before))
    assert await gate.snapshot(other) == before

    # the rebuilt gate carries on: live reservations stay idempotent and releasable
    assert (await buy(gate, sale, "ann", "r1", qty=2)).accepted
    assert (await gate.release(sale, "r1")).granted == [("cat", "r1:w1"), ("dan", "r1:w2")]
    assert await gate.stock_left(sale) == 0


@pytest.mark.parametrize(
    ("taken", "reservations", "waitlist", "message"),
    [
        ({}, {"r1": ("ann", 1)}, [], "taken must include"),
        ({"ann": 1}, {"r1": ("ann", 0)}, [], "qty"),
        ({}, {}, ["ann", "ann"], "only once"),
    ],
)
async def test_load_refuses_an_inconsistent_state(
    gate: StockGate,
    taken: dict[str, int],
    reservations: dict[str, tuple[str, int]],
    waitlist: list[str],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        await gate.load(
            "bad",
            stock=1,
            per_user_limit=1,
            taken=taken,
            reservations=reservations,
            waitlist=waitlist,
            status="open",
        )


# -- property: any sequence of operations follows the rules -----------------------------------


@dataclass
class Model:
    """The gate's rules written as plainly as possible, one call at a time."""

    stock: int
    limit: int
    is_open: bool = True
    taken: Counter[str] = field(default_factory=Counter)
    live: dict[str, tuple[str, int]] = field(default_factory=dict)
    paid: set[str] = field(default_factory=set)
    accepted: dict[str, int] = field(default_factory=dict)  # id -> stock left when accepted
    released: dict[str, Released] = field(default_factory=dict)
    waitlist: list[str] = field(default_factory=list)

    def reserve(self, user: str, qty: int, rid: str) -> Decision:
        if rid in self.accepted:
            return Decision("accepted", self.accepted[rid], rid)
        if not self.is_open:
            return Decision("closed", self.stock, rid)
        if self.taken[user] + qty > self.limit:
            return Decision("limit_reached", self.stock, rid)
        if qty > self.stock:
            return Decision("sold_out", self.stock, rid)
        self.stock -= qty
        self.taken[user] += qty
        self.live[rid] = (user, qty)
        self.accepted[rid] = self.stock
        return Decision("accepted", self.stock, rid)

    def release(self, rid: str) -> Released:
        if rid in self.released:
            return self.released[rid]
        if rid in self.paid:
            return Released("confirmed", rid, stock_left=self.stock)
        if rid not in self.live:
            return Released("not_found", rid, stock_left=self.stock)
        user, qty = self.live.pop(rid)
        self.taken[user] -= qty
        granted: list[tuple[str, str]] = []
        while self.is_open and len(granted) < qty and self.waitlist:
            waiting = self.waitlist.pop(0)
            if self.taken[waiting] < self.limit:
                grant = f"{rid}:w{len(granted) + 1}"
                self.taken[waiting] += 1
                self.live[grant] = (waiting, 1)
                granted.append((waiting, grant))
        self.stock += qty - len(granted)
        for _, grant in granted:
            self.accepted[grant] = self.stock
        self.released[rid] = Released("released", rid, qty, granted, self.stock)
        return self.released[rid]

    def confirm(self, rid: str) -> str:
        if rid in self.released:
            return "expired"
        if rid in self.live:
            self.paid.add(rid)
            del self.live[rid]
        return "confirmed" if rid in self.paid else "not_found"

    def join(self, user: str) -> int | str:
        if not self.is_open:
            return "closed"
        if user in self.waitlist:
            return self.waitlist.index(user) + 1
        if self.stock > 0:
            return "not_sold_out"
        if self.taken[user] >= self.limit:
            return "limit_reached"
        self.waitlist.append(user)
        return len(self.waitlist)


NAMES = ["ann", "bob", "cat", "dan"]
USERS = st.sampled_from(NAMES)
RESERVE = st.tuples(st.just("reserve"), USERS, st.sampled_from([1, 1, 1, 2, 3]), st.integers(0, 9))
# release / confirm: (kind, index, settled) picks a live reservation, or with settled=True any
# id accepted so far (released and confirmed ones included)
RELEASE = st.tuples(st.just("release"), st.integers(0, 30), st.booleans())
CONFIRM = st.tuples(st.just("confirm"), st.integers(0, 30), st.booleans())
JOIN = st.tuples(st.just("join"), USERS)
OPERATIONS = st.lists(
    st.one_of(RESERVE, RESERVE, RESERVE, RELEASE, RELEASE, CONFIRM, JOIN, JOIN),
    min_size=10,
    max_size=30,
)


@st.composite
def rebuilt_sales(draw: st.DrawFn) -> GateSnapshot:
    """A consistent state as ``load`` gets it after a restart, often sold out with a waitlist
    (so that releases reach waiting users): each user holds up to the limit, some of it in
    live reservations of one or two units, the rest paid."""
    limit = draw(st.integers(1, 3))
    taken: dict[str, int] = {}
    reservations: dict[str, tuple[str, int]] = {}
    for user in NAMES:
        units = draw(st.integers(0, limit))
        taken[user] = units
        live = draw(st.integers(0, units))
        while live > 0:
            qty = min(live, draw(st.integers(1, 2)))
            reservations[f"{user}-{live}"] = (user, qty)
            live -= qty
    stock = draw(st.sampled_from([0, 0, 1, 2, 4]))
    waitlist: list[str] = []
    if stock == 0:  # users who reached their limit since they joined included
        waitlist = draw(st.permutations(NAMES))[: draw(st.integers(0, len(NAMES)))]
    return GateSnapshot("open", stock, limit, taken, reservations, waitlist)


@settings(
    max_examples=100,
    deadline=None,
    database=None,  # nothing written into the working tree
    # one gate serves every example; each example loads a sale of its own
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(start=rebuilt_sales(), operations=OPERATIONS, close_at=st.integers(5, 60))
async def test_any_sequence_of_operations_keeps_stock_and_limits_like_the_model(
    gate: StockGate, start: GateSnapshot, operations: list[tuple[str, ...]], close_at: int
) -> None:
    sale = f"sale-{uuid.uuid4().hex[:8]}"
    await gate.load(sale, **dataclasses.asdict(start))
    total = start.stock + sum(start.taken.values())
    limit = start.per_user_limit
    model = Model(
        stock=start.stock,
        limit=limit,
        taken=Counter(start.taken),
        live=dict(start.reservations),
        accepted=dict.fromkeys(start.reservations, start.stock),
        waitlist=list(start.waitlist),
    )
    ids = list(start.reservations)  # reservation ids accepted so far, grants included
    for step, operation in enumerate(operations):
        if step == close_at:
            await gate.close(sale)
            model.is_open = False
        kind = operation[0]
        if kind == "reserve":
            _, user, qty, n = operation
            rid = f"r{n}"
            got: object = await buy(gate, sale, str(user), rid, qty=int(qty))
            expected: object = model.reserve(str(user), int(qty), rid)
            if rid in model.accepted and rid not in ids:
                ids.append(rid)
        elif kind == "join":
            try:
                got = await gate.join_waitlist(sale, str(operation[1]))
            except WaitlistRefused as refused:
                got = refused.reason
            expected = model.join(str(operation[1]))
        else:
            _, pick, settled = operation
            pool = ids if settled else list(model.live)
            rid = pool[int(pick) % len(pool)] if pool else "unknown"
            if kind == "release":
                got = await gate.release(sale, rid)
                expected = model.release(rid)
                assert isinstance(expected, Released)
                ids.extend(grant for _, grant in expected.granted)
            else:
                got = await gate.confirm(sale, rid)
                expected = model.confirm(rid)
        assert got == expected, (step, operation)

        snap = await gate.snapshot(sale)
        assert snap.stock + sum(snap.taken.values()) == total
        assert all(units <= limit for units in snap.taken.values())
        assert snap.taken == {user: units for user, units in model.taken.items() if units}
        assert snap.reservations == model.live
        assert snap.waitlist == model.waitlist


async def test_redis_decisions_of_one_loop_turn_share_round_trips_in_arrival_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from liveshop.promotions.flash import gate_redis

    client = await connect_redis()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    gate = RedisGate(client, prefix=prefix)
    monkeypatch.setattr(gate_redis, "MAX_BATCH", 100)
    runs = 0
    real_many = gate._reserve_many

    async def counting_many(*args: Any, **kwargs: Any) -> Any:
        nonlocal runs
        runs += 1
        return await real_many(*args, **kwargs)

    monkeypatch.setattr(gate, "_reserve_many", counting_many)
    try:
        sale = await new_sale(gate, stock=10, limit=1)
        decisions = await asyncio.gather(*(buy(gate, sale, f"u{i}", f"r{i}") for i in range(250)))
        assert runs == 3  # 250 decisions asked at once: 100 + 100 + 50 per script run
        assert [d.accepted for d in decisions] == [True] * 10 + [False] * 240
        assert [d.stock_left for d in decisions[:10]] == list(range(9, -1, -1))
        assert {d.outcome for d in decisions[10:]} == {"sold_out"}
        alone = await buy(gate, sale, "u0", "r0")  # alone in its turn: the one-decision script
        assert runs == 3 and alone.outcome == "accepted"  # a retry: the same answer
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_redis_decisions_batched_in_one_turn_equal_the_same_decisions_one_by_one() -> None:
    """Two sales, the same user and the same reservation asked twice in one turn, a limit of
    2: the batched script run answers exactly what the in-process gate answers in order."""
    client = await connect_redis()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    redis_gate, memory_gate = RedisGate(client, prefix=prefix), MemoryGate()
    try:
        sales = [
            (
                await new_sale(redis_gate, stock=4, limit=2),
                await new_sale(memory_gate, stock=4, limit=2),
            ),
            (
                await new_sale(redis_gate, stock=1, limit=2),
                await new_sale(memory_gate, stock=1, limit=2),
            ),
        ]
        asks = [(i % 2, f"u{i % 3}", f"r{i % 5}-{i % 2}") for i in range(12)]
        batched = await asyncio.gather(
            *(buy(redis_gate, sales[s][0], user, rid) for s, user, rid in asks)
        )
        one_by_one = [await buy(memory_gate, sales[s][1], user, rid) for s, user, rid in asks]
        assert [(d.outcome, d.stock_left) for d in batched] == [
            (d.outcome, d.stock_left) for d in one_by_one
        ]
        for redis_sale, memory_sale in sales:
            mine, theirs = (
                await redis_gate.snapshot(redis_sale),
                await memory_gate.snapshot(memory_sale),
            )
            assert (mine.stock, mine.taken) == (theirs.stock, theirs.taken)
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_failed_redis_round_trip_fails_only_its_askers() -> None:
    client = await connect_redis()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    gate = RedisGate(client, prefix=prefix)
    try:
        sale = await new_sale(gate, stock=5, limit=1)
        await client.aclose()
        broken = RedisGate(
            type(client)(host="127.0.0.1", port=1, socket_connect_timeout=0.5), prefix=prefix
        )
        results = await asyncio.gather(
            *(buy(broken, sale, f"u{i}", f"r{i}") for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, Exception) for r in results)
        client = await connect_redis()
        gate = RedisGate(client, prefix=prefix)
        assert (await buy(gate, sale, "u9", "r9")).accepted  # nothing was taken
        assert await gate.stock_left(sale) == 4
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
