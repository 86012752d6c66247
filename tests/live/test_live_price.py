"""Bought in a live session: the rundown's live price, at checkout and in the quote."""

from __future__ import annotations

from typing import Any

import pytest

from liveshop.deps import Runtime
from tests.factories import address, idempotency_key, problem_code
from tests.live.conftest import Room
from tests.payments.helpers import pay

pytestmark = pytest.mark.usefixtures("backend")


async def _order(client: Any, fan: Any, sku_id: str, **body: Any) -> Any:
    payload = {
        "lines": [{"sku_id": sku_id, "quantity": 2}],
        "shipping_address": address("Hangzhou"),
        **body,
    }
    return await client.post("/orders", json=payload, headers={**fan.headers, **idempotency_key()})


async def test_an_order_in_the_session_pays_the_live_price(
    client: Any, live_room: Room, make_account: Any
) -> None:
    fan = await make_account("fan")
    sku = live_room.shop.sku_ids[0]  # list price 9900, live price 7900
    in_room = await _order(client, fan, sku, live_session_id=live_room.id)
    assert in_room.status_code == 201, in_room.text
    order = in_room.json()
    assert [(line["unit_price_minor"], line["line_total_minor"]) for line in order["lines"]] == [
        (7900, 15800)
    ]
    assert order["subtotal_minor"] == order["total_minor"] == 15800
    quote = await client.post(
        "/orders/quote",
        json={"lines": [{"sku_id": sku, "quantity": 2}], "live_session_id": live_room.id},
        headers=fan.headers,
    )
    assert quote.status_code == 200, quote.text
    assert quote.json()["subtotal_minor"] == 15800

    outside = await _order(client, fan, sku)  # the same SKU outside the room: its own price
    assert outside.status_code == 201, outside.text
    assert outside.json()["subtotal_minor"] == 19800

    ended = await client.post(
        f"/live/sessions/{live_room.id}/end", headers=live_room.anchor.headers
    )
    assert ended.status_code == 200, ended.text
    after = await _order(client, fan, sku, live_session_id=live_room.id)
    assert after.status_code == 409 and problem_code(after) == "live.not_live"


async def test_the_session_sales_count_paid_orders_gmv_and_conversion(
    client: Any, runtime: Runtime, live_room: Room, make_account: Any
) -> None:
    fan, other, stranger = (
        await make_account("fan"),
        await make_account("fan"),
        await make_account("fan"),
    )
    path = f"/live/sessions/{live_room.id}/sales"
    empty = (await client.get(path, headers=live_room.anchor.headers)).json()
    assert (empty["orders"], empty["paid_orders"], empty["gmv"]) == (0, 0, [])
    sku = live_room.shop.sku_ids[0]
    first = await _order(client, fan, sku, live_session_id=live_room.id)  # 2 x 7900
    await pay(client, runtime, fan, first.json()["id"])
    await _order(client, other, sku, live_session_id=live_room.id)  # placed, not paid
    await _order(client, fan, sku)  # not in the session
    sales = (await client.get(path, headers=live_room.anchor.headers)).json()
    assert (sales["orders"], sales["paid_orders"], sales["buyers"]) == (2, 1, 1)
    assert sales["gmv"] == [{"currency": "CNY", "gmv_minor": 15800}]
    assert sales["unique_viewers"] == 0 and sales["conversion"] == 0.0  # nobody watched
    refused = await client.get(path, headers=stranger.headers)
    assert refused.status_code == 403 and problem_code(refused) == "auth.forbidden"
