from __future__ import annotations

import re
import uuid

import httpx

from liveshop.deps import Runtime
from liveshop.payments.sandbox import SandboxProvider


async def place_order(client: httpx.AsyncClient, fan, sku_id: str, quantity: int = 1) -> dict:
    from tests.factories import order_body

    r = await client.post(
        "/orders",
        json=order_body(sku_id, quantity),
        headers={**fan.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def start_payment(client: httpx.AsyncClient, fan, order_id: str, **body: object) -> dict:
    r = await client.post(
        f"/orders/{order_id}/payments",
        json=body or None,
        headers={**fan.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def decide_on_pay_page(
    client: httpx.AsyncClient, runtime: Runtime, pay_url: str, decision: str = "approve"
) -> httpx.Response:
    """What a buyer does: open the hosted page, press the button; then the webhook arrives."""
    path = httpx.URL(pay_url).path
    page = await client.get(path)
    assert page.status_code == 200
    assert re.search(r'value="approve"', page.text)
    response = await client.post(f"{path}/decision", data={"decision": decision})
    assert response.status_code == 303
    assert isinstance(runtime.payments, SandboxProvider)
    await runtime.payments.drain()
    return response


async def pay(client: httpx.AsyncClient, runtime: Runtime, fan, order_id: str) -> dict:
    payment = await start_payment(client, fan, order_id)
    await decide_on_pay_page(client, runtime, payment["pay_url"])
    r = await client.get(f"/orders/{order_id}", headers=fan.headers)
    return dict(r.json())
