"""The page's room reducer (static/js/room_state.js, run in Chromium) holds the rule the
server's reducer holds (liveshop.live.state): the snapshot a page joined with, with every
event it then received applied, equals a fresh snapshot; applying the events twice changes
nothing (a resumed page may see an event again); and it agrees with the Python reducer.
Every room event type is exercised: chat, pins, announcements, the session, the rundown, chat
deletion and each promotion's events (flash sale, coupon drop, red envelope, raffle)."""

from __future__ import annotations

from typing import Any

import pytest

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.live.state import apply_events
from liveshop.promotions.flash.runtime import FlashSales
from tests.live.conftest import LiveServer, Room
from tests.web.conftest import PHONE
from tests.web.flows import drop_coupon, idempotency_key

pytestmark = pytest.mark.usefixtures("backend")

REPLAY = """async ([snapshot, events, twice]) => {
  const { applyEvent } = await import("/static/js/room_state.js");
  const state = structuredClone(snapshot);
  for (let i = 0; i < (twice ? 2 : 1); i++) {
    for (const e of events) applyEvent(state, structuredClone(e));
  }
  return state;
}"""


async def test_snapshot_plus_events_in_the_page_equals_a_fresh_snapshot(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    open_room: Any,
    make_account: Any,
    client: Any,
    runtime: Runtime,
    clock: FrozenClock,
) -> None:
    fan = await make_account("fan")
    anchor = {**live_room.anchor.headers}
    base = f"/live/sessions/{live_room.id}"
    early = await open_room(live_room.id)
    speaker = await open_room(live_room.id, fan.token)
    for text in ("one", "two", "three"):
        await speaker.send({"type": "chat", "text": text})
        await early.wait_for(lambda e, t=text: e.get("type") == "chat" and e["text"] == t)
    two = next(e for e in early.events() if e.get("text") == "two")

    async def ok(method: str, url: str, body: Any = None, key: bool = False) -> Any:
        headers = {**anchor, **(idempotency_key() if key else {})}
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status_code < 300, (url, response.text)
        return response.json() if response.status_code != 204 else None

    await ok("POST", f"{base}/pin", {"item_id": live_room.item_ids[1]})
    for i in range(7):
        await ok("POST", f"{base}/announcements", {"text": f"news {i}"})
    await ok("PATCH", base, {"slow_mode_seconds": 5})
    await ok("DELETE", f"{base}/chat/{two['id']}")
    # promotions: a flash sale that closes, another still open; a coupon drop, a red envelope,
    # a raffle drawn
    flash: FlashSales = runtime.extras["flash"]
    address = {"recipient": "Fan", "phone": "13800000000", "line1": "1 Rd", "city": "Hangzhou"}

    async def flash_sale(price: int) -> str:
        """A flash sale counts down, opens and sells one unit; returns its id."""
        sale = await ok(
            "POST",
            f"{base}/flash-sales",
            {"item_id": live_room.item_ids[0], "price_minor": price, "quantity": 3},
            key=True,
        )
        clock.advance(seconds=10)
        await flash.tick()
        bought = await client.post(
            f"/flash-sales/{sale['id']}/buy",
            json={"shipping_address": address},
            headers={**fan.headers, **idempotency_key()},
        )
        assert bought.status_code == 201, bought.text
        await flash.tick()  # publishes the stock left
        await early.wait_for(
            lambda e: e.get("type") == "flash.stock" and e["sale_id"] == sale["id"], within=5
        )
        return str(sale["id"])

    closed = await flash_sale(4900)
    await ok("POST", f"/flash-sales/{closed}/close")
    await flash_sale(5900)  # stays open, with its stock left
    await drop_coupon(client, live_room, clock.now(), quota=5)
    await ok("POST", f"{base}/red-envelopes", {"amount_minor": 1000, "count": 2}, key=True)
    raffle = await ok(
        "POST",
        f"{base}/raffles",
        {"title": "Tea", "item_id": live_room.item_ids[0], "entry_seconds": 60},
    )
    await ok("POST", f"/raffles/{raffle['id']}/close")
    await ok(
        "PUT",
        f"{base}/rundown",
        {
            "items": [
                {"sku_id": live_room.shop.sku_ids[0], "live_price_minor": 6900},
                {"sku_id": live_room.shop.sku_ids[1], "live_price_minor": 14900},
            ]
        },
    )
    last = await early.wait_for(lambda e: e.get("type") == "showcase.updated")
    late = await open_room(live_room.id)
    await speaker.close()
    events = early.events()
    kinds = {e["type"] for e in events}
    assert {"flash.countdown", "flash.open", "flash.stock", "flash.closed", "coupon.drop"} <= kinds
    assert {"red_envelope.open", "raffle.open", "raffle.result", "chat.deleted"} <= kinds

    page = await (await browser.new_context(**PHONE)).new_page()
    await page.goto(f"{live_server.http_base}/live/{live_room.id}?lang=en")
    snapshot = early.first["snapshot"]
    fresh = late.first["snapshot"]
    once = await page.evaluate(REPLAY, [snapshot, events, False])
    twice = await page.evaluate(REPLAY, [snapshot, events, True])
    python = apply_events(snapshot, events)
    for state in (once, twice, python, fresh):
        state.pop("counters")
    assert once == fresh
    assert twice == fresh
    assert once == python
    assert late.first["seq"] >= last["seq"]


async def test_the_pages_shared_helpers_keep_money_exact_and_focus_in_place(
    browser: Any, live_server: LiveServer, live_room: Room
) -> None:
    page = await (await browser.new_context(**PHONE)).new_page()
    await page.goto(f"{live_server.http_base}/live/{live_room.id}?lang=en")
    results = await page.evaluate(
        """async () => {
      const { toMinor, money, reconcile } = await import("/static/js/common.js");
      const prices = ["49", "49.9", "49,90", " 0.05 ", "19.999", "-1", "1e3", "", "abc"];
      const list = document.createElement("ul");
      document.body.append(list);
      const make = (item) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.textContent = item;
        li.append(button);
        return li;
      };
      reconcile(list, ["a", "b", "c"], (x) => x, make);
      list.children[1].firstChild.focus();
      reconcile(list, ["z", "a", "b", "c"], (x) => x, make);  // one arrives on top
      const kept = document.activeElement.textContent;
      reconcile(list, ["b", "a"], (x) => x, make);  // two go, two swap
      return {
        minor: prices.map(toMinor),
        money: [money(4990, "CNY"), money(-5, "CNY"), money(0, "USD")],
        kept,
        order: [...list.children].map((li) => li.textContent),
      };
    }"""
    )
    assert results["minor"] == [4900, 4990, 4990, 5, None, None, None, None, None]
    assert results["money"] == ["49.90 CNY", "-0.05 CNY", "0.00 USD"]
    assert results["kept"] == "b"
    assert results["order"] == ["b", "a"]


async def test_a_retried_command_carries_the_same_idempotency_key(
    browser: Any, live_server: LiveServer, live_room: Room
) -> None:
    """``postOnce`` (every money or stock command of the pages): a retry after a network error
    or a refusal sends the key again; after a success the same command is a new one."""
    page = await (await browser.new_context(**PHONE)).new_page()
    await page.goto(f"{live_server.http_base}/live/{live_room.id}?lang=en")
    answers = iter(["abort", 409, 201, 201])
    keys: list[str | None] = []

    async def answer(route: Any) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        status = next(answers)
        if status == "abort":
            await route.abort()
        else:
            await route.fulfill(status=status, json={"code": "x"})

    await page.route("**/coupon-drops/d1/claim", answer)
    statuses = await page.evaluate(
        """async () => {
      const { postOnce } = await import("/static/js/common.js");
      const out = [];
      for (let i = 0; i < 4; i++) {
        try { out.push((await postOnce("/coupon-drops/d1/claim")).status); }
        catch { out.push("network error"); }
      }
      return out;
    }"""
    )
    assert statuses == ["network error", 409, 201, 201]
    assert keys[0] and keys[0] == keys[1] == keys[2]  # the same command until it succeeds
    assert keys[3] and keys[3] != keys[0]  # then the same command again is a new one
