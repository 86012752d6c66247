"""The principal cache: lifetime, token expiry, LRU bound, and what drops entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.auth.service import Principal
from liveshop.auth.token_cache import TokenCache

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Ticks:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _p(account: str, token: str) -> Principal:
    return Principal(account, f"{account}@x.test", account, frozenset({"fan"}), token)


def test_an_entry_lives_for_its_lifetime_only() -> None:
    ticks = Ticks()
    cache = TokenCache(5, monotonic=ticks)
    cache.put("h1", _p("a", "t1"), token_expires_at=NOW + timedelta(days=1))
    assert cache.get("h1", now=NOW) == _p("a", "t1")
    ticks.t += 4.9
    assert cache.get("h1", now=NOW) is not None
    ticks.t += 0.2
    assert cache.get("h1", now=NOW) is None
    assert len(cache) == 0


def test_the_token_expiry_is_checked_on_every_hit() -> None:
    cache = TokenCache(60, monotonic=Ticks())
    cache.put("h1", _p("a", "t1"), token_expires_at=NOW + timedelta(seconds=1))
    assert cache.get("h1", now=NOW) is not None
    assert cache.get("h1", now=NOW + timedelta(seconds=1)) is None


def test_the_least_recently_used_goes_first_past_the_bound() -> None:
    cache = TokenCache(60, max_entries=2, monotonic=Ticks())
    later = NOW + timedelta(days=1)
    cache.put("h1", _p("a", "t1"), token_expires_at=later)
    cache.put("h2", _p("b", "t2"), token_expires_at=later)
    assert cache.get("h1", now=NOW) is not None  # h2 is now the oldest
    cache.put("h3", _p("c", "t3"), token_expires_at=later)
    assert cache.get("h2", now=NOW) is None
    assert cache.get("h1", now=NOW) is not None
    assert cache.get("h3", now=NOW) is not None
    assert len(cache) == 2


def test_forgetting_a_token_or_an_account() -> None:
    cache = TokenCache(60, monotonic=Ticks())
    later = NOW + timedelta(days=1)
    cache.put("h1", _p("a", "t1"), token_expires_at=later)
    cache.put("h2", _p("a", "t2"), token_expires_at=later)
    cache.put("h3", _p("b", "t3"), token_expires_at=later)
    cache.forget_token("h1")
    assert cache.get("h1", now=NOW) is None
    assert cache.get("h2", now=NOW) is not None
    cache.forget_account("a")
    assert cache.get("h2", now=NOW) is None
    assert cache.get("h3", now=NOW) is not None
    cache.forget_account("nobody")
    cache.forget_token("nothing")
    assert len(cache) == 1


def test_a_cache_needs_a_positive_lifetime() -> None:
    with pytest.raises(ValueError):
        TokenCache(0)


async def test_signing_out_takes_effect_at_once_on_this_node(
    client: Any, make_account: Any
) -> None:
    account = await make_account("fan")
    headers = {"Authorization": f"Bearer {account.token}"}
    assert (await client.get("/auth/me", headers=headers)).status_code == 200  # now cached
    assert (await client.post("/auth/signout", headers=headers)).status_code == 204
    response = await client.get("/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "auth.invalid_token"


async def test_a_granted_role_takes_effect_at_once_on_this_node(
    client: Any, make_account: Any
) -> None:
    admin = await make_account("admin")
    fan = await make_account("fan")
    fan_headers = {"Authorization": f"Bearer {fan.token}"}
    me = await client.get("/auth/me", headers=fan_headers)
    assert "anchor" not in me.json()["roles"]
    granted = await client.post(
        f"/admin/accounts/{fan.id}/roles",
        json={"role": "anchor"},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert granted.status_code == 200, granted.text
    created = await client.post(
        "/live/sessions",
        json={"title": "new anchor", "scheduled_at": NOW.isoformat()},
        headers=fan_headers,
    )
    assert created.status_code == 201, created.text


def test_clearing_drops_everything() -> None:
    cache = TokenCache(60, monotonic=Ticks())
    later = NOW + timedelta(days=1)
    cache.put("h1", _p("a", "t1"), token_expires_at=later)
    cache.put("h2", _p("b", "t2"), token_expires_at=later)
    cache.clear()
    assert len(cache) == 0
    assert cache.get("h1", now=NOW) is None
    cache.forget_account("a")  # nothing left to forget, and no stale index
    cache.put("h1", _p("a", "t1"), token_expires_at=later)
    assert cache.get("h1", now=NOW) is not None
