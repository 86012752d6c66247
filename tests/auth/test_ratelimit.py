"""Sign-in limits, on both counter backends (in-process, and Redis shared by every node):
attempts are counted before the password check, so concurrent guesses cannot race past the
limit; the attacker's source is locked, not the account."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from liveshop.app import create_app
from liveshop.clock import FrozenClock
from liveshop.config import Settings
from liveshop.deps import Runtime
from tests.conftest import REDIS_URL, connect_redis

PASSWORD = "correct horse battery"


def _random_ip() -> str:
    """A fresh source per test: Redis counters outlive a test run."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


@pytest.fixture(params=["memory", "redis"])
async def limited_app(
    request: pytest.FixtureRequest, settings: Settings, clock: FrozenClock
) -> AsyncIterator[FastAPI]:
    if request.param == "redis":
        redis = await connect_redis()  # skips (or fails, when required) without Redis
        await redis.aclose()
        settings = settings.model_copy(update={"redis_url": REDIS_URL})
    app = create_app(settings, clock=clock, background=False)
    async with app.router.lifespan_context(app):
        yield app


def _client(app: FastAPI, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _sign_up(app: FastAPI) -> str:
    email = f"{uuid.uuid4().hex[:10]}@example.com"
    async with _client(app, _random_ip()) as c:
        r = await c.post(
            "/auth/signup", json={"email": email, "password": PASSWORD, "display_name": "Owner"}
        )
    assert r.status_code == 201, r.text
    return email


def _count_password_checks(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    checked: list[int] = []
    verify = runtime.passwords.verify

    async def counting(password_hash: str | None, password: str) -> bool:
        checked.append(1)
        await asyncio.sleep(0.01)  # give the other attempts every chance to overtake
        return await verify(password_hash, password)

    monkeypatch.setattr(runtime.passwords, "verify", counting)
    return checked


async def test_25_concurrent_wrong_passwords_from_one_ip_check_exactly_5(
    limited_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime: Runtime = limited_app.state.runtime
    limit = runtime.settings.signin_max_attempts_per_account_ip
    assert limit == 5
    email = await _sign_up(limited_app)
    checked = _count_password_checks(runtime, monkeypatch)
    attacker = _random_ip()
    async with _client(limited_app, attacker) as c:
        answers = await asyncio.gather(
            *(
                c.post("/auth/signin", json={"email": email, "password": f"guess-{i}"})
                for i in range(25)
            )
        )
        codes = sorted(r.json()["code"] for r in answers)
        assert codes == ["auth.invalid_credentials"] * 5 + ["auth.rate_limited"] * 20
        assert len(checked) == 5
        for r in answers:
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) > 0
        # the attacker's source stays locked, even with the right password
        again = await c.post("/auth/signin", json={"email": email, "password": PASSWORD})
        assert again.status_code == 429 and again.json()["code"] == "auth.rate_limited"
        assert len(checked) == 5
    # the owner, from another address, signs in
    async with _client(limited_app, _random_ip()) as owner:
        ok = await owner.post("/auth/signin", json={"email": email, "password": PASSWORD})
        assert ok.status_code == 200, ok.text
    assert len(checked) == 6


async def test_the_lock_ends_with_its_window_and_is_not_renewed_by_refused_attempts(
    limited_app: FastAPI, clock: FrozenClock
) -> None:
    runtime: Runtime = limited_app.state.runtime
    window = runtime.settings.signin_account_ip_window_seconds
    email = await _sign_up(limited_app)
    async with _client(limited_app, _random_ip()) as c:
        for _ in range(runtime.settings.signin_max_attempts_per_account_ip):
            r = await c.post("/auth/signin", json={"email": email, "password": "wrong-one"})
            assert r.json()["code"] == "auth.invalid_credentials"
        clock.advance(seconds=window - 5)
        r = await c.post("/auth/signin", json={"email": email, "password": PASSWORD})
        assert r.status_code == 429
        if runtime.redis is None:  # the in-process window follows the injected clock
            clock.advance(seconds=6)
            ok = await c.post("/auth/signin", json={"email": email, "password": PASSWORD})
            assert ok.status_code == 200, ok.text
        else:  # Redis expires the key on its own clock: it is still the first window's
            assert 0 < int(r.headers["retry-after"]) <= window


async def test_a_success_clears_the_count_of_its_own_source(limited_app: FastAPI) -> None:
    runtime: Runtime = limited_app.state.runtime
    email = await _sign_up(limited_app)
    limit = runtime.settings.signin_max_attempts_per_account_ip
    async with _client(limited_app, _random_ip()) as c:
        for _ in range(limit - 1):
            await c.post("/auth/signin", json={"email": email, "password": "typo-typo"})
        ok = await c.post("/auth/signin", json={"email": email, "password": PASSWORD})
        assert ok.status_code == 200
        for _ in range(limit - 1):
            r = await c.post("/auth/signin", json={"email": email, "password": "typo-typo"})
            assert r.status_code == 401
        ok = await c.post("/auth/signin", json={"email": email, "password": PASSWORD})
        assert ok.status_code == 200


async def test_one_ip_cannot_spray_many_accounts_even_concurrently(
    limited_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime: Runtime = limited_app.state.runtime
    limit = runtime.settings.signin_max_attempts_per_ip
    checked = _count_password_checks(runtime, monkeypatch)
    async with _client(limited_app, _random_ip()) as c:
        answers = await asyncio.gather(
            *(
                c.post("/auth/signin", json={"email": f"u{i}@example.com", "password": "guess"})
                for i in range(limit + 15)
            )
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [401] * limit + [429] * 15
    assert len(checked) == limit


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_limits_are_shared_by_the_nodes_through_redis(
    settings: Settings, clock: FrozenClock, redis_client: Any
) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    shared = settings.model_copy(
        update={"redis_url": REDIS_URL, "signin_max_attempts_per_account_ip": 2}
    )
    node1 = create_app(shared, clock=clock, background=False)
    node2 = create_app(shared, clock=clock, background=False)
    ip = _random_ip()
    async with (
        node1.router.lifespan_context(node1),
        node2.router.lifespan_context(node2),
        _client(node1, ip) as c1,
        _client(node2, ip) as c2,
    ):
        body = {"email": email, "password": "wrong"}
        assert (await c1.post("/auth/signin", json=body)).status_code == 401
        assert (await c2.post("/auth/signin", json=body)).status_code == 401
        assert (await c1.post("/auth/signin", json=body)).status_code == 429
        assert (await c2.post("/auth/signin", json=body)).status_code == 429
