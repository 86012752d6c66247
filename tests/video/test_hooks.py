"""The video control plane over HTTP, on both databases: the anchor's stream settings, the
hooks nginx-rtmp calls (forged ones refused, keys checked), the grace after the encoder
leaves, and what a viewer in the room sees of it. No nginx here: tests/video/test_ingest.py
runs the real one."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.live.events import SnapshotMessage, parse_event
from liveshop.live.state import apply_events
from liveshop.video import flows
from tests.factories import problem_code
from tests.live.conftest import Room
from tests.video.conftest import get_stream, hook, key_of, schedule_session, session_status

pytestmark = pytest.mark.usefixtures("backend")

KEY_SHAPE = re.compile(r"^lsk_[A-Za-z0-9_-]{32}$")


async def _publish(client: Any, runtime: Runtime, sid: str, key: str, clientid: str) -> Any:
    return await hook(
        client, runtime.settings.hook_secret, "publish", name=sid, key=key, clientid=clientid
    )


async def _done(client: Any, runtime: Runtime, sid: str, clientid: str) -> Any:
    return await hook(
        client, runtime.settings.hook_secret, "publish_done", name=sid, clientid=clientid
    )


# -- the anchor's stream settings ------------------------------------------------------------


async def test_the_anchor_gets_its_ingest_settings_and_rotates_the_key(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    stream = await get_stream(client, sid, anchor)
    settings = runtime.settings
    assert stream["session_id"] == sid
    assert stream["server_url"] == f"rtmp://127.0.0.1:{settings.rtmp_port}/live"
    assert stream["stream_key"].startswith(f"{sid}?key=")
    assert KEY_SHAPE.match(key_of(stream)), stream["stream_key"]
    assert stream["status"] == "idle" and stream["publishes"] == 0
    assert stream["playback_url"] == f"http://127.0.0.1:{settings.hls_port}/hls/{sid}.m3u8"
    assert key_of(stream) not in stream["playback_url"]
    assert stream["online_at"] is None and stream["offline_at"] is None
    assert stream["key_rotated_at"] is None
    # asking again gives the same key (it is made once)
    assert (await get_stream(client, sid, anchor))["stream_key"] == stream["stream_key"]

    rotated = await client.post(f"/live/sessions/{sid}/stream/rotate-key", headers=anchor.headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["stream_key"] != stream["stream_key"]
    assert KEY_SHAPE.match(key_of(rotated.json()))
    assert rotated.json()["key_rotated_at"] == runtime.clock.now().isoformat()
    assert (await get_stream(client, sid, anchor))["stream_key"] == rotated.json()["stream_key"]

    # every session has its own key
    other = await schedule_session(client, runtime, anchor)
    assert key_of(await get_stream(client, other, anchor)) != key_of(rotated.json())


async def test_only_the_sessions_managers_see_or_rotate_the_key(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = (await get_stream(client, sid, anchor))["stream_key"]
    stream_url = f"/live/sessions/{sid}/stream"
    rotate_url = f"{stream_url}/rotate-key"
    fan = await make_account("fan")
    rival = await make_account("anchor")
    helper = await make_account("operator")
    for outsider in (fan, rival, helper):
        for method, url in (("GET", stream_url), ("POST", rotate_url)):
            denied = await client.request(method, url, headers=outsider.headers)
            assert denied.status_code == 403, (method, url, denied.text)
            assert problem_code(denied) == "auth.forbidden"
            assert key_of({"session_id": sid, "stream_key": key}) not in denied.text
    for method, url in (("GET", stream_url), ("POST", rotate_url)):
        anonymous = await client.request(method, url)
        assert anonymous.status_code == 401, anonymous.text
    missing = await client.get(f"/live/sessions/{'0' * 26}/stream", headers=anchor.headers)
    assert missing.status_code == 404 and problem_code(missing) == "live.session_not_found"
    missing = await client.post(
        f"/live/sessions/{'0' * 26}/stream/rotate-key", headers=anchor.headers
    )
    assert missing.status_code == 404 and problem_code(missing) == "live.session_not_found"
    # nobody but the anchor rotated: the key is unchanged
    assert (await get_stream(client, sid, anchor))["stream_key"] == key

    # a session operator (added by the anchor) and an admin manage the session
    added = await client.post(
        f"/live/sessions/{sid}/operators", json={"account_id": helper.id}, headers=anchor.headers
    )
    assert added.status_code == 201, added.text
    assert (await get_stream(client, sid, helper))["stream_key"] == key
    admin = await make_account("admin")
    assert (await get_stream(client, sid, admin))["stream_key"] == key


# -- the hooks -------------------------------------------------------------------------------


async def test_a_hook_call_without_the_configured_secret_is_refused(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    secret = runtime.settings.hook_secret
    forged_secrets = ("wrong", secret[:-1], secret + "x", secret.upper(), "x" * len(secret))
    for forged in forged_secrets:
        assert forged != secret
        for call in ("publish", "publish_done"):
            refused = await hook(client, forged, call, name=sid, key=key, clientid="7")
            assert refused.status_code == 403, (forged, call, refused.text)
            assert problem_code(refused) == "video.bad_hook_secret"
    stream = await get_stream(client, sid, anchor)
    assert stream["status"] == "idle" and stream["publishes"] == 0
    assert await session_status(client, sid) == "scheduled"

    # online through the real hook; a forged publish_done does not take it offline
    assert (await _publish(client, runtime, sid, key, "7")).status_code == 204
    forged_done = await hook(client, "wrong", "publish_done", name=sid, clientid="7")
    assert forged_done.status_code == 403
    assert problem_code(forged_done) == "video.bad_hook_secret"
    assert (await get_stream(client, sid, anchor))["status"] == "online"


async def test_the_right_secret_with_a_bad_key_is_refused(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    other = await schedule_session(client, runtime, anchor)
    never_asked = await schedule_session(client, runtime, anchor)  # no stream row yet
    key = key_of(await get_stream(client, sid, anchor))
    other_key = key_of(await get_stream(client, other, anchor))
    cases = [
        (sid, "lsk_" + "A" * 32),  # a wrong key
        (sid, ""),  # no key
        (sid, key[:-1]),  # almost the key
        (sid, other_key),  # another session's key
        ("0" * 26, key),  # an unknown session
        ("../../" + sid, key),  # not a session id at all
        (sid + "0", key),
        (never_asked, key),  # a session whose stream was never set up
    ]
    for name, bad_key in cases:
        refused = await _publish(client, runtime, name, bad_key, "9")
        assert refused.status_code == 403, (name, bad_key, refused.text)
        assert problem_code(refused) == "video.unknown_key"
    # the key without its name (nginx names the stream after what is before "?")
    unnamed = await hook(client, runtime.settings.hook_secret, "publish", name="", key=key)
    assert unnamed.status_code == 422 and problem_code(unnamed) == "video.bad_hook"
    # another RTMP application
    other_app = await hook(
        client, runtime.settings.hook_secret, "publish", name=sid, key=key, app="vod"
    )
    assert other_app.status_code == 403 and problem_code(other_app) == "video.unknown_app"
    for session_id in (sid, other):
        stream = await get_stream(client, session_id, anchor)
        assert stream["status"] == "idle" and stream["publishes"] == 0
        assert await session_status(client, session_id) == "scheduled"
    assert await session_status(client, never_asked) == "scheduled"


async def test_a_rotated_key_is_refused_and_the_new_one_accepted(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    old = key_of(await get_stream(client, sid, anchor))
    rotated = await client.post(f"/live/sessions/{sid}/stream/rotate-key", headers=anchor.headers)
    new = key_of(rotated.json())
    refused = await _publish(client, runtime, sid, old, "1")
    assert refused.status_code == 403 and problem_code(refused) == "video.unknown_key"
    assert (await get_stream(client, sid, anchor))["status"] == "idle"
    assert await session_status(client, sid) == "scheduled"
    assert (await _publish(client, runtime, sid, new, "2")).status_code == 204
    assert (await get_stream(client, sid, anchor))["status"] == "online"


async def test_an_ended_session_refuses_its_key(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    ended = await client.post(f"/live/sessions/{sid}/end", headers=anchor.headers)
    assert ended.status_code == 200, ended.text
    refused = await _publish(client, runtime, sid, key, "1")
    assert refused.status_code == 403 and problem_code(refused) == "video.session_ended"
    assert (await get_stream(client, sid, anchor))["status"] == "idle"
    assert await session_status(client, sid) == "ended"
    # the wrong key says nothing about the session
    wrong = await _publish(client, runtime, sid, "lsk_" + "B" * 32, "1")
    assert wrong.status_code == 403 and problem_code(wrong) == "video.unknown_key"


async def test_a_publish_goes_online_and_takes_a_scheduled_session_live(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    accepted = await _publish(client, runtime, sid, key, "41")
    assert accepted.status_code == 204 and accepted.content == b""
    stream = await get_stream(client, sid, anchor)
    assert stream["status"] == "online" and stream["publishes"] == 1
    assert stream["online_at"] == clock.now().isoformat() and stream["offline_at"] is None
    session = (await client.get(f"/live/sessions/{sid}")).json()
    assert session["status"] == "live" and session["started_at"] == clock.now().isoformat()

    # nginx repeating the same call changes nothing
    clock.advance(seconds=3)
    assert (await _publish(client, runtime, sid, key, "41")).status_code == 204
    again = await get_stream(client, sid, anchor)
    assert again["publishes"] == 1 and again["online_at"] == stream["online_at"]

    # publish_done about another (older) connection is ignored
    ignored = await _done(client, runtime, sid, "40")
    assert ignored.status_code == 204
    assert (await get_stream(client, sid, anchor))["status"] == "online"
    # ... and about an unknown session too
    assert (await _done(client, runtime, "0" * 26, "41")).status_code == 204

    clock.advance(seconds=60)
    assert (await _done(client, runtime, sid, "41")).status_code == 204
    offline = await get_stream(client, sid, anchor)
    assert offline["status"] == "offline"
    assert offline["offline_at"] == clock.now().isoformat()
    assert offline["online_at"] == stream["online_at"]
    assert await session_status(client, sid) == "live"  # the grace has begun
    # a repeated publish_done changes nothing
    clock.advance(seconds=1)
    assert (await _done(client, runtime, sid, "41")).status_code == 204
    assert (await get_stream(client, sid, anchor))["offline_at"] == offline["offline_at"]


async def test_a_session_waits_for_its_encoder_during_the_grace_then_ends(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    grace = runtime.settings.video_grace_seconds
    assert grace >= 10
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    assert (await _publish(client, runtime, sid, key, "1")).status_code == 204
    # online: never stale, however long it runs
    clock.advance(seconds=grace * 3)
    assert await flows.end_stale(runtime) == []
    assert (await _done(client, runtime, sid, "1")).status_code == 204

    # the encoder comes back just before the grace is over
    clock.advance(seconds=grace - 1)
    assert await flows.end_stale(runtime) == []
    assert await session_status(client, sid) == "live"
    assert (await _publish(client, runtime, sid, key, "2")).status_code == 204
    back = await get_stream(client, sid, anchor)
    assert back["status"] == "online" and back["publishes"] == 2
    assert back["offline_at"] is None
    assert await session_status(client, sid) == "live"
    # the first connection closing late does not take the new one offline
    assert (await _done(client, runtime, sid, "1")).status_code == 204
    assert (await get_stream(client, sid, anchor))["status"] == "online"

    # it leaves again, for good
    assert (await _done(client, runtime, sid, "2")).status_code == 204
    clock.advance(seconds=grace - 1)
    assert await flows.end_stale(runtime) == []
    clock.advance(seconds=1)  # exactly the grace
    assert await flows.end_stale(runtime) == [sid]
    session = (await client.get(f"/live/sessions/{sid}")).json()
    assert session["status"] == "ended" and session["ended_at"] == clock.now().isoformat()
    assert await flows.end_stale(runtime) == []  # once

    refused = await _publish(client, runtime, sid, key, "3")
    assert refused.status_code == 403 and problem_code(refused) == "video.session_ended"
    final = await get_stream(client, sid, anchor)
    assert final["status"] == "offline" and final["publishes"] == 2


async def test_the_grace_sweep_leaves_other_sessions_alone(
    client: Any, runtime: Runtime, make_account: Any, clock: FrozenClock
) -> None:
    grace = runtime.settings.video_grace_seconds
    anchor = await make_account("anchor")
    gone = await schedule_session(client, runtime, anchor)
    online = await schedule_session(client, runtime, anchor)
    idle = await schedule_session(client, runtime, anchor)
    for sid in (gone, online):
        key = key_of(await get_stream(client, sid, anchor))
        assert (await _publish(client, runtime, sid, key, sid[-4:])).status_code == 204
    # a session started by hand that never had a stream
    assert (
        await client.post(f"/live/sessions/{idle}/start", headers=anchor.headers)
    ).status_code == 200
    assert (await _done(client, runtime, gone, gone[-4:])).status_code == 204
    clock.advance(seconds=grace + 1)
    assert await flows.end_stale(runtime) == [gone]
    assert await session_status(client, gone) == "ended"
    assert await session_status(client, online) == "live"
    assert await session_status(client, idle) == "live"


async def test_the_access_log_does_not_show_the_hook_secret(
    client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    secret = runtime.settings.hook_secret
    with structlog.testing.capture_logs() as logs:
        assert (await _publish(client, runtime, sid, key, "5")).status_code == 204
        assert (await _done(client, runtime, sid, "5")).status_code == 204
        assert (await _publish(client, runtime, sid, "lsk_nope", "6")).status_code == 403
    requests = [entry for entry in logs if entry.get("event") == "request"]
    assert [entry["path"] for entry in requests] == [
        "/video/hooks/***/publish",
        "/video/hooks/***/publish_done",
        "/video/hooks/***/publish",
    ]
    assert [entry["status"] for entry in requests] == [204, 204, 403]
    for entry in logs:
        assert secret not in repr(entry), entry
        assert key not in repr(entry), entry


async def test_a_failing_hook_does_not_log_the_secret(
    app: FastAPI, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_down(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("the database is down")

    monkeypatch.setattr(flows, "on_publish", database_down)
    secret = runtime.settings.hook_secret
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as raw:
        with structlog.testing.capture_logs() as logs:
            failed = await hook(raw, secret, "publish", name="0" * 26, key="k", clientid="1")
    assert failed.status_code == 500
    assert any(entry.get("event") == "unhandled_error" for entry in logs), logs
    for entry in logs:
        assert secret not in repr({k: v for k, v in entry.items() if k != "exc_info"}), entry


async def test_a_second_encoder_on_the_same_key_does_not_take_the_stream_offline(
    client: Any, runtime: Runtime, clock: FrozenClock, make_account: Any
) -> None:
    """What nginx-rtmp does (seen with two ffmpegs): the second publisher's ``on_publish`` is
    called, then the live module refuses it ("Already publishing") and calls its
    ``publish_done``; the first encoder goes on publishing. We refuse it first."""
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    assert (await _publish(client, runtime, sid, key, "3")).status_code == 204
    second = await _publish(client, runtime, sid, key, "5")
    assert second.status_code == 403 and second.json()["code"] == "video.already_publishing"
    assert (await _done(client, runtime, sid, "5")).status_code == 204
    assert (await get_stream(client, sid, anchor))["status"] == "online"  # "3" still publishes
    assert (await _done(client, runtime, sid, "3")).status_code == 204
    assert (await get_stream(client, sid, anchor))["status"] == "offline"


async def test_a_publisher_that_goes_silent_is_taken_offline_and_can_be_replaced(
    client: Any, runtime: Runtime, clock: FrozenClock, make_account: Any
) -> None:
    """nginx stopped without ``publish_done`` (killed): its heartbeats (``on_update``) stop;
    30 s later the stream goes offline (the grace starts), and a new publisher is let in even
    before that."""
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    assert (await _publish(client, runtime, sid, key, "1")).status_code == 204
    for _ in range(4):  # alive: heartbeats every 10 s keep it online past 30 s
        clock.advance(seconds=10)
        beat = await hook(client, runtime.settings.hook_secret, "update", name=sid, clientid="1")
        assert beat.status_code == 204
        assert await flows.end_stale(runtime) == []
        assert (await get_stream(client, sid, anchor))["status"] == "online"
    stranger = await hook(client, runtime.settings.hook_secret, "update", name=sid, clientid="9")
    assert stranger.status_code == 204  # another client's heartbeat keeps nothing alive
    clock.advance(seconds=31)  # silence
    retry = await _publish(client, runtime, sid, key, "1")  # nginx restarted: ids start over
    assert retry.status_code == 204
    clock.advance(seconds=31)
    assert await flows.end_stale(runtime) == []  # a publish counts as a sign of life
    clock.advance(seconds=31)
    assert await flows.end_stale(runtime) == []
    assert (await get_stream(client, sid, anchor))["status"] == "offline"
    taken = await _publish(client, runtime, sid, key, "2")
    assert taken.status_code == 204
    assert (await get_stream(client, sid, anchor))["status"] == "online"


# -- the room --------------------------------------------------------------------------------


async def test_a_viewer_sees_the_stream_come_and_go_and_the_session_end(
    live_room: Room, open_room: Any, client: Any, runtime: Runtime, clock: FrozenClock
) -> None:
    sid = live_room.id
    key = key_of(await get_stream(client, sid, live_room.anchor))
    settings = runtime.settings
    viewer = await open_room(sid)
    first = SnapshotMessage.model_validate(viewer.first)
    assert first.snapshot.stream.status == "idle"
    assert first.snapshot.stream.playback_url is None

    assert (await _publish(client, runtime, sid, key, "11")).status_code == 204
    online = await viewer.event("stream.online")
    parse_event(online)
    assert online["stream"] == {
        "status": "online",
        "playback_url": f"{settings.hls_url}/hls/{sid}.m3u8",
        "online_at": clock.now().isoformat(),
        "offline_at": None,
    }
    assert key not in str(online)

    # a late viewer's snapshot shows the stream online
    late = await open_room(sid)
    assert late.first["snapshot"]["stream"] == online["stream"]

    clock.advance(seconds=30)
    assert (await _done(client, runtime, sid, "11")).status_code == 204
    offline = await viewer.event("stream.offline")
    parse_event(offline)
    assert offline["grace_seconds"] == settings.video_grace_seconds
    assert offline["stream"]["status"] == "offline"
    assert offline["stream"]["playback_url"] is None
    assert offline["stream"]["offline_at"] == clock.now().isoformat()
    assert offline["seq"] > online["seq"]

    # nothing else about the stream reached the room (the ignored and refused calls)
    assert (await _done(client, runtime, sid, "10")).status_code == 204
    assert (await _publish(client, runtime, sid, "lsk_nope", "12")).status_code == 403

    clock.advance(seconds=settings.video_grace_seconds)
    assert await flows.end_stale(runtime) == [sid]
    ended = await viewer.event("session.ended")
    parse_event(ended)
    assert ended["session"]["status"] == "ended"

    await asyncio.sleep(0.3)  # let the counters settle
    fresh_viewer = await open_room(sid)
    fresh = fresh_viewer.first["snapshot"]
    events = viewer.events()
    priority = [e for e in events if "seq" in e]
    assert [e["type"] for e in priority] == ["stream.online", "stream.offline", "session.ended"]
    for event in events:
        parse_event(event)
    replayed = apply_events(viewer.first["snapshot"], events)
    for snap in (fresh, replayed):
        snap.pop("counters")
    assert replayed == fresh
    assert fresh["stream"] == offline["stream"]
    assert fresh_viewer.first["seq"] == ended["seq"]


async def test_a_publish_to_a_scheduled_session_tells_the_room_it_is_live(
    open_room: Any, client: Any, runtime: Runtime, make_account: Any
) -> None:
    anchor = await make_account("anchor")
    sid = await schedule_session(client, runtime, anchor)
    key = key_of(await get_stream(client, sid, anchor))
    viewer = await open_room(sid)
    assert viewer.first["snapshot"]["session"]["status"] == "scheduled"
    assert (await _publish(client, runtime, sid, key, "3")).status_code == 204
    await viewer.event("stream.online")
    priority = [e for e in viewer.events() if "seq" in e]
    assert [e["type"] for e in priority] == ["session.live", "stream.online"]
    for event in priority:
        parse_event(event)
    assert priority[0]["session"]["status"] == "live"
    fresh = (await open_room(sid)).first["snapshot"]
    replayed = apply_events(viewer.first["snapshot"], viewer.events())
    for snap in (fresh, replayed):
        snap.pop("counters")
    assert replayed == fresh
