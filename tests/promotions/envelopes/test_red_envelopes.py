"""Red envelopes over HTTP on both databases: the lifecycle seen by a real WebSocket viewer,
many concurrent grabbers on both gates, idempotent retries, not-yet-open and expiry (the
remainder back to the funder), both modes, a restart, and bad input."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.auth import service as auth_service
from liveshop.auth.models import Account, AccountRole
from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.live.events import parse_event
from liveshop.live.models import RoomEvent
from liveshop.live.state import apply_events
from liveshop.promotions.envelopes.flows import GATE, expire_due
from liveshop.promotions.envelopes.gate import MemoryEnvelopeGate
from liveshop.promotions.envelopes.gate_redis import RedisEnvelopeGate
from liveshop.promotions.envelopes.models import RedEnvelope, RedEnvelopeGrab
from liveshop.wallet import service as wallet
from tests.conftest import Actor, connect_redis
from tests.factories import idempotency_key as _key
from tests.factories import problem_code as _code
from tests.live.conftest import ROOM_ANCHOR_CREDIT, Room
from tests.wallet.helpers import top_up

pytestmark = pytest.mark.usefixtures("backend")


async def _fund(client: Any, room: Room, actor: Actor | None = None, **body: Any) -> Any:
    actor = actor or room.anchor
    return await client.post(
        f"/live/sessions/{room.id}/red-envelopes",
        json={"amount_minor": 1000, "count": 5, **body},
        headers={**actor.headers, **_key()},
    )


async def _funded(client: Any, room: Room, **body: Any) -> dict[str, Any]:
    response = await _fund(client, room, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _grab(client: Any, envelope_id: str, actor: Actor, key: str | None = None) -> Any:
    headers = {**actor.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(f"/red-envelopes/{envelope_id}/grab", headers=headers)


async def _wallet_total(runtime: Runtime, actors: list[Actor]) -> int:
    async with runtime.sessionmaker() as s:
        assert await wallet.verify(s) == []
        return sum([await wallet.balance(s, account_id=a.id, currency="CNY") for a in actors])


async def _fans(runtime: Runtime, n: int) -> list[Actor]:
    """``n`` signed-in fans built straight into the database in one transaction (no password:
    hashing 200 of them would cost more than the grabs under test)."""
    fans = []
    now = runtime.clock.now()
    async with runtime.sessionmaker() as s:
        for i in range(n):
            email = f"fan{i}-{uuid.uuid4().hex[:6]}@example.com"
            account = Account(
                email=email, password_hash="!", display_name=f"Fan {i}", created_at=now
            )
            s.add(account)
            await s.flush()
            s.add(AccountRole(account_id=account.id, role="fan"))
            token, _ = await auth_service.issue_token(
                s, account_id=account.id, now=now, ttl=timedelta(days=1)
            )
            fans.append(Actor(account.id, email, token))
        await s.commit()
    return fans


@pytest.fixture(params=["memory", "redis"])
async def gate_kind(request: pytest.FixtureRequest, runtime: Runtime) -> AsyncIterator[str]:
    """Run the app on the in-process gate or on the Redis gate (unique key prefix)."""
    if request.param == "memory":
        yield "memory"
        return
    client = await connect_redis()
    prefix = f"t{uuid.uuid4().hex[:8]}"
    runtime.extras[GATE] = RedisEnvelopeGate(client, prefix=prefix)
    try:
        yield "redis"
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_a_viewer_sees_the_pot_open_and_its_result_once_every_share_is_taken(
    live_room: Room, open_room: Any, client: Any, make_account: Any, runtime: Runtime
) -> None:
    early = await open_room(live_room.id)
    assert early.first["snapshot"]["promotions"] == []
    envelope = await _funded(client, live_room, amount_minor=1000, count=5)
    assert envelope["state"] == "open" and envelope["remaining_count"] == 5
    opened = await early.event("red_envelope.open")
    parse_event(opened)
    assert opened["envelope"]["id"] == envelope["id"] and opened["envelope"]["count"] == 5
    assert opened["envelope"]["funder"]["id"] == live_room.anchor.id
    middle = await open_room(live_room.id)
    assert middle.first["snapshot"]["promotions"] == [opened["envelope"]]

    fans = [await make_account("fan") for _ in range(6)]
    amounts = []
    for fan in fans[:5]:
        response = await _grab(client, envelope["id"], fan)
        assert response.status_code == 200, response.text
        amounts.append(response.json()["amount_minor"])
    assert sum(amounts) == 1000 and min(amounts) >= 1
    late = await _grab(client, envelope["id"], fans[5])
    assert late.status_code == 409 and _code(late) == "envelope.empty"
    twice = await _grab(client, envelope["id"], fans[0])
    assert twice.status_code == 409 and _code(twice) == "envelope.already_grabbed"

    result = await early.event("red_envelope.result")
    parse_event(result)
    body = result["result"]
    assert body["state"] == "finished" and body["grabbed_minor"] == 1000
    assert [g["amount_minor"] for g in body["grabs"]] == amounts
    assert [g["user"]["name"] for g in body["grabs"]] == [f.email.split("@")[0] for f in fans[:5]]
    assert body["best_luck"]["amount_minor"] == max(amounts)
    assert result["seq"] > opened["seq"]

    detail = (await client.get(f"/red-envelopes/{envelope['id']}", headers=fans[1].headers)).json()
    assert detail["state"] == "finished" and detail["remaining_count"] == 0
    assert detail["best_luck"] == body["best_luck"] and detail["grabs"] == body["grabs"]
    assert detail["you"]["amount_minor"] == amounts[1]
    assert await _wallet_total(runtime, fans) == 1000
    mine = (await client.get("/wallet/entries", headers=fans[2].headers)).json()["items"]
    assert [(e["kind"], e["ref"], e["amount_minor"]) for e in mine] == [
        ("envelope_grab", envelope["id"], amounts[2])
    ]
    # a snapshot plus the events after it equals a fresh snapshot
    fresh = (await open_room(live_room.id)).first["snapshot"]
    replayed = apply_events(early.first["snapshot"], early.events())
    assert fresh["promotions"] == replayed["promotions"] == []
    await middle.event("red_envelope.result")
    assert apply_events(middle.first["snapshot"], middle.events())["promotions"] == []


async def test_two_hundred_concurrent_grabbers_take_exactly_fifty_shares(
    live_room: Room, client: Any, runtime: Runtime, gate_kind: str, backend: str
) -> None:
    if (backend, gate_kind) == ("sqlite", "redis"):
        pytest.skip("several nodes (the Redis gate) need PostgreSQL; see Settings")
    envelope = await _funded(client, live_room, amount_minor=5000, count=50)
    fans = await _fans(runtime, 200)
    responses = await asyncio.gather(*(_grab(client, envelope["id"], fan) for fan in fans))
    won = [r.json() for r in responses if r.status_code == 200]
    assert len(won) == 50, Counter(r.status_code for r in responses)
    assert Counter(_code(r) for r in responses if r.status_code != 200) == {"envelope.empty": 150}
    assert sum(w["amount_minor"] for w in won) == 5000
    assert min(w["amount_minor"] for w in won) >= 1
    assert sorted(w["seq"] for w in won) == list(range(1, 51))
    async with runtime.sessionmaker() as s:
        rows = list((await s.execute(select(RedEnvelopeGrab))).scalars())
        assert len({r.account_id for r in rows}) == 50
        pot = await s.get(RedEnvelope, envelope["id"])
        assert pot is not None and pot.status == "finished" and pot.grabbed_minor == 5000
    assert await _wallet_total(runtime, fans) == 5000
    await runtime.rooms.flush_log()
    async with runtime.sessionmaker() as s:
        results = await s.scalar(
            select(func.count()).where(RoomEvent.type == "red_envelope.result")
        )
    assert results == 1


async def test_a_retry_with_the_same_key_answers_the_same_share_in_both_modes(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime, gate_kind: str
) -> None:
    fans = [await make_account("fan") for _ in range(4)]
    for mode in ("double_mean", "pre_split"):
        envelope = await _funded(client, live_room, amount_minor=100, count=4, mode=mode)
        assert envelope["mode"] == mode
        first = await _grab(client, envelope["id"], fans[0], key=f"k-{mode}")
        again = await _grab(client, envelope["id"], fans[0], key=f"k-{mode}")
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        other_key = await _grab(client, envelope["id"], fans[0])
        assert other_key.status_code == 409 and _code(other_key) == "envelope.already_grabbed"
        amounts = [first.json()["amount_minor"]]
        for fan in fans[1:]:
            amounts.append((await _grab(client, envelope["id"], fan)).json()["amount_minor"])
        assert sum(amounts) == 100 and min(amounts) >= 1
        if mode == "pre_split":
            async with runtime.sessionmaker() as s:
                pot = await s.get(RedEnvelope, envelope["id"])
                assert pot is not None and pot.pieces == amounts  # handed out in order
        detail = (await client.get(f"/red-envelopes/{envelope['id']}")).json()
        assert "pieces" not in detail and detail["state"] == "finished"
    assert await _wallet_total(runtime, fans) == 200


async def test_a_delayed_pot_is_not_open_until_its_time(
    live_room: Room, client: Any, make_account: Any, clock: FrozenClock
) -> None:
    fan = await make_account("fan")
    envelope = await _funded(client, live_room, delay_seconds=60, count=1, amount_minor=88)
    assert envelope["state"] == "scheduled"
    early = await _grab(client, envelope["id"], fan)
    assert early.status_code == 409 and _code(early) == "envelope.not_open"
    assert early.json()["opens_at"] == envelope["opens_at"]
    clock.advance(seconds=60)
    assert (await client.get(f"/red-envelopes/{envelope['id']}")).json()["state"] == "open"
    on_time = await _grab(client, envelope["id"], fan)
    assert on_time.status_code == 200 and on_time.json()["amount_minor"] == 88


async def test_at_expiry_the_remainder_goes_back_to_the_funder_and_the_room_sees_the_result(
    live_room: Room,
    open_room: Any,
    client: Any,
    make_account: Any,
    runtime: Runtime,
    clock: FrozenClock,
) -> None:
    viewer = await open_room(live_room.id)
    envelope = await _funded(
        client, live_room, amount_minor=1000, count=10, expires_in_seconds=3600
    )
    fans = [await make_account("fan") for _ in range(4)]
    taken = 0
    for fan in fans[:3]:
        taken += (await _grab(client, envelope["id"], fan)).json()["amount_minor"]
    clock.advance(seconds=3600)
    late = await _grab(client, envelope["id"], fans[3])
    assert late.status_code == 409 and _code(late) == "envelope.expired"
    unswept = (await client.get(f"/red-envelopes/{envelope['id']}")).json()
    assert unswept["state"] == "expired" and unswept["refunded_minor"] == 0

    assert await expire_due(runtime) == [envelope["id"]]
    assert await expire_due(runtime) == []  # once
    result = await viewer.event("red_envelope.result")
    parse_event(result)
    assert result["result"]["state"] == "expired"
    assert result["result"]["refunded_minor"] == 1000 - taken
    assert result["result"]["grabbed_count"] == 3 and len(result["result"]["grabs"]) == 3
    detail = (await client.get(f"/red-envelopes/{envelope['id']}")).json()
    assert detail["state"] == "expired" and detail["refunded_minor"] == 1000 - taken
    assert detail["remaining_minor"] == 0 and detail["best_luck"] is not None
    refund = (await client.get("/wallet/entries", headers=live_room.anchor.headers)).json()
    assert [(e["kind"], e["amount_minor"]) for e in refund["items"]] == [
        ("envelope_refund", 1000 - taken),
        ("envelope_fund", -1000),
        ("top_up", ROOM_ANCHOR_CREDIT),
    ]
    assert await _wallet_total(runtime, [*fans, live_room.anchor]) == ROOM_ANCHOR_CREDIT
    still = await _grab(client, envelope["id"], fans[3])
    assert still.status_code == 409 and _code(still) == "envelope.expired"
    assert (await open_room(live_room.id)).first["snapshot"]["promotions"] == []


async def test_after_a_restart_the_gate_is_rebuilt_from_the_database(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    envelope = await _funded(client, live_room, amount_minor=300, count=6, mode="pre_split")
    fans = [await make_account("fan") for _ in range(6)]
    before = [(await _grab(client, envelope["id"], f)).json()["amount_minor"] for f in fans[:2]]
    runtime.extras[GATE] = gate = MemoryEnvelopeGate()  # the process restarted
    twice = await _grab(client, envelope["id"], fans[0])
    assert twice.status_code == 409 and _code(twice) == "envelope.already_grabbed"
    after = [(await _grab(client, envelope["id"], fans[2])).json()["amount_minor"]]
    # a decision taken but never written (the process died before the commit) ...
    lost = await gate.grab(envelope["id"], user_id=fans[3].id)
    assert lost.outcome == "granted"
    # ... is honoured when the user retries
    retried = await _grab(client, envelope["id"], fans[3])
    assert retried.status_code == 200 and retried.json()["amount_minor"] == lost.amount_minor
    for fan in fans[3:]:
        response = await _grab(client, envelope["id"], fan)
        if fan is not fans[3]:
            after.append(response.json()["amount_minor"])
    after.append(lost.amount_minor)
    async with runtime.sessionmaker() as s:
        pot = await s.get(RedEnvelope, envelope["id"])
        assert pot is not None and pot.status == "finished"
        assert Counter(before + after) == Counter(pot.pieces)  # every piece exactly once
    assert await _wallet_total(runtime, fans) == 300


async def test_a_merchant_selling_in_the_session_may_fund_a_pot(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    from liveshop.catalog import service as catalog_service
    from tests.factories import make_shop

    member, outsider = await make_account("fan"), await make_account("fan")
    other_shop = await make_shop(runtime)
    async with runtime.sessionmaker() as s:
        await catalog_service.add_member(
            s, merchant_id=live_room.shop.merchant_id, account_id=member.id
        )
        await catalog_service.add_member(
            s, merchant_id=other_shop.merchant_id, account_id=outsider.id
        )
        await s.commit()
    await top_up(client, runtime, member, 1000)  # the member's own wallet pays
    ok = await _fund(client, live_room, member, merchant_id=live_room.shop.merchant_id)
    assert ok.status_code == 201 and ok.json()["merchant_id"] == live_room.shop.merchant_id
    assert ok.json()["funder"]["id"] == member.id
    for actor, merchant_id in (
        (outsider, other_shop.merchant_id),  # sells nothing in this session
        (outsider, live_room.shop.merchant_id),  # not a member
        (member, None),  # not a manager of the session
    ):
        refused = await _fund(client, live_room, actor, merchant_id=merchant_id)
        assert refused.status_code == 403 and _code(refused) == "auth.forbidden"


async def test_bad_input_gets_a_stable_code_and_creates_nothing(
    live_room: Room, client: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"amount_minor": 10.5}, 422, "request.invalid"),
        ({"amount_minor": "1000"}, 422, "request.invalid"),
        ({"amount_minor": 3, "count": 5}, 422, "envelope.too_small"),
        ({"count": 0}, 422, "envelope.bad_count"),
        ({"count": 10_001}, 422, "envelope.bad_count"),
        ({"amount_minor": 0}, 422, "envelope.bad_amount"),
        ({"amount_minor": 10**9 + 1}, 422, "envelope.too_large"),
        ({"eligibility": "vip"}, 422, "request.invalid"),
        ({"mode": "lottery"}, 422, "request.invalid"),
        ({"delay_seconds": 301}, 422, "envelope.bad_delay"),
        ({"delay_seconds": -1}, 422, "envelope.bad_delay"),
        ({"expires_in_seconds": 59}, 422, "envelope.bad_expiry"),
        ({"expires_in_seconds": 86_401}, 422, "envelope.bad_expiry"),
        ({"expires_in_seconds": 120, "delay_seconds": 120}, 422, "envelope.bad_expiry"),
        ({"currency": "yuan"}, 422, "request.invalid"),
    ]
    for body, status, code in cases:
        response = await _fund(client, live_room, **body)
        assert (response.status_code, _code(response)) == (status, code), body
    base = f"/live/sessions/{live_room.id}/red-envelopes"
    body = {"amount_minor": 100, "count": 2}
    no_key = await client.post(base, json=body, headers=live_room.anchor.headers)
    assert no_key.status_code == 400 and _code(no_key) == "idempotency.key_required"
    guest = await client.post(base, json=body, headers=_key())
    assert guest.status_code == 401 and _code(guest) == "auth.required"
    not_manager = await _fund(client, live_room, fan)
    assert not_manager.status_code == 403 and _code(not_manager) == "auth.forbidden"
    missing = await client.post(
        f"/live/sessions/{'0' * 26}/red-envelopes",
        json=body,
        headers={**live_room.anchor.headers, **_key()},
    )
    assert missing.status_code == 404 and _code(missing) == "live.session_not_found"
    assert (await client.get(base)).json() == {"items": []}

    nowhere = await _grab(client, "0" * 26, fan)
    assert nowhere.status_code == 404 and _code(nowhere) == "envelope.not_found"
    unknown = await client.get(f"/red-envelopes/{'0' * 26}")
    assert unknown.status_code == 404 and _code(unknown) == "envelope.not_found"
    envelope = await _funded(client, live_room)
    guest_grab = await client.post(f"/red-envelopes/{envelope['id']}/grab", headers=_key())
    assert guest_grab.status_code == 401 and _code(guest_grab) == "auth.required"
    keyless = await client.post(f"/red-envelopes/{envelope['id']}/grab", headers=fan.headers)
    assert keyless.status_code == 400 and _code(keyless) == "idempotency.key_required"
    assert [e["id"] for e in (await client.get(base)).json()["items"]] == [envelope["id"]]

    ended = await client.post(
        f"/live/sessions/{live_room.id}/end", headers=live_room.anchor.headers
    )
    assert ended.status_code == 200
    after_end = await _fund(client, live_room)
    assert after_end.status_code == 409 and _code(after_end) == "live.not_live"
