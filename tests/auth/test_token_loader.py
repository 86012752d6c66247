"""Cache misses of one loop turn are read with one statement, each gets its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liveshop.auth.service import hash_token
from liveshop.auth.token_loader import MAX_BATCH, TokenLoader
from liveshop.deps import Runtime

pytestmark = pytest.mark.usefixtures("backend")


async def test_misses_of_one_turn_share_one_statement(runtime: Runtime, make_account: Any) -> None:
    accounts = [await make_account("fan") for _ in range(5)]
    admin = await make_account("admin", "anchor")
    loader = TokenLoader(runtime.sessionmaker)
    now = runtime.clock.now()
    hashes = [hash_token(a.token) for a in [*accounts, admin]] + [hash_token("lsk_unknown")]
    found = await asyncio.gather(*(loader.load(h, now=now) for h in [*hashes, hashes[0]]))
    assert loader.batches == 1
    assert [f[0].account_id if f else None for f in found] == [
        *[a.id for a in accounts],
        admin.id,
        None,
        accounts[0].id,
    ]
    assert found[5] is not None and found[5][0].roles == frozenset({"admin", "anchor"})
    assert found[0] is not None and found[0][0].roles == frozenset({"fan"})

    again = await loader.load(hashes[1], now=now)  # a later turn: a new statement
    assert again is not None and again[0].account_id == accounts[1].id
    assert loader.batches == 2


async def test_a_big_burst_is_read_in_chunks(runtime: Runtime, make_account: Any) -> None:
    fan = await make_account("fan")
    loader = TokenLoader(runtime.sessionmaker)
    now = runtime.clock.now()
    unknown = [hash_token(f"lsk_{i}") for i in range(MAX_BATCH)]
    found = await asyncio.gather(
        *(loader.load(h, now=now) for h in [*unknown, hash_token(fan.token)])
    )
    assert loader.batches == 2
    assert found[:-1] == [None] * MAX_BATCH
    assert found[-1] is not None and found[-1][0].account_id == fan.id


async def test_a_failed_read_fails_every_waiter_and_the_next_turn_reads_again(
    runtime: Runtime, make_account: Any
) -> None:
    fan = await make_account("fan")
    now = runtime.clock.now()

    class Broken:
        def __call__(self) -> Any:
            raise ConnectionError("database down")

    loader = TokenLoader(Broken())  # type: ignore[arg-type]
    results = await asyncio.gather(
        loader.load(hash_token(fan.token), now=now),
        loader.load(hash_token("lsk_x"), now=now),
        return_exceptions=True,
    )
    assert all(isinstance(r, ConnectionError) for r in results)
    loader._sessionmaker = runtime.sessionmaker  # back up
    found = await loader.load(hash_token(fan.token), now=now)
    assert found is not None and found[0].account_id == fan.id


async def test_a_revoked_or_expired_token_is_not_found(
    runtime: Runtime, make_account: Any, client: Any
) -> None:
    fan = await make_account("fan")
    assert (await client.post("/auth/signout", headers=fan.headers)).status_code == 204
    loader = TokenLoader(runtime.sessionmaker)
    assert await loader.load(hash_token(fan.token), now=runtime.clock.now()) is None
    other = await make_account("fan")
    later = runtime.clock.now().replace(year=runtime.clock.now().year + 1)
    assert await loader.load(hash_token(other.token), now=later) is None
