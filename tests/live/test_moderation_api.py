"""Moderation over HTTP: banned words, settings, sanctions, chat deletion (both databases)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from liveshop.auth import service as auth_service
from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.live import moderation_service
from liveshop.live.models import LiveSession, RoomEvent, SessionOperator
from liveshop.live.moderation_service import GateInputs
from tests.conftest import Actor

WORDS = "/moderation/banned-words"
SETTINGS = "/moderation/settings"


async def make_session(runtime: Runtime, anchor: Actor, *, status: str = "live") -> str:
    now = runtime.clock.now()
    async with runtime.sessionmaker() as s:
        live = LiveSession(
            anchor_id=anchor.id,
            title="Autumn picks",
            status=status,
            scheduled_at=now,
            created_at=now,
            updated_at=now,
        )
        s.add(live)
        await s.commit()
        return live.id


async def assign_operator(runtime: Runtime, operator: Actor, anchor: Actor) -> None:
    async with runtime.sessionmaker() as s:
        await auth_service.assign_operator(
            s, operator_id=operator.id, anchor_id=anchor.id, now=runtime.clock.now()
        )
        await s.commit()


async def add_session_operator(runtime: Runtime, session_id: str, account: Actor) -> None:
    async with runtime.sessionmaker() as s:
        s.add(
            SessionOperator(
                session_id=session_id, account_id=account.id, created_at=runtime.clock.now()
            )
        )
        await s.commit()


async def gate_inputs(runtime: Runtime, anchor: Actor) -> GateInputs:
    async with runtime.sessionmaker() as s:
        return await moderation_service.gate_inputs(s, anchor_id=anchor.id, now=runtime.clock.now())


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


@dataclass
class Calls:
    """What the API asked of the room hub (the real hub is still called)."""

    changed: list[str] = field(default_factory=list)
    kicked: list[tuple[str, str]] = field(default_factory=list)
    logged: list[tuple[str, str, str | None, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def calls(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Calls:
    rooms = runtime.rooms
    recorded = Calls()
    changed, kick, log = rooms.moderation_changed, rooms.kick, rooms.log

    async def moderation_changed(session_id: str) -> None:
        recorded.changed.append(session_id)
        await changed(session_id)

    async def kick_(session_id: str, account_id: str) -> None:
        recorded.kicked.append((session_id, account_id))
        await kick(session_id, account_id)

    def log_(session_id: str, type: str, **kwargs: Any) -> None:
        recorded.logged.append(
            (session_id, type, kwargs.get("account_id"), kwargs.get("payload") or {})
        )
        log(session_id, type, **kwargs)

    monkeypatch.setattr(rooms, "moderation_changed", moderation_changed)
    monkeypatch.setattr(rooms, "kick", kick_)
    monkeypatch.setattr(rooms, "log", log_)
    return recorded


# -- banned words ----------------------------------------------------------------------------


async def test_anchor_word_crud(client: httpx.AsyncClient, make_account: Any) -> None:
    anchor = await make_account("anchor")
    response = await client.post(WORDS, json={"word": "  ＢＡＤ "}, headers=anchor.headers)
    assert response.status_code == 201, response.text
    word = response.json()
    assert word["word"] == "bad"
    assert word["scope"] == "anchor"
    assert word["anchor_id"] == anchor.id
    problem(
        await client.post(WORDS, json={"word": "Bad"}, headers=anchor.headers),
        409,
        "moderation.word_exists",
    )
    response = await client.post(WORDS, json={"word": "傻瓜"}, headers=anchor.headers)
    assert response.status_code == 201, response.text

    response = await client.get(WORDS, headers=anchor.headers)
    assert response.status_code == 200
    assert [w["word"] for w in response.json()] == ["bad", "傻瓜"]

    response = await client.delete(f"{WORDS}/{word['id']}", headers=anchor.headers)
    assert response.status_code == 204
    response = await client.get(WORDS, params={"anchor_id": anchor.id}, headers=anchor.headers)
    assert [w["word"] for w in response.json()] == ["傻瓜"]
    problem(
        await client.delete(f"{WORDS}/{word['id']}", headers=anchor.headers),
        404,
        "moderation.word_not_found",
    )


async def test_word_permissions(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    other = await make_account("anchor")
    fan = await make_account("fan")
    operator = await make_account("operator")
    stranger_operator = await make_account("operator")
    admin = await make_account("admin")
    await assign_operator(runtime, operator, anchor)
    mine = {"word": "spam", "anchor_id": anchor.id}

    problem(await client.post(WORDS, json={"word": "x"}), 401, "auth.required")
    problem(await client.post(WORDS, json=mine, headers=fan.headers), 403, "auth.forbidden")
    problem(await client.post(WORDS, json=mine, headers=other.headers), 403, "auth.forbidden")
    problem(
        await client.post(WORDS, json=mine, headers=stranger_operator.headers),
        403,
        "auth.forbidden",
    )
    # a fan may not moderate at all; an operator (not an anchor) must name the anchor
    problem(
        await client.post(WORDS, json={"word": "x"}, headers=fan.headers), 403, "auth.forbidden"
    )
    problem(
        await client.post(WORDS, json={"word": "x"}, headers=operator.headers),
        422,
        "moderation.anchor_required",
    )
    response = await client.post(WORDS, json=mine, headers=operator.headers)
    assert response.status_code == 201, response.text
    word_id = response.json()["id"]
    # the other anchor's own list is its own
    response = await client.post(WORDS, json={"word": "spam"}, headers=other.headers)
    assert response.status_code == 201, response.text
    assert response.json()["anchor_id"] == other.id

    query = {"anchor_id": anchor.id}
    problem(await client.get(WORDS, params=query, headers=fan.headers), 403, "auth.forbidden")
    problem(await client.get(WORDS, params=query, headers=other.headers), 403, "auth.forbidden")
    response = await client.get(WORDS, params=query, headers=operator.headers)
    assert [w["id"] for w in response.json()] == [word_id]
    response = await client.get(WORDS, params=query, headers=admin.headers)
    assert [w["id"] for w in response.json()] == [word_id]

    url = f"{WORDS}/{word_id}"
    problem(await client.delete(url, headers=other.headers), 403, "auth.forbidden")
    problem(await client.delete(url, headers=fan.headers), 403, "auth.forbidden")
    assert (await client.delete(url, headers=operator.headers)).status_code == 204

    # admins may manage any anchor's words, but only for accounts that are anchors
    response = await client.post(WORDS, json=mine, headers=admin.headers)
    assert response.status_code == 201, response.text
    problem(
        await client.post(WORDS, json={"word": "x", "anchor_id": fan.id}, headers=admin.headers),
        422,
        "moderation.not_an_anchor",
    )


async def test_a_session_operator_manages_words_through_its_session(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    other = await make_account("anchor")
    session_operator = await make_account("operator")
    session_id = await make_session(runtime, anchor)
    other_session = await make_session(runtime, other)
    await add_session_operator(runtime, session_id, session_operator)
    headers = session_operator.headers
    mine = {"session_id": session_id}

    # without its session the operator is nobody's moderator
    problem(
        await client.post(WORDS, json={"word": "spam", "anchor_id": anchor.id}, headers=headers),
        403,
        "auth.forbidden",
    )
    response = await client.post(WORDS, params=mine, json={"word": "spam"}, headers=headers)
    assert response.status_code == 201, response.text
    word = response.json()
    assert word["anchor_id"] == anchor.id
    assert "spam" in (await gate_inputs(runtime, anchor)).words
    listed = await client.get(WORDS, params=mine, headers=headers)
    assert [w["id"] for w in listed.json()] == [word["id"]]
    # the session names the anchor; another anchor named beside it is refused
    problem(
        await client.post(
            WORDS, params=mine, json={"word": "x", "anchor_id": other.id}, headers=headers
        ),
        422,
        "moderation.anchor_mismatch",
    )
    # a session it does not moderate gives it nothing
    problem(
        await client.get(WORDS, params={"session_id": other_session}, headers=headers),
        403,
        "auth.forbidden",
    )
    problem(
        await client.get(
            WORDS, params={"session_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, headers=headers
        ),
        404,
        "live.session_not_found",
    )
    theirs = await client.post(WORDS, json={"word": "spam"}, headers=other.headers)
    problem(
        await client.delete(f"{WORDS}/{theirs.json()['id']}", params=mine, headers=headers),
        422,
        "moderation.anchor_mismatch",
    )
    response = await client.get(SETTINGS, params=mine, headers=headers)
    assert response.status_code == 200 and response.json()["anchor_id"] == anchor.id
    response = await client.delete(f"{WORDS}/{word['id']}", params=mine, headers=headers)
    assert response.status_code == 204
    assert "spam" not in (await gate_inputs(runtime, anchor)).words


async def test_global_words_are_admin_only(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    admin = await make_account("admin")
    anchor = await make_account("anchor")
    other = await make_account("anchor")
    fan = await make_account("fan")
    body = {"word": "Scam", "scope": "global"}
    problem(await client.post(WORDS, json=body, headers=anchor.headers), 403, "auth.forbidden")
    response = await client.post(WORDS, json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    word = response.json()
    assert word == {**word, "word": "scam", "scope": "global", "anchor_id": None}
    problem(
        await client.post(WORDS, json={"word": "SCAM", "scope": "global"}, headers=admin.headers),
        409,
        "moderation.word_exists",
    )
    # the anchor may still ban the same word for itself
    response = await client.post(WORDS, json={"word": "scam"}, headers=anchor.headers)
    assert response.status_code == 201, response.text
    await client.post(WORDS, json={"word": "rival"}, headers=other.headers)

    global_words = {"scope": "global"}
    response = await client.get(WORDS, params=global_words, headers=anchor.headers)
    assert [w["word"] for w in response.json()] == ["scam"]
    problem(
        await client.get(WORDS, params=global_words, headers=fan.headers), 403, "auth.forbidden"
    )

    inputs = await gate_inputs(runtime, anchor)
    assert inputs.words == ["scam"]  # global + own, deduplicated; not the other anchor's
    assert sorted((await gate_inputs(runtime, other)).words) == ["rival", "scam"]

    url = f"{WORDS}/{word['id']}"
    problem(await client.delete(url, headers=anchor.headers), 403, "auth.forbidden")
    assert (await client.delete(url, headers=admin.headers)).status_code == 204
    assert (await gate_inputs(runtime, other)).words == ["rival"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"word": ""},
        {"word": "   "},
        {"word": "x" * 65},
        {"word": 5},
        {"word": "x", "scope": "room"},
        {"word": "x", "scope": "global", "anchor_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
        {"word": "x", "extra": 1},
    ],
)
async def test_word_validation(
    client: httpx.AsyncClient, make_account: Any, body: dict[str, Any]
) -> None:
    admin = await make_account("admin", "anchor")
    problem(await client.post(WORDS, json=body, headers=admin.headers), 422, "request.invalid")


async def test_word_longest_allowed(client: httpx.AsyncClient, make_account: Any) -> None:
    anchor = await make_account("anchor")
    response = await client.post(WORDS, json={"word": "好" * 64}, headers=anchor.headers)
    assert response.status_code == 201, response.text
    # NFKC can make a word longer than it looks: "㍿" is four characters once normalized
    problem(
        await client.post(WORDS, json={"word": "㍿" * 20}, headers=anchor.headers),
        422,
        "moderation.invalid_word",
    )


# -- settings --------------------------------------------------------------------------------


async def test_settings(client: httpx.AsyncClient, runtime: Runtime, make_account: Any) -> None:
    anchor = await make_account("anchor")
    operator = await make_account("operator")
    fan = await make_account("fan")
    other = await make_account("anchor")
    admin = await make_account("admin")
    await assign_operator(runtime, operator, anchor)

    response = await client.get(SETTINGS, headers=anchor.headers)
    assert response.status_code == 200
    assert response.json() == {
        "anchor_id": anchor.id,
        "banned_word_action": "reject",
        "updated_at": None,
    }
    assert (await gate_inputs(runtime, anchor)).action == "reject"

    response = await client.put(
        SETTINGS, json={"banned_word_action": "mask"}, headers=anchor.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["banned_word_action"] == "mask"
    assert response.json()["updated_at"] is not None
    assert (await gate_inputs(runtime, anchor)).action == "mask"
    assert (await gate_inputs(runtime, other)).action == "reject"

    query = {"anchor_id": anchor.id}
    response = await client.get(SETTINGS, params=query, headers=operator.headers)
    assert response.json()["banned_word_action"] == "mask"
    response = await client.put(
        SETTINGS, params=query, json={"banned_word_action": "reject"}, headers=operator.headers
    )
    assert response.status_code == 200, response.text
    assert (await gate_inputs(runtime, anchor)).action == "reject"

    for actor in (fan, other):
        problem(
            await client.get(SETTINGS, params=query, headers=actor.headers), 403, "auth.forbidden"
        )
        problem(
            await client.put(
                SETTINGS, params=query, json={"banned_word_action": "mask"}, headers=actor.headers
            ),
            403,
            "auth.forbidden",
        )
    problem(await client.get(SETTINGS, headers=fan.headers), 403, "auth.forbidden")
    problem(await client.get(SETTINGS, headers=operator.headers), 422, "moderation.anchor_required")
    for body in ({"banned_word_action": "hide"}, {}, {"banned_word_action": None}):
        problem(
            await client.put(SETTINGS, json=body, headers=anchor.headers), 422, "request.invalid"
        )
    problem(
        await client.put(
            SETTINGS,
            params={"anchor_id": fan.id},
            json={"banned_word_action": "mask"},
            headers=admin.headers,
        ),
        422,
        "moderation.not_an_anchor",
    )


# -- sanctions -------------------------------------------------------------------------------


def sanctions_url(session_id: str) -> str:
    return f"/live/sessions/{session_id}/sanctions"


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def test_mute_expires_with_the_clock(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    fan = await make_account("fan")
    session_id = await make_session(runtime, anchor)
    start = clock.now()
    body = {"account_id": fan.id, "kind": "mute", "duration_seconds": 600, "reason": "spam"}
    response = await client.post(sanctions_url(session_id), json=body, headers=anchor.headers)
    assert response.status_code == 201, response.text
    mute = response.json()
    assert mute["anchor_id"] == anchor.id
    assert mute["account_id"] == fan.id
    assert mute["kind"] == "mute"
    assert mute["reason"] == "spam"
    assert mute["session_id"] == session_id
    assert mute["created_by"] == anchor.id
    assert mute["revoked_at"] is None
    assert at(mute["until"]) == start + timedelta(seconds=600)

    response = await client.get(sanctions_url(session_id), headers=anchor.headers)
    assert [s["id"] for s in response.json()] == [mute["id"]]
    inputs = await gate_inputs(runtime, anchor)
    assert inputs.sanctions.mutes == {fan.id: start + timedelta(seconds=600)}
    assert inputs.sanctions.bans == {}
    assert inputs.sanctions.is_muted(fan.id, clock.now())

    clock.advance(seconds=599)
    assert len((await client.get(sanctions_url(session_id), headers=anchor.headers)).json()) == 1
    clock.advance(seconds=1)
    assert (await client.get(sanctions_url(session_id), headers=anchor.headers)).json() == []
    assert (await gate_inputs(runtime, anchor)).sanctions.mutes == {}


async def test_ban_revoke_and_replace(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    fan = await make_account("fan")
    session_id = await make_session(runtime, anchor)
    other_session = await make_session(runtime, anchor, status="ended")
    url = sanctions_url(session_id)
    ban = {"account_id": fan.id, "kind": "ban", "duration_seconds": None}
    response = await client.post(url, json=ban, headers=anchor.headers)
    assert response.status_code == 201, response.text
    assert response.json()["until"] is None and response.json()["reason"] == ""
    ban_id = response.json()["id"]
    clock.advance(hours=20)  # (the test tokens live one day)
    # a sanction holds in every room of the anchor
    response = await client.get(sanctions_url(other_session), headers=anchor.headers)
    assert [s["id"] for s in response.json()] == [ban_id]
    assert (await gate_inputs(runtime, anchor)).sanctions.bans == {fan.id: None}

    # muting again replaces the active mute; the ban stays
    mute = {"account_id": fan.id, "kind": "mute", "duration_seconds": 3600}
    first = (await client.post(url, json=mute, headers=anchor.headers)).json()
    second = (
        await client.post(url, json={**mute, "duration_seconds": 60}, headers=anchor.headers)
    ).json()
    active = (await client.get(url, headers=anchor.headers)).json()
    assert [s["id"] for s in active] == [ban_id, second["id"]]
    assert first["id"] != second["id"]
    inputs = await gate_inputs(runtime, anchor)
    assert inputs.sanctions.mutes == {fan.id: clock.now() + timedelta(seconds=60)}

    response = await client.delete(f"{url}/{ban_id}", headers=anchor.headers)
    assert response.status_code == 204
    assert [s["id"] for s in (await client.get(url, headers=anchor.headers)).json()] == [
        second["id"]
    ]
    assert (await gate_inputs(runtime, anchor)).sanctions.bans == {}
    # revoking twice is harmless; an unknown id is a 404
    assert (await client.delete(f"{url}/{ban_id}", headers=anchor.headers)).status_code == 204
    problem(
        await client.delete(f"{url}/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=anchor.headers),
        404,
        "moderation.sanction_not_found",
    )
    # another anchor's session cannot reach this anchor's sanctions
    other = await make_account("anchor")
    theirs = await make_session(runtime, other)
    problem(
        await client.delete(f"{sanctions_url(theirs)}/{second['id']}", headers=other.headers),
        404,
        "moderation.sanction_not_found",
    )


async def test_protected_and_unknown_accounts(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    admin = await make_account("admin")
    fan_admin = await make_account("fan", "admin")
    session_id = await make_session(runtime, anchor)
    url = sanctions_url(session_id)
    for target in (anchor, admin, fan_admin):
        for kind in ("mute", "ban"):
            body = {"account_id": target.id, "kind": kind, "duration_seconds": 60}
            problem(
                await client.post(url, json=body, headers=admin.headers),
                422,
                "moderation.protected_account",
            )
    body = {"account_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "kind": "mute", "duration_seconds": 60}
    problem(await client.post(url, json=body, headers=anchor.headers), 404, "account.not_found")


async def test_sanction_permissions(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    other = await make_account("anchor")
    fan = await make_account("fan")
    target = await make_account("fan")
    operator = await make_account("operator")
    session_operator = await make_account("operator")
    admin = await make_account("admin")
    await assign_operator(runtime, operator, anchor)
    session_id = await make_session(runtime, anchor)
    second_session = await make_session(runtime, anchor)
    await add_session_operator(runtime, session_id, session_operator)
    url = sanctions_url(session_id)
    body = {"account_id": target.id, "kind": "mute", "duration_seconds": 60}

    problem(await client.post(url, json=body), 401, "auth.required")
    for actor in (fan, other, target):
        problem(await client.post(url, json=body, headers=actor.headers), 403, "auth.forbidden")
        problem(await client.get(url, headers=actor.headers), 403, "auth.forbidden")
    for actor in (operator, session_operator, admin):
        response = await client.post(url, json=body, headers=actor.headers)
        assert response.status_code == 201, response.text
        assert response.json()["created_by"] == actor.id
    # an operator of one session is not an operator of the anchor's other sessions
    problem(
        await client.post(
            sanctions_url(second_session), json=body, headers=session_operator.headers
        ),
        403,
        "auth.forbidden",
    )
    sanction_id = (await client.get(url, headers=session_operator.headers)).json()[0]["id"]
    problem(await client.delete(f"{url}/{sanction_id}", headers=fan.headers), 403, "auth.forbidden")
    unknown = sanctions_url("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    problem(
        await client.post(unknown, json=body, headers=admin.headers), 404, "live.session_not_found"
    )
    problem(await client.get(unknown, headers=admin.headers), 404, "live.session_not_found")


@pytest.mark.parametrize(
    "change",
    [
        {"duration_seconds": 0},
        {"duration_seconds": -5},
        {"duration_seconds": 30 * 24 * 3600 + 1},
        {"duration_seconds": "soon"},
        {"duration_seconds": 1.5},
        {"kind": "kick"},
        {"kind": None},
        {"reason": "x" * 201},
        {"account_id": ""},
        {"extra": True},
    ],
)
async def test_sanction_validation(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any, change: dict[str, Any]
) -> None:
    anchor = await make_account("anchor")
    fan = await make_account("fan")
    session_id = await make_session(runtime, anchor)
    body = {"account_id": fan.id, "kind": "mute", "duration_seconds": 60, **change}
    response = await client.post(sanctions_url(session_id), json=body, headers=anchor.headers)
    problem(response, 422, "request.invalid")


async def test_sanction_duration_bounds(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    fan = await make_account("fan")
    session_id = await make_session(runtime, anchor)
    url = sanctions_url(session_id)
    missing = {"account_id": fan.id, "kind": "mute"}  # null is permanent, but say so
    problem(await client.post(url, json=missing, headers=anchor.headers), 422, "request.invalid")
    for seconds in (1, 30 * 24 * 3600):
        body = {**missing, "duration_seconds": seconds}
        response = await client.post(url, json=body, headers=anchor.headers)
        assert response.status_code == 201, response.text


# -- room notifications, kicks, event log ----------------------------------------------------


async def test_changes_reach_the_live_rooms(
    client: httpx.AsyncClient, runtime: Runtime, make_account: Any, calls: Calls
) -> None:
    anchor = await make_account("anchor")
    other = await make_account("anchor")
    admin = await make_account("admin")
    fan = await make_account("fan")
    live_a, live_b = await make_session(runtime, anchor), await make_session(runtime, anchor)
    await make_session(runtime, anchor, status="scheduled")
    ended = await make_session(runtime, anchor, status="ended")
    theirs = await make_session(runtime, other)
    mine = sorted([live_a, live_b])

    word = (await client.post(WORDS, json={"word": "bad"}, headers=anchor.headers)).json()
    assert sorted(calls.changed) == mine
    calls.changed.clear()
    await client.delete(f"{WORDS}/{word['id']}", headers=anchor.headers)
    assert sorted(calls.changed) == mine
    calls.changed.clear()
    await client.put(SETTINGS, json={"banned_word_action": "mask"}, headers=anchor.headers)
    assert sorted(calls.changed) == mine
    calls.changed.clear()
    await client.post(WORDS, json={"word": "x", "scope": "global"}, headers=admin.headers)
    assert sorted(calls.changed) == sorted([*mine, theirs])
    calls.changed.clear()
    # a refused change tells nobody
    await client.post(WORDS, json={"word": "x", "scope": "global"}, headers=admin.headers)
    assert calls.changed == []
    assert calls.kicked == [] and calls.logged == []

    # a ban from an ended session: the anchor's live rooms reload and kick the account
    ban = {"account_id": fan.id, "kind": "ban", "duration_seconds": None}
    response = await client.post(sanctions_url(ended), json=ban, headers=anchor.headers)
    assert response.status_code == 201, response.text
    ban_id = response.json()["id"]
    assert sorted(calls.changed) == mine
    assert sorted(calls.kicked) == sorted((s, fan.id) for s in [ended, *mine])
    assert calls.logged == [
        (
            ended,
            "moderation",
            anchor.id,
            {"action": "ban", "target": fan.id, "sanction_id": ban_id, "until": None},
        )
    ]
    calls.changed.clear()
    calls.kicked.clear()
    calls.logged.clear()

    mute = {"account_id": fan.id, "kind": "mute", "duration_seconds": 60}
    mute_id = (await client.post(sanctions_url(live_a), json=mute, headers=anchor.headers)).json()[
        "id"
    ]
    assert calls.kicked == []
    assert calls.logged[0][3]["action"] == "mute"
    calls.changed.clear()
    calls.logged.clear()
    response = await client.delete(f"{sanctions_url(live_a)}/{mute_id}", headers=anchor.headers)
    assert response.status_code == 204
    assert sorted(calls.changed) == mine
    assert calls.logged == [
        (
            live_a,
            "moderation",
            anchor.id,
            {"action": "revoke", "target": fan.id, "sanction_id": mute_id},
        )
    ]

    # the log rows reach the event log table
    await runtime.rooms.flush_log()
    async with runtime.sessionmaker() as s:
        rows = (
            await s.execute(
                select(RoomEvent).where(RoomEvent.type == "moderation").order_by(RoomEvent.id)
            )
        ).scalars()
        assert [(r.session_id, r.payload["action"]) for r in rows] == [
            (ended, "ban"),
            (live_a, "mute"),
            (live_a, "revoke"),
        ]


async def test_delete_chat(
    client: httpx.AsyncClient,
    runtime: Runtime,
    make_account: Any,
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    anchor = await make_account("anchor")
    fan = await make_account("fan")
    session_id = await make_session(runtime, anchor)
    url = f"/live/sessions/{session_id}/chat/no-such-message"
    problem(await client.delete(url, headers=fan.headers), 403, "auth.forbidden")
    problem(await client.delete(url, headers=anchor.headers), 404, "moderation.message_not_found")
    problem(
        await client.delete(
            "/live/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV/chat/m1", headers=anchor.headers
        ),
        404,
        "live.session_not_found",
    )
    assert calls.logged == []

    deleted: list[tuple[str, str, str]] = []

    async def delete_chat(session_id: str, message_id: str, *, actor_id: str) -> bool:
        deleted.append((session_id, message_id, actor_id))
        return True

    monkeypatch.setattr(runtime.rooms, "delete_chat", delete_chat)
    response = await client.delete(f"/live/sessions/{session_id}/chat/m1", headers=anchor.headers)
    assert response.status_code == 204
    assert deleted == [(session_id, "m1", anchor.id)]
    assert calls.logged == [
        (session_id, "moderation", anchor.id, {"action": "delete", "target": "m1"})
    ]
