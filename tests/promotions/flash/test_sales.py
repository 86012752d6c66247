"""Flash sales over HTTP and the room on both databases: countdown, open, buy, sold out,
limits, idempotent retries, waitlist and expiry with the injected clock, closing, and many
concurrent buyers with exact counts."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.inventory import service as inventory
from liveshop.inventory.models import Reservation, Stock
from liveshop.live.events import parse_event, parse_server_message
from liveshop.live.state import apply_events
from liveshop.orders import service as orders
from liveshop.promotions.flash.models import FlashReservation
from liveshop.promotions.flash.runtime import FlashSales
from tests.factories import idempotency_key as _key
from tests.factories import make_deal, make_shop
from tests.factories import problem_code as _code
from tests.live.conftest import Room

pytestmark = pytest.mark.usefixtures("backend")

ADDRESS = {
    "recipient": "Li Wei",
    "phone": "+86 138 0000 0000",
    "line1": "1 West Lake Road",
    "city": "Hangzhou",
}


def _flash(runtime: Runtime) -> FlashSales:
    sales: FlashSales = runtime.extras["flash"]
    return sales


async def _open_sale(
    client: Any, room: Room, clock: FrozenClock, runtime: Runtime, **body: Any
) -> dict[str, Any]:
    payload = {"item_id": room.item_ids[0], "price_minor": 4900, "quantity": 3, **body}
    created = await client.post(
        f"/live/sessions/{room.id}/flash-sales",
        json=payload,
        headers={**room.anchor.headers, **_key()},
    )
    assert created.status_code == 201, created.text
    sale: dict[str, Any] = created.json()
    clock.advance(seconds=payload.get("countdown_seconds", 10))
    await _flash(runtime).tick()
    return sale


async def _buy(client: Any, sale_id: str, fan: Any, key: str | None = None, **body: Any) -> Any:
    headers = {**fan.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(
        f"/flash-sales/{sale_id}/buy",
        json={"shipping_address": ADDRESS, **body},
        headers=headers,
    )


@pytest.fixture
async def shop_room(runtime: Runtime, client: Any, make_account: Any) -> Room:
    """A live session whose first product has 10 units in stock."""
    anchor = await make_account("anchor")
    shop = await make_shop(runtime, prices=(9900, 19900), stock={"HZ": 10})
    await make_deal(runtime, product_id=shop.product_id, anchor_id=anchor.id)
    sid = (
        await client.post(
            "/live/sessions",
            json={"title": "Flash night", "scheduled_at": runtime.clock.now().isoformat()},
            headers=anchor.headers,
        )
    ).json()["id"]
    rundown = await client.put(
        f"/live/sessions/{sid}/rundown",
        json={
            "items": [
                {"sku_id": shop.sku_ids[0], "live_price_minor": 7900},
                {"sku_id": shop.sku_ids[1], "live_price_minor": 15900},
            ]
        },
        headers=anchor.headers,
    )
    assert (await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)).is_success
    return Room(sid, anchor, shop, [i["id"] for i in rundown.json()["items"]])


async def test_a_flash_sale_counts_down_opens_sells_out_and_the_room_follows(
    shop_room: Room,
    client: Any,
    clock: FrozenClock,
    runtime: Runtime,
    make_account: Any,
    open_room: Any,
) -> None:
    viewer = await open_room(shop_room.id)
    fans = [await make_account("fan") for _ in range(4)]
    created = await client.post(
        f"/live/sessions/{shop_room.id}/flash-sales",
        json={"item_id": shop_room.item_ids[0], "price_minor": 4900, "quantity": 3},
        headers={**shop_room.anchor.headers, "Idempotency-Key": "sale-1"},
    )
    assert created.status_code == 201
    sale = created.json()
    assert sale["status"] == "countdown" and sale["left"] == 3
    replay = await client.post(
        f"/live/sessions/{shop_room.id}/flash-sales",
        json={"item_id": shop_room.item_ids[0], "price_minor": 4900, "quantity": 3},
        headers={**shop_room.anchor.headers, "Idempotency-Key": "sale-1"},
    )
    assert replay.status_code == 201 and replay.json()["id"] == sale["id"]
    countdown = await viewer.event("flash.countdown")
    assert countdown["sale"]["id"] == sale["id"]

    early = await _buy(client, sale["id"], fans[0])
    assert early.status_code == 409 and _code(early) == "flash.not_open"
    clock.advance(seconds=10)
    await _flash(runtime).tick()
    assert (await viewer.event("flash.open"))["sale"]["status"] == "open"

    bought = []
    for fan in fans[:3]:
        response = await _buy(client, sale["id"], fan, key=f"k-{fan.id}")
        assert response.status_code == 201, response.text
        bought.append(response.json())
    assert all(b["total_minor"] == 4900 and b["status"] == "live" for b in bought)
    order = (await client.get(f"/orders/{bought[0]['order_id']}", headers=fans[0].headers)).json()
    assert order["status"] == "pending_payment" and order["total_minor"] == 4900

    sold_out = await _buy(client, sale["id"], fans[3])
    assert sold_out.status_code == 409 and _code(sold_out) == "flash.sold_out"
    again = await _buy(client, sale["id"], fans[0])  # the limit is checked first
    assert again.status_code == 409 and _code(again) == "flash.limit_reached"
    retry = await _buy(client, sale["id"], fans[0], key=f"k-{fans[0].id}")
    assert retry.status_code == 201 and retry.json()["order_id"] == bought[0]["order_id"]
    reused = await _buy(client, sale["id"], fans[0], key=f"k-{fans[0].id}", quantity=2)
    assert reused.status_code == 409 and _code(reused) == "idempotency.key_reused"
    await viewer.event("flash.sold_out")
    await _flash(runtime).tick()
    stock = await viewer.wait_for(lambda e: e.get("type") == "flash.stock" and e["left"] == 0)
    parse_event(stock)

    late = await open_room(shop_room.id)
    promotions = late.first["snapshot"]["promotions"]
    assert [(p["id"], p["left"], p["status"]) for p in promotions] == [(sale["id"], 0, "open")]
    replayed = apply_events(viewer.first["snapshot"], viewer.events())
    assert replayed["promotions"] == promotions

    clock.advance(seconds=120)
    await _flash(runtime).tick()
    closed = await viewer.event("flash.closed")
    assert closed["sold"] == 3
    after = await _buy(client, sale["id"], fans[3])
    assert after.status_code == 409 and _code(after) == "flash.closed"
    for message in viewer.messages:
        parse_server_message(message)
    fresh = await open_room(shop_room.id)
    assert fresh.first["snapshot"]["promotions"] == []
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []
        stock_row = (
            await s.execute(select(Stock).where(Stock.sku_id == shop_room.shop.sku_ids[0]))
        ).scalar_one()
        assert (stock_row.on_hand, stock_row.reserved) == (10, 3)


async def test_limits_and_bad_input_get_stable_codes(
    shop_room: Room, client: Any, clock: FrozenClock, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    url = f"/live/sessions/{shop_room.id}/flash-sales"
    headers = {**shop_room.anchor.headers}
    bad = [
        ({"item_id": shop_room.item_ids[0], "price_minor": 4900, "quantity": -1}, 422),
        ({"item_id": shop_room.item_ids[0], "price_minor": 0, "quantity": 1}, 422),
        (
            {
                "item_id": shop_room.item_ids[0],
                "price_minor": 100,
                "quantity": 1,
                "countdown_seconds": 5,
            },
            422,
        ),
        ({"item_id": shop_room.item_ids[0], "price_minor": 99_999, "quantity": 1}, 422),
        ({"item_id": "0" * 26, "price_minor": 100, "quantity": 1}, 404),
        ({"item_id": shop_room.item_ids[0], "price_minor": 100, "quantity": 11}, 409),
    ]
    for body, status in bad:
        response = await client.post(url, json=body, headers={**headers, **_key()})
        assert response.status_code == status, (body, response.text)
    no_key = await client.post(
        url,
        json={"item_id": shop_room.item_ids[0], "price_minor": 100, "quantity": 1},
        headers=headers,
    )
    assert no_key.status_code == 400 and _code(no_key) == "idempotency.key_required"
    forbidden = await client.post(
        url,
        json={"item_id": shop_room.item_ids[0], "price_minor": 100, "quantity": 1},
        headers={**fan.headers, **_key()},
    )
    assert forbidden.status_code == 403

    sale = await _open_sale(client, shop_room, clock, runtime, quantity=5, per_user_limit=2)
    twice = await client.post(
        url,
        json={"item_id": shop_room.item_ids[0], "price_minor": 100, "quantity": 1},
        headers={**headers, **_key()},
    )
    assert twice.status_code == 409 and _code(twice) == "flash.already_running"
    assert (await _buy(client, sale["id"], fan, quantity=0)).status_code == 422
    assert (await _buy(client, sale["id"], fan, quantity=-1)).status_code == 422
    no_address = await client.post(
        f"/flash-sales/{sale['id']}/buy", json={}, headers={**fan.headers, **_key()}
    )
    assert no_address.status_code == 422
    assert (await _buy(client, sale["id"], fan, quantity=2)).status_code == 201
    over = await _buy(client, sale["id"], fan)
    assert over.status_code == 409 and _code(over) == "flash.limit_reached"
    guest = await client.post(
        f"/flash-sales/{sale['id']}/buy", json={"shipping_address": ADDRESS}, headers=_key()
    )
    assert guest.status_code == 401
    missing = await _buy(client, "0" * 26, fan)
    assert missing.status_code == 404 and _code(missing) == "flash.not_found"
    early = await client.post(
        f"/flash-sales/{sale['id']}/waitlist",
        json={"shipping_address": ADDRESS},
        headers=fan.headers,
    )
    assert early.status_code == 409 and _code(early) == "flash.waitlist_not_sold_out"


async def test_unpaid_units_go_to_the_waitlist_in_order_then_back_at_close(
    shop_room: Room,
    client: Any,
    clock: FrozenClock,
    runtime: Runtime,
    make_account: Any,
    open_room: Any,
) -> None:
    buyer, first, second = [await make_account("fan") for _ in range(3)]
    sale = await _open_sale(
        client, shop_room, clock, runtime, quantity=1, payment_window_seconds=60
    )
    bought = await _buy(client, sale["id"], buyer)
    assert bought.status_code == 201
    waiting = {}
    for fan in (first, second):
        joined = await client.post(
            f"/flash-sales/{sale['id']}/waitlist",
            json={"shipping_address": ADDRESS},
            headers=fan.headers,
        )
        assert joined.status_code == 201, joined.text
        waiting[fan.id] = joined.json()["position"]
    assert waiting == {first.id: 1, second.id: 2}
    first_socket = await open_room(shop_room.id, first.token)

    clock.advance(seconds=61)  # the buyer did not pay
    await _flash(runtime).tick()
    notice = await first_socket.event("flash.notice")
    parse_server_message(notice)
    mine = (await client.get(f"/flash-sales/{sale['id']}/me", headers=first.headers)).json()
    assert mine["waitlist_outcome"] == "granted"
    assert [b["from_waitlist"] for b in mine["buys"]] == [True]
    assert mine["buys"][0]["order_id"] == notice["order_id"]
    expired = (
        await client.get(f"/orders/{bought.json()['order_id']}", headers=buyer.headers)
    ).json()
    assert expired["status"] == "expired"
    assert mine["sale"]["left"] == 0

    # the first in line pays; the second keeps waiting, then the sale closes
    async with runtime.sessionmaker() as s:
        order = await orders.get_or_raise(s, order_id=notice["order_id"])
        assert await orders.mark_paid(s, order=order, now=clock.now())
        await s.commit()
    await _flash(runtime).tick()
    async with runtime.sessionmaker() as s:
        statuses = dict(
            (await s.execute(select(FlashReservation.user_id, FlashReservation.status))).all()
        )
    assert statuses == {buyer.id: "released", first.id: "paid"}
    clock.advance(seconds=200)
    await _flash(runtime).tick()
    theirs = (await client.get(f"/flash-sales/{sale['id']}/me", headers=second.headers)).json()
    assert theirs["waitlist_outcome"] == "closed" and theirs["buys"] == []
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []
        held = await s.scalar(
            select(func.sum(Reservation.quantity)).where(
                Reservation.sku_id == shop_room.shop.sku_ids[0],
                Reservation.status.in_(("active", "committed")),
            )
        )
        assert held == 1  # the paid unit; the allocation went back to stock


async def test_many_concurrent_buyers_sell_exactly_the_stock(
    shop_room: Room, client: Any, clock: FrozenClock, runtime: Runtime, make_account: Any
) -> None:
    fans = await asyncio.gather(*(make_account("fan") for _ in range(60)))
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=7, per_user_limit=1)
    responses = await asyncio.gather(*(_buy(client, sale["id"], fan) for fan in fans))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 7
    assert {_code(r) for r in responses if r.status_code != 201} == {"flash.sold_out"}
    winners = {r.json()["order_id"] for r in responses if r.status_code == 201}
    async with runtime.sessionmaker() as s:
        rows = list((await s.execute(select(FlashReservation))).scalars())
        assert len(rows) == 7 and {r.order_id for r in rows} == winners
        assert len({r.user_id for r in rows}) == 7
        held = await s.scalar(
            select(func.sum(Reservation.quantity)).where(Reservation.order_id.in_(winners))
        )
        assert held == 7
        assert await inventory.verify_ledger(s) == []
    assert (await client.get(f"/flash-sales/{sale['id']}")).json()["left"] == 0
