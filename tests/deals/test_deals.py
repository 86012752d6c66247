"""Deals over HTTP on both databases: a merchant publishes offers (open or targeted), anchors
(and their operators) see and accept them, terms are frozen, the merchant withdraws an offer
and ends a deal; who sees what; bad terms with stable codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from tests.deals.helpers import accept, deal_with, publish
from tests.factories import idempotency_key as _key
from tests.factories import make_shop
from tests.factories import problem_code as _code

pytestmark = pytest.mark.usefixtures("backend")


async def test_an_open_offer_is_accepted_by_any_anchor_with_its_terms_frozen(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    first, second = await make_account("anchor"), await make_account("anchor")

    offer = await publish(client, runtime, merchant, shop.product_id, coupon_budget_minor=20000)
    assert offer["open_to_all"] is True and offer["anchor_ids"] == []
    assert offer["status"] == "open" and offer["merchant_id"] == shop.merchant_id
    assert offer["terms"]["floor_price_minor"] == 1000 and offer["terms"]["currency"] == "CNY"
    assert offer["product_title"].startswith("Longjing tea")

    seen = await client.get("/anchor/deal-offers", headers=first.headers)
    assert [o["id"] for o in seen.json()["items"]] == [offer["id"]]

    clock.advance(minutes=5)
    made = await accept(client, first, offer["id"])
    assert made.status_code == 201, made.text
    deal = made.json()
    assert deal["anchor_id"] == first.id and deal["merchant_id"] == shop.merchant_id
    assert deal["product_id"] == shop.product_id and deal["offer_id"] == offer["id"]
    assert deal["status"] == "active" and deal["accepted_by"] == first.id
    assert deal["terms"] == {**offer["terms"], "valid_from": deal["accepted_at"]}
    assert (deal["stock_left"], deal["prize_left"], deal["coupon_budget_left_minor"]) == (
        10,
        3,
        20000,
    )
    assert (await accept(client, second, offer["id"])).status_code == 201

    again = await accept(client, first, offer["id"])
    assert again.status_code == 409 and _code(again) == "deal.already_accepted"

    mine = await client.get("/anchor/deals", headers=first.headers)
    assert [d["id"] for d in mine.json()["items"]] == [deal["id"]]
    theirs = await client.get("/merchant/deals", headers=merchant.headers)
    assert len(theirs.json()["items"]) == 2
    read = await client.get(f"/deals/{deal['id']}", headers=merchant.headers)
    assert read.status_code == 200 and read.json() == deal


async def test_a_targeted_offer_is_for_the_named_anchors_only(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    named, other = await make_account("anchor"), await make_account("anchor")
    offer = await publish(client, runtime, merchant, shop.product_id, anchor_ids=[named.id])
    assert offer["open_to_all"] is False and offer["anchor_ids"] == [named.id]

    hidden = await client.get("/anchor/deal-offers", headers=other.headers)
    assert hidden.json()["items"] == []
    refused = await accept(client, other, offer["id"])
    assert refused.status_code == 404 and _code(refused) == "deal.offer_not_found"
    assert (await accept(client, named, offer["id"])).status_code == 201

    fan = await make_account("fan")
    not_anchor = await client.post(
        "/merchant/deal-offers",
        json={
            "product_id": shop.product_id,
            "floor_price_minor": 1,
            "valid_until": (runtime.clock.now() + timedelta(days=1)).isoformat(),
            "anchor_ids": [fan.id],
        },
        headers={**merchant.headers, **_key()},
    )
    assert not_anchor.status_code == 422 and _code(not_anchor) == "deal.not_an_anchor"


async def test_an_operator_accepts_for_its_anchor_and_an_admin_for_anyone(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id, prices=(9900, 19900))
    anchor = await make_account("anchor")
    operator, stranger = await make_account("operator"), await make_account("operator")
    admin = await make_account("admin")
    assigned = await client.post(
        "/admin/operator-assignments",
        json={"operator_id": operator.id, "anchor_id": anchor.id},
        headers=admin.headers,
    )
    assert assigned.status_code in (200, 201, 204), assigned.text
    offer = await publish(client, runtime, merchant, shop.product_id)

    refused = await accept(client, stranger, offer["id"], anchor_id=anchor.id)
    assert refused.status_code == 403
    no_anchor = await accept(client, operator, offer["id"])
    assert no_anchor.status_code == 403  # an operator takes no deal of its own
    made = await accept(client, operator, offer["id"], anchor_id=anchor.id)
    assert made.status_code == 201, made.text
    assert made.json()["anchor_id"] == anchor.id and made.json()["accepted_by"] == operator.id
    listed = await client.get(
        "/anchor/deals", params={"anchor_id": anchor.id}, headers=operator.headers
    )
    assert [d["id"] for d in listed.json()["items"]] == [made.json()["id"]]
    assert (await client.get(f"/deals/{made.json()['id']}", headers=operator.headers)).is_success
    hidden = await client.get(f"/deals/{made.json()['id']}", headers=stranger.headers)
    assert hidden.status_code == 404 and _code(hidden) == "deal.not_found"

    other_anchor = await make_account("anchor")
    by_admin = await accept(client, admin, offer["id"], anchor_id=other_anchor.id)
    assert by_admin.status_code == 201 and by_admin.json()["accepted_by"] == admin.id


async def test_one_active_deal_per_product_and_an_ended_deal_stays_ended(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    anchor = await make_account("anchor")
    deal = await deal_with(client, runtime, merchant, anchor, shop.product_id)
    second = await publish(client, runtime, merchant, shop.product_id, floor_price_minor=100)
    busy = await accept(client, anchor, second["id"])
    assert busy.status_code == 409 and _code(busy) == "deal.already_active"

    ended = await client.post(f"/merchant/deals/{deal['id']}/end", headers=merchant.headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended" and ended.json()["ended_by"] == merchant.id
    twice = await client.post(f"/merchant/deals/{deal['id']}/end", headers=merchant.headers)
    assert twice.status_code == 409 and _code(twice) == "deal.ended"
    active = await client.get("/anchor/deals", params={"active": "true"}, headers=anchor.headers)
    assert active.json()["items"] == []

    # the ended deal's offer cannot be accepted again, but another offer can
    first_offer = await accept(client, anchor, deal["offer_id"])
    assert first_offer.status_code == 409 and _code(first_offer) == "deal.already_accepted"
    assert (await accept(client, anchor, second["id"])).status_code == 201


async def test_an_expired_deal_makes_room_for_a_new_one_and_offers_close(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    anchor, late = await make_account("anchor"), await make_account("anchor")
    short = await publish(
        client,
        runtime,
        merchant,
        shop.product_id,
        valid_until=(clock.now() + timedelta(hours=1)).isoformat(),
    )
    deal = (await accept(client, anchor, short["id"])).json()
    clock.advance(hours=2)
    read = await client.get(f"/deals/{deal['id']}", headers=anchor.headers)
    assert read.json()["status"] == "expired"
    closed = await accept(client, late, short["id"])
    assert closed.status_code == 409 and _code(closed) == "deal.offer_closed"

    fresh = await publish(client, runtime, merchant, shop.product_id)
    assert (await accept(client, anchor, fresh["id"])).status_code == 201
    withdrawn = await client.post(
        f"/merchant/deal-offers/{fresh['id']}/withdraw", headers=merchant.headers
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    refused = await accept(client, late, fresh["id"])
    assert refused.status_code == 409 and _code(refused) == "deal.offer_closed"
    listed = await client.get("/merchant/deal-offers", headers=merchant.headers)
    assert [o["status"] for o in listed.json()["items"]] == ["withdrawn", "expired"]


async def test_merchants_manage_only_their_own_offers_and_deals(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    merchant, rival = await make_account("merchant"), await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    await make_shop(runtime, owner_id=rival.id)
    anchor = await make_account("anchor")
    deal = await deal_with(client, runtime, merchant, anchor, shop.product_id)

    foreign = await client.post(
        "/merchant/deal-offers",
        json={
            "product_id": shop.product_id,
            "floor_price_minor": 1,
            "valid_until": (runtime.clock.now() + timedelta(days=1)).isoformat(),
        },
        headers={**rival.headers, **_key()},
    )
    assert foreign.status_code == 404 and _code(foreign) == "product.not_found"
    end = await client.post(f"/merchant/deals/{deal['id']}/end", headers=rival.headers)
    assert end.status_code == 404 and _code(end) == "deal.not_found"
    withdraw = await client.post(
        f"/merchant/deal-offers/{deal['offer_id']}/withdraw", headers=rival.headers
    )
    assert withdraw.status_code == 404
    assert (await client.get("/merchant/deals", headers=rival.headers)).json()["items"] == []
    assert (await client.get(f"/deals/{deal['id']}", headers=rival.headers)).status_code == 404
    anchor_end = await client.post(f"/merchant/deals/{deal['id']}/end", headers=anchor.headers)
    assert anchor_end.status_code == 403


@pytest.mark.parametrize(
    ("terms", "code"),
    [
        ({"valid_until": "2020-01-01T00:00:00Z"}, "deal.bad_terms"),
        ({"commission_bps": 10_001}, "request.invalid"),
        ({"stock_share": -1}, "request.invalid"),
        ({"floor_price_minor": 10**13}, "request.invalid"),
        ({"floor_price_minor": 12.5}, "request.invalid"),
    ],
)
async def test_terms_out_of_bounds_are_refused_with_a_stable_code(
    client: Any, runtime: Runtime, make_account: Any, terms: dict[str, Any], code: str
) -> None:
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    body = {
        "product_id": shop.product_id,
        "floor_price_minor": 100,
        "valid_until": (runtime.clock.now() + timedelta(days=1)).isoformat(),
        **terms,
    }
    response = await client.post(
        "/merchant/deal-offers", json=body, headers={**merchant.headers, **_key()}
    )
    assert response.status_code == 422 and _code(response) == code


async def test_publishing_and_accepting_are_idempotent_commands(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    merchant, anchor = await make_account("merchant"), await make_account("anchor")
    shop = await make_shop(runtime, owner_id=merchant.id)
    body = {
        "product_id": shop.product_id,
        "floor_price_minor": 100,
        "stock_share": 5,
        "valid_until": (runtime.clock.now() + timedelta(days=1)).isoformat(),
    }
    keyless = await client.post("/merchant/deal-offers", json=body, headers=merchant.headers)
    assert keyless.status_code == 400 and _code(keyless) == "idempotency.key_required"
    headers = {**merchant.headers, **_key()}
    first = await client.post("/merchant/deal-offers", json=body, headers=headers)
    again = await client.post("/merchant/deal-offers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    listed = await client.get("/merchant/deal-offers", headers=merchant.headers)
    assert [o["id"] for o in listed.json()["items"]] == [first.json()["id"]]
    other = await client.post(
        "/merchant/deal-offers", json={**body, "stock_share": 6}, headers=headers
    )
    assert other.status_code == 409 and _code(other) == "idempotency.key_reused"

    url = f"/anchor/deal-offers/{first.json()['id']}/accept"
    keyed = {**anchor.headers, **_key()}
    made = await client.post(url, headers=keyed)
    retried = await client.post(url, headers=keyed)
    assert made.status_code == retried.status_code == 201, made.text
    assert retried.json() == made.json() and retried.headers["Idempotent-Replayed"] == "true"
    fresh_key = await client.post(url, headers={**anchor.headers, **_key()})
    assert fresh_key.status_code == 409 and _code(fresh_key) == "deal.already_accepted"
