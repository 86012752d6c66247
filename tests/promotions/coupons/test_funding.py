"""Who funds a discount, on both databases: the probe of issue 13 reproduced (an anchor with no
tie to a merchant discounting its goods 100 %), a merchant's own coupon, an anchor's coupon
funded from its wallet (escrowed, consumed, exhausted, given back on cancel and when it ends,
concurrent uses never past the budget), a deal's coupon budget, and the platform's (admins)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from liveshop.clock import FrozenClock
from liveshop.deals import consent
from liveshop.deals.models import Deal
from liveshop.deps import Runtime
from liveshop.promotions.coupons import flows as coupon_flows
from liveshop.promotions.coupons.models import CouponTemplate
from liveshop.wallet import service as wallet_service
from liveshop.wallet.models import WalletEntry
from tests.conftest import Actor
from tests.deals.helpers import deal_with
from tests.factories import Shop, address, make_shop
from tests.factories import idempotency_key as _key
from tests.factories import problem_code as _code
from tests.wallet.helpers import balance, top_up

pytestmark = pytest.mark.usefixtures("backend")

PRICE = 77_700  # the probe's 777.00 order


def _later(runtime: Runtime, **delta: float) -> str:
    return (runtime.clock.now() + timedelta(**delta)).isoformat()


async def _issue(client: Any, runtime: Runtime, actor: Actor, **body: Any) -> Any:
    payload = {
        "title": "Off",
        "kind": "fixed",
        "amount_off_minor": 500,
        "valid_until": _later(runtime, days=1),
        "quota": 100,
        **body,
    }
    return await client.post("/coupon-templates", json=payload, headers={**actor.headers, **_key()})


async def _live(client: Any, runtime: Runtime, anchor: Actor) -> str:
    """A started session of ``anchor`` with an empty rundown."""
    created = await client.post(
        "/live/sessions",
        json={"title": "Tonight", "scheduled_at": runtime.clock.now().isoformat()},
        headers=anchor.headers,
    )
    sid = str(created.json()["id"])
    assert (await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)).is_success
    return sid


async def _coupons(
    client: Any, sid: str, anchor: Actor, template_id: str, fans: list[Actor]
) -> list[str]:
    """Drop the template in the session; each fan claims one: the coupon ids, in fan order."""
    drop = await client.post(
        f"/live/sessions/{sid}/coupon-drops",
        json={"template_id": template_id, "quota": len(fans)},
        headers={**anchor.headers, **_key()},
    )
    assert drop.status_code == 201, drop.text
    ids = []
    for fan in fans:
        claim = await client.post(
            f"/coupon-drops/{drop.json()['id']}/claim", headers={**fan.headers, **_key()}
        )
        assert claim.status_code == 201, claim.text
        ids.append(str(claim.json()["id"]))
    return ids


async def _claim_template(client: Any, template_id: str, fan: Actor) -> str:
    claim = await client.post(
        f"/coupon-templates/{template_id}/claim", headers={**fan.headers, **_key()}
    )
    assert claim.status_code == 201, claim.text
    return str(claim.json()["id"])


async def _order(client: Any, fan: Actor, shop: Shop, coupon_id: str, **body: Any) -> Any:
    return await client.post(
        "/orders",
        json={
            "lines": [{"sku_id": shop.sku_ids[0], "quantity": 1}],
            "shipping_address": address("Hangzhou"),
            "coupon_ids": [coupon_id],
            **body,
        },
        headers={**fan.headers, **_key()},
    )


async def _template_row(runtime: Runtime, template_id: str) -> CouponTemplate:
    async with runtime.sessionmaker() as s:
        row = await s.get(CouponTemplate, template_id)
        assert row is not None
        assert await wallet_service.verify(s) == []  # every balance is its ledger's sum
        return row


async def _entries(runtime: Runtime, account_id: str, kind: str) -> list[int]:
    async with runtime.sessionmaker() as s:
        rows = await s.execute(
            select(WalletEntry.amount_minor)
            .where(WalletEntry.account_id == account_id, WalletEntry.kind == kind)
            .order_by(WalletEntry.id)
        )
        return [int(a) for a in rows.scalars()]


async def test_the_probe_an_anchor_cannot_discount_a_merchants_goods_at_the_merchants_cost(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    """Issue 13: an anchor with no tie to merchant A issued a 100 %-off coupon scoped to A's
    products; a fan paid 0 for a 777.00 order and A saw it as paid. Now the coupon is refused
    unless the anchor funds it: then the fan pays 0, A receives 777.00, the anchor's wallet
    paid it."""
    owner = await make_account("merchant")
    shop_a = await make_shop(runtime, owner_id=owner.id, prices=(PRICE,))
    anchor, fan = await make_account("anchor"), await make_account("fan")
    sid = await _live(client, runtime, anchor)
    free = {
        "kind": "percent",
        "amount_off_minor": 0,
        "percent_off": 100,
        "session_id": sid,
        "scope": "merchant",
        "scope_merchant_id": shop_a.merchant_id,
        "quota": 1,
    }
    refused = await _issue(client, runtime, anchor, **free)
    assert refused.status_code == 422 and _code(refused) == "coupon.funder_required"
    for body, status, code in [
        (
            {**free, "scope": "skus", "scope_merchant_id": None, "sku_ids": shop_a.sku_ids},
            422,
            "coupon.funder_required",
        ),
        ({**free, "funded_by": "merchant"}, 422, "coupon.funder_required"),
        ({**free, "funded_by": "platform"}, 403, "auth.forbidden"),
        ({**free, "funded_by": "deal"}, 422, "coupon.funder_required"),
        ({**free, "funded_by": "wallet"}, 422, "coupon.funder_required"),
        ({**free, "merchant_id": shop_a.merchant_id}, 403, "auth.forbidden"),
        ({**free, "budget_minor": PRICE}, 409, "wallet.insufficient_funds"),  # nothing in it
    ]:
        response = await _issue(client, runtime, anchor, **body)
        assert response.status_code == status and _code(response) == code, (body, response.text)
    async with runtime.sessionmaker() as s:
        assert list((await s.execute(select(CouponTemplate))).scalars()) == []

    await top_up(client, runtime, anchor, 100_000)
    made = await _issue(client, runtime, anchor, **free, budget_minor=PRICE)
    assert made.status_code == 201, made.text
    template = made.json()
    assert (template["funded_by"], template["funder_id"], template["budget_minor"]) == (
        "wallet",
        anchor.id,
        PRICE,
    )
    assert await balance(client, anchor) == 100_000 - PRICE
    (coupon,) = await _coupons(client, sid, anchor, template["id"], [fan])

    order = await _order(client, fan, shop_a, coupon)
    assert order.status_code == 201, order.text
    body = order.json()
    assert (body["total_minor"], body["payable_minor"], body["status"]) == (0, 0, "paid")
    assert (body["discount_minor"], body["merchant_discount_minor"]) == (PRICE, 0)
    assert body["merchant_receives_minor"] == PRICE  # the merchant sees the full price
    assert body["coupons"][0]["funded_by"] == "wallet"
    seen = await client.get(f"/merchant/orders/{body['id']}", headers=owner.headers)
    assert seen.json()["merchant_receives_minor"] == PRICE
    assert (await _template_row(runtime, template["id"])).budget_used_minor == PRICE
    assert await _entries(runtime, anchor.id, "coupon_budget") == [-PRICE]


async def test_a_merchants_own_coupon_is_its_own_loss_and_the_platforms_is_not(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    owner, admin, fan = (
        await make_account("merchant"),
        await make_account("admin"),
        await make_account("fan"),
    )
    shop = await make_shop(runtime, owner_id=owner.id, prices=(9900,), stock={"HZ": 10})
    own = await _issue(client, runtime, owner)
    assert own.status_code == 201 and own.json()["funded_by"] == "merchant"
    order = await _order(client, fan, shop, await _claim_template(client, own.json()["id"], fan))
    assert order.status_code == 201, order.text
    assert (order.json()["merchant_discount_minor"], order.json()["merchant_receives_minor"]) == (
        500,
        9400,
    )

    platform = await _issue(client, runtime, admin, amount_off_minor=700)
    assert platform.status_code == 201 and platform.json()["funded_by"] == "platform"
    paid_by_us = await _order(
        client, fan, shop, await _claim_template(client, platform.json()["id"], fan)
    )
    assert paid_by_us.status_code == 201, paid_by_us.text
    got = paid_by_us.json()
    assert (got["total_minor"], got["merchant_discount_minor"], got["merchant_receives_minor"]) == (
        9200,
        0,
        9900,
    )
    by_merchant = await _issue(client, runtime, owner, funded_by="platform")
    assert by_merchant.status_code == 403 and _code(by_merchant) == "auth.forbidden"


async def test_a_wallet_budget_is_consumed_exhausted_given_back_and_refunded_when_it_ends(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(9900,), stock={"HZ": 10})
    anchor = await make_account("anchor")
    fans = [await make_account("fan") for _ in range(4)]
    await top_up(client, runtime, anchor, 10_000)
    sid = await _live(client, runtime, anchor)
    made = await _issue(client, runtime, anchor, session_id=sid, budget_minor=1200)
    template_id = made.json()["id"]
    coupons = await _coupons(client, sid, anchor, template_id, fans)
    assert await balance(client, anchor) == 10_000 - 1200

    first = await _order(client, fans[0], shop, coupons[0])
    second = await _order(client, fans[1], shop, coupons[1])
    assert first.status_code == second.status_code == 201
    quote = await client.post(
        "/orders/quote",
        json={"lines": [{"sku_id": shop.sku_ids[0], "quantity": 1}], "coupon_ids": [coupons[2]]},
        headers=fans[2].headers,
    )
    assert quote.status_code == 409 and _code(quote) == "coupon.budget_exhausted"
    best = await client.post(
        "/orders/quote",
        json={"lines": [{"sku_id": shop.sku_ids[0], "quantity": 1}]},
        headers=fans[2].headers,
    )
    assert best.json()["best"] is None  # the only coupon's budget cannot cover it
    third = await _order(client, fans[2], shop, coupons[2])
    assert third.status_code == 409 and _code(third) == "coupon.budget_exhausted"
    assert third.json()["budget_left_minor"] == 200
    row = await _template_row(runtime, template_id)
    assert (row.budget_used_minor, row.budget_refunded_minor) == (1000, 0)

    # a cancelled order gives its part back: the third fan can use its coupon now
    cancelled = await client.post(
        f"/orders/{first.json()['id']}/cancel",
        json={"reason": "changed my mind"},
        headers={**fans[0].headers, **_key()},
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (await _template_row(runtime, template_id)).budget_used_minor == 500
    assert (await _order(client, fans[2], shop, coupons[2])).status_code == 201

    # the issuer ends it: the unused 200 goes back; an order released later gives its 500 back
    ended = await client.post(f"/coupon-templates/{template_id}/end", headers=anchor.headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_at"] is not None and ended.json()["budget_refunded_minor"] == 200
    assert await balance(client, anchor) == 10_000 - 1200 + 200
    late = await _order(client, fans[3], shop, coupons[3])
    assert late.status_code == 409 and _code(late) == "coupon.expired"
    again = await client.post(f"/coupon-templates/{template_id}/end", headers=anchor.headers)
    assert again.status_code == 200 and await balance(client, anchor) == 10_000 - 1000
    await client.post(
        f"/orders/{second.json()['id']}/cancel",
        json={"reason": "later"},
        headers={**fans[1].headers, **_key()},
    )
    assert await balance(client, anchor) == 10_000 - 500
    row = await _template_row(runtime, template_id)
    assert (row.budget_used_minor, row.budget_refunded_minor) == (500, 700)
    assert await _entries(runtime, anchor.id, "coupon_budget_refund") == [200, 500]
    stranger = await make_account("anchor")
    refused = await client.post(f"/coupon-templates/{template_id}/end", headers=stranger.headers)
    assert refused.status_code == 403


async def test_an_expired_wallet_coupon_gives_its_unused_budget_back_on_the_sweep(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    anchor = await make_account("anchor")
    await top_up(client, runtime, anchor, 5000)
    sid = await _live(client, runtime, anchor)
    made = await _issue(
        client,
        runtime,
        anchor,
        session_id=sid,
        budget_minor=3000,
        valid_until=_later(runtime, hours=1),
    )
    assert await balance(client, anchor) == 2000
    assert await coupon_flows.end_due_budgets(runtime) == []
    clock.advance(hours=2)
    await coupon_flows.end_due(runtime)
    assert await balance(client, anchor) == 5000
    row = await _template_row(runtime, made.json()["id"])
    assert row.ended_at is not None and row.budget_refunded_minor == 3000
    assert await coupon_flows.end_due_budgets(runtime) == []  # once


async def test_concurrent_orders_never_spend_more_than_the_wallet_budget(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    """20 fans each holding a 5.00-off coupon of a wallet-funded template with a budget of
    25.00 order at once: exactly 5 orders get the discount, 15 are 409
    coupon.budget_exhausted, and the budget's counter is 2500."""
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(9900,), stock={"HZ": 40})
    anchor = await make_account("anchor")
    fans = [await make_account("fan") for _ in range(20)]
    await top_up(client, runtime, anchor, 10_000)
    sid = await _live(client, runtime, anchor)
    made = await _issue(client, runtime, anchor, session_id=sid, budget_minor=2500)
    coupons = await _coupons(client, sid, anchor, made.json()["id"], fans)
    responses = await asyncio.gather(
        *(_order(client, fan, shop, coupon) for fan, coupon in zip(fans, coupons, strict=True))
    )
    assert Counter(r.status_code for r in responses) == {201: 5, 409: 15}
    assert {_code(r) for r in responses if r.status_code == 409} == {"coupon.budget_exhausted"}
    row = await _template_row(runtime, made.json()["id"])
    assert row.budget_used_minor == 2500
    assert all(r.json()["merchant_receives_minor"] == 9900 for r in responses if r.is_success)


async def test_a_deal_funds_coupons_on_its_product_from_the_merchants_coupon_budget(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    owner = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(9900,), stock={"HZ": 30})
    other = await make_shop(runtime, owner_id=owner.id, prices=(5000,))
    anchor, rival = await make_account("anchor"), await make_account("anchor")
    deal = await deal_with(
        client, runtime, owner, anchor, shop.product_id, coupon_budget_minor=1000
    )
    stingy = await deal_with(client, runtime, owner, rival, shop.product_id)
    sid = await _live(client, runtime, anchor)

    wrong = [
        ({"deal_id": stingy["id"]}, 422, "coupon.funder_required"),  # another anchor's deal
        ({"deal_id": deal["id"], "scope": "merchant"}, 422, "coupon.bad_scope"),
        (
            {"deal_id": deal["id"], "scope": "skus", "sku_ids": other.sku_ids},
            422,
            "coupon.bad_scope",
        ),
        ({"deal_id": deal["id"], "budget_minor": 100}, 422, "coupon.funder_required"),
    ]
    for body, status, code in wrong:
        response = await _issue(client, runtime, anchor, session_id=sid, **body)
        assert response.status_code == status and _code(response) == code, (body, response.text)
    rival_sid = await _live(client, runtime, rival)
    spent = await _issue(client, runtime, rival, session_id=rival_sid, deal_id=stingy["id"])
    assert spent.status_code == 422 and _code(spent) == "coupon.funder_required"

    issued_key = _key()
    issued_body = {
        "title": "Off",
        "kind": "fixed",
        "amount_off_minor": 500,
        "valid_until": _later(runtime, days=1),
        "quota": 100,
        "session_id": sid,
        "deal_id": deal["id"],
    }
    made = await client.post(
        "/coupon-templates", json=issued_body, headers={**anchor.headers, **issued_key}
    )
    assert made.status_code == 201, made.text
    assert made.json()["funded_by"] == "deal" and made.json()["terms"]["scope"] == "skus"
    assert made.json()["terms"]["sku_ids"] == shop.sku_ids
    fans = [await make_account("fan") for _ in range(3)]
    coupons = await _coupons(client, sid, anchor, made.json()["id"], fans)
    orders = [await _order(client, fan, shop, c) for fan, c in zip(fans, coupons, strict=True)]
    assert [o.status_code for o in orders] == [201, 201, 409]
    assert _code(orders[2]) == "coupon.budget_exhausted"
    first = orders[0].json()
    assert (first["merchant_discount_minor"], first["merchant_receives_minor"]) == (500, 9400)
    assert first["coupons"][0]["funded_by"] == "deal"
    async with runtime.sessionmaker() as s:
        row = await s.get(Deal, deal["id"])
        assert row is not None and row.coupon_budget_used_minor == 1000
    await client.post(
        f"/orders/{first['id']}/cancel",
        json={"reason": "no"},
        headers={**fans[0].headers, **_key()},
    )
    async with runtime.sessionmaker() as s:
        row = await s.get(Deal, deal["id"])
        assert row is not None and row.coupon_budget_used_minor == 500
        assert await consent.ledger_mismatches(s) == []

    # the merchant ends the deal: its coupons take nothing more off
    await client.post(f"/merchant/deals/{deal['id']}/end", headers=owner.headers)
    ended = await _order(client, fans[2], shop, coupons[2])
    assert ended.status_code == 409 and _code(ended) == "coupon.budget_exhausted"
    no_deal = await _issue(client, runtime, anchor, session_id=sid, deal_id=deal["id"])
    assert no_deal.status_code == 422 and _code(no_deal) == "coupon.funder_required"
    # a retry of the first issue (same key, same body) answers what was stored, deal or not
    replay = await client.post(
        "/coupon-templates", json=issued_body, headers={**anchor.headers, **issued_key}
    )
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == made.json()


async def test_an_operator_funds_its_anchors_coupon_from_its_own_wallet_or_the_anchors_deal(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    """An operator (an agency working for an anchor) issues the anchor's session coupons: from
    its own wallet, or under the anchor's deal; never on the merchant's account otherwise."""
    owner, admin = await make_account("merchant"), await make_account("admin")
    shop = await make_shop(runtime, owner_id=owner.id, prices=(9900,), stock={"HZ": 10})
    anchor, operator = await make_account("anchor"), await make_account("operator")
    assigned = await client.post(
        "/admin/operator-assignments",
        json={"operator_id": operator.id, "anchor_id": anchor.id},
        headers=admin.headers,
    )
    assert assigned.is_success, assigned.text
    sid = await _live(client, runtime, anchor)
    unfunded = await _issue(client, runtime, operator, session_id=sid)
    assert unfunded.status_code == 422 and _code(unfunded) == "coupon.funder_required"

    await top_up(client, runtime, operator, 2000)
    funded = await _issue(client, runtime, operator, session_id=sid, budget_minor=1500)
    assert funded.status_code == 201, funded.text
    assert funded.json()["funder_id"] == operator.id
    assert await balance(client, operator) == 500 and await balance(client, anchor) == 0

    deal = await deal_with(client, runtime, owner, anchor, shop.product_id, coupon_budget_minor=900)
    by_deal = await _issue(client, runtime, operator, session_id=sid, deal_id=deal["id"])
    assert by_deal.status_code == 201 and by_deal.json()["funded_by"] == "deal"
    stranger = await make_account("operator")
    refused = await _issue(client, runtime, stranger, deal_id=deal["id"])
    assert refused.status_code == 403  # not a merchant member, no session it manages
