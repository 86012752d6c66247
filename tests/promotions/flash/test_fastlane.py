"""The buy's fast lane answers exactly as the route does, and hands everything else to it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from tests.live.conftest import Room
from tests.promotions.flash.test_sales import ADDRESS, _open_sale, shop_room

pytestmark = pytest.mark.usefixtures("backend")

__all__ = ["shop_room"]


def _lane(runtime: Runtime) -> float:
    return float(runtime.metrics.flash_fastlane._value.get())


async def _by_route(runtime: Runtime, call: Any) -> Any:
    """Run a request with the lane off (it needs the token cache)."""
    cache, runtime.token_cache = runtime.token_cache, None
    try:
        return await call
    finally:
        runtime.token_cache = cache


async def _buy(client: Any, sale_id: str, headers: dict[str, str], body: Any = None) -> Any:
    return await client.post(
        f"/flash-sales/{sale_id}/buy",
        json={"shipping_address": ADDRESS} if body is None else body,
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
    )


def _shape(response: Any) -> tuple[int, set[str], Any]:
    body = response.json()
    return response.status_code, set(body), body.get("code")


async def test_the_fast_lane_and_the_route_give_the_same_answers(
    shop_room: Room, client: Any, clock: FrozenClock, runtime: Runtime, make_account: Any
) -> None:
    first, second = await make_account("fan"), await make_account("fan")
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=2, per_user_limit=1)

    before = _lane(runtime)
    by_route = await _by_route(runtime, _buy(client, sale["id"], first.headers))
    assert _lane(runtime) == before
    by_lane = await _buy(client, sale["id"], second.headers)  # a cold token: read, then cached
    assert _lane(runtime) == before + 1
    assert by_route.status_code == by_lane.status_code == 201, (by_route.text, by_lane.text)
    assert set(by_route.json()) == set(by_lane.json())
    for field in ("sale_id", "quantity", "total_minor", "currency", "status"):
        assert by_route.json()[field] == by_lane.json()[field]
    assert by_lane.headers["content-type"] == "application/json"

    third = await make_account("fan")
    sold_out_route = await _by_route(runtime, _buy(client, sale["id"], third.headers))
    sold_out_lane = await _buy(client, sale["id"], third.headers)
    assert _shape(sold_out_route) == _shape(sold_out_lane)
    assert sold_out_lane.status_code == 409 and sold_out_lane.json()["code"] == "flash.sold_out"
    assert sold_out_lane.headers["content-type"] == "application/problem+json"
    assert sold_out_lane.json()["instance"] == f"/flash-sales/{sale['id']}/buy"
    limit = await _buy(client, sale["id"], second.headers)
    assert limit.status_code == 409 and limit.json()["code"] == "flash.limit_reached"
    limit_route = await _by_route(runtime, _buy(client, sale["id"], second.headers))
    assert _shape(limit_route) == _shape(limit)

    # a warm buyer turned away twice with one key: both answers come from the lane
    key = {"Idempotency-Key": uuid.uuid4().hex}
    fourth = await make_account("fan")
    lane_before = _lane(runtime)
    again = [
        await client.post(
            f"/flash-sales/{sale['id']}/buy",
            json={"shipping_address": ADDRESS},
            headers={**fourth.headers, **key},
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in again] == [409, 409]
    assert _lane(runtime) == lane_before + 2


async def test_what_the_lane_does_not_take_goes_to_the_route_intact(
    shop_room: Room, client: Any, clock: FrozenClock, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=3)
    before = _lane(runtime)
    url = f"/flash-sales/{sale['id']}/buy"

    bad_body = await _buy(client, sale["id"], fan.headers, body={"quantity": 1})
    assert bad_body.status_code == 422 and bad_body.json()["code"] == "request.invalid"
    negative = await _buy(
        client, sale["id"], fan.headers, body={"shipping_address": ADDRESS, "quantity": -1}
    )
    assert negative.status_code == 422
    no_key = await client.post(url, json={"shipping_address": ADDRESS}, headers=fan.headers)
    assert no_key.status_code == 400 and no_key.json()["code"] == "idempotency.key_required"
    not_json = await client.post(
        url,
        content=b"quantity=1",
        headers={**fan.headers, "Idempotency-Key": "k1", "content-type": "text/plain"},
    )
    assert not_json.status_code == 422
    huge = await client.post(
        url,
        content=b'{"shipping_address": {"line1": "' + b"x" * 40_000 + b'"}}',
        headers={**fan.headers, "Idempotency-Key": "k2", "content-type": "application/json"},
    )
    assert huge.status_code in (413, 422)
    bad_token = await client.post(
        url,
        json={"shipping_address": ADDRESS},
        headers={"Authorization": "Bearer lsk_nope", "Idempotency-Key": "k3"},
    )
    assert bad_token.status_code == 401
    assert _lane(runtime) == before  # none of them was answered by the lane
    ok = await _buy(client, sale["id"], fan.headers)
    assert ok.status_code == 201 and _lane(runtime) == before + 1


async def test_an_integer_past_64_bits_is_refused_not_a_500(
    shop_room: Room, client: Any, clock: FrozenClock, runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    sale = await _open_sale(client, shop_room, clock, runtime)
    huge = await _buy(
        client, sale["id"], fan.headers, body={"shipping_address": ADDRESS, "quantity": 10**30}
    )
    assert huge.status_code == 422
    created = await client.post(
        f"/live/sessions/{shop_room.id}/flash-sales",
        json={"item_id": shop_room.item_ids[1], "price_minor": 10**30, "quantity": 1},
        headers={**shop_room.anchor.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert 400 <= created.status_code < 500, created.text


async def test_the_lane_runs_in_the_request_context_once_and_answers_the_unexpected(
    shop_room: Room,
    client: Any,
    clock: FrozenClock,
    runtime: Runtime,
    make_account: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lane sits past the framework but inside the request context: one request id,
    counted once in the request metrics, whether the lane answers or hands it on; an
    unexpected error is a logged problem+json 500 as everywhere else."""
    fan = await make_account("fan")
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=3)
    requests = runtime.metrics.requests

    def counted(status: str) -> float:
        labels = ("POST", "/flash-sales/{sale_id}/buy", status)
        return float(requests.labels(*labels)._value.get())

    ok = await client.post(
        f"/flash-sales/{sale['id']}/buy",
        json={"shipping_address": ADDRESS},
        headers={**fan.headers, "Idempotency-Key": uuid.uuid4().hex, "X-Request-Id": "lane-1"},
    )
    assert ok.status_code == 201 and ok.headers.get_list("x-request-id") == ["lane-1"]
    assert counted("201") == 1
    handed_on = await client.post(  # no key: the route answers
        f"/flash-sales/{sale['id']}/buy",
        json={"shipping_address": ADDRESS},
        headers={**fan.headers, "X-Request-Id": "route-1"},
    )
    assert handed_on.status_code == 400
    assert handed_on.headers.get_list("x-request-id") == ["route-1"]  # not applied twice
    assert counted("400") == 1

    async def broken(**_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(runtime.extras["flash"], "buy", broken)
    other = await make_account("fan")
    failed = await _buy(client, sale["id"], other.headers)
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["code"] == "internal"
