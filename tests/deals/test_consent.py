"""A merchant's consent, enforced on both databases: another merchant's product in a rundown,
a flash sale or as a raffle prize needs the anchor's active deal, its floor price bounds the
live and flash prices, its shares bound flash units and prizes (counted atomically: concurrent
requests never exceed a share), and a merchant's own goods need nothing. The attacks of issue
13 are reproduced first."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from liveshop.deals import consent
from liveshop.deals.models import Deal, DealUse
from liveshop.deps import Runtime
from tests.conftest import Actor
from tests.deals.helpers import deal_with
from tests.factories import idempotency_key as _key
from tests.factories import make_shop, order_body
from tests.factories import problem_code as _code

pytestmark = pytest.mark.usefixtures("backend")


async def _session(client: Any, runtime: Runtime, anchor: Actor, title: str = "Show") -> str:
    created = await client.post(
        "/live/sessions",
        json={"title": title, "scheduled_at": runtime.clock.now().isoformat()},
        headers=anchor.headers,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _rundown(client: Any, sid: str, anchor: Actor, sku_id: str, price: int) -> Any:
    return await client.put(
        f"/live/sessions/{sid}/rundown",
        json={"items": [{"sku_id": sku_id, "live_price_minor": price}]},
        headers=anchor.headers,
    )


async def _live_with(
    client: Any, runtime: Runtime, anchor: Actor, sku_id: str, price: int, title: str = "Show"
) -> tuple[str, str]:
    """A started session of ``anchor`` with ``sku_id`` in its rundown: (session, item)."""
    sid = await _session(client, runtime, anchor, title)
    put = await _rundown(client, sid, anchor, sku_id, price)
    assert put.status_code == 200, put.text
    assert (await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)).is_success
    return sid, str(put.json()["items"][0]["id"])


async def _flash(client: Any, sid: str, anchor: Actor, item_id: str, **body: Any) -> Any:
    return await client.post(
        f"/live/sessions/{sid}/flash-sales",
        json={"item_id": item_id, "price_minor": 4000, "quantity": 1, **body},
        headers={**anchor.headers, "Idempotency-Key": uuid.uuid4().hex},
    )


async def _raffle(client: Any, sid: str, anchor: Actor, item_id: str, winners: int = 1) -> Any:
    return await client.post(
        f"/live/sessions/{sid}/raffles",
        json={"title": "Win it", "item_id": item_id, "entry_seconds": 60, "winners_count": winners},
        headers=anchor.headers,
    )


async def _deal_row(runtime: Runtime, deal_id: str) -> Deal:
    async with runtime.sessionmaker() as s:
        deal = await s.get(Deal, deal_id)
        assert deal is not None
        assert await consent.ledger_mismatches(s) == []  # the counters are their ledger's sums
        return deal


async def test_the_probe_an_anchor_with_no_tie_to_a_merchant_is_refused_its_goods(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    """Issue 13: a new anchor put merchant A's 50.00 SKU in its rundown at 0.01, moved A's
    stock into a flash sale and gave A's product as a raffle prize. Now: none of it."""
    owner = await make_account("merchant")
    shop_a = await make_shop(runtime, owner_id=owner.id, prices=(5000,))
    stranger = await make_account("anchor")
    sid = await _session(client, runtime, stranger)

    at_one_cent = await _rundown(client, sid, stranger, shop_a.sku_ids[0], 1)
    assert at_one_cent.status_code == 403 and _code(at_one_cent) == "deal.required"
    assert at_one_cent.json()["product_id"] == shop_a.product_id
    rundown = await client.get(f"/live/sessions/{sid}/rundown", headers=stranger.headers)
    assert rundown.json()["items"] == []

    # an admin running the session does not waive the merchant's consent either
    admin = await make_account("admin")
    by_admin = await client.put(
        f"/live/sessions/{sid}/rundown",
        json={"items": [{"sku_id": shop_a.sku_ids[0], "live_price_minor": 1}]},
        headers=admin.headers,
    )
    assert by_admin.status_code == 403 and _code(by_admin) == "deal.required"

    # with a deal at floor 40.00: 0.01 is below the floor, 40.00 is fine
    await deal_with(client, runtime, owner, stranger, shop_a.product_id, floor_price_minor=4000)
    low = await _rundown(client, sid, stranger, shop_a.sku_ids[0], 1)
    assert low.status_code == 422 and _code(low) == "deal.price_below_floor"
    assert low.json()["floor_price_minor"] == 4000
    assert low.json()["errors"][0]["field"] == "items.0.live_price_minor"
    assert (await _rundown(client, sid, stranger, shop_a.sku_ids[0], 4000)).status_code == 200


async def test_a_merchant_selling_its_own_goods_needs_no_deal(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    both = await make_account("anchor", "merchant")
    shop = await make_shop(runtime, owner_id=both.id, prices=(5000,), stock={"HZ": 20})
    sid, item = await _live_with(client, runtime, both, shop.sku_ids[0], 1)
    sale = await _flash(client, sid, both, item, price_minor=1, quantity=15)
    assert sale.status_code == 201, sale.text
    raffle = await _raffle(client, sid, both, item, winners=3)
    assert raffle.status_code == 201, raffle.text
    async with runtime.sessionmaker() as s:
        assert list((await s.execute(select(DealUse))).scalars()) == []


async def test_flash_sales_keep_to_the_floor_and_the_stock_share_and_give_back_unsold_units(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(5000,), stock={"HZ": 50})
    anchor = await make_account("anchor")
    deal = await deal_with(
        client, runtime, owner, anchor, shop.product_id, floor_price_minor=4000, stock_share=10
    )
    sid, item = await _live_with(client, runtime, anchor, shop.sku_ids[0], 4500)

    low = await _flash(client, sid, anchor, item, price_minor=3999)
    assert low.status_code == 422 and _code(low) == "deal.price_below_floor"
    over = await _flash(client, sid, anchor, item, quantity=11)
    assert over.status_code == 409 and _code(over) == "deal.stock_share_exceeded"
    assert over.json()["left"] == 10
    sale = await _flash(client, sid, anchor, item, quantity=8)
    assert sale.status_code == 201, sale.text
    assert (await _deal_row(runtime, deal["id"])).stock_used == 8

    closed = await client.post(f"/flash-sales/{sale.json()['id']}/close", headers=anchor.headers)
    assert closed.is_success, closed.text
    assert (await _deal_row(runtime, deal["id"])).stock_used == 0  # nothing sold: all 8 back
    read = await client.get(f"/deals/{deal['id']}", headers=owner.headers)
    assert read.json()["stock_left"] == 10


async def test_an_ended_deal_stops_flash_sales_raffles_and_the_live_price(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(5000,), stock={"HZ": 20})
    anchor, fan = await make_account("anchor"), await make_account("fan")
    deal = await deal_with(client, runtime, owner, anchor, shop.product_id, floor_price_minor=100)
    sid, item = await _live_with(client, runtime, anchor, shop.sku_ids[0], 4500)
    quote = await client.post(
        "/orders/quote",
        json={"lines": [{"sku_id": shop.sku_ids[0], "quantity": 1}], "live_session_id": sid},
        headers=fan.headers,
    )
    assert quote.json()["subtotal_minor"] == 4500

    ended = await client.post(f"/merchant/deals/{deal['id']}/end", headers=owner.headers)
    assert ended.status_code == 200
    sale = await _flash(client, sid, anchor, item)
    assert sale.status_code == 403 and _code(sale) == "deal.required"
    raffle = await _raffle(client, sid, anchor, item)
    assert raffle.status_code == 403 and _code(raffle) == "deal.required"
    order = await client.post(
        "/orders",
        json={**order_body(shop.sku_ids[0]), "live_session_id": sid},
        headers={**fan.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert order.status_code == 201, order.text
    assert order.json()["subtotal_minor"] == 5000  # the list price: the live price needs a deal
    again = await client.put(
        f"/live/sessions/{sid}/rundown",
        json={"items": [{"sku_id": shop.sku_ids[0], "live_price_minor": 4500}]},
        headers=anchor.headers,
    )
    assert again.status_code == 403 and _code(again) == "deal.required"


async def test_raffle_prizes_keep_to_the_prize_units_and_unwon_prizes_come_back(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(5000,))
    anchor, fan = await make_account("anchor"), await make_account("fan")
    deal = await deal_with(client, runtime, owner, anchor, shop.product_id, prize_units=3)
    sid, item = await _live_with(client, runtime, anchor, shop.sku_ids[0], 4500)

    over = await _raffle(client, sid, anchor, item, winners=4)
    assert over.status_code == 409 and _code(over) == "deal.prize_share_exceeded"
    assert over.json()["left"] == 3
    raffle = await _raffle(client, sid, anchor, item, winners=3)
    assert raffle.status_code == 201, raffle.text
    assert (await _deal_row(runtime, deal["id"])).prize_used == 3
    entered = await client.post(
        f"/raffles/{raffle.json()['id']}/enter",
        headers={**fan.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert entered.status_code == 201, entered.text
    closed = await client.post(f"/raffles/{raffle.json()['id']}/close", headers=anchor.headers)
    assert closed.status_code == 200, closed.text
    assert len(closed.json()["winners"]) == 1
    assert (await _deal_row(runtime, deal["id"])).prize_used == 1  # two prizes nobody won


async def test_concurrent_flash_sales_never_exceed_the_stock_share(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    """20 flash sales of 1 unit each, in 20 live sessions of one anchor, all at once against
    a stock share of 7: exactly 7 are created, 13 are 409 deal.stock_share_exceeded."""
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(5000,), stock={"HZ": 40})
    anchor = await make_account("anchor")
    deal = await deal_with(client, runtime, owner, anchor, shop.product_id, stock_share=7)
    rooms = [
        await _live_with(client, runtime, anchor, shop.sku_ids[0], 4500, f"Show {n}")
        for n in range(20)
    ]
    responses = await asyncio.gather(*(_flash(client, sid, anchor, item) for sid, item in rooms))
    assert Counter(r.status_code for r in responses) == {201: 7, 409: 13}
    assert {_code(r) for r in responses if r.status_code == 409} == {"deal.stock_share_exceeded"}
    row = await _deal_row(runtime, deal["id"])
    assert row.stock_used == 7
    async with runtime.sessionmaker() as s:
        uses = list(
            (await s.execute(select(DealUse).where(DealUse.deal_id == deal["id"]))).scalars()
        )
        assert len(uses) == 7


async def test_concurrent_raffles_never_exceed_the_prize_units(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    """20 raffles of 1 prize each, in 20 live sessions of one anchor, all at once against 5
    prize units: exactly 5 open, 15 are 409 deal.prize_share_exceeded."""
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(5000,))
    anchor = await make_account("anchor")
    deal = await deal_with(client, runtime, owner, anchor, shop.product_id, prize_units=5)
    rooms = [
        await _live_with(client, runtime, anchor, shop.sku_ids[0], 4500, f"Show {n}")
        for n in range(20)
    ]
    responses = await asyncio.gather(*(_raffle(client, sid, anchor, item) for sid, item in rooms))
    assert Counter(r.status_code for r in responses) == {201: 5, 409: 15}
    assert {_code(r) for r in responses if r.status_code == 409} == {"deal.prize_share_exceeded"}
    assert (await _deal_row(runtime, deal["id"])).prize_used == 5


async def test_concurrent_accepts_make_one_active_deal_per_product(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    """10 open offers on one product, accepted by one anchor all at once: one deal, 9 are
    409 deal.already_active."""
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(5000,))
    anchor = await make_account("anchor")
    offers = []
    for n in range(10):
        offer = await client.post(
            "/merchant/deal-offers",
            json={
                "product_id": shop.product_id,
                "floor_price_minor": 100 + n,
                "valid_until": (runtime.clock.now().replace(year=2027)).isoformat(),
            },
            headers={**owner.headers, **_key()},
        )
        offers.append(offer.json()["id"])
    responses = await asyncio.gather(
        *(
            client.post(f"/anchor/deal-offers/{o}/accept", headers={**anchor.headers, **_key()})
            for o in offers
        )
    )
    assert Counter(r.status_code for r in responses) == {201: 1, 409: 9}
    assert {_code(r) for r in responses if r.status_code == 409} == {"deal.already_active"}
    async with runtime.sessionmaker() as s:
        rows = list((await s.execute(select(Deal).where(Deal.anchor_id == anchor.id))).scalars())
        assert [d.status for d in rows] == ["active"]
