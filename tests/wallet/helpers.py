"""Money into a wallet the way a person puts it there: a top-up paid on the sandbox pay page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from liveshop.deps import Runtime
from tests.conftest import Actor
from tests.payments.helpers import decide_on_pay_page


async def start_top_up(
    client: httpx.AsyncClient, actor: Actor, amount_minor: int, key: str | None = None
) -> httpx.Response:
    return await client.post(
        "/wallet/top-ups",
        json={"amount_minor": amount_minor},
        headers={**actor.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def top_up(
    client: httpx.AsyncClient, runtime: Runtime, actor: Actor, amount_minor: int
) -> dict[str, Any]:
    """Top ``actor``'s wallet up by ``amount_minor`` (CNY) and wait for the webhook."""
    started = await start_top_up(client, actor, amount_minor)
    assert started.status_code == 201, started.text
    await decide_on_pay_page(client, runtime, started.json()["pay_url"])
    done = await client.get(f"/wallet/top-ups/{started.json()['id']}", headers=actor.headers)
    assert done.json()["status"] == "succeeded", done.text
    return dict(done.json())


async def balance(client: httpx.AsyncClient, actor: Actor, currency: str = "CNY") -> int:
    balances = (await client.get("/wallet", headers=actor.headers)).json()["balances"]
    return sum(b["balance_minor"] for b in balances if b["currency"] == currency)
