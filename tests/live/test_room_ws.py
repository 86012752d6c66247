"""The room WebSocket end to end: a real uvicorn server, real sockets, both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from liveshop.deps import Runtime
from liveshop.live.events import (
    EVENT_TYPES,
    ErrorMessage,
    ResumeMessage,
    SnapshotMessage,
    parse_event,
    parse_server_message,
)
from liveshop.live.models import RoomEvent
from liveshop.live.state import apply_events
from liveshop.live.ws import room_session_id
from tests.live.conftest import Room

pytestmark = pytest.mark.usefixtures("backend")


async def _closed_with(client: Any, code: int) -> None:
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(50):
            await client.next(within=5)
    assert info.value.rcvd is not None and info.value.rcvd.code == code


async def test_guest_gets_a_snapshot_and_cannot_chat_or_like(
    live_room: Room, open_room: Any
) -> None:
    guest = await open_room(live_room.id)
    snapshot = SnapshotMessage.model_validate(guest.first)
    assert snapshot.snapshot.session.status == "live"
    assert [i.id for i in snapshot.snapshot.showcase] == live_room.item_ids
    assert snapshot.snapshot.pinned is None
    assert snapshot.you.account_id is None and snapshot.you.guest_id
    await guest.send({"type": "chat", "text": "hello"})
    error = await guest.event("error")
    assert error["code"] == "chat.sign_in_required"
    await guest.send({"type": "like", "count": 3})
    assert (await guest.event("error"))["code"] == "like.sign_in_required"


async def test_chat_reaches_every_viewer_and_later_joiners_see_it(
    live_room: Room, open_room: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    viewer = await open_room(live_room.id)
    speaker = await open_room(live_room.id, fan.token)
    await speaker.send({"type": "chat", "text": "  Is the red one in stock?  "})
    chat = await viewer.event("chat")
    parse_event(chat)
    assert chat["text"] == "Is the red one in stock?"
    assert chat["user"]["id"] == fan.id
    assert (await speaker.event("chat"))["id"] == chat["id"]
    late = await open_room(live_room.id)
    assert [m["id"] for m in late.first["snapshot"]["chat"]] == [chat["id"]]


async def test_likes_are_aggregated_and_counters_are_totals(
    live_room: Room, open_room: Any, make_account: Any
) -> None:
    a, b = await make_account("fan"), await make_account("fan")
    ca = await open_room(live_room.id, a.token)
    cb = await open_room(live_room.id, b.token)
    # under each viewer's 20 a second (LIVESHOP_LIKE_MAX_PER_SECOND, tests/live/test_room_flood.py)
    await ca.send({"type": "like", "count": 12})
    await ca.send({"type": "like", "count": 8})
    await cb.send({"type": "like", "count": 15})
    await ca.send({"type": "like", "count": 0})
    assert (await ca.event("error"))["code"] == "like.bad_count"
    await ca.send({"type": "like", "count": 51})
    assert (await ca.event("error"))["code"] == "like.bad_count"
    counters = await cb.wait_for(lambda e: e.get("type") == "counters" and e["likes"] == 35)
    parse_event(counters)
    assert counters["online"] == 2 and counters["unique"] == 2 and counters["peak"] == 2
    await ca.close()
    after = await cb.wait_for(lambda e: e.get("type") == "counters" and e["online"] == 1)
    assert after["likes"] == 35 and after["peak"] == 2


async def test_every_event_type_is_delivered_in_order_and_matches_its_schema(
    live_room: Room, open_room: Any, make_account: Any, client: Any, runtime: Runtime
) -> None:
    fan = await make_account("fan")
    anchor = live_room.anchor.headers
    viewer = await open_room(live_room.id)
    speaker = await open_room(live_room.id, fan.token)
    await speaker.send({"type": "chat", "text": "first!"})
    chat = await viewer.event("chat")
    base = f"/live/sessions/{live_room.id}"
    steps = [
        ("post", f"{base}/pin", {"item_id": live_room.item_ids[0]}),
        ("post", f"{base}/announcements", {"text": "Coupons at 8pm"}),
        ("post", f"{base}/unpin", None),
        ("patch", base, {"title": "Autumn picks, part 2"}),
        (
            "put",
            f"{base}/rundown",
            {"items": [{"sku_id": live_room.shop.sku_ids[0], "live_price_minor": 6900}]},
        ),
        ("delete", f"{base}/chat/{chat['id']}", None),
        ("post", f"{base}/end", None),
    ]
    for method, url, body in steps:
        kwargs: dict[str, Any] = {"headers": anchor}
        if body is not None:
            kwargs["json"] = body
        response = await client.request(method.upper(), url, **kwargs)
        assert response.status_code < 300, (url, response.text)
    await viewer.event("session.ended")
    if not any(e.get("type") == "counters" for e in viewer.events()):
        await viewer.wait_for(lambda e: e.get("type") == "counters")
    seen = viewer.events()
    for event in seen:
        parse_event(event)
    priority = [e for e in seen if "seq" in e]
    assert [e["type"] for e in priority] == [
        "product.pinned",
        "announcement",
        "product.unpinned",
        "session.updated",
        "showcase.updated",
        "chat.deleted",
        "session.ended",
    ]
    seqs = [e["seq"] for e in priority]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # promotions are tested in tests/promotions, the video's events in tests/video
    elsewhere = ("flash.", "raffle.", "red_envelope.", "coupon.", "stream.")
    room_types = {t for t in EVENT_TYPES if not t.startswith(elsewhere)}
    assert {e["type"] for e in seen} == room_types - {"session.live"}
    for message in viewer.messages:
        parse_server_message(message)


async def test_snapshot_plus_events_equals_a_fresh_snapshot(
    live_room: Room, open_room: Any, make_account: Any, client: Any
) -> None:
    fan = await make_account("fan")
    headers = live_room.anchor.headers
    base = f"/live/sessions/{live_room.id}"
    early = await open_room(live_room.id)
    speaker = await open_room(live_room.id, fan.token)
    for text in ("one", "two", "three"):
        await speaker.send({"type": "chat", "text": text})
        await early.wait_for(lambda e, t=text: e.get("type") == "chat" and e["text"] == t)
    two = next(e for e in early.events() if e.get("text") == "two")
    assert (
        await client.post(f"{base}/pin", json={"item_id": live_room.item_ids[1]}, headers=headers)
    ).status_code == 200
    for i in range(7):
        r = await client.post(f"{base}/announcements", json={"text": f"news {i}"}, headers=headers)
        assert r.status_code == 201
    assert (await client.patch(base, json={"slow_mode_seconds": 5}, headers=headers)).is_success
    assert (await client.delete(f"{base}/chat/{two['id']}", headers=headers)).status_code == 204
    last = await early.wait_for(lambda e: e.get("type") == "chat.deleted")
    await asyncio.sleep(0.3)  # let the counters settle on both sockets
    late = await open_room(live_room.id)
    await speaker.close()
    fresh = late.first["snapshot"]
    replayed = apply_events(early.first["snapshot"], early.events())
    for snap in (fresh, replayed):
        snap.pop("counters")
    assert replayed == fresh
    assert late.first["seq"] == last["seq"]


async def test_a_pin_sent_during_a_chat_flood_arrives_in_order(
    live_room: Room, open_room: Any, client: Any, runtime: Runtime
) -> None:
    viewer = await open_room(live_room.id)
    base = f"/live/sessions/{live_room.id}"

    async def flood() -> None:
        for i in range(600):
            await runtime.rooms.publish_chat(
                live_room.id,
                {
                    "type": "chat",
                    "id": f"f{i:04d}",
                    "text": f"flood {i}",
                    "user": {"id": "x", "name": "x"},
                    "at": "2026-01-01T00:00:00+00:00",
                },
            )
            if i % 50 == 0:
                await asyncio.sleep(0)

    async def pins() -> None:
        for item in (live_room.item_ids[0], live_room.item_ids[1], live_room.item_ids[0]):
            r = await client.post(
                f"{base}/pin", json={"item_id": item}, headers=live_room.anchor.headers
            )
            assert r.status_code == 200

    await asyncio.gather(flood(), pins())
    await viewer.wait_for(lambda e: e.get("id") == "f0599", within=10)
    while len([e for e in viewer.events() if e.get("type") == "product.pinned"]) < 3:
        await viewer.next(within=10)  # the last pin may come a frame after the last chat
    pinned = [e for e in viewer.events() if e.get("type") == "product.pinned"]
    assert [e["item"]["id"] for e in pinned] == [
        live_room.item_ids[0],
        live_room.item_ids[1],
        live_room.item_ids[0],
    ]
    assert [e["seq"] for e in pinned] == sorted(e["seq"] for e in pinned)
    chat = [e["id"] for e in viewer.events() if e.get("type") == "chat"]
    assert chat == sorted(chat) and len(chat) == 600


async def test_resume_after_reconnect_gets_missed_priority_events(
    live_room: Room, open_room: Any, client: Any
) -> None:
    base = f"/live/sessions/{live_room.id}"
    headers = live_room.anchor.headers
    first = await open_room(live_room.id)
    await client.post(f"{base}/announcements", json={"text": "before"}, headers=headers)
    seen = await first.event("announcement")
    await first.close()
    for text in ("missed 1", "missed 2"):
        await client.post(f"{base}/announcements", json={"text": text}, headers=headers)
    await client.post(f"{base}/pin", json={"item_id": live_room.item_ids[0]}, headers=headers)
    again = await open_room(live_room.id, last_seq=seen["seq"])
    resume = ResumeMessage.model_validate(again.first)
    assert [e.type for e in resume.events] == ["announcement", "announcement", "product.pinned"]
    assert [e.seq for e in resume.events] == [seen["seq"] + 1, seen["seq"] + 2, seen["seq"] + 3]
    assert resume.seq == seen["seq"] + 3
    # up to date: an empty resume
    current = await open_room(live_room.id, last_seq=resume.seq)
    assert current.first["type"] == "resume" and current.first["events"] == []


async def test_resume_too_far_behind_gets_a_fresh_snapshot(
    live_room: Room, open_room: Any, client: Any, runtime: Runtime
) -> None:
    ring = runtime.settings.hub_ring_size
    for i in range(ring + 3):
        await runtime.rooms.publish_priority(live_room.id, {"type": "announcement", "n": i})
    behind = await open_room(live_room.id, last_seq=1)
    assert behind.first["type"] == "snapshot"
    ahead = await open_room(live_room.id, last_seq=10**9)
    assert ahead.first["type"] == "snapshot"


async def test_bad_input_gets_an_error_event_and_the_server_carries_on(
    live_room: Room, open_room: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    viewer = await open_room(live_room.id, fan.token)
    await viewer.send("{not json")
    assert (await viewer.event("error"))["code"] == "protocol.bad_json"
    await viewer.send("[1, 2]")
    assert (await viewer.event("error"))["code"] == "protocol.bad_json"
    await viewer.send({"type": "dance"})
    error = await viewer.event("error")
    ErrorMessage.model_validate(error)
    assert error["code"] == "protocol.unknown_type"
    await viewer.send({"type": "chat", "text": 42})
    assert (await viewer.event("error"))["code"] == "chat.bad_text"
    await viewer.send({"type": "ping"})
    assert (await viewer.event("pong"))["type"] == "pong"
    await viewer.send({"type": "chat", "text": "still here"})
    assert (await viewer.event("chat"))["text"] == "still here"
    await viewer.send({"type": "chat", "text": "x" * 5000})
    await _closed_with(viewer, 1009)
    fine = await open_room(live_room.id, fan.token)
    assert fine.first["type"] == "snapshot"


async def test_protocol_violations_close_with_documented_codes(
    live_room: Room, open_room: Any
) -> None:
    no_hello = await open_room(live_room.id, hello=False)
    await no_hello.send({"type": "chat", "text": "hi"})
    await _closed_with(no_hello, 4009)
    bad_token = await open_room(live_room.id, hello=False)
    await bad_token.send({"type": "hello", "token": "not-a-token"})
    await _closed_with(bad_token, 4001)
    nowhere = await open_room("0" * 26, hello=False)
    await nowhere.send({"type": "hello"})
    await _closed_with(nowhere, 4004)
    garbage = await open_room(live_room.id, hello=False)
    await garbage.send("\x00\x01")
    await _closed_with(garbage, 4009)


async def test_token_cookie_signs_in(live_room: Room, open_room: Any, make_account: Any) -> None:
    fan = await make_account("fan")
    viewer = await open_room(
        live_room.id, additional_headers={"Cookie": f"liveshop_token={fan.token}"}
    )
    assert viewer.first["you"]["account_id"] == fan.id


async def test_room_activity_is_written_to_the_event_log_in_batches(
    live_room: Room, open_room: Any, make_account: Any, client: Any, runtime: Runtime
) -> None:
    fan = await make_account("fan")
    viewer = await open_room(live_room.id, fan.token)
    await viewer.send({"type": "chat", "text": "hello log"})
    await viewer.event("chat")
    await viewer.send({"type": "like", "count": 7})
    await client.post(
        f"/live/sessions/{live_room.id}/pin",
        json={"item_id": live_room.item_ids[0]},
        headers=live_room.anchor.headers,
    )
    await viewer.event("product.pinned")
    await viewer.close()
    for _ in range(100):
        if not runtime.rooms.hub.rooms:
            break
        await asyncio.sleep(0.02)
    await runtime.rooms.flush_log()
    async with runtime.sessionmaker() as s:
        rows = list(
            (
                await s.execute(select(RoomEvent).where(RoomEvent.session_id == live_room.id))
            ).scalars()
        )
    kinds = [r.type for r in rows]
    for kind in ("session.live", "join", "chat", "like", "product.pinned", "leave"):
        assert kind in kinds, kinds
    like = next(r for r in rows if r.type == "like")
    assert like.account_id == fan.id and like.payload == {"count": 7}
    leave = next(r for r in rows if r.type == "leave")
    assert leave.payload["seconds"] >= 0


async def test_room_sockets_go_straight_to_their_endpoint(
    app: Any, live_room: Room, open_room: Any, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The room lane: a room WebSocket skips the middleware stack (each layer would keep a
    frame per idle viewer); HTTP and other WebSockets still pass through it."""
    inner = app.middleware_stack or app.build_middleware_stack()
    seen: list[str] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        seen.append(f"{scope['type']} {scope['path']}")
        await inner(scope, receive, send)

    monkeypatch.setattr(app, "middleware_stack", spy)
    viewer = await open_room(live_room.id)
    assert viewer.first is not None and viewer.first["type"] == "snapshot"
    assert (await client.get("/healthz")).status_code == 200
    assert seen == ["http /healthz"]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"type": "websocket", "path": "/ws/rooms/abc"}, "abc"),
        ({"type": "websocket", "path": "/shop/ws/rooms/abc", "root_path": "/shop"}, "abc"),
        ({"type": "websocket", "path": "/ws/rooms/abc/more"}, None),
        ({"type": "websocket", "path": "/ws/rooms/"}, None),
        ({"type": "websocket", "path": "/ws/other"}, None),
        ({"type": "http", "path": "/ws/rooms/abc"}, None),
    ],
)
def test_which_scopes_take_the_room_lane(scope: dict[str, Any], expected: str | None) -> None:
    assert room_session_id(scope) == expected
