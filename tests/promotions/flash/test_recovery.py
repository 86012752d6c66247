"""Units come back to the sale: a buyer who cancels an unpaid flash order gives the unit to
the first fan in line (not to ordinary stock), a buy a dead node accepted in the shared gate
and never wrote is given back after the grace, and a buy the writer would refuse (an unknown
city) is refused before the gate takes a unit. In-process gate on both databases, Redis gate
on PostgreSQL (several nodes need it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.clock import FrozenClock
from liveshop.config import Settings
from liveshop.deps import Runtime
from liveshop.inventory import service as inventory
from liveshop.inventory.models import Stock
from liveshop.promotions.flash.gate_redis import RedisGate
from liveshop.promotions.flash.models import FlashReservation
from tests.conftest import REDIS_URL, connect_redis
from tests.factories import idempotency_key as _key
from tests.factories import problem_code as _code
from tests.live.conftest import Room
from tests.promotions.flash.test_sales import ADDRESS, _buy, _flash, _open_sale, shop_room

__all__ = ["shop_room"]

GRACE = 1.0  # seconds: the orphan grace of these tests (30 by default)


@pytest.fixture(params=["memory", "redis"])
def gate_kind(request: pytest.FixtureRequest, backend: str) -> str:
    if request.param == "redis" and backend != "postgresql":
        pytest.skip("several nodes (the Redis gate) need PostgreSQL; see Settings")
    return str(request.param)


@pytest.fixture
async def settings(settings: Settings, gate_kind: str) -> Settings:
    if gate_kind == "redis":
        client = await connect_redis()  # skips (or fails when required) without Redis
        await client.aclose()
        return settings.model_copy(
            update={"redis_url": REDIS_URL, "flash_orphan_grace_seconds": GRACE}
        )
    return settings.model_copy(update={"flash_orphan_grace_seconds": GRACE})


async def _stock_on_hand(runtime: Runtime, sku_id: str) -> tuple[int, int]:
    async with runtime.sessionmaker() as s:
        row = (
            await s.execute(
                select(func.sum(Stock.on_hand), func.sum(Stock.reserved)).where(
                    Stock.sku_id == sku_id
                )
            )
        ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def _join(client: Any, sale_id: str, fan: Any) -> int:
    joined = await client.post(
        f"/flash-sales/{sale_id}/waitlist", json={"shipping_address": ADDRESS}, headers=fan.headers
    )
    assert joined.status_code == 201, joined.text
    return int(joined.json()["position"])


async def test_a_buyer_who_cancels_gives_the_unit_to_the_first_in_line(
    shop_room: Room,
    client: Any,
    clock: FrozenClock,
    runtime: Runtime,
    make_account: Any,
    open_room: Any,
    gate_kind: str,
) -> None:
    buyer, first, second = [await make_account("fan") for _ in range(3)]
    sku_id = shop_room.shop.sku_ids[0]
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=1)
    bought = await _buy(client, sale["id"], buyer)
    assert bought.status_code == 201, bought.text
    assert [await _join(client, sale["id"], fan) for fan in (first, second)] == [1, 2]
    stock_before = await _stock_on_hand(runtime, sku_id)
    first_socket = await open_room(shop_room.id, first.token)

    cancelled = await client.post(
        f"/orders/{bought.json()['order_id']}/cancel",
        json={"reason": "changed my mind"},
        headers={**buyer.headers, **_key()},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    await _flash(runtime).tick()

    notice = await first_socket.event("flash.notice")
    assert notice["code"] == "waitlist.granted"
    mine = (await client.get(f"/flash-sales/{sale['id']}/me", headers=first.headers)).json()
    assert mine["waitlist_outcome"] == "granted"
    assert [(b["from_waitlist"], b["order_id"]) for b in mine["buys"]] == [
        (True, notice["order_id"])
    ]
    assert mine["sale"]["left"] == 0  # the unit went to the first in line, not to the sale
    theirs = (await client.get(f"/flash-sales/{sale['id']}/me", headers=second.headers)).json()
    assert theirs["waitlist_outcome"] is None and theirs["buys"] == []  # still waiting
    # ordinary stock did not get the unit: on hand and held are as before the cancel
    assert await _stock_on_hand(runtime, sku_id) == stock_before
    async with runtime.sessionmaker() as s:
        statuses = dict(
            (await s.execute(select(FlashReservation.user_id, FlashReservation.status))).all()
        )
        assert statuses == {buyer.id: "released", first.id: "live"}
        assert await inventory.verify_ledger(s) == []


async def test_a_cancel_with_nobody_waiting_puts_the_unit_back_on_sale(
    shop_room: Room,
    client: Any,
    clock: FrozenClock,
    runtime: Runtime,
    make_account: Any,
    gate_kind: str,
) -> None:
    buyer, later = await make_account("fan"), await make_account("fan")
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=1)
    bought = await _buy(client, sale["id"], buyer)
    assert bought.status_code == 201
    assert _code(await _buy(client, sale["id"], later)) == "flash.sold_out"
    cancelled = await client.post(
        f"/orders/{bought.json()['order_id']}/cancel",
        json={"reason": ""},
        headers={**buyer.headers, **_key()},
    )
    assert cancelled.status_code == 200
    await _flash(runtime).tick()
    assert (await client.get(f"/flash-sales/{sale['id']}")).json()["left"] == 1
    assert (await _buy(client, sale["id"], later)).status_code == 201


async def test_an_unknown_city_is_refused_before_the_gate_takes_a_unit(
    shop_room: Room,
    client: Any,
    clock: FrozenClock,
    runtime: Runtime,
    make_account: Any,
    gate_kind: str,
) -> None:
    fan = await make_account("fan")
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=2)
    nowhere = {**ADDRESS, "city": "Atlantis"}
    refused = await _buy(client, sale["id"], fan, shipping_address=nowhere)
    assert refused.status_code == 422, refused.text
    assert _code(refused) == "address.unknown_location"
    assert (await client.get(f"/flash-sales/{sale['id']}")).json()["left"] == 2
    assert (await _buy(client, sale["id"], fan)).status_code == 201  # the limit is untouched
    assert _flash(runtime).batches == 1


async def test_units_a_dead_node_took_in_the_shared_gate_come_back_after_the_grace(
    shop_room: Room,
    client: Any,
    clock: FrozenClock,
    runtime: Runtime,
    make_account: Any,
    open_room: Any,
    gate_kind: str,
) -> None:
    if gate_kind != "redis":
        pytest.skip("one process rebuilds its gate from the database when it restarts")
    paying, waiting = await make_account("fan"), await make_account("fan")
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=3)
    flash = _flash(runtime)
    assert isinstance(flash.gate, RedisGate)
    written = await _buy(client, sale["id"], paying)  # this node's buy: written
    assert written.status_code == 201
    # another node takes two units in the shared gate and dies before its writer commits
    for n, user in enumerate(("ghost-1", "ghost-2")):
        decision = await flash.gate.reserve(
            sale["id"], user_id=user, qty=1, reservation_id=f"dead-node-{n}"
        )
        assert decision.accepted
    assert (await client.get(f"/flash-sales/{sale['id']}")).json()["left"] == 0
    assert await _join(client, sale["id"], waiting) == 1
    socket = await open_room(shop_room.id, waiting.token)

    assert await flash.release_orphans() == 0  # within the grace: they may still be written
    await asyncio.sleep(GRACE + 0.1)
    assert await flash.release_orphans() == 2
    assert await flash.release_orphans() == 0  # released once

    notice = await socket.event("flash.notice")  # one unit to the waitlist, one to the sale
    assert notice["code"] == "waitlist.granted"
    assert (await client.get(f"/flash-sales/{sale['id']}")).json()["left"] == 1
    snapshot = await flash.gate.snapshot(sale["id"])
    assert set(snapshot.taken) == {paying.id, waiting.id}
    async with runtime.sessionmaker() as s:
        rows = dict(
            (await s.execute(select(FlashReservation.user_id, FlashReservation.status))).all()
        )
    assert rows == {paying.id: "live", waiting.id: "live"}  # the written buy was kept
    assert await flash.gate.unwritten(sale["id"], older_than_seconds=0) == []
