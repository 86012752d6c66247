"""Deals the way people make them: a merchant publishes an offer, an anchor accepts it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from liveshop.deps import Runtime
from tests.conftest import Actor
from tests.factories import idempotency_key as _key


async def publish(
    client: Any, runtime: Runtime, merchant: Actor, product_id: str, **terms: Any
) -> dict[str, Any]:
    body = {
        "product_id": product_id,
        "floor_price_minor": 1000,
        "stock_share": 10,
        "prize_units": 3,
        "commission_bps": 1500,
        "valid_until": (runtime.clock.now() + timedelta(days=7)).isoformat(),
        **terms,
    }
    response = await client.post(
        "/merchant/deal-offers", json=body, headers={**merchant.headers, **_key()}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def accept(client: Any, anchor: Actor, offer_id: str, **body: Any) -> Any:
    return await client.post(
        f"/anchor/deal-offers/{offer_id}/accept",
        json=body or None,
        headers={**anchor.headers, **_key()},
    )


async def deal_with(
    client: Any, runtime: Runtime, merchant: Actor, anchor: Actor, product_id: str, **terms: Any
) -> dict[str, Any]:
    """An offer to ``anchor`` alone, accepted: the deal."""
    offer = await publish(client, runtime, merchant, product_id, anchor_ids=[anchor.id], **terms)
    response = await accept(client, anchor, offer["id"])
    assert response.status_code == 201, response.text
    return dict(response.json())
