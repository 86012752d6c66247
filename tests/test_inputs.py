"""Every integer a request carries is bounded (liveshop.inputs): the OpenAPI says so for each
parameter and body property, and a value past PostgreSQL's BIGINT is a 422, not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from liveshop.app import create_app
from liveshop.config import Settings
from liveshop.inputs import BIGINT_MAX, MAX_MONEY_MINOR
from tests.factories import make_shop

BIGINT_MIN = -(2**63)


def _integers(
    schema: dict[str, Any], where: str, components: dict[str, Any], seen: frozenset[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every integer schema inside ``schema`` (through $refs, unions, arrays, objects)."""
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            yield from _integers(components[name], where, components, seen | {name})
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _integers(sub, where, components, seen)
    if schema.get("type") == "integer":
        yield where, schema
    if isinstance(schema.get("items"), dict):
        yield from _integers(schema["items"], f"{where}[]", components, seen)
    for name, prop in schema.get("properties", {}).items():
        yield from _integers(prop, f"{where}.{name}", components, seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _integers(schema["additionalProperties"], f"{where}{{}}", components, seen)


def request_integers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    components = spec.get("components", {}).get("schemas", {})
    none: frozenset[str] = frozenset()
    found = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            at = f"{method.upper()} {path}"
            for p in op.get("parameters", []):
                found += _integers(p["schema"], f"{at} {p['in']}:{p['name']}", components, none)
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                found += _integers(content["schema"], f"{at} body({media})", components, none)
    return found


def test_every_integer_of_a_request_has_bounds_inside_bigint(tmp_path: Any) -> None:
    settings = Settings(env="test", database_url="sqlite+aiosqlite://", var_dir=tmp_path)
    spec = create_app(settings, background=False).openapi()
    found = request_integers(spec)
    assert len(found) > 40, "the walk found the request integers"  # 58 today
    assert any(w == "GET /catalog/products query:min_price" for w, _ in found)
    unbounded = []
    for where, schema in found:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is None or high is None or not BIGINT_MIN <= low <= high <= BIGINT_MAX:
            unbounded.append((where, low, high))
    assert unbounded == []


@pytest.mark.parametrize(
    "query",
    [
        "min_price=9223372036854775808",  # BIGINT_MAX + 1: was a 500 on PostgreSQL
        "min_price=100000000000000000000000000000",
        "max_price=9223372036854775808",
        f"min_price={MAX_MONEY_MINOR + 1}",
        "min_price=-1",
        "min_price=-9223372036854775809",
    ],
)
async def test_a_price_filter_past_its_bounds_is_a_422(client: Any, query: str) -> None:
    response = await client.get(f"/catalog/products?{query}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "request.invalid"
    assert body["errors"][0]["field"] in ("query.min_price", "query.max_price")


async def test_a_price_filter_at_its_bounds_answers(client: Any, runtime: Any) -> None:
    await make_shop(runtime, prices=(9900,))
    top = await client.get(f"/catalog/products?min_price=0&max_price={MAX_MONEY_MINOR}")
    assert top.status_code == 200 and len(top.json()["items"]) == 1
    none = await client.get(f"/catalog/products?min_price={MAX_MONEY_MINOR}")
    assert none.status_code == 200 and none.json()["items"] == []


async def test_body_integers_past_bigint_are_422_with_the_fields_code(
    client: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    key = {"Idempotency-Key": "k-1"}
    top_up = await client.post(
        "/wallet/top-ups", json={"amount_minor": 2**64}, headers={**fan.headers, **key}
    )
    assert (top_up.status_code, top_up.json()["code"]) == (422, "wallet.bad_amount")
    quote = await client.post(
        "/orders/quote",
        json={"lines": [{"sku_id": "x", "quantity": 1}], "wallet_minor": 2**63},
        headers=fan.headers,
    )
    assert (quote.status_code, quote.json()["code"]) == (422, "wallet.bad_amount")
    refund = await client.post(
        "/merchant/orders/01aaaaaaaaaaaaaaaaaaaaaaaa/refunds",
        json={"amount_minor": 2**63},
        headers={**fan.headers, **key},
    )
    assert (refund.status_code, refund.json()["code"]) == (422, "request.invalid")
