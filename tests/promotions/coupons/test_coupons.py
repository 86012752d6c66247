"""Coupons end to end on both databases: a drop seen by a real WebSocket viewer (snapshot +
events == a fresh snapshot), many concurrent claimers against a quota, the per-user limit,
idempotent claims, checkout with the best-coupon suggestion and the stacking rules, release
when an order is cancelled or expires, and bad input."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.inventory import service as inventory
from liveshop.live.events import SnapshotMessage, parse_event
from liveshop.live.state import apply_events
from liveshop.orders.scheduled import expire_overdue
from liveshop.promotions.coupons import flows as coupon_flows
from liveshop.promotions.coupons.events import CouponDropView
from liveshop.promotions.coupons.models import Coupon, CouponDrop, CouponTemplate
from tests.conftest import Actor
from tests.factories import Shop, address, make_shop
from tests.factories import idempotency_key as _key
from tests.factories import problem_code as _code
from tests.live.conftest import Room
from tests.wallet.helpers import balance

pytestmark = pytest.mark.usefixtures("backend")


def _later(runtime: Runtime, **delta: float) -> str:
    return (runtime.clock.now() + timedelta(**delta)).isoformat()


SESSION_BUDGET = 100_000
"""What an anchor's session coupon escrows from its wallet when a test names no funder."""


async def _template(client: Any, runtime: Runtime, actor: Actor, **body: Any) -> dict[str, Any]:
    """A template; a session's coupon without a merchant is funded from the issuer's wallet
    (:data:`SESSION_BUDGET`) unless ``body`` says who funds it."""
    if "session_id" in body and not {"merchant_id", "funded_by", "deal_id"} & set(body):
        body.setdefault("budget_minor", SESSION_BUDGET)
    payload = {
        "title": "5 off",
        "kind": "fixed",
        "amount_off_minor": 500,
        "valid_until": _later(runtime, days=1),
        "quota": 100,
        **body,
    }
    response = await client.post(
        "/coupon-templates", json=payload, headers={**actor.headers, **_key()}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _drop(client: Any, room: Room, template_id: str, quota: int, **body: Any) -> Any:
    return await client.post(
        f"/live/sessions/{room.id}/coupon-drops",
        json={"template_id": template_id, "quota": quota, **body},
        headers={**room.anchor.headers, **_key()},
    )


async def _claim(client: Any, path: str, fan: Actor, key: str | None = None) -> Any:
    headers = {**fan.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(f"{path}/claim", headers=headers)


async def _claimed(client: Any, path: str, fan: Actor) -> str:
    response = await _claim(client, path, fan)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _lines(shop: Shop, *quantities: int) -> list[dict[str, Any]]:
    return [
        {"sku_id": sku_id, "quantity": q}
        for sku_id, q in zip(shop.sku_ids, quantities, strict=False)
        if q
    ]


async def _order(client: Any, fan: Actor, lines: list[dict[str, Any]], **body: Any) -> Any:
    payload = {"lines": lines, "shipping_address": address("Hangzhou"), **body}
    return await client.post("/orders", json=payload, headers={**fan.headers, **_key()})


async def _quote(client: Any, fan: Actor, lines: list[dict[str, Any]], **body: Any) -> Any:
    return await client.post("/orders/quote", json={"lines": lines, **body}, headers=fan.headers)


async def _mine(client: Any, fan: Actor) -> list[str]:
    response = await client.get("/coupons/mine", headers=fan.headers)
    assert response.status_code == 200, response.text
    return sorted(c["id"] for c in response.json()["items"])


async def _seen(viewer: Any, kind: str, drop_id: str) -> dict[str, Any]:
    """The ``kind`` event of that drop, received already (frames batch events) or next."""

    def match(event: dict[str, Any]) -> bool:
        found = event.get("drop", {}).get("id") if kind == "coupon.drop" else event.get("drop_id")
        return event.get("type") == kind and found == drop_id

    for event in viewer.events():
        if match(event):
            return dict(event)
    return dict(await viewer.wait_for(match))


async def _shop(runtime: Runtime, make_account: Any) -> tuple[Actor, Shop]:
    """A merchant (owner account) with SKUs at 99.00 and 199.00, 50 of each in Hangzhou."""
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(9900, 19900), stock={"HZ": 50})
    async with runtime.sessionmaker() as s:
        await inventory.receive(
            s,
            sku_id=shop.sku_ids[1],
            warehouse_id=shop.warehouses["HZ"],
            quantity=50,
            now=runtime.clock.now(),
        )
        await s.commit()
    return owner, shop


async def test_a_drop_is_seen_in_the_room_claimed_out_and_a_timed_drop_expires(
    live_room: Room,
    open_room: Any,
    client: Any,
    make_account: Any,
    runtime: Runtime,
    clock: FrozenClock,
) -> None:
    fans = [await make_account("fan") for _ in range(4)]
    early = await open_room(live_room.id)
    assert early.first["snapshot"]["promotions"] == []
    template = await _template(
        client, runtime, live_room.anchor, session_id=live_room.id, live_session_only=True
    )
    assert template["session_id"] == live_room.id and template["terms"]["live_session_only"]

    made = await _drop(client, live_room, template["id"], 3)
    assert made.status_code == 201, made.text
    drop = made.json()
    assert (drop["status"], drop["claimed"], drop["quota"]) == ("active", 0, 3)
    opened = await _seen(early, "coupon.drop", drop["id"])
    parse_event(opened)
    joined = await open_room(live_room.id)
    SnapshotMessage.model_validate(joined.first)
    listed = joined.first["snapshot"]["promotions"]
    assert listed == [opened["drop"]]
    CouponDropView.model_validate(listed[0])

    path = f"/coupon-drops/{drop['id']}"
    coupon_ids = [await _claimed(client, path, fan) for fan in fans[:3]]
    ended = await _seen(early, "coupon.drop_ended", drop["id"])
    parse_event(ended)
    assert (ended["reason"], ended["claimed"], ended["quota"]) == ("claimed_out", 3, 3)
    late = await _claim(client, path, fans[3])
    assert late.status_code == 409 and _code(late) == "coupon.sold_out"
    state = (await client.get(path)).json()
    assert (state["status"], state["claimed"], state["end_reason"]) == ("ended", 3, "claimed_out")

    # live-session-only: usable for an order bought in this session, not elsewhere
    lines = [{"sku_id": live_room.shop.sku_ids[0], "quantity": 1}]
    outside = await _order(client, fans[0], lines, coupon_ids=[coupon_ids[0]])
    assert outside.status_code == 422 and _code(outside) == "coupon.not_applicable"
    inside = await _order(
        client, fans[0], lines, coupon_ids=[coupon_ids[0]], live_session_id=live_room.id
    )
    assert inside.status_code == 201, inside.text
    order = inside.json()
    # bought in the session: the rundown's live price (7900, list price 9900)
    assert (order["subtotal_minor"], order["discount_minor"], order["total_minor"]) == (
        7900,
        500,
        7400,
    )
    assert order["live_session_id"] == live_room.id
    assert [c["coupon_id"] for c in order["coupons"]] == [coupon_ids[0]]

    # a timed drop: a claim after its end is refused before the sweep; the sweep ends it
    timed = (await _drop(client, live_room, template["id"], 5, duration_seconds=60)).json()
    await _seen(early, "coupon.drop", timed["id"])
    assert await coupon_flows.end_due(runtime) == []
    clock.advance(seconds=60)
    refused = await _claim(client, f"/coupon-drops/{timed['id']}", fans[3])
    assert refused.status_code == 409 and _code(refused) == "coupon.drop_ended"
    assert await coupon_flows.end_due(runtime) == [timed["id"]]
    expired = await _seen(early, "coupon.drop_ended", timed["id"])
    assert (expired["reason"], expired["claimed"]) == ("expired", 0)
    assert await coupon_flows.end_due(runtime) == []

    fresh = (await open_room(live_room.id)).first["snapshot"]
    replayed = apply_events(early.first["snapshot"], early.events())
    for snap in (fresh, replayed):
        snap.pop("counters")
    assert replayed == fresh and fresh["promotions"] == []
    kinds = [e["type"] for e in early.events() if e["type"].startswith("coupon.")]
    assert kinds == ["coupon.drop", "coupon.drop_ended", "coupon.drop", "coupon.drop_ended"]


async def test_issuing_and_dropping_are_idempotent(
    live_room: Room, open_room: Any, client: Any, runtime: Runtime
) -> None:
    anchor = live_room.anchor
    body = {
        "title": "5 off",
        "kind": "fixed",
        "amount_off_minor": 500,
        "valid_until": _later(runtime, days=1),
        "quota": 10,
        "session_id": live_room.id,
        "budget_minor": 5000,
    }
    before = await balance(client, anchor)
    missing = await client.post("/coupon-templates", json=body, headers=anchor.headers)
    assert missing.status_code == 400 and _code(missing) == "idempotency.key_required"
    key = _key()
    made = [
        await client.post("/coupon-templates", json=body, headers={**anchor.headers, **key})
        for _ in range(2)
    ]
    assert [m.status_code for m in made] == [201, 201] and made[0].json() == made[1].json()
    assert made[0].json()["funded_by"] == "wallet" and made[0].json()["funder_id"] == anchor.id
    assert await balance(client, anchor) == before - 5000  # escrowed once, not per retry
    other = await client.post(
        "/coupon-templates", json={**body, "quota": 11}, headers={**anchor.headers, **key}
    )
    assert other.status_code == 409 and _code(other) == "idempotency.key_reused"
    listed = await client.get(
        "/coupon-templates", params={"session_id": live_room.id}, headers=anchor.headers
    )
    assert [t["id"] for t in listed.json()["items"]] == [made[0].json()["id"]]

    watcher = await open_room(live_room.id)
    url = f"/live/sessions/{live_room.id}/coupon-drops"
    drop_body = {"template_id": made[0].json()["id"], "quota": 3}
    no_key = await client.post(url, json=drop_body, headers=anchor.headers)
    assert no_key.status_code == 400 and _code(no_key) == "idempotency.key_required"
    key = _key()
    drops = [
        await client.post(url, json=drop_body, headers={**anchor.headers, **key}) for _ in range(2)
    ]
    assert [d.status_code for d in drops] == [201, 201] and drops[0].json() == drops[1].json()
    assert [d["id"] for d in (await client.get(url)).json()["items"]] == [drops[0].json()["id"]]
    later = await client.post(url, json=drop_body, headers={**anchor.headers, **_key()})
    await _seen(watcher, "coupon.drop", later.json()["id"])  # everything before it is in
    announced = [e["drop"]["id"] for e in watcher.events() if e["type"] == "coupon.drop"]
    assert announced == [drops[0].json()["id"], later.json()["id"]]  # the retry said nothing


async def test_sixty_concurrent_claimers_of_a_quota_of_25_get_exactly_25(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    fans = [await make_account("fan") for _ in range(60)]
    template = await _template(client, runtime, live_room.anchor, session_id=live_room.id)
    drop = (await _drop(client, live_room, template["id"], 25)).json()
    path = f"/coupon-drops/{drop['id']}"
    responses = await asyncio.gather(*(_claim(client, path, fan) for fan in fans))
    assert Counter(r.status_code for r in responses) == {201: 25, 409: 35}
    assert {_code(r) for r in responses if r.status_code == 409} == {"coupon.sold_out"}
    winners = {r.json()["id"] for r in responses if r.status_code == 201}
    async with runtime.sessionmaker() as s:
        row = await s.get(CouponDrop, drop["id"])
        tmpl = await s.get(CouponTemplate, template["id"])
        assert row is not None and tmpl is not None
        assert (row.claimed_count, row.status, tmpl.claimed_count) == (25, "ended", 25)
        held = await s.execute(select(Coupon.id).where(Coupon.drop_id == drop["id"]))
        assert set(held.scalars()) == winners


async def test_the_per_user_limit_holds_under_a_race_and_a_retry_gets_the_same_coupon(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    owner, _ = await _shop(runtime, make_account)
    fan = await make_account("fan")
    template = await _template(client, runtime, owner, per_user_limit=2)
    assert template["terms"]["scope"] == "merchant"
    path = f"/coupon-templates/{template['id']}"
    responses = await asyncio.gather(*(_claim(client, path, fan) for _ in range(6)))
    assert Counter(r.status_code for r in responses) == {201: 2, 409: 4}
    assert {_code(r) for r in responses if r.status_code == 409} == {"coupon.limit_reached"}
    assert len(await _mine(client, fan)) == 2

    other = await make_account("fan")
    first = await _claim(client, path, other, key="claim-1")
    again = await _claim(client, path, other, key="claim-1")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json() == again.json() and await _mine(client, other) == [first.json()["id"]]
    session_template = await _template(client, runtime, live_room.anchor, session_id=live_room.id)
    drop = (await _drop(client, live_room, session_template["id"], 5)).json()
    reused = await _claim(client, f"/coupon-drops/{drop['id']}", other, key="claim-1")
    assert reused.status_code == 409 and _code(reused) == "idempotency.key_reused"
    direct = await _claim(client, f"/coupon-templates/{session_template['id']}", other)
    assert direct.status_code == 409 and _code(direct) == "coupon.drops_only"
    async with runtime.sessionmaker() as s:
        count = await s.execute(select(func.count()).select_from(Coupon))
        assert count.scalar_one() == 3
        tmpl = await s.get(CouponTemplate, template["id"])
        assert tmpl is not None and tmpl.claimed_count == 3


async def test_checkout_takes_the_best_suggestion_and_enforces_the_stacking_rules(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    owner, shop = await _shop(runtime, make_account)
    other_owner, _ = await _shop(runtime, make_account)
    fan, stranger = await make_account("fan"), await make_account("fan")
    specs: dict[str, dict[str, Any]] = {
        "fixed": {"amount_off_minor": 3000, "min_spend_minor": 20000},
        "percent": {"kind": "percent", "amount_off_minor": 0, "percent_off": 20, "cap_minor": 2500},
        "sku": {"amount_off_minor": 1000, "scope": "skus", "sku_ids": [shop.sku_ids[1]]},
        "high_min": {"amount_off_minor": 700, "min_spend_minor": 29000, "stackable": True},
    }
    specs["sku"]["stackable"] = True
    ids: dict[str, str] = {}
    for name, spec in specs.items():
        template = await _template(client, runtime, owner, title=name, **spec)
        ids[name] = await _claimed(client, f"/coupon-templates/{template['id']}", fan)
    foreign = await _template(client, runtime, other_owner, title="foreign")
    ids["foreign"] = await _claimed(client, f"/coupon-templates/{foreign['id']}", fan)
    theirs = await _claimed(client, f"/coupon-templates/{foreign['id']}", stranger)
    both = _lines(shop, 1, 1)  # 9900 + 19900 = 29800

    quote = await _quote(client, fan, both)
    assert quote.status_code == 200, quote.text
    best = quote.json()["best"]
    # sku coupon first (19900 -> 18900), then the merchant's 3000 off 20000 on 28800 left
    assert best["coupon_ids"] == [ids["sku"], ids["fixed"]]
    assert (best["discount_minor"], best["total_minor"]) == (4000, 25800)
    assert [(d["title"], d["amount_minor"]) for d in best["discounts"]] == [
        ("sku", 1000),
        ("fixed", 3000),
    ]
    capped = (await _quote(client, fan, _lines(shop, 0, 2), coupon_ids=[ids["percent"]])).json()
    assert capped["applied"]["discount_minor"] == 2500  # 20% of 39800 is 7960: the cap
    under = (await _quote(client, fan, _lines(shop, 1), coupon_ids=[ids["percent"]])).json()
    assert under["applied"]["discount_minor"] == 1980  # 20% of 9900, below the cap
    assert under["subtotal_minor"] == 9900 and under["best"]["coupon_ids"] == [ids["percent"]]

    refusals: list[tuple[list[dict[str, Any]], list[str], int, str]] = [
        (_lines(shop, 1), [ids["fixed"]], 422, "coupon.min_spend_not_met"),
        (both, [ids["fixed"], ids["percent"]], 422, "coupon.not_stackable"),
        (both, [ids["sku"], ids["high_min"]], 422, "coupon.min_spend_not_met"),
        (both, [ids["foreign"]], 422, "coupon.not_applicable"),
        (both, [theirs], 404, "coupon.not_found"),
        (both, [ids["sku"], ids["sku"]], 422, "coupon.duplicate"),
    ]
    for lines, coupon_ids, status, code in refusals:
        for response in (
            await _order(client, fan, lines, coupon_ids=coupon_ids),
            await _quote(client, fan, lines, coupon_ids=coupon_ids),
        ):
            assert response.status_code == status and _code(response) == code, coupon_ids
    assert len(await _mine(client, fan)) == 5
    assert (await client.get("/orders", headers=fan.headers)).json()["items"] == []

    placed = await _order(client, fan, both, coupon_ids=best["coupon_ids"])
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["subtotal_minor"], order["discount_minor"], order["total_minor"]) == (
        29800,
        4000,
        25800,
    )
    assert [(c["coupon_id"], c["amount_minor"]) for c in order["coupons"]] == [
        (ids["sku"], 1000),
        (ids["fixed"], 3000),
    ]
    again = await _order(client, fan, both, coupon_ids=[ids["fixed"]])
    assert again.status_code == 409 and _code(again) == "coupon.used"
    assert ids["fixed"] not in await _mine(client, fan)
    # the best suggestion now comes from what is left
    left = (await _quote(client, fan, both)).json()["best"]
    assert left["coupon_ids"] == [ids["percent"]] and left["discount_minor"] == 2500
    free = await _template(
        client, runtime, owner, title="all", kind="percent", amount_off_minor=0, percent_off=100
    )
    free_id = await _claimed(client, f"/coupon-templates/{free['id']}", fan)
    gift = await _order(client, fan, _lines(shop, 1), coupon_ids=[free_id])
    assert gift.status_code == 201 and gift.json()["total_minor"] == 0


async def test_coupons_come_back_when_the_order_is_cancelled_or_expires(
    client: Any, make_account: Any, runtime: Runtime, clock: FrozenClock
) -> None:
    owner, shop = await _shop(runtime, make_account)
    fan = await make_account("fan")
    lasting = await _template(client, runtime, owner, title="lasting")
    brief = await _template(
        client,
        runtime,
        owner,
        title="brief",
        valid_until=_later(runtime, minutes=10),
        stackable=True,
    )
    kept = await _claimed(client, f"/coupon-templates/{lasting['id']}", fan)
    short = await _claimed(client, f"/coupon-templates/{brief['id']}", fan)
    lines = _lines(shop, 1)

    first = (await _order(client, fan, lines, coupon_ids=[kept])).json()
    assert await _mine(client, fan) == [short]
    cancelled = await client.post(
        f"/orders/{first['id']}/cancel", json={}, headers={**fan.headers, **_key()}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["coupons"][0]["released_at"] is not None
    assert await _mine(client, fan) == sorted([kept, short])

    second = await _order(client, fan, lines, coupon_ids=[kept, short])
    assert second.status_code == 201, second.text
    assert second.json()["discount_minor"] == 1000
    assert await _mine(client, fan) == []
    clock.advance(seconds=runtime.settings.payment_window_seconds + 1)
    assert await expire_overdue(runtime) == 1
    state = (await client.get(f"/orders/{second.json()['id']}", headers=fan.headers)).json()
    assert state["status"] == "expired" and all(c["released_at"] for c in state["coupons"])
    # the order is gone; the lasting coupon is usable again, the brief one has expired
    assert await _mine(client, fan) == [kept]
    expired = await _order(client, fan, lines, coupon_ids=[short])
    assert expired.status_code == 409 and _code(expired) == "coupon.expired"
    third = await _order(client, fan, lines, coupon_ids=[kept])
    assert third.status_code == 201 and third.json()["discount_minor"] == 500
    async with runtime.sessionmaker() as s:
        assert await inventory.verify_ledger(s) == []


async def test_bad_input_gets_stable_codes_and_changes_nothing(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    owner, shop = await _shop(runtime, make_account)
    _, other_shop = await _shop(runtime, make_account)
    fan = await make_account("fan")
    good = {
        "title": "t",
        "kind": "fixed",
        "amount_off_minor": 500,
        "valid_until": _later(runtime, days=1),
        "quota": 10,
    }
    percent = {**good, "kind": "percent", "amount_off_minor": 0, "percent_off": 10}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**good, "amount_off_minor": 5.5}, 422, "request.invalid"),
        ({**good, "amount_off_minor": "500"}, 422, "request.invalid"),
        ({**good, "surprise": 1}, 422, "request.invalid"),
        ({**good, "valid_until": "2026-01-02T00:00:00"}, 422, "request.invalid"),
        ({**good, "kind": "bogo"}, 422, "request.invalid"),
        ({**good, "percent_off": 10}, 422, "coupon.bad_kind"),
        ({**good, "amount_off_minor": 0}, 422, "coupon.bad_amount"),
        ({**good, "amount_off_minor": 10**10}, 422, "coupon.bad_amount"),
        ({**percent, "percent_off": 101}, 422, "coupon.bad_percent"),
        ({**percent, "cap_minor": 0}, 422, "coupon.bad_cap"),
        ({**good, "min_spend_minor": -1}, 422, "coupon.bad_min_spend"),
        ({**good, "scope": "order"}, 422, "coupon.bad_scope"),
        ({**good, "scope": "skus"}, 422, "coupon.bad_scope"),
        ({**good, "scope": "skus", "sku_ids": [other_shop.sku_ids[0]]}, 422, "coupon.bad_scope"),
        ({**good, "valid_until": _later(runtime, seconds=-1)}, 422, "coupon.bad_window"),
        ({**good, "valid_from": _later(runtime, days=2)}, 422, "coupon.bad_window"),
        ({**good, "quota": 0}, 422, "coupon.bad_quota"),
        ({**good, "per_user_limit": 11}, 422, "coupon.bad_limit"),
        ({**good, "eligibility": "followers"}, 422, "coupon.bad_eligibility"),
        ({**good, "live_session_only": True}, 422, "coupon.bad_session"),
        ({**good, "session_id": live_room.id}, 403, "auth.forbidden"),  # not a manager
        (  # the merchant sells nothing in that session
            {**good, "session_id": live_room.id, "merchant_id": shop.merchant_id},
            403,
            "auth.forbidden",
        ),
    ]
    for body, status, code in cases:
        response = await client.post(
            "/coupon-templates", json=body, headers={**owner.headers, **_key()}
        )
        assert response.status_code == status and _code(response) == code, (body, response.text)
    assert (await client.post("/coupon-templates", json=good)).status_code == 401
    refused = await client.post("/coupon-templates", json=good, headers={**fan.headers, **_key()})
    assert refused.status_code == 403 and _code(refused) == "auth.forbidden"
    listed = await client.get("/coupon-templates", headers=owner.headers)
    assert listed.json()["items"] == []

    # drops: a manager's, in a live session, within the template's quota and session
    mine = await _template(client, runtime, owner)
    session_template = await _template(client, runtime, live_room.anchor, session_id=live_room.id)
    drop_cases: list[tuple[dict[str, Any], int, str]] = [
        ({"template_id": mine["id"], "quota": 1}, 422, "coupon.wrong_session"),
        ({"template_id": session_template["id"], "quota": 101}, 422, "coupon.bad_quota"),
        (
            {"template_id": session_template["id"], "quota": 1, "duration_seconds": 5},
            422,
            "request.invalid",
        ),
        ({"template_id": "0" * 26, "quota": 1}, 404, "coupon.template_not_found"),
    ]
    url = f"/live/sessions/{live_room.id}/coupon-drops"
    for body, status, code in drop_cases:
        response = await client.post(url, json=body, headers={**live_room.anchor.headers, **_key()})
        assert response.status_code == status and _code(response) == code, (body, response.text)
    body = {"template_id": session_template["id"], "quota": 1}
    forbidden = await client.post(url, json=body, headers={**fan.headers, **_key()})
    assert forbidden.status_code == 403 and _code(forbidden) == "auth.forbidden"
    later = await client.post(
        "/live/sessions",
        json={"title": "Later", "scheduled_at": runtime.clock.now().isoformat()},
        headers=live_room.anchor.headers,
    )
    not_live = await client.post(
        f"/live/sessions/{later.json()['id']}/coupon-drops",
        json=body,
        headers={**live_room.anchor.headers, **_key()},
    )
    assert not_live.status_code == 409 and _code(not_live) == "live.not_live"
    assert (await client.get(url)).json()["items"] == []

    # claims and checkout
    for path, code in (
        (f"/coupon-drops/{'0' * 26}", "coupon.drop_not_found"),
        (f"/coupon-templates/{'0' * 26}", "coupon.template_not_found"),
    ):
        response = await _claim(client, path, fan)
        assert response.status_code == 404 and _code(response) == code
    no_key = await client.post(f"/coupon-templates/{mine['id']}/claim", headers=fan.headers)
    assert no_key.status_code == 400 and _code(no_key) == "idempotency.key_required"
    lines = _lines(shop, 1)
    too_many = await _order(client, fan, lines, coupon_ids=[str(i) for i in range(6)])
    assert too_many.status_code == 422 and _code(too_many) == "request.invalid"
    unknown = await _order(client, fan, lines, coupon_ids=["nope"])
    assert unknown.status_code == 404 and _code(unknown) == "coupon.not_found"
    nowhere = await _order(client, fan, lines, live_session_id="0" * 26)
    assert nowhere.status_code == 404 and _code(nowhere) == "live.session_not_found"
    bad_sku = await _quote(client, fan, [{"sku_id": "0" * 26, "quantity": 1}])
    assert bad_sku.status_code == 422 and _code(bad_sku) == "order.sku_unavailable"
    assert (await _quote(client, fan, lines)).json()["best"] is None
    assert await _mine(client, fan) == []
