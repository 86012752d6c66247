"""Sign-in attempts are limited per account and per IP (in-process and Redis counters)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from liveshop.app import create_app


async def test_repeated_failures_lock_the_account_for_a_while(client, runtime, make_account, clock):
    fan = await make_account("fan")
    limit = runtime.settings.signin_max_failures_per_account
    for _ in range(limit):
        r = await client.post("/auth/signin", json={"email": fan.email, "password": "wrong"})
        assert r.json()["code"] == "auth.invalid_credentials"
    blocked = await client.post(
        "/auth/signin", json={"email": fan.email, "password": "correct horse battery"}
    )
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "auth.rate_limited"
    assert int(blocked.headers["retry-after"]) > 0
    clock.advance(seconds=runtime.settings.signin_account_window_seconds + 1)
    ok = await client.post(
        "/auth/signin", json={"email": fan.email, "password": "correct horse battery"}
    )
    assert ok.status_code == 200


async def test_one_ip_cannot_try_many_accounts(client, runtime):
    limit = runtime.settings.signin_max_attempts_per_ip
    codes = []
    for i in range(limit + 1):
        r = await client.post(
            "/auth/signin", json={"email": f"user{i}@example.com", "password": "guess"}
        )
        codes.append(r.status_code)
    assert codes[:limit] == [401] * limit
    assert codes[limit] == 429


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_limits_are_shared_through_redis(settings, clock, redis_client):
    prefix_email = f"{uuid.uuid4().hex[:8]}@example.com"
    shared = settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:6379/0", "signin_max_failures_per_account": 2}
    )
    node1, node2 = (
        create_app(shared, clock=clock, background=False),
        create_app(shared, clock=clock, background=False),
    )
    async with node1.router.lifespan_context(node1), node2.router.lifespan_context(node2):
        c1 = httpx.AsyncClient(transport=httpx.ASGITransport(app=node1), base_url="http://n1")
        c2 = httpx.AsyncClient(transport=httpx.ASGITransport(app=node2), base_url="http://n2")
        body = {"email": prefix_email, "password": "wrong"}
        assert (await c1.post("/auth/signin", json=body)).status_code == 401
        assert (await c2.post("/auth/signin", json=body)).status_code == 401
        assert (await c1.post("/auth/signin", json=body)).status_code == 429
        assert (await c2.post("/auth/signin", json=body)).status_code == 429
        await c1.aclose()
        await c2.aclose()
