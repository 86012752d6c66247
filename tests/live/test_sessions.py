"""Live sessions over HTTP on both databases: lifecycle, who may manage, rundown rules, the
pin timeline, announcements, viewers' watch time, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.auth import service as auth_service
from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.live.models import RoomEvent
from liveshop.live.schemas import RoomState
from tests.conftest import Actor
from tests.factories import make_deal, make_shop
from tests.factories import problem_code as _code
from tests.live.conftest import Room

pytestmark = pytest.mark.usefixtures("backend")


async def _create(client: Any, anchor: Actor, runtime: Runtime, **extra: Any) -> dict[str, Any]:
    body = {"title": "Tea night", "scheduled_at": runtime.clock.now().isoformat(), **extra}
    response = await client.post("/live/sessions", json=body, headers=anchor.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_session_lifecycle_scheduled_live_ended(
    client: Any, make_account: Any, runtime: Runtime, clock: FrozenClock
) -> None:
    anchor = await make_account("anchor")
    created = await _create(
        client, anchor, runtime, cover_url="https://img.example.com/c.jpg", description="Spring"
    )
    sid = created["id"]
    assert created["status"] == "scheduled" and created["anchor"]["id"] == anchor.id
    assert created["cover_url"] == "https://img.example.com/c.jpg"
    listed = (await client.get("/live/sessions", params={"status": "scheduled"})).json()
    assert sid in [s["id"] for s in listed["items"]]
    mine = (await client.get("/anchor/sessions", headers=anchor.headers)).json()
    assert [s["id"] for s in mine["items"]] == [sid]

    clock.advance(minutes=5)
    started = await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)
    assert started.status_code == 200
    assert started.json()["status"] == "live"
    assert started.json()["started_at"] == clock.now().isoformat()
    again = await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)
    assert again.status_code == 409 and _code(again) == "live.bad_transition"
    on_air = (await client.get("/live/sessions", params={"status": "live"})).json()["items"]
    assert sid in [s["id"] for s in on_air]
    moved = await client.patch(
        f"/live/sessions/{sid}",
        json={"scheduled_at": clock.now().isoformat()},
        headers=anchor.headers,
    )
    assert moved.status_code == 409 and _code(moved) == "live.already_started"

    clock.advance(hours=1)
    ended = await client.post(f"/live/sessions/{sid}/end", headers=anchor.headers)
    assert ended.status_code == 200
    body = ended.json()
    assert body["status"] == "ended" and body["ended_at"] == clock.now().isoformat()
    assert body["counters"] == {"likes": 0, "online": 0, "unique": 0, "peak": 0}
    for method, url, payload in (
        ("post", f"/live/sessions/{sid}/end", None),
        ("patch", f"/live/sessions/{sid}", {"title": "late"}),
        ("post", f"/live/sessions/{sid}/announcements", {"text": "too late"}),
    ):
        kwargs: dict[str, Any] = {"headers": anchor.headers}
        if payload is not None:
            kwargs["json"] = payload
        response = await client.request(method.upper(), url, **kwargs)
        assert response.status_code == 409, (url, response.text)
        assert _code(response) in {"live.bad_transition", "live.session_ended"}
    fetched = (await client.get(f"/live/sessions/{sid}")).json()
    assert fetched["status"] == "ended" and fetched["title"] == "Tea night"


async def test_who_may_create_and_manage_a_session(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    anchor = await make_account("anchor")
    fan = await make_account("fan")
    other_anchor = await make_account("anchor")
    operator = await make_account("operator")
    body = {"title": "x", "scheduled_at": runtime.clock.now().isoformat()}

    assert (await client.post("/live/sessions", json=body)).status_code == 401
    refused = await client.post("/live/sessions", json=body, headers=fan.headers)
    assert refused.status_code == 403 and _code(refused) == "auth.forbidden"
    # an operator not assigned to the anchor may not schedule for it; once assigned it may
    for_anchor = {**body, "anchor_id": anchor.id}
    refused = await client.post("/live/sessions", json=for_anchor, headers=operator.headers)
    assert refused.status_code == 403
    async with runtime.sessionmaker() as s:
        await auth_service.assign_operator(
            s, operator_id=operator.id, anchor_id=anchor.id, now=runtime.clock.now()
        )
        await s.commit()
    created = await client.post("/live/sessions", json=for_anchor, headers=operator.headers)
    assert created.status_code == 201 and created.json()["anchor"]["id"] == anchor.id
    not_anchor = await client.post(
        "/live/sessions", json={**body, "anchor_id": fan.id}, headers=operator.headers
    )
    assert not_anchor.status_code == 422 and _code(not_anchor) == "live.not_an_anchor"
    sid = created.json()["id"]

    denied = await client.post(f"/live/sessions/{sid}/start", headers=other_anchor.headers)
    assert denied.status_code == 403 and _code(denied) == "auth.forbidden"
    missing = await client.post(f"/live/sessions/{'0' * 26}/start", headers=anchor.headers)
    assert missing.status_code == 404 and _code(missing) == "live.session_not_found"
    assert (await client.post(f"/live/sessions/{sid}/start", headers=operator.headers)).is_success

    # session operators: added by the anchor, then they manage the room, until removed
    helper = await make_account("operator")
    ops = f"/live/sessions/{sid}/operators"
    assert (
        await client.post(
            f"/live/sessions/{sid}/announcements", json={"text": "hi"}, headers=helper.headers
        )
    ).status_code == 403
    bad = await client.post(ops, json={"account_id": fan.id}, headers=anchor.headers)
    assert bad.status_code == 422 and _code(bad) == "live.not_an_operator"
    added = await client.post(ops, json={"account_id": helper.id}, headers=anchor.headers)
    assert added.status_code == 201
    assert [o["account_id"] for o in added.json()] == [helper.id]
    twice = await client.post(ops, json={"account_id": helper.id}, headers=anchor.headers)
    assert twice.status_code == 200 and len(twice.json()) == 1
    posted = await client.post(
        f"/live/sessions/{sid}/announcements", json={"text": "hi"}, headers=helper.headers
    )
    assert posted.status_code == 201
    # a session operator cannot appoint others
    assert (
        await client.post(ops, json={"account_id": helper.id}, headers=helper.headers)
    ).status_code == 403
    assert (await client.delete(f"{ops}/{helper.id}", headers=anchor.headers)).status_code == 204
    gone = await client.delete(f"{ops}/{helper.id}", headers=anchor.headers)
    assert gone.status_code == 404 and _code(gone) == "live.operator_not_found"
    assert (
        await client.post(f"/live/sessions/{sid}/unpin", headers=helper.headers)
    ).status_code == 403
    mine = (await client.get("/anchor/sessions", headers=operator.headers)).json()["items"]
    assert sid in [s["id"] for s in mine]
    assert (await client.get("/anchor/sessions", headers=other_anchor.headers)).json()[
        "items"
    ] == []


async def test_rundown_rules_and_stable_item_ids(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    anchor = await make_account("anchor")
    shop = await make_shop(runtime, prices=(9900, 19900, 5000))
    draft = await make_shop(runtime, prices=(3000,), published=False)
    await make_deal(runtime, product_id=shop.product_id, anchor_id=anchor.id)
    sid = (await _create(client, anchor, runtime))["id"]
    url = f"/live/sessions/{sid}/rundown"
    a, b, c = shop.sku_ids

    first = await client.put(
        url,
        json={
            "items": [
                {"sku_id": a, "live_price_minor": 7900, "note": "open with this"},
                {"sku_id": b, "live_price_minor": 15900},
            ]
        },
        headers=anchor.headers,
    )
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert [(i["sku_id"], i["position"], i["live_price_minor"]) for i in items] == [
        (a, 1, 7900),
        (b, 2, 15900),
    ]
    assert items[0]["list_price_minor"] == 9900 and items[0]["note"] == "open with this"
    ids = {i["sku_id"]: i["id"] for i in items}

    bad_bodies = [
        (
            {"items": [{"sku_id": a, "live_price_minor": 1}, {"sku_id": a, "live_price_minor": 2}]},
            "live.duplicate_sku",
        ),
        (
            {"items": [{"sku_id": draft.sku_ids[0], "live_price_minor": 100}]},
            "live.sku_unavailable",
        ),
        ({"items": [{"sku_id": "0" * 26, "live_price_minor": 100}]}, "live.sku_unavailable"),
        ({"items": [{"sku_id": a, "live_price_minor": 9901}]}, "live.price_above_list"),
        ({"items": [{"sku_id": a, "live_price_minor": 0}]}, "request.invalid"),
        ({"items": [{"sku_id": a, "live_price_minor": -5}]}, "request.invalid"),
        ({"items": [{"sku_id": a}]}, "request.invalid"),
        ({"items": "all"}, "request.invalid"),
    ]
    for body, code in bad_bodies:
        response = await client.put(url, json=body, headers=anchor.headers)
        assert response.status_code == 422, (body, response.text)
        assert _code(response) == code, (body, response.text)
    unchanged = (await client.get(url, headers=anchor.headers)).json()["items"]
    assert [i["id"] for i in unchanged] == [ids[a], ids[b]]

    # reorder, drop a, add c: b keeps its id, a is hidden, then comes back with its old id
    second = await client.put(
        url,
        json={
            "items": [
                {"sku_id": c, "live_price_minor": 4500},
                {"sku_id": b, "live_price_minor": 14900},
            ]
        },
        headers=anchor.headers,
    )
    assert second.status_code == 200
    assert [(i["sku_id"], i["position"]) for i in second.json()["items"]] == [(c, 1), (b, 2)]
    assert second.json()["items"][1]["id"] == ids[b]
    third = await client.put(
        url,
        json={"items": [{"sku_id": a, "live_price_minor": 7000}]},
        headers=anchor.headers,
    )
    assert [i["id"] for i in third.json()["items"]] == [ids[a]]

    # the pinned product cannot be removed
    assert (await client.post(f"/live/sessions/{sid}/start", headers=anchor.headers)).is_success
    pinned = await client.post(
        f"/live/sessions/{sid}/pin", json={"item_id": ids[a]}, headers=anchor.headers
    )
    assert pinned.status_code == 200
    blocked = await client.put(
        url, json={"items": [{"sku_id": b, "live_price_minor": 100}]}, headers=anchor.headers
    )
    assert blocked.status_code == 409 and _code(blocked) == "live.item_pinned"
    state = RoomState.model_validate((await client.get(f"/live/sessions/{sid}/state")).json())
    assert state.pinned is not None and state.pinned.id == ids[a]
    assert [i.id for i in state.showcase] == [ids[a]]


async def test_pin_timeline_keeps_every_pin_with_its_times(
    live_room: Room, client: Any, clock: FrozenClock, make_account: Any, runtime: Runtime
) -> None:
    base = f"/live/sessions/{live_room.id}"
    headers = live_room.anchor.headers
    first, second = live_room.item_ids
    nothing = await client.post(f"{base}/unpin", headers=headers)
    assert nothing.status_code == 409 and _code(nothing) == "live.nothing_pinned"
    unknown = await client.post(f"{base}/pin", json={"item_id": "0" * 26}, headers=headers)
    assert unknown.status_code == 404 and _code(unknown) == "live.item_not_found"
    assert (await client.post(f"{base}/pin", json={}, headers=headers)).status_code == 422

    t0 = clock.now()
    one = await client.post(f"{base}/pin", json={"item_id": first}, headers=headers)
    assert one.status_code == 200 and one.json()["item"]["id"] == first
    clock.advance(seconds=30)
    same = await client.post(f"{base}/pin", json={"item_id": first}, headers=headers)
    assert same.json()["id"] == one.json()["id"]  # pinning the pinned product changes nothing
    clock.advance(seconds=30)
    t1 = clock.now()
    await client.post(f"{base}/pin", json={"item_id": second}, headers=headers)
    clock.advance(seconds=45)
    t2 = clock.now()
    unpinned = await client.post(f"{base}/unpin", headers=headers)
    assert unpinned.status_code == 200 and unpinned.json()["unpinned_at"] is not None
    clock.advance(seconds=10)
    t3 = clock.now()
    await client.post(f"{base}/pin", json={"item_id": first}, headers=headers)
    clock.advance(seconds=20)
    t4 = clock.now()
    assert (await client.post(f"{base}/end", headers=headers)).status_code == 200

    timeline = (await client.get(f"{base}/pins")).json()["items"]
    spans = [(p["item"]["id"], p["pinned_at"], p["unpinned_at"], p["pinned_by"]) for p in timeline]
    iso = [t.isoformat().replace("+00:00", "Z") for t in (t0, t1, t2, t3, t4)]
    normalized = [
        (i, a.replace("+00:00", "Z"), b.replace("+00:00", "Z") if b else None, by)
        for i, a, b, by in spans
    ]
    anchor_id = live_room.anchor.id
    assert normalized == [
        (first, iso[0], iso[1], anchor_id),
        (second, iso[1], iso[2], anchor_id),
        (first, iso[3], iso[4], anchor_id),
    ]
    late = await client.post(f"{base}/pin", json={"item_id": first}, headers=headers)
    assert late.status_code == 409 and _code(late) == "live.not_live"
    assert (await client.get(f"/live/sessions/{live_room.id}/state")).json()["pinned"] is None


async def test_announcements_are_listed_and_the_state_keeps_the_last_five(
    live_room: Room, client: Any, clock: FrozenClock
) -> None:
    base = f"/live/sessions/{live_room.id}"
    headers = live_room.anchor.headers
    for bad in ({"text": ""}, {"text": "x" * 501}, {"text": 5}, {}):
        response = await client.post(f"{base}/announcements", json=bad, headers=headers)
        assert response.status_code == 422, bad
    for i in range(7):
        clock.advance(seconds=1)
        posted = await client.post(
            f"{base}/announcements", json={"text": f"  n{i} "}, headers=headers
        )
        assert posted.status_code == 201
        assert posted.json()["text"] == f"n{i}"
    listed = (await client.get(f"{base}/announcements")).json()["items"]
    assert [a["text"] for a in listed] == [f"n{i}" for i in range(7)]
    state = (await client.get(f"{base}/state")).json()
    assert [a["text"] for a in state["announcements"]] == [f"n{i}" for i in range(2, 7)]


async def test_patch_validates_and_publishes_only_room_fields(
    live_room: Room, client: Any, open_room: Any, make_account: Any
) -> None:
    base = f"/live/sessions/{live_room.id}"
    headers = live_room.anchor.headers
    for bad in (
        {"slow_mode_seconds": 301},
        {"slow_mode_seconds": -1},
        {"title": ""},
        {"title": None},
        {"status": "ended"},
        {"cover_url": "not a url"},
        {"scheduled_at": "2026-01-01T10:00:00"},  # no time zone
    ):
        response = await client.patch(base, json=bad, headers=headers)
        assert response.status_code == 422, (bad, response.text)
    viewer = await open_room(live_room.id)
    fan = await make_account("fan")
    speaker = await open_room(live_room.id, fan.token)
    # description is not part of the room: no event
    assert (await client.patch(base, json={"description": "notes"}, headers=headers)).is_success
    slow = await client.patch(base, json={"slow_mode_seconds": 30}, headers=headers)
    assert slow.json()["slow_mode_seconds"] == 30
    updated = await viewer.event("session.updated")
    assert updated["session"]["slow_mode_seconds"] == 30
    assert [e["type"] for e in viewer.events() if "seq" in e] == ["session.updated"]
    # slow mode applies to chat at once
    await speaker.wait_for(lambda e: e.get("type") == "session.updated")
    await speaker.send({"type": "chat", "text": "first"})
    await speaker.wait_for(lambda e: e.get("type") == "chat")
    await speaker.send({"type": "chat", "text": "second"})
    error = await speaker.event("error")
    assert error["code"] == "chat.slow_mode" and error["retry_after"] > 0


async def test_viewers_report_watch_time_from_the_join_and_leave_log(
    live_room: Room,
    client: Any,
    open_room: Any,
    make_account: Any,
    clock: FrozenClock,
    runtime: Runtime,
) -> None:
    fan = await make_account("fan")
    url = f"/live/sessions/{live_room.id}/viewers"
    assert (await client.get(url, headers=fan.headers)).status_code == 403
    tab1 = await open_room(live_room.id, fan.token)
    guest = await open_room(live_room.id)
    clock.advance(seconds=60)
    tab2 = await open_room(live_room.id, fan.token)  # a second tab overlaps: counted once
    await tab2.wait_for(lambda e: e.get("type") == "counters" and e["online"] == 3)
    clock.advance(seconds=30)
    await tab1.close()
    await guest.close()
    await _until_left(runtime, live_room, 2)
    clock.advance(seconds=30)
    await tab2.close()
    await _until_left(runtime, live_room, 3)
    clock.advance(seconds=100)
    again = await open_room(live_room.id, fan.token)
    clock.advance(seconds=10)

    report = (await client.get(url, headers=live_room.anchor.headers)).json()
    assert report["total_viewers"] == 2
    assert report["counters"]["unique"] == 2 and report["counters"]["peak"] == 3
    by_kind = {("fan" if v["account_id"] else "guest"): v for v in report["viewers"]}
    assert by_kind["fan"]["account_id"] == fan.id
    assert by_kind["fan"]["visits"] == 3 and by_kind["fan"]["online"] is True
    assert by_kind["fan"]["watch_seconds"] == 60 + 30 + 30 + 10
    assert by_kind["guest"]["watch_seconds"] == 90 and by_kind["guest"]["online"] is False
    assert report["total_watch_seconds"] == 130 + 90
    assert [v["watch_seconds"] for v in report["viewers"]] == [130, 90]
    await again.close()


async def test_the_console_watches_as_staff_and_is_not_counted(
    live_room: Room,
    client: Any,
    open_room: Any,
    make_account: Any,
    runtime: Runtime,
) -> None:
    fan = await make_account("fan")

    async def join(token: str | None, staff: bool) -> Any:
        room = await open_room(live_room.id, hello=False)
        await room.send({"type": "hello", "token": token, "last_seq": None, "staff": staff})
        room.first = await room.next()
        return room

    console = await join(live_room.anchor.token, staff=True)
    pretender = await join(fan.token, staff=True)  # a fan may not hide: counted
    guest = await join(None, staff=True)  # nor a guest
    assert console.first["type"] == "snapshot"  # the console sees the room as a viewer does
    counters = await runtime.rooms.hub.counters(live_room.id)  # all three have joined
    assert (counters.online, counters.unique) == (2, 2), counters
    await pretender.send({"type": "chat", "text": "hi"})
    assert (await console.event("chat"))["text"] == "hi"
    await console.close()
    await guest.close()
    await _until_left(runtime, live_room, 1)  # the guest's leave; the console logs none
    report = (
        await client.get(f"/live/sessions/{live_room.id}/viewers", headers=live_room.anchor.headers)
    ).json()
    assert report["total_viewers"] == 2
    assert {v["account_id"] for v in report["viewers"]} == {fan.id, None}
    await pretender.close()


async def _until_left(runtime: Runtime, room: Room, leaves: int) -> None:
    """Wait until the server has logged ``leaves`` leave events (the socket closes async)."""
    for _ in range(250):
        await runtime.rooms.flush_log()
        async with runtime.sessionmaker() as s:
            count = await s.scalar(
                select(func.count())
                .select_from(RoomEvent)
                .where(RoomEvent.session_id == room.id, RoomEvent.type == "leave")
            )
        if count == leaves:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the server never logged {leaves} leaves")


async def test_a_broker_failure_after_commit_keeps_the_change_and_answers_cleanly(
    live_room: Room, client: Any, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("broker down")

    base = f"/live/sessions/{live_room.id}"
    headers = live_room.anchor.headers
    monkeypatch.setattr(runtime.rooms.hub, "publish_priority", broken)
    monkeypatch.setattr(runtime.rooms.broker, "delete_chat", broken)
    posted = await client.post(
        f"{base}/announcements", json={"text": "still here"}, headers=headers
    )
    assert posted.status_code == 201
    listed = (await client.get(f"{base}/announcements")).json()["items"]
    assert [a["text"] for a in listed] == ["still here"]
    pinned = await client.post(
        f"{base}/pin", json={"item_id": live_room.item_ids[0]}, headers=headers
    )
    assert pinned.status_code == 200
    state = (await client.get(f"{base}/state")).json()
    assert state["pinned"]["id"] == live_room.item_ids[0]
    deleted = await client.delete(f"{base}/chat/m1", headers=headers)
    assert deleted.status_code == 503 and _code(deleted) == "room.unavailable"


async def test_a_merchant_lists_the_sessions_its_products_appear_in(
    client: Any, runtime: Runtime, live_room: Room, make_account: Any
) -> None:
    merchant, other, fan, admin = (
        await make_account("merchant"),
        await make_account("merchant"),
        await make_account("fan"),
        await make_account("admin"),
    )
    added = await client.post(
        f"/admin/merchants/{live_room.shop.merchant_id}/members",
        json={"account_id": merchant.id},
        headers=admin.headers,
    )
    assert added.status_code == 204
    await make_shop(runtime, owner_id=other.id)  # another merchant: no session shows it

    mine = await client.get("/merchant/live-sessions", headers=merchant.headers)
    assert mine.status_code == 200
    assert [s["id"] for s in mine.json()["items"]] == [live_room.id]
    assert (await client.get("/merchant/live-sessions", headers=other.headers)).json()[
        "items"
    ] == []
    ended = await client.get(
        "/merchant/live-sessions", params={"status": "ended"}, headers=merchant.headers
    )
    assert ended.json()["items"] == []
    everything = await client.get("/merchant/live-sessions", headers=admin.headers)
    assert live_room.id in [s["id"] for s in everything.json()["items"]]
    refused = await client.get("/merchant/live-sessions", headers=fan.headers)
    assert refused.status_code == 403 and _code(refused) == "auth.forbidden"
