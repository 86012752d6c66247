"""Red envelopes are paid for, on both databases: funding debits the funder's wallet in the
same transaction, a short wallet creates nothing, a retried command pays once, and at expiry
the remainder goes back to the wallet it came from exactly once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.idempotency import IdempotencyRecord
from liveshop.promotions.envelopes import service as envelopes
from liveshop.promotions.envelopes.flows import expire_due
from liveshop.promotions.envelopes.models import RedEnvelope
from liveshop.wallet import service as wallet
from liveshop.wallet.models import WalletEntry
from tests.conftest import Actor
from tests.live.conftest import ROOM_ANCHOR_CREDIT, Room
from tests.wallet.helpers import balance, top_up

pytestmark = pytest.mark.usefixtures("backend")


async def _fund(
    client: Any, room: Room, actor: Actor | None = None, key: str | None = None, **body: Any
) -> Any:
    actor = actor or room.anchor
    return await client.post(
        f"/live/sessions/{room.id}/red-envelopes",
        json={"amount_minor": 1000, "count": 5, **body},
        headers={**actor.headers, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def _grab(client: Any, envelope_id: str, actor: Actor) -> Any:
    headers = {**actor.headers, "Idempotency-Key": uuid.uuid4().hex}
    return await client.post(f"/red-envelopes/{envelope_id}/grab", headers=headers)


async def _ledger(runtime: Runtime, account_id: str) -> list[tuple[str, int, str]]:
    async with runtime.sessionmaker() as s:
        assert await wallet.verify(s) == []
        rows = await s.execute(
            select(WalletEntry.kind, WalletEntry.amount_minor, WalletEntry.ref)
            .where(WalletEntry.account_id == account_id)
            .order_by(WalletEntry.id)
        )
        return [(kind, amount, ref) for kind, amount, ref in rows]


async def _pots(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(RedEnvelope)) or 0)


async def test_funding_a_pot_debits_the_funders_wallet_once_also_when_retried(
    live_room: Room, client: Any, runtime: Runtime
) -> None:
    first = await _fund(client, live_room, key="fund-1", amount_minor=1000)
    again = await _fund(client, live_room, key="fund-1", amount_minor=1000)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    envelope_id = first.json()["id"]
    assert await balance(client, live_room.anchor) == ROOM_ANCHOR_CREDIT - 1000
    assert (await _ledger(runtime, live_room.anchor.id))[1:] == [
        ("envelope_fund", -1000, envelope_id)
    ]
    assert await _pots(runtime) == 1


async def test_a_pot_the_wallet_cannot_cover_is_409_and_creates_nothing(
    live_room: Room, client: Any, runtime: Runtime
) -> None:
    short = await _fund(client, live_room, key="big-pot", amount_minor=ROOM_ANCHOR_CREDIT + 1)
    assert short.status_code == 409, short.text
    assert short.headers["content-type"].startswith("application/problem+json")
    assert short.json()["code"] == "wallet.insufficient_funds"
    assert await _pots(runtime) == 0
    assert (await client.get(f"/live/sessions/{live_room.id}/red-envelopes")).json() == {
        "items": []
    }
    assert await balance(client, live_room.anchor) == ROOM_ANCHOR_CREDIT
    async with runtime.sessionmaker() as s:  # the refused command kept no key: a retry may pay
        keys = await s.scalar(select(func.count()).where(IdempotencyRecord.key == "big-pot"))
        assert keys == 0
    await top_up(client, runtime, live_room.anchor, 1)
    retried = await _fund(client, live_room, key="big-pot", amount_minor=ROOM_ANCHOR_CREDIT + 1)
    assert retried.status_code == 201, retried.text
    assert await balance(client, live_room.anchor) == 0


async def test_concurrent_pots_never_spend_more_than_the_wallet_holds(
    live_room: Room, client: Any, runtime: Runtime
) -> None:
    spare = ROOM_ANCHOR_CREDIT - 3 * 300_000  # the wallet covers three pots of 300,000
    await _fund(client, live_room, amount_minor=spare, count=1)
    responses = await asyncio.gather(
        *(_fund(client, live_room, amount_minor=300_000, count=3) for _ in range(5))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 201, 201, 409, 409], [r.text for r in responses]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "wallet.insufficient_funds"
    }
    assert await balance(client, live_room.anchor) == 0
    assert await _pots(runtime) == 4


async def test_the_remainder_goes_back_to_the_funding_wallet_exactly_once(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime, clock: FrozenClock
) -> None:
    from liveshop.catalog import service as catalog_service

    member = await make_account("fan")  # funds for the merchant, from its own wallet
    async with runtime.sessionmaker() as s:
        await catalog_service.add_member(
            s, merchant_id=live_room.shop.merchant_id, account_id=member.id
        )
        await s.commit()
    await top_up(client, runtime, member, 2000)
    funded = await _fund(
        client,
        live_room,
        member,
        amount_minor=1500,
        count=10,
        expires_in_seconds=600,
        merchant_id=live_room.shop.merchant_id,
    )
    assert funded.status_code == 201, funded.text
    envelope_id = funded.json()["id"]
    assert await balance(client, member) == 500
    fans = [await make_account("fan") for _ in range(3)]
    taken = sum([(await _grab(client, envelope_id, f)).json()["amount_minor"] for f in fans])
    clock.advance(seconds=600)
    assert await expire_due(runtime) == [envelope_id]
    assert await expire_due(runtime) == []
    async with runtime.sessionmaker() as s:  # a second sweep on another node finds it closed
        assert await envelopes.expire(s, envelope_id=envelope_id, now=clock.now()) is None
        await s.rollback()
    assert await balance(client, member) == 500 + 1500 - taken
    ledger = await _ledger(runtime, member.id)
    assert [(kind, amount) for kind, amount, _ in ledger] == [
        ("top_up", 2000),
        ("envelope_fund", -1500),
        ("envelope_refund", 1500 - taken),
    ]
    assert await balance(client, live_room.anchor) == ROOM_ANCHOR_CREDIT  # not the anchor's
    grabbed = sum([await balance(client, f) for f in fans])
    assert grabbed == taken  # the pot: grabs + refund == funding
