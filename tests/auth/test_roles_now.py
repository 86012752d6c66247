"""Roles as they are now, on both databases: a revoked anchor loses its sessions from its
next request on (the token cache is on, as in production), a revoked operator its session,
a deactivated account its tokens; the stream key works only for an active anchor; and with
two nodes sharing the database and Redis, a revoke, a deactivation or a sign-out on node A is
refused on node B at once (its cache is dropped over Redis pub/sub, not left to expire)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from liveshop.app import create_app
from liveshop.auth import service as auth_service
from liveshop.clock import FrozenClock
from liveshop.config import Settings
from liveshop.deps import Runtime
from tests.conftest import REDIS_URL, Actor, connect_redis
from tests.video.conftest import get_stream, hook, key_of, schedule_session

pytestmark = pytest.mark.usefixtures("backend")


async def _code(response: httpx.Response) -> str:
    return str(response.json().get("code", "")) if response.content else ""


async def test_a_revoked_anchor_is_refused_on_its_own_sessions_at_once(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    assert runtime.token_cache is not None  # the cache is on: the revoke must drop it
    admin, anchor = await make_account("admin"), await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    later = await schedule_session(client, runtime, anchor, title="Later")
    assert (await client.get(f"/live/sessions/{sid}/rundown", headers=anchor.headers)).is_success
    assert len(runtime.token_cache) >= 1

    revoked = await client.delete(
        f"/admin/accounts/{anchor.id}/roles/anchor", headers=admin.headers
    )
    assert revoked.status_code == 200 and "anchor" not in revoked.json()["roles"]

    start = await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)
    assert start.status_code == 403, start.text
    assert await _code(start) == "auth.forbidden"
    when = (runtime.clock.now() + timedelta(hours=2)).isoformat()
    for method, path, body in (
        ("PATCH", f"/live/sessions/{sid}", {"title": "mine still?"}),
        ("PUT", f"/live/sessions/{sid}/rundown", {"items": []}),
        ("GET", f"/live/sessions/{sid}/stream", None),
        ("POST", f"/live/sessions/{sid}/stream/rotate-key", None),
        ("POST", f"/live/sessions/{later}/end", None),
        ("POST", "/live/sessions", {"title": "new", "scheduled_at": when}),
        ("POST", "/anchor/fan-groups", {"name": "fans"}),
    ):
        r = await client.request(method, path, json=body, headers=anchor.headers)
        assert r.status_code == 403, (method, path, r.status_code, r.text)

    # granted again: powers are back at once too
    await client.post(
        f"/admin/accounts/{anchor.id}/roles", json={"role": "anchor"}, headers=admin.headers
    )
    start = await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)
    assert start.status_code == 200, start.text


async def test_nobody_starts_the_session_of_an_account_that_is_no_longer_an_anchor(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    admin, anchor = await make_account("admin"), await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    await client.delete(f"/admin/accounts/{anchor.id}/roles/anchor", headers=admin.headers)
    start = await client.post(f"/live/sessions/{sid}/start", headers=admin.headers)
    assert start.status_code == 403
    assert await _code(start) == "live.anchor_not_active"
    # the admin may still end (cancel) it
    end = await client.post(f"/live/sessions/{sid}/end", headers=admin.headers)
    assert end.status_code == 200, end.text


async def test_a_session_operator_whose_role_is_revoked_loses_the_session(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    admin, anchor = await make_account("admin"), await make_account("anchor")
    operator = await make_account("operator")
    sid = await schedule_session(client, runtime, anchor)
    added = await client.post(
        f"/live/sessions/{sid}/operators", json={"account_id": operator.id}, headers=anchor.headers
    )
    assert added.status_code in (200, 201), added.text
    path = f"/live/sessions/{sid}/rundown"
    assert (await client.get(path, headers=operator.headers)).status_code == 200
    await client.delete(f"/admin/accounts/{operator.id}/roles/operator", headers=admin.headers)
    assert (await client.get(path, headers=operator.headers)).status_code == 403


async def test_a_deactivated_account_loses_its_tokens_and_cannot_sign_in(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    admin, fan = await make_account("admin"), await make_account("fan")
    assert (await client.get("/auth/me", headers=fan.headers)).status_code == 200  # cached
    denied = await client.post(f"/admin/accounts/{fan.id}/deactivate", headers=fan.headers)
    assert denied.status_code == 403
    off = await client.post(f"/admin/accounts/{fan.id}/deactivate", headers=admin.headers)
    assert off.status_code == 200 and off.json()["is_active"] is False
    me = await client.get("/auth/me", headers=fan.headers)
    assert me.status_code == 401 and await _code(me) == "auth.invalid_token"
    signin = await client.post(
        "/auth/signin", json={"email": fan.email, "password": "correct horse battery"}
    )
    assert signin.status_code == 401
    on = await client.post(f"/admin/accounts/{fan.id}/activate", headers=admin.headers)
    assert on.status_code == 200 and on.json()["is_active"] is True
    assert (await client.get("/auth/me", headers=fan.headers)).status_code == 200
    missing = await client.post("/admin/accounts/nope/deactivate", headers=admin.headers)
    assert missing.status_code == 404
    itself = await client.post(f"/admin/accounts/{admin.id}/deactivate", headers=admin.headers)
    assert itself.status_code == 409 and await _code(itself) == "account.self_deactivation"


async def test_the_stream_key_works_only_for_an_active_anchor(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    admin, anchor = await make_account("admin"), await make_account("anchor")
    secret = runtime.settings.hook_secret
    revoked_sid = await schedule_session(client, runtime, anchor)
    inactive_sid = await schedule_session(client, runtime, anchor, title="Two")
    keys = {
        sid: key_of(await get_stream(client, sid, anchor)) for sid in (revoked_sid, inactive_sid)
    }

    await client.delete(f"/admin/accounts/{anchor.id}/roles/anchor", headers=admin.headers)
    r = await hook(client, secret, "publish", name=revoked_sid, key=keys[revoked_sid], clientid="1")
    assert r.status_code == 403 and await _code(r) == "video.anchor_not_active"

    await client.post(
        f"/admin/accounts/{anchor.id}/roles", json={"role": "anchor"}, headers=admin.headers
    )
    await client.post(f"/admin/accounts/{anchor.id}/deactivate", headers=admin.headers)
    r = await hook(
        client, secret, "publish", name=inactive_sid, key=keys[inactive_sid], clientid="2"
    )
    assert r.status_code == 403 and await _code(r) == "video.anchor_not_active"

    await client.post(f"/admin/accounts/{anchor.id}/activate", headers=admin.headers)
    r = await hook(
        client, secret, "publish", name=inactive_sid, key=keys[inactive_sid], clientid="3"
    )
    assert r.status_code == 204, r.text
    status = (await client.get(f"/live/sessions/{inactive_sid}")).json()["status"]
    assert status == "live"


# -- two nodes ------------------------------------------------------------------------------


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 2.0) -> float:
    """Seconds until ``check`` holds (polling); fails after ``within``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        if loop.time() - start > within:
            raise AssertionError(f"not within {within} s")
        await asyncio.sleep(0.01)
    return loop.time() - start


@pytest.fixture
async def two_nodes(
    settings: Settings, clock: FrozenClock
) -> AsyncIterator[tuple[FastAPI, FastAPI]]:
    redis = await connect_redis()  # skips (or fails, when required) without Redis
    await redis.aclose()
    # a cache lifetime far longer than the test: only the pub/sub message can drop B's entry
    shared = settings.model_copy(update={"redis_url": REDIS_URL, "auth_cache_seconds": 300})
    a = create_app(shared, clock=clock, background=False)
    b = create_app(shared, clock=clock, background=False)
    async with a.router.lifespan_context(a), b.router.lifespan_context(b):
        yield a, b


def _client(app: FastAPI, name: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")


async def _actor(runtime: Runtime, *roles: Any) -> Actor:
    import uuid

    email = f"{uuid.uuid4().hex[:10]}@example.com"
    async with runtime.sessionmaker() as s:
        account = await auth_service.create(
            s,
            email=email,
            password="correct horse battery",
            display_name="n",
            roles=roles,
            passwords=runtime.passwords,
            now=runtime.clock.now(),
        )
        token, _ = await auth_service.issue_token(
            s, account_id=account.id, now=runtime.clock.now(), ttl=timedelta(days=1)
        )
        await s.commit()
    return Actor(account.id, email, token)


async def test_node_b_refuses_at_once_after_a_revoke_deactivation_or_sign_out_on_node_a(
    two_nodes: tuple[FastAPI, FastAPI],
) -> None:
    app_a, app_b = two_nodes
    rt_a: Runtime = app_a.state.runtime
    rt_b: Runtime = app_b.state.runtime
    assert rt_b.token_cache is not None
    admin = await _actor(rt_a, "admin")
    anchor = await _actor(rt_a, "anchor")
    fan = await _actor(rt_a, "fan")
    leaver = await _actor(rt_a, "fan")
    async with _client(app_a, "a") as a, _client(app_b, "b") as b:
        sid = await schedule_session(a, rt_a, anchor)
        # node B has each principal cached
        assert (await b.get(f"/live/sessions/{sid}/rundown", headers=anchor.headers)).is_success
        for actor in (fan, leaver):
            assert (await b.get("/auth/me", headers=actor.headers)).status_code == 200
        assert len(rt_b.token_cache) == 3
        received = rt_b.invalidation.received

        # role revoked on A -> B refuses the anchor's start
        r = await a.delete(f"/admin/accounts/{anchor.id}/roles/anchor", headers=admin.headers)
        assert r.status_code == 200

        async def rundown_refused() -> bool:
            r = await b.get(f"/live/sessions/{sid}/rundown", headers=anchor.headers)
            assert r.status_code in (200, 403), r.text
            return r.status_code == 403

        took = await _eventually(rundown_refused)
        assert took < 2.0
        start = await b.post(f"/live/sessions/{sid}/start", headers=anchor.headers)
        assert start.status_code == 403 and await _code(start) == "auth.forbidden"

        # deactivated on A -> B refuses its token
        r = await a.post(f"/admin/accounts/{fan.id}/deactivate", headers=admin.headers)
        assert r.status_code == 200

        async def fan_refused() -> bool:
            return (await b.get("/auth/me", headers=fan.headers)).status_code == 401

        await _eventually(fan_refused)

        # signed out on A -> B refuses the token
        assert (await a.post("/auth/signout", headers=leaver.headers)).status_code == 204

        async def leaver_refused() -> bool:
            return (await b.get("/auth/me", headers=leaver.headers)).status_code == 401

        await _eventually(leaver_refused)
        assert rt_b.invalidation.received >= received + 3
        # and the session never went live on either node
        assert (await a.get(f"/live/sessions/{sid}")).json()["status"] == "scheduled"


async def test_without_the_message_node_b_would_have_served_the_stale_role(
    two_nodes: tuple[FastAPI, FastAPI],
) -> None:
    """The control: a role removed in the database behind both nodes' backs (no message) is
    still served from B's cache. So the test above passes because of the message."""
    app_a, app_b = two_nodes
    rt_a: Runtime = app_a.state.runtime
    anchor = await _actor(rt_a, "anchor")
    async with _client(app_a, "a") as a, _client(app_b, "b") as b:
        sid = await schedule_session(a, rt_a, anchor)
        assert (await b.get(f"/live/sessions/{sid}/rundown", headers=anchor.headers)).is_success
        async with rt_a.sessionmaker() as s:
            await auth_service.revoke_role(s, account_id=anchor.id, role="anchor")
            await s.commit()
        await asyncio.sleep(0.2)
        stale = await b.get(f"/live/sessions/{sid}/rundown", headers=anchor.headers)
        assert stale.status_code == 200
