"""Followers-only and fan-group-only promotions on both databases: coupons (``followers``),
red envelopes (``followers``, ``fan_group``) and raffles (``follower``, ``fan_group``) let in
the session anchor's followers / fan group members and refuse everyone else with the domain's
``not_eligible`` code, changing nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from liveshop.deps import Runtime
from liveshop.live.events import parse_event
from liveshop.wallet import service as wallet
from tests.conftest import Actor
from tests.factories import idempotency_key as _key
from tests.factories import problem_code as _code
from tests.live.conftest import Room

pytestmark = pytest.mark.usefixtures("backend")


async def _follow(client: Any, fan: Actor, anchor: Actor) -> None:
    response = await client.post(f"/anchors/{anchor.id}/follow", headers=fan.headers)
    assert response.status_code == 201, response.text


async def _fan_group_member(client: Any, fan: Actor, anchor: Actor) -> None:
    """``fan`` follows ``anchor`` and joins a fan group of it."""
    await _follow(client, fan, anchor)
    groups = (await client.get(f"/anchors/{anchor.id}/fan-groups")).json()["items"]
    if groups:
        group_id = groups[0]["id"]
    else:
        made = await client.post(
            "/anchor/fan-groups", json={"name": "Inner circle"}, headers=anchor.headers
        )
        assert made.status_code == 201, made.text
        group_id = made.json()["id"]
    joined = await client.post(f"/fan-groups/{group_id}/join", headers=fan.headers)
    assert joined.status_code == 201, joined.text


async def _other_anchor_fan(client: Any, make_account: Any, fan: Actor) -> None:
    """Make ``fan`` a follower and fan group member of some other anchor: it must not count."""
    await _fan_group_member(client, fan, await make_account("anchor"))


# -- coupons ---------------------------------------------------------------------------------


async def test_a_followers_coupon_drop_is_claimed_by_followers_only(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    follower, stranger = await make_account("fan"), await make_account("fan")
    await _follow(client, follower, live_room.anchor)
    await _other_anchor_fan(client, make_account, stranger)
    made = await client.post(
        "/coupon-templates",
        json={
            "title": "Followers: 5 off",
            "kind": "fixed",
            "amount_off_minor": 500,
            "valid_until": (runtime.clock.now() + timedelta(days=1)).isoformat(),
            "quota": 10,
            "eligibility": "followers",
            "session_id": live_room.id,
            "budget_minor": 5000,  # funded from the anchor's wallet
        },
        headers={**live_room.anchor.headers, **_key()},
    )
    assert made.status_code == 201, made.text
    template = made.json()
    assert template["eligibility"] == "followers"
    dropped = await client.post(
        f"/live/sessions/{live_room.id}/coupon-drops",
        json={"template_id": template["id"], "quota": 5},
        headers={**live_room.anchor.headers, **_key()},
    )
    assert dropped.status_code == 201, dropped.text
    path = f"/coupon-drops/{dropped.json()['id']}"

    refused = await client.post(f"{path}/claim", headers={**stranger.headers, **_key()})
    assert refused.status_code == 403 and _code(refused) == "coupon.not_eligible"
    assert (await client.get(path)).json()["claimed"] == 0
    claimed = await client.post(f"{path}/claim", headers={**follower.headers, **_key()})
    assert claimed.status_code == 201, claimed.text
    assert (await client.get(path)).json()["claimed"] == 1
    # following now makes the stranger eligible
    await _follow(client, stranger, live_room.anchor)
    late = await client.post(f"{path}/claim", headers={**stranger.headers, **_key()})
    assert late.status_code == 201, late.text


async def test_a_followers_coupon_needs_a_session_with_an_anchor_to_follow(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    admin = await make_account("admin")
    body = {
        "title": "Followers: 5 off",
        "kind": "fixed",
        "amount_off_minor": 500,
        "valid_until": (runtime.clock.now() + timedelta(days=1)).isoformat(),
        "quota": 10,
        "eligibility": "followers",
    }
    refused = await client.post("/coupon-templates", json=body, headers={**admin.headers, **_key()})
    assert refused.status_code == 422 and _code(refused) == "coupon.bad_eligibility"
    assert (await client.get("/coupon-templates", headers=admin.headers)).json()["items"] == []


# -- red envelopes ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["followers", "fan_group"])
async def test_a_fans_only_red_envelope_is_grabbed_by_those_fans_only(
    rule: str,
    live_room: Room,
    open_room: Any,
    client: Any,
    make_account: Any,
    runtime: Runtime,
) -> None:
    viewer = await open_room(live_room.id)
    follower, member, stranger = [await make_account("fan") for _ in range(3)]
    await _follow(client, follower, live_room.anchor)
    await _fan_group_member(client, member, live_room.anchor)
    await _other_anchor_fan(client, make_account, stranger)
    async with runtime.sessionmaker() as s:  # the anchor pays the pot from its wallet
        await wallet.credit(
            s,
            account_id=live_room.anchor.id,
            currency=runtime.settings.default_currency,
            amount_minor=1000,
            kind="adjustment",
            ref=f"test-{uuid.uuid4().hex}",
            now=runtime.clock.now(),
        )
        await s.commit()
    funded = await client.post(
        f"/live/sessions/{live_room.id}/red-envelopes",
        json={"amount_minor": 1000, "count": 5, "eligibility": rule},
        headers={**live_room.anchor.headers, **_key()},
    )
    assert funded.status_code == 201, funded.text
    envelope = funded.json()
    opened = await viewer.event("red_envelope.open")
    parse_event(opened)
    assert opened["envelope"]["eligibility"] == rule

    async def grab(fan: Actor) -> Any:
        return await client.post(
            f"/red-envelopes/{envelope['id']}/grab", headers={**fan.headers, **_key()}
        )

    allowed = [follower, member] if rule == "followers" else [member]
    refused = [stranger] if rule == "followers" else [stranger, follower]
    for fan in refused:
        response = await grab(fan)
        assert response.status_code == 403 and _code(response) == "envelope.not_eligible"
    for fan in allowed:
        response = await grab(fan)
        assert response.status_code == 200, response.text
    state = (await client.get(f"/red-envelopes/{envelope['id']}")).json()
    assert state["remaining_count"] == 5 - len(allowed)
    # a fan who grabbed and then unfollowed still gets "already grabbed", not a new share
    await client.delete(f"/anchors/{live_room.anchor.id}/follow", headers=member.headers)
    again = await grab(member)
    assert again.status_code == 409 and _code(again) == "envelope.already_grabbed"


# -- raffles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["follower", "fan_group"])
async def test_a_fans_only_raffle_is_entered_by_those_fans_only(
    rule: str, live_room: Room, client: Any, make_account: Any
) -> None:
    follower, member, stranger = [await make_account("fan") for _ in range(3)]
    await _follow(client, follower, live_room.anchor)
    await _fan_group_member(client, member, live_room.anchor)
    await _other_anchor_fan(client, make_account, stranger)
    made = await client.post(
        f"/live/sessions/{live_room.id}/raffles",
        json={
            "title": "For the fans",
            "item_id": live_room.item_ids[0],
            "entry_seconds": 60,
            "eligibility": rule,
        },
        headers=live_room.anchor.headers,
    )
    assert made.status_code == 201, made.text
    raffle = made.json()
    assert raffle["eligibility"] == rule

    async def enter(fan: Actor) -> Any:
        return await client.post(
            f"/raffles/{raffle['id']}/enter", headers={**fan.headers, **_key()}
        )

    allowed = [follower, member] if rule == "follower" else [member]
    refused = [stranger] if rule == "follower" else [stranger, follower]
    for fan in refused:
        response = await enter(fan)
        assert response.status_code == 403 and _code(response) == "raffle.not_eligible"
    for fan in allowed:
        response = await enter(fan)
        assert response.status_code == 201, response.text
    own = await enter(live_room.anchor)
    assert own.status_code == 403 and _code(own) == "raffle.not_eligible"
    closed = await client.post(f"/raffles/{raffle['id']}/close", headers=live_room.anchor.headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["entrants_count"] == len(allowed)
