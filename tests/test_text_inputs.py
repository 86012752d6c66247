"""Text with C0 control characters (NUL first: PostgreSQL refuses it in text, which was a 500 at
about ten endpoints) is refused before any route runs: 422 ``input.invalid_text`` naming the
field, in paths, query strings, JSON bodies (where tab, line feed and carriage return pass)
and forms. Each case sends the same request with clean text too, to show the route takes it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from liveshop.inputs import TEXT_CODE
from tests.factories import address, idempotency_key, make_shop, order_body, problem_code
from tests.live.conftest import Room, live_room, live_server, open_room  # noqa: F401
from tests.payments.helpers import place_order, start_payment

UNKNOWN_ID = "01aaaaaaaaaaaaaaaaaaaaaaaa"
Send = Callable[[str], Awaitable[httpx.Response]]


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert problem_code(response) == TEXT_CODE
    assert response.json()["errors"][0]["field"] == field
    assert response.json()["errors"][0]["type"] == TEXT_CODE


async def test_nul_and_other_controls_are_refused_at_ten_endpoints(
    client: httpx.AsyncClient,
    runtime: Any,
    make_account: Any,
    live_room: Room,  # noqa: F811
) -> None:
    fan, anchor = await make_account("fan"), live_room.anchor
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    order = await place_order(client, fan, shop.sku_ids[0])
    payment = await start_payment(client, fan, order["id"])
    pay_path = httpx.URL(payment["pay_url"]).path

    def signup(text: str) -> Awaitable[httpx.Response]:
        email = f"{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": email, "password": "correct horse battery", "display_name": text}
        return client.post("/auth/signup", json=body)

    def checkout(text: str) -> Awaitable[httpx.Response]:
        body = {**order_body(shop.sku_ids[0]), "shipping_address": address(line1=text)}
        return client.post("/orders", json=body, headers={**fan.headers, **idempotency_key()})

    def new_session(text: str) -> Awaitable[httpx.Response]:
        body = {"title": text, "scheduled_at": runtime.clock.now().isoformat()}
        return client.post("/live/sessions", json=body, headers=anchor.headers)

    def announce(text: str) -> Awaitable[httpx.Response]:
        return client.post(
            f"/live/sessions/{live_room.id}/announcements",
            json={"text": text},
            headers=anchor.headers,
        )

    def banned_word(text: str) -> Awaitable[httpx.Response]:
        return client.post("/moderation/banned-words", json={"word": text}, headers=anchor.headers)

    def sku_attribute(text: str) -> Awaitable[httpx.Response]:
        return client.patch(
            f"/merchant/skus/{shop.sku_ids[0]}",
            json={"attributes": {"colour": text}},
            headers=merchant.headers,
        )

    def decision(text: str) -> Awaitable[httpx.Response]:
        return client.post(f"{pay_path}/decision", data={"decision": text})

    cases: list[tuple[str, Send, str, int]] = [
        ("query.q", lambda t: client.get("/catalog/products", params={"q": t}), "silk", 200),
        ("query.tag", lambda t: client.get("/catalog/products", params={"tag": t}), "tea", 200),
        (
            "query.q",
            lambda t: client.get("/merchant/products", params={"q": t}, headers=merchant.headers),
            "tea",
            200,
        ),
        (
            "path",
            lambda t: client.get(f"/catalog/products/{quote(t)}"),
            "01aaaaaaaaaaaaaaaaaaaaaaaa",
            404,
        ),
        ("display_name", signup, "Ann Lee", 201),
        ("shipping_address.line1", checkout, "1 Nanjing Rd", 201),
        ("title", new_session, "Evening picks", 201),
        ("text", announce, "Doors open at eight", 201),
        ("word", banned_word, "scam", 201),
        ("attributes.colour", sku_attribute, "teal", 200),
        ("decision", decision, "decline", 303),
    ]
    for field, send, clean, status in cases:
        for bad in ("\x00", "\x1b[31m", "\x07", "\x7f\x00"):
            spoiled = clean[:2] + bad + clean[2:]
            _refused(await send(spoiled), field)
        response = await send(clean)
        assert response.status_code == status, (field, response.text)
    assert len(cases) >= 10


async def test_multi_line_text_in_a_json_body_keeps_tab_and_newlines(
    client: httpx.AsyncClient, runtime: Any, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    body = {
        "title": "Picks",
        "description": "Line one\r\nLine two\n\ttabbed",
        "scheduled_at": runtime.clock.now().isoformat(),
    }
    created = await client.post("/live/sessions", json=body, headers=anchor.headers)
    assert created.status_code == 201, created.text
    assert created.json()["description"] == body["description"]
    for single_line in ("a\tb", "a\nb"):  # a query value is one line
        _refused(await client.get("/catalog/products", params={"q": single_line}), "query.q")


async def test_the_flash_fast_lane_refuses_control_text_too(
    client: httpx.AsyncClient,
    make_account: Any,
    live_room: Room,  # noqa: F811
) -> None:
    fan = await make_account("fan")
    sale = await client.post(
        f"/live/sessions/{live_room.id}/flash-sales",
        json={"item_id": live_room.item_ids[0], "price_minor": 4900, "quantity": 5},
        headers={**live_room.anchor.headers, **idempotency_key()},
    )
    assert sale.status_code == 201, sale.text
    body = {"shipping_address": address(recipient="Ann\x00Lee"), "quantity": 1}
    buy = await client.post(
        f"/flash-sales/{sale.json()['id']}/buy",
        json=body,
        headers={**fan.headers, **idempotency_key()},
    )
    _refused(buy, "shipping_address.recipient")


@pytest.mark.parametrize("key", ["k\x01", "k\x00y", "ключ"])
async def test_an_idempotency_key_with_controls_or_non_ascii_is_400(
    client: httpx.AsyncClient, runtime: Any, make_account: Any, key: str
) -> None:
    fan = await make_account("fan")
    shop = await make_shop(runtime)
    response = await client.post(
        "/orders",
        json=order_body(shop.sku_ids[0]),
        headers={**fan.headers, "Idempotency-Key": key.encode()},
    )
    assert response.status_code == 400
    assert problem_code(response) == "idempotency.key_invalid"


async def test_chat_with_a_control_character_is_refused(
    live_room: Room,  # noqa: F811
    open_room: Any,  # noqa: F811
    make_account: Any,
) -> None:
    fan = await make_account("fan")
    room = await open_room(live_room.id, fan.token)
    await room.send({"type": "chat", "text": "hi\x00there"})
    error = await room.event("error")
    assert error["code"] == "chat.bad_text"
