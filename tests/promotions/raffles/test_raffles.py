"""Raffles end to end on both databases: open with a commitment, enter under each rule, close
(freeze, draw, reveal), the proof verified by the core and by ``liveshop raffle verify``, prize
orders, the clock closing the window, bad input."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.inventory import service as inventory
from liveshop.live.events import SnapshotMessage, parse_event
from liveshop.live.state import apply_events
from liveshop.orders import service as orders_service
from liveshop.orders.models import Order
from liveshop.orders.schemas import AddressIn, OrderLineIn
from liveshop.promotions.raffles import flows as raffle_flows
from liveshop.promotions.raffles.cli import raffle_app
from liveshop.promotions.raffles.events import RaffleView
from liveshop.promotions.raffles.proof import Proof, ProofError, entrants_hash, verify
from tests.conftest import Actor
from tests.factories import address
from tests.factories import idempotency_key as _key
from tests.factories import problem_code as _code
from tests.live.conftest import LiveServer, Room

pytestmark = pytest.mark.usefixtures("backend")


async def _create(client: Any, room: Room, **body: Any) -> dict[str, Any]:
    payload = {"title": "Tea for three", "item_id": room.item_ids[0], "entry_seconds": 60, **body}
    response = await client.post(
        f"/live/sessions/{room.id}/raffles", json=payload, headers=room.anchor.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _enter(client: Any, raffle_id: str, fan: Actor, key: str | None = None) -> Any:
    headers = {**fan.headers, "Idempotency-Key": key or uuid.uuid4().hex}
    return await client.post(f"/raffles/{raffle_id}/enter", headers=headers)


async def _close(client: Any, room: Room, raffle_id: str, **body: Any) -> Any:
    return await client.post(
        f"/raffles/{raffle_id}/close", json=body or None, headers=room.anchor.headers
    )


async def _seen(viewer: Any, kind: str, raffle_id: str) -> dict[str, Any]:
    """The ``kind`` event of that raffle, received already (frames batch events) or next."""

    def match(event: dict[str, Any]) -> bool:
        found = event.get("raffle", {}).get("id") if kind == "raffle.open" else None
        return event.get("type") == kind and raffle_id in (found, event.get("raffle_id"))

    for event in viewer.events():
        if match(event):
            return dict(event)
    return dict(await viewer.wait_for(match))


async def _paid_order(
    runtime: Runtime, buyer: Actor, sku_id: str, live_session_id: str | None, *, pay: bool = True
) -> None:
    """A checkout order bought in a session (the orders API does not tag sessions itself)."""
    now = runtime.clock.now()
    async with runtime.sessionmaker() as s:
        order = await orders_service.create(
            s,
            buyer_id=buyer.id,
            lines=[OrderLineIn(sku_id=sku_id, quantity=1)],
            address=AddressIn.model_validate(address()),
            now=now,
            payment_window=timedelta(minutes=15),
        )
        order.live_session_id = live_session_id
        await s.flush()
        if pay:
            assert await orders_service.mark_paid(s, order=order, now=now)
        await s.commit()


async def test_a_draw_is_committed_frozen_revealed_and_verifiable(
    live_room: Room,
    open_room: Any,
    live_server: LiveServer,
    client: Any,
    make_account: Any,
    runtime: Runtime,
    tmp_path: Path,
) -> None:
    fans = [await make_account("fan") for _ in range(4)]
    early = await open_room(live_room.id)
    assert early.first["snapshot"]["promotions"] == []

    raffle = await _create(client, live_room, winners_count=2)
    rid = raffle["id"]
    assert raffle["status"] == "open" and raffle["server_seed"] is None
    assert raffle["public_seed_source"] == "{raffle_id}:{entrants_hash}"
    opened = await _seen(early, "raffle.open", rid)
    parse_event(opened)
    assert opened["raffle"]["commitment"] == raffle["commitment"]
    assert opened["raffle"]["prize"]["item_id"] == live_room.item_ids[0]
    assert "server_seed" not in json.dumps(opened)
    joined = await open_room(live_room.id)
    listed = joined.first["snapshot"]["promotions"]
    assert [p["id"] for p in listed] == [rid] and listed == [opened["raffle"]]
    RaffleView.model_validate(listed[0])
    SnapshotMessage.model_validate(joined.first)

    for fan in fans[:3]:
        entered = await _enter(client, rid, fan)
        assert entered.status_code == 201, entered.text
    # entering again is a no-op: another key or the same one
    first = await _enter(client, rid, fans[0], key="same-key")
    again = await _enter(client, rid, fans[0], key="same-key")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["account_id"] == fans[0].id
    mine = (await client.get(f"/raffles/{rid}", headers=fans[0].headers)).json()
    assert mine["entrants_count"] == 3 and mine["you"] == {
        "entered": True,
        "winner": False,
        "order_id": None,
    }

    closed = await _close(client, live_room, rid)
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["status"] == "drawn" and body["entrants_count"] == 3
    frozen = await _seen(early, "raffle.closed", rid)
    result = await _seen(early, "raffle.result", rid)
    parse_event(frozen)
    parse_event(result)
    assert frozen["seq"] < result["seq"]
    assert frozen["entrants_hash"] == entrants_hash(f.id for f in fans[:3])
    assert result["commitment"] == opened["raffle"]["commitment"]
    assert hashlib.sha256(bytes.fromhex(result["server_seed"])).hexdigest() == result["commitment"]
    assert result["entrants_hash"] == frozen["entrants_hash"]
    names = {f.id: f.email.split("@")[0] for f in fans}
    assert len(result["winners"]) == 2
    assert all(w["name"] == names[w["id"]] for w in result["winners"])
    assert result["proof_url"] == f"http://testserver/raffles/{rid}/proof"
    again = await _close(client, live_room, rid)
    assert again.status_code == 409 and _code(again) == "raffle.closed"
    late = await _enter(client, rid, fans[3])
    assert late.status_code == 409 and _code(late) == "raffle.closed"

    # the published proof verifies, with the core and with the CLI (file and URL)
    fetched = await client.get(f"/raffles/{rid}/proof")
    assert fetched.status_code == 200
    proof = Proof.model_validate(fetched.json())
    checked = verify(proof)
    assert checked.winners == [w["id"] for w in result["winners"]] == proof.winners
    assert proof.public_seed == f"{rid}:{frozen['entrants_hash']}"
    assert sorted(proof.entrants) == sorted(f.id for f in fans[:3])
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(fetched.text)
    runner = CliRunner()
    ran = runner.invoke(raffle_app, ["verify", str(proof_file)])
    assert ran.exit_code == 0, ran.output
    assert "2 winners reproduced" in ran.output
    url = f"{live_server.http_base}/raffles/{rid}/proof"
    ran = await asyncio.to_thread(runner.invoke, raffle_app, ["verify", "--json", url])
    assert ran.exit_code == 0, ran.output
    # (the server's request log, on the event loop meanwhile, lands in the same captured stdout)
    line = next(line for line in ran.output.splitlines() if line.startswith('{"ok"'))
    assert json.loads(line)["ok"] and json.loads(line)["winners"] == proof.winners

    # a tampered proof is rejected: another seed, a dropped or an added entrant
    other_seed = ("0" if proof.server_seed[0] != "0" else "1") + proof.server_seed[1:]
    tampered = {
        "raffle.seed_mismatch": proof.model_copy(update={"server_seed": other_seed}),
        "raffle.entrants_mismatch": proof.model_copy(update={"entrants": proof.entrants[1:]}),
    }
    stuffed = proof.model_copy(update={"entrants": [*proof.entrants, fans[3].id]})
    for code, bad in [*tampered.items(), ("raffle.entrants_mismatch", stuffed)]:
        with pytest.raises(ProofError) as caught:
            verify(bad)
        assert caught.value.code == code
        bad_file = tmp_path / "tampered.json"
        bad_file.write_text(bad.model_dump_json())
        ran = runner.invoke(raffle_app, ["verify", "--json", str(bad_file)])
        assert ran.exit_code == 1 and json.loads(ran.output)["code"] == code

    # snapshot + events == a fresh snapshot, promotions included
    second = await _create(client, live_room, title="Another one")
    await _seen(early, "raffle.open", second["id"])
    fresh = (await open_room(live_room.id)).first["snapshot"]
    replayed = apply_events(early.first["snapshot"], early.events())
    for snap in (fresh, replayed):
        snap.pop("counters")
    assert replayed == fresh
    assert [p["id"] for p in fresh["promotions"]] == [second["id"]]


async def test_keyword_entry_needs_the_keyword_chatted_in_the_window(
    live_room: Room, open_room: Any, client: Any, make_account: Any, clock: FrozenClock
) -> None:
    early, quiet = await make_account("fan"), await make_account("fan")
    early_socket = await open_room(live_room.id, early.token)
    await early_socket.send({"type": "chat", "text": "tea please"})
    await early_socket.wait_for(lambda e: e.get("type") == "chat")
    clock.advance(seconds=1)
    raffle = await _create(client, live_room, eligibility="keyword", keyword="Tea")
    assert raffle["keyword"] == "Tea"

    refused = await _enter(client, raffle["id"], early)
    assert refused.status_code == 403 and _code(refused) == "raffle.not_eligible"
    await early_socket.send({"type": "chat", "text": "I want the TEA!"})
    await early_socket.wait_for(lambda e: e.get("type") == "chat" and "TEA" in e["text"])
    entered = await _enter(client, raffle["id"], early)
    assert entered.status_code == 201, entered.text

    quiet_socket = await open_room(live_room.id, quiet.token)
    await quiet_socket.send({"type": "chat", "text": "coffee for me"})
    await quiet_socket.wait_for(lambda e: e.get("type") == "chat" and e["text"].startswith("c"))
    refused = await _enter(client, raffle["id"], quiet)
    assert refused.status_code == 403 and _code(refused) == "raffle.not_eligible"
    # a keyword message a moderator deleted does not count
    await quiet_socket.send({"type": "chat", "text": "tea tea tea"})
    said = await quiet_socket.wait_for(lambda e: e.get("type") == "chat" and "tea" in e["text"])
    deleted = await client.delete(
        f"/live/sessions/{live_room.id}/chat/{said['id']}", headers=live_room.anchor.headers
    )
    assert deleted.status_code == 204
    refused = await _enter(client, raffle["id"], quiet)
    assert refused.status_code == 403 and _code(refused) == "raffle.not_eligible"


async def test_bought_in_session_counts_paid_orders_of_this_session_only(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    buyer, unpaid, elsewhere, browser = [await make_account("fan") for _ in range(4)]
    sku = live_room.shop.sku_ids[0]
    await _paid_order(runtime, buyer, sku, live_room.id)
    await _paid_order(runtime, unpaid, sku, live_room.id, pay=False)
    await _paid_order(runtime, elsewhere, sku, None)
    raffle = await _create(client, live_room, eligibility="bought_in_session")
    assert (await _enter(client, raffle["id"], buyer)).status_code == 201
    for fan in (unpaid, elsewhere, browser):
        refused = await _enter(client, raffle["id"], fan)
        assert refused.status_code == 403 and _code(refused) == "raffle.not_eligible"


async def test_winners_claim_a_paid_zero_price_order_once(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    fans = [await make_account("fan") for _ in range(3)]
    raffle = await _create(client, live_room, winners_count=2)
    rid = raffle["id"]
    early = await client.post(
        f"/raffles/{rid}/claim",
        json={"shipping_address": address()},
        headers={**fans[0].headers, **_key()},
    )
    assert early.status_code == 409 and _code(early) == "raffle.not_drawn"
    for fan in fans:
        assert (await _enter(client, rid, fan)).status_code == 201
    drawn = (await _close(client, live_room, rid)).json()
    winner_ids = [w["id"] for w in drawn["winners"]]
    winner = next(f for f in fans if f.id == winner_ids[0])
    loser = next(f for f in fans if f.id not in winner_ids)

    claim = {"shipping_address": address("Hangzhou")}
    headers = {**winner.headers, "Idempotency-Key": "claim-1"}
    made = await client.post(f"/raffles/{rid}/claim", json=claim, headers=headers)
    assert made.status_code == 201, made.text
    order = made.json()
    assert order["status"] == "paid" and order["buyer_id"] == winner.id
    assert order["total_minor"] == 0 and order["subtotal_minor"] == 0
    assert [
        (line["sku_id"], line["unit_price_minor"], line["quantity"]) for line in order["lines"]
    ] == [(live_room.shop.sku_ids[0], 0, 1)]
    assert [a["status"] for a in order["allocations"]] == ["committed"]
    replay = await client.post(f"/raffles/{rid}/claim", json=claim, headers=headers)
    assert replay.status_code in (200, 201) and replay.json()["id"] == order["id"]
    twice = await client.post(
        f"/raffles/{rid}/claim",
        json={"shipping_address": address()},
        headers={**winner.headers, **_key()},
    )
    assert twice.status_code == 200 and twice.json()["id"] == order["id"]
    refused = await client.post(
        f"/raffles/{rid}/claim", json=claim, headers={**loser.headers, **_key()}
    )
    assert refused.status_code == 403 and _code(refused) == "raffle.not_a_winner"
    you = (await client.get(f"/raffles/{rid}", headers=winner.headers)).json()["you"]
    assert you == {"entered": True, "winner": True, "order_id": order["id"]}
    mine = (await client.get(f"/orders/{order['id']}", headers=winner.headers)).json()
    assert mine["id"] == order["id"]

    async with runtime.sessionmaker() as s:
        row = await s.get(Order, order["id"])
        assert row is not None
        assert (row.source, row.live_session_id) == ("raffle", live_room.id)
        assert await inventory.verify_ledger(s) == []
    # a prize is not a purchase: it does not make the winner eligible for bought_in_session
    bought = await _create(client, live_room, eligibility="bought_in_session")
    refused = await _enter(client, bought["id"], winner)
    assert refused.status_code == 403 and _code(refused) == "raffle.not_eligible"


async def test_the_clock_closes_the_window_by_sweep_or_on_next_access(
    live_room: Room,
    open_room: Any,
    client: Any,
    make_account: Any,
    clock: FrozenClock,
    runtime: Runtime,
) -> None:
    fan = await make_account("fan")
    viewer = await open_room(live_room.id)
    swept = await _create(client, live_room, entry_seconds=10)
    lazy = await _create(client, live_room, entry_seconds=20)
    for rid in (swept["id"], lazy["id"]):
        assert (await _enter(client, rid, fan)).status_code == 201
    clock.advance(seconds=9.999)
    assert await raffle_flows.sweep_once(runtime) == 0
    clock.advance(seconds=0.001)
    assert await raffle_flows.sweep_once(runtime) == 1
    result = await _seen(viewer, "raffle.result", swept["id"])
    assert [w["id"] for w in result["winners"]] == [fan.id]
    refused = await _enter(client, swept["id"], await make_account("fan"))
    assert refused.status_code == 409 and _code(refused) == "raffle.closed"

    clock.advance(seconds=10)
    state = (await client.get(f"/raffles/{lazy['id']}")).json()
    assert state["status"] == "drawn"
    assert datetime.fromisoformat(state["closed_at"]) == clock.now()
    closed = await _seen(viewer, "raffle.closed", lazy["id"])
    assert closed["at"] == clock.now().isoformat()
    await _seen(viewer, "raffle.result", lazy["id"])
    assert await raffle_flows.sweep_once(runtime) == 0
    listed = (await client.get(f"/live/sessions/{live_room.id}/raffles")).json()["items"]
    assert [(r["id"], r["status"]) for r in listed] == [
        (swept["id"], "drawn"),
        (lazy["id"], "drawn"),
    ]


async def test_an_announced_public_seed_is_supplied_at_the_close(
    live_room: Room,
    open_room: Any,
    client: Any,
    make_account: Any,
    clock: FrozenClock,
    runtime: Runtime,
) -> None:
    fans = [await make_account("fan") for _ in range(3)]
    viewer = await open_room(live_room.id)
    source = "drand quicknet: the first round after closes_at"
    raffle = await _create(client, live_room, entry_seconds=10, public_seed_source=source)
    rid = raffle["id"]
    assert raffle["public_seed_source"] == source
    for fan in fans:
        assert (await _enter(client, rid, fan)).status_code == 201
    clock.advance(seconds=10)
    await raffle_flows.sweep_once(runtime)
    frozen = await _seen(viewer, "raffle.closed", rid)
    assert frozen["entrants_count"] == 3
    state = (await client.get(f"/raffles/{rid}")).json()
    assert state["status"] == "closed" and state["winners"] == []
    not_yet = await client.get(f"/raffles/{rid}/proof")
    assert not_yet.status_code == 409 and _code(not_yet) == "raffle.not_drawn"
    missing = await _close(client, live_room, rid)
    assert missing.status_code == 422 and _code(missing) == "raffle.public_seed_required"
    late = await _enter(client, rid, await make_account("fan"))
    assert late.status_code == 409 and _code(late) == "raffle.closed"

    drawn = await _close(client, live_room, rid, public_seed="drand:quicknet:123:abcdef")
    assert drawn.status_code == 200 and drawn.json()["status"] == "drawn"
    result = await _seen(viewer, "raffle.result", rid)
    assert result["public_seed"] == "drand:quicknet:123:abcdef"
    assert [e["type"] for e in viewer.events() if e.get("type", "").startswith("raffle.")] == [
        "raffle.open",
        "raffle.closed",
        "raffle.result",
    ]
    proof = Proof.model_validate((await client.get(f"/raffles/{rid}/proof")).json())
    assert verify(proof).winners == [w["id"] for w in result["winners"]]

    fallback = await _create(client, live_room)
    unexpected = await _close(client, live_room, fallback["id"], public_seed="chosen by me")
    assert unexpected.status_code == 422 and _code(unexpected) == "raffle.public_seed_unexpected"


async def test_bad_input_gets_stable_codes_and_changes_nothing(
    live_room: Room, client: Any, make_account: Any, runtime: Runtime
) -> None:
    fan = await make_account("fan")
    url = f"/live/sessions/{live_room.id}/raffles"
    headers = live_room.anchor.headers
    good = {"title": "t", "item_id": live_room.item_ids[0], "entry_seconds": 60}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**good, "entry_seconds": 9}, 422, "request.invalid"),
        ({**good, "entry_seconds": 3601}, 422, "request.invalid"),
        ({**good, "entry_seconds": "60"}, 422, "request.invalid"),
        ({**good, "winners_count": 0}, 422, "request.invalid"),
        ({**good, "winners_count": 101}, 422, "request.invalid"),
        ({**good, "eligibility": "keyword"}, 422, "request.invalid"),
        ({**good, "keyword": "tea"}, 422, "request.invalid"),
        ({**good, "eligibility": "lottery"}, 422, "request.invalid"),
        ({**good, "title": ""}, 422, "request.invalid"),
        ({**good, "item_id": "0" * 26}, 422, "raffle.bad_prize"),
    ]
    for body, status, code in cases:
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == status and _code(response) == code, (body, response.text)
    assert (await client.post(url, json=good)).status_code == 401
    refused = await client.post(url, json=good, headers=fan.headers)
    assert refused.status_code == 403 and _code(refused) == "auth.forbidden"
    missing = await client.post(f"/live/sessions/{'0' * 26}/raffles", json=good, headers=headers)
    assert missing.status_code == 404 and _code(missing) == "live.session_not_found"
    # a prize from another session's rundown
    other = await client.post(
        "/live/sessions",
        json={"title": "Later", "scheduled_at": runtime.clock.now().isoformat()},
        headers=headers,
    )
    oid = other.json()["id"]
    put = await client.put(
        f"/live/sessions/{oid}/rundown",
        json={"items": [{"sku_id": live_room.shop.sku_ids[1], "live_price_minor": 100}]},
        headers=headers,
    )
    foreign = {**good, "item_id": put.json()["items"][0]["id"]}
    bad_prize = await client.post(url, json=foreign, headers=headers)
    assert bad_prize.status_code == 422 and _code(bad_prize) == "raffle.bad_prize"
    not_live = await client.post(f"/live/sessions/{oid}/raffles", json=good, headers=headers)
    assert not_live.status_code == 409 and _code(not_live) == "live.not_live"
    assert (await client.get(url)).json()["items"] == []

    raffle = await _create(client, live_room)
    rid = raffle["id"]
    for method, path, kwargs in (
        ("GET", f"/raffles/{'0' * 26}", {}),
        ("GET", f"/raffles/{'0' * 26}/proof", {}),
        ("POST", f"/raffles/{'0' * 26}/enter", {"headers": {**fan.headers, **_key()}}),
        ("POST", f"/raffles/{'0' * 26}/close", {"headers": headers}),
        (
            "POST",
            f"/raffles/{'0' * 26}/claim",
            {"headers": {**fan.headers, **_key()}, "json": {"shipping_address": address()}},
        ),
    ):
        response = await client.request(method, path, **kwargs)
        assert response.status_code == 404 and _code(response) == "raffle.not_found", path
    no_key = await client.post(f"/raffles/{rid}/enter", headers=fan.headers)
    assert no_key.status_code == 400 and _code(no_key) == "idempotency.key_required"
    own = await _enter(client, rid, live_room.anchor)
    assert own.status_code == 403 and _code(own) == "raffle.not_eligible"
    not_drawn = await client.get(f"/raffles/{rid}/proof")
    assert not_drawn.status_code == 409 and _code(not_drawn) == "raffle.not_drawn"
    closing = await client.post(f"/raffles/{rid}/close", headers=fan.headers)
    assert closing.status_code == 403 and _code(closing) == "auth.forbidden"
    bad_claim = await client.post(
        f"/raffles/{rid}/claim",
        json={"shipping_address": {"city": "x"}},
        headers={**fan.headers, **_key()},
    )
    assert bad_claim.status_code == 422 and _code(bad_claim) == "request.invalid"
    state = (await client.get(f"/raffles/{rid}")).json()
    assert state["status"] == "open" and state["entrants_count"] == 0

    # no entrants: the draw has no winners and still verifies
    empty = (await _close(client, live_room, rid)).json()
    assert empty["status"] == "drawn" and empty["winners"] == []
    assert verify(Proof.model_validate((await client.get(f"/raffles/{rid}/proof")).json()))


async def test_entries_racing_the_close_are_either_in_the_frozen_list_or_refused(
    live_room: Room, client: Any, make_account: Any
) -> None:
    fans = [await make_account("fan") for _ in range(12)]
    raffle = await _create(client, live_room, winners_count=3)
    rid = raffle["id"]
    for fan in fans[:2]:
        assert (await _enter(client, rid, fan)).status_code == 201
    racing = [_enter(client, rid, fan) for fan in fans[2:]]
    responses = await asyncio.gather(*racing[:5], _close(client, live_room, rid), *racing[5:])
    closed = responses[5]
    assert closed.status_code == 200, closed.text
    entries = [r for i, r in enumerate(responses) if i != 5]
    assert {r.status_code for r in entries} <= {201, 409}
    accepted = {fans[0].id, fans[1].id} | {
        r.json()["account_id"] for r in entries if r.status_code == 201
    }
    assert all(_code(r) == "raffle.closed" for r in entries if r.status_code == 409)
    proof = Proof.model_validate((await client.get(f"/raffles/{rid}/proof")).json())
    assert set(proof.entrants) == accepted and closed.json()["entrants_count"] == len(accepted)
    assert verify(proof).winners == [w["id"] for w in closed.json()["winners"]]
