"""Shared pieces of the concurrency suite: many real requests at once through one app.

Each request runs in its own database session (its own PostgreSQL connection), so the races
are the database's: on PostgreSQL they interleave under READ COMMITTED, on SQLite they queue
on the write lock. The counts each test expects are exact on both."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterable
from datetime import timedelta
from typing import Any

import httpx

from liveshop.auth import service as auth_service
from liveshop.auth.models import Account, AccountRole
from liveshop.deps import Runtime
from tests.conftest import Actor


async def at_once(calls: Iterable[Awaitable[httpx.Response]]) -> list[httpx.Response]:
    """Send every request concurrently and return the answers in order."""
    return list(await asyncio.gather(*calls))


def outcomes(responses: Iterable[httpx.Response]) -> Counter[str]:
    """``{"201": 33, "409 refund.exceeds_captured": 17}``: status codes, and problem codes."""
    counts: Counter[str] = Counter()
    for r in responses:
        if r.status_code >= 400 and r.headers.get("content-type", "").startswith(
            "application/problem+json"
        ):
            counts[f"{r.status_code} {r.json()['code']}"] += 1
        else:
            counts[str(r.status_code)] += 1
    return counts


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def fans(runtime: Runtime, n: int, role: str = "fan") -> list[Actor]:
    """``n`` signed-in accounts built in one transaction (no password hashing)."""
    made = []
    now = runtime.clock.now()
    async with runtime.sessionmaker() as s:
        for i in range(n):
            email = f"c{i}-{uuid.uuid4().hex[:8]}@example.com"
            account = Account(email=email, password_hash="!", display_name=f"C {i}", created_at=now)
            s.add(account)
            await s.flush()
            s.add(AccountRole(account_id=account.id, role=role))
            token, _ = await auth_service.issue_token(
                s, account_id=account.id, now=now, ttl=timedelta(days=1)
            )
            made.append(Actor(account.id, email, token))
        await s.commit()
    return made


def json_of(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()
