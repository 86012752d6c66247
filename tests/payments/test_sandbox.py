"""The sandbox provider and our webhook: signatures, staleness, replays, exactly once."""

from __future__ import annotations

import uuid

import orjson
import pytest

from liveshop.payments.sandbox import SIGNATURE_HEADER, sign
from tests.factories import make_shop
from tests.payments.helpers import decide_on_pay_page, pay, place_order, start_payment


def event_body(
    intent_id: str,
    amount: int,
    event_id: str | None = None,
    event_type: str = "payment_intent.succeeded",
) -> bytes:
    return orjson.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "type": event_type,
            "created": 0,
            "data": {"intent_id": intent_id, "amount_minor": amount, "currency": "CNY"},
        }
    )


async def post_webhook(
    client, runtime, body: bytes, *, timestamp: int | None = None, secret: str | None = None
):
    ts = int(runtime.clock.now().timestamp()) if timestamp is None else timestamp
    header = sign(secret or runtime.settings.webhook_secret, body, ts)
    return await client.post(
        "/payments/webhooks/sandbox",
        content=body,
        headers={SIGNATURE_HEADER: header, "content-type": "application/json"},
    )


async def test_a_fan_buys_and_pays_through_the_hosted_pay_page(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"], return_url=f"/orders/{order['id']}")
    assert payment["status"] == "requires_action"
    assert payment["amount_minor"] == order["total_minor"]
    page = await client.get(payment["pay_url"].removeprefix("http://testserver"))
    assert "99.00 CNY" in page.text
    response = await decide_on_pay_page(client, runtime, payment["pay_url"])
    assert response.headers["location"] == f"/orders/{order['id']}"
    got = (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()
    assert got["status"] == "paid"
    payments = (await client.get(f"/orders/{order['id']}/payments", headers=fan.headers)).json()
    assert payments[0]["status"] == "succeeded"


async def test_declined_payment_leaves_the_order_payable(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"])
    await decide_on_pay_page(client, runtime, payment["pay_url"], "decline")
    assert (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()[
        "status"
    ] == "pending_payment"
    retry = await start_payment(client, fan, order["id"])
    assert retry["id"] != payment["id"]
    await decide_on_pay_page(client, runtime, retry["pay_url"])
    assert (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()[
        "status"
    ] == "paid"


async def test_webhook_with_a_bad_signature_is_refused_and_changes_nothing(
    client, runtime, make_account
):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"])
    intent = payment["pay_url"].rsplit("/", 1)[1]
    forged = await post_webhook(
        client, runtime, event_body(intent, order["total_minor"]), secret="not-the-secret"
    )
    assert forged.status_code == 400
    assert forged.json()["code"] == "webhook.invalid_signature"
    unsigned = await client.post(
        "/payments/webhooks/sandbox", content=event_body(intent, order["total_minor"])
    )
    assert unsigned.json()["code"] == "webhook.invalid_signature"
    assert (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()[
        "status"
    ] == "pending_payment"


@pytest.mark.parametrize(
    "header",
    [
        "t=²,v1={mac}",  # a superscript two is a "digit" to str.isdigit, not to int()
        "t=١٧٠٠٠٠٠٠٠٠,v1={mac}",  # Arabic-Indic digits
        "t={t},v1=²{mac}",  # compare_digest refuses non-ASCII strings (a TypeError)
        "t={t},v1=é",
        "t={t},v1={mac}é",
        "t=99999999999999999999999999,v1={mac}",
        "t=-{t},v1={mac}",
        "t= {t} ,v1",
        "t={t}",
        "v1={mac}",
        "t=,v1=",
        "garbage",
        ",,,",
        "t={t},v1={mac}\x01",
    ],
)
async def test_a_malformed_signature_header_is_400_not_500(
    client, runtime, make_account, header: str
):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    intent = (await start_payment(client, fan, order["id"]))["pay_url"].rsplit("/", 1)[1]
    body = event_body(intent, order["total_minor"])
    ts = int(runtime.clock.now().timestamp())
    mac = sign(runtime.settings.webhook_secret, body, ts).partition("v1=")[2]
    value = header.format(t=ts, mac=mac)
    # HTTP headers are bytes; the server reads them as Latin-1 (b"\xb2" is "²"), so each
    # header goes as Latin-1 where it can and as UTF-8
    for encoding in ("latin-1", "utf-8"):
        try:
            raw = value.encode(encoding)
        except UnicodeEncodeError:
            continue
        r = await client.post(
            "/payments/webhooks/sandbox",
            content=body,
            headers={SIGNATURE_HEADER: raw, "content-type": "application/json"},
        )
        assert r.status_code == 400, (encoding, r.text)
        assert r.json()["code"] == "webhook.invalid_signature"
    got = await client.get(f"/orders/{order['id']}", headers=fan.headers)
    assert got.json()["status"] == "pending_payment"


async def test_tampered_body_fails_the_signature(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"])
    intent = payment["pay_url"].rsplit("/", 1)[1]
    body = event_body(intent, 1)
    ts = int(runtime.clock.now().timestamp())
    header = sign(runtime.settings.webhook_secret, body, ts)
    tampered = body.replace(b'"amount_minor":1', b'"amount_minor":2')
    r = await client.post(
        "/payments/webhooks/sandbox", content=tampered, headers={SIGNATURE_HEADER: header}
    )
    assert r.json()["code"] == "webhook.invalid_signature"


async def test_stale_webhook_is_refused(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"])
    intent = payment["pay_url"].rsplit("/", 1)[1]
    old = int(runtime.clock.now().timestamp()) - runtime.settings.webhook_tolerance_seconds - 1
    r = await post_webhook(client, runtime, event_body(intent, order["total_minor"]), timestamp=old)
    assert r.status_code == 400
    assert r.json()["code"] == "webhook.stale"
    assert (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()[
        "status"
    ] == "pending_payment"


async def test_a_replayed_event_is_refused_and_applied_once(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"])
    intent = payment["pay_url"].rsplit("/", 1)[1]
    body = event_body(intent, order["total_minor"], event_id="evt_once")
    first = await post_webhook(client, runtime, body)
    assert first.status_code == 200 and first.json()["outcome"] == "order_paid"
    replay = await post_webhook(client, runtime, body)
    assert replay.status_code == 409
    assert replay.json()["code"] == "webhook.replayed"
    async with runtime.sessionmaker() as s:
        from sqlalchemy import func, select

        from liveshop.orders.models import OrderStatusChange

        paid_rows = await s.execute(
            select(func.count()).where(
                OrderStatusChange.order_id == order["id"], OrderStatusChange.to_status == "paid"
            )
        )
        assert paid_rows.scalar_one() == 1


async def test_payment_arriving_after_expiry_is_refunded(client, runtime, make_account, clock):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"])
    clock.advance(seconds=runtime.settings.payment_window_seconds + 5)
    await decide_on_pay_page(client, runtime, payment["pay_url"])
    got = (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()
    assert got["status"] == "expired"
    payments = (await client.get(f"/orders/{order['id']}/payments", headers=fan.headers)).json()
    assert payments[0]["status"] == "refunded"
    assert payments[0]["refunded_minor"] == order["total_minor"]


async def test_partial_refunds_up_to_the_captured_amount(client, runtime, make_account):
    fan = await make_account("fan")
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    order = await place_order(client, fan, shop.sku_ids[0], 2)
    await pay(client, runtime, fan, order["id"])
    headers = {**merchant.headers, "Idempotency-Key": "refund-1"}
    first = await client.post(
        f"/merchant/orders/{order['id']}/refunds",
        json={"amount_minor": 5000, "reason": "scratched box"},
        headers=headers,
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        f"/merchant/orders/{order['id']}/refunds",
        json={"amount_minor": 5000, "reason": "scratched box"},
        headers=headers,
    )
    assert again.json()["id"] == first.json()["id"]
    too_much = await client.post(
        f"/merchant/orders/{order['id']}/refunds",
        json={"amount_minor": order["total_minor"]},
        headers={**merchant.headers, "Idempotency-Key": "refund-2"},
    )
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "refund.exceeds_captured"
    got = (await client.get(f"/orders/{order['id']}", headers=fan.headers)).json()
    assert got["refunded_minor"] == 5000
    payments = (await client.get(f"/orders/{order['id']}/payments", headers=fan.headers)).json()
    assert payments[0]["status"] == "partially_refunded"


async def test_payment_of_someone_elses_order_is_404(client, runtime, make_account):
    fan, other = await make_account("fan"), await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    r = await client.post(
        f"/orders/{order['id']}/payments", headers={**other.headers, "Idempotency-Key": "k"}
    )
    assert r.status_code == 404


async def test_return_url_must_stay_on_this_site(client, runtime, make_account):
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    order = await place_order(client, fan, shop.sku_ids[0])
    r = await client.post(
        f"/orders/{order['id']}/payments",
        json={"return_url": "https://evil.example/phish"},
        headers={**fan.headers, "Idempotency-Key": "k"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "payment.invalid_return_url"
