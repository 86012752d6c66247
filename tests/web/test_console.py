"""The anchor's console in a real browser (desktop viewport): the stream key, pinning a
product a viewer then sees, an operator's flash sale reaching the room, a coupon drop a fan
claims in the room, moderating chat a viewer wrote, who may not use it, signing in and the
language switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from liveshop.web import i18n
from tests.live.conftest import LiveServer, Room
from tests.web.flows import open_page, room_page

pytestmark = pytest.mark.usefixtures("backend")

DESKTOP = {"viewport": {"width": 1440, "height": 1000}}


async def _console(
    browser: Any,
    server: LiveServer,
    room: Room,
    token: str | None,
    lang: str = "en",
    *,
    block_chart: bool = False,
) -> Any:
    url = f"{server.http_base}/console/sessions/{room.id}?lang={lang}"
    # block_chart: the chart library failed to load (the page works without it)
    blocked = ("**/static/vendor/uPlot.iife.min.js",) if block_chart else ()
    return await open_page(browser, url, token, DESKTOP, ready=bool(token), blocked=blocked)


async def test_the_anchor_sees_the_stream_key_and_pins_a_product_a_viewer_sees(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    screenshot_dir: Path,
) -> None:
    stream = await client.get(
        f"/live/sessions/{live_room.id}/stream", headers=live_room.anchor.headers
    )
    assert stream.status_code == 200, stream.text
    console = await _console(browser, live_server, live_room, live_room.anchor.token)
    await console.wait_for_function(
        "document.getElementById('stream-key').value !== ''", timeout=5_000
    )
    assert await console.input_value("#stream-key") == stream.json()["stream_key"]
    assert await console.input_value("#stream-server") == stream.json()["server_url"]
    assert await console.get_attribute("#stream-key", "type") == "password"
    await console.check("#show-key")
    assert await console.get_attribute("#stream-key", "type") == "text"
    assert await console.text_content("#session-status") == "Session: Live"
    assert await console.is_disabled("#go-live")

    viewer = await room_page(browser, live_server, live_room)
    assert await viewer.is_hidden("#pinned")
    pin = console.locator("#rundown li").first.get_by_role("button", name="Pin ")
    await pin.focus()
    await console.keyboard.press("Enter")  # from the keyboard
    await viewer.wait_for_selector("#pinned:not([hidden])", timeout=5_000)
    assert "79.00 CNY" in await viewer.text_content("#pinned-price")
    await console.wait_for_selector("#rundown li.current >> text=Unpin", timeout=5_000)

    # an announcement from the console reaches the viewer too
    await console.fill("#announce-text", "Coupons at 8pm")
    await console.click("#announce-form button[type=submit]")
    await viewer.wait_for_selector("#announcement:has-text('Coupons at 8pm')", timeout=5_000)

    await console.click("#rundown li.current button.unpin")
    await viewer.wait_for_selector("#pinned[hidden]", state="attached", timeout=5_000)
    await console.wait_for_selector("#m-online:not(:text('0'))", timeout=5_000)
    await console.wait_for_selector("#chart .uplot", timeout=10_000)  # two samples drawn
    assert await console.is_hidden("#chart-fallback")
    await console.wait_for_selector("#m-orders[data-paid='0']", timeout=10_000)  # /sales
    assert await console.text_content("#m-orders") == "0 / 0"
    assert await console.text_content("#m-conversion") == "0.0%"
    await console.screenshot(path=str(screenshot_dir / "console.png"), full_page=True)


async def test_an_operator_opens_a_flash_sale_and_the_room_gets_its_countdown(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    open_room: Any,
) -> None:
    operator = await make_account("operator")
    added = await client.post(
        f"/live/sessions/{live_room.id}/operators",
        json={"account_id": operator.id},
        headers=live_room.anchor.headers,
    )
    assert added.status_code == 201, added.text
    room = await open_room(live_room.id)
    assert room.first["type"] == "snapshot"
    viewer = await room_page(browser, live_server, live_room)  # another browser context

    console = await _console(browser, live_server, live_room, operator.token)
    await console.select_option("#flash-item", live_room.item_ids[0])
    await console.fill("#flash-price", "abc")
    await console.click("#flash-form button[type=submit]")
    await console.wait_for_selector("#toast:has-text('Enter a price')", timeout=5_000)
    await console.fill("#flash-price", "49.90")
    await console.fill("#flash-quantity", "5")
    await console.fill("#flash-per-user", "2")
    await console.fill("#flash-countdown", "30")
    await console.fill("#flash-duration", "60")
    await console.click("#flash-form button[type=submit]")

    event = await room.event("flash.countdown", within=10)
    sale = event["sale"]
    assert (sale["item_id"], sale["price_minor"], sale["quantity"], sale["per_user_limit"]) == (
        live_room.item_ids[0],
        4990,
        5,
        2,
    )
    assert sale["status"] == "countdown"
    await console.wait_for_selector(
        f"#promotions li[data-id='{sale['id']}']:has-text('49.90 CNY')", timeout=5_000
    )
    # the viewer's page shows the sale's countdown card
    card = f"#promotions [data-kind='flash_sale'][data-id='{sale['id']}'][data-status='countdown']"
    await viewer.wait_for_selector(card, timeout=5_000)
    assert "49.90 CNY" in await viewer.text_content(card)
    listed = await client.get(f"/live/sessions/{live_room.id}/flash-sales")
    assert [s["id"] for s in listed.json()] == [sale["id"]]
    # an operator of this session manages its anchor's banned words from the console
    await console.fill("#word-input", "refund scam")
    await console.press("#word-input", "Enter")
    await console.wait_for_selector("#words li:has-text('refund scam')", timeout=5_000)
    words = await client.get(
        "/moderation/banned-words",
        params={"anchor_id": live_room.anchor.id},
        headers=live_room.anchor.headers,
    )
    assert [w["word"] for w in words.json()] == ["refund scam"]
    # many ticks later the room still counts its two viewers (the socket and the page), never
    # the console itself
    await console.wait_for_function(
        "document.getElementById('m-online').textContent === '2'", timeout=10_000
    )
    assert await console.text_content("#m-unique") == "2"


async def test_the_anchor_drops_a_coupon_a_signed_in_fan_claims_in_the_room(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    open_room: Any,
) -> None:
    fan = await make_account("fan")
    room = await open_room(live_room.id)
    assert room.first["type"] == "snapshot"
    viewer = await room_page(browser, live_server, live_room, token=fan.token)
    await viewer.wait_for_selector("#who:not(:empty)")
    console = await _console(browser, live_server, live_room, live_room.anchor.token)
    assert await console.text_content("#coupon-amount-label") == "Amount off (CNY)"

    # not an amount: the form says so and sends nothing
    await console.fill("#coupon-amount", "5.5.0")
    await console.click("#coupon-form button[type=submit]")
    await console.wait_for_selector("#toast.error:has-text('Enter an amount off')", timeout=5_000)
    # the API's refusal (a per-user limit above the quota) is shown as the other forms do
    await console.fill("#coupon-title", "Autumn 5 off")
    await console.fill("#coupon-amount", "5.00")
    await console.fill("#coupon-min-spend", "50")
    await console.fill("#coupon-quota", "2")
    await console.fill("#coupon-per-user", "3")
    await console.click("#coupon-form button[type=submit]")
    await console.wait_for_selector("#toast.error:has-text('at most the quota')", timeout=5_000)
    drops = await client.get(f"/live/sessions/{live_room.id}/coupon-drops")
    assert drops.json()["items"] == []

    # from the keyboard: per-user limit 1, a 5-minute drop, Enter submits
    await console.fill("#coupon-per-user", "1")
    await console.fill("#coupon-duration", "300")
    assert not await console.is_checked("#coupon-followers")
    await console.focus("#coupon-duration")
    await console.keyboard.press("Enter")
    event = await room.event("coupon.drop", within=10)
    drop = event["drop"]
    coupon = drop["coupon"]
    assert (coupon["title"], coupon["kind"], coupon["amount_off_minor"]) == (
        "Autumn 5 off",
        "fixed",
        500,
    )
    assert (coupon["min_spend_minor"], coupon["currency"], coupon["session_id"]) == (
        5000,
        "CNY",
        live_room.id,
    )
    assert (drop["quota"], drop["per_user_limit"]) == (2, 1)
    # the anchor funds it from its wallet: by default every coupon's 5.00, set aside now
    template = (await client.get(f"/coupon-templates/{coupon['template_id']}")).json()
    assert (template["funded_by"], template["funder_id"], template["budget_minor"]) == (
        "wallet",
        live_room.anchor.id,
        1000,
    )
    await console.wait_for_selector("#toast:not(.error):has-text('Coupon dropped')")
    entry = f"#promotions li[data-kind='coupon_drop'][data-id='{drop['id']}']"
    await console.wait_for_selector(f"{entry}:has-text('5.00 CNY off')", timeout=5_000)

    # the viewer's page shows the drop; the fan claims it there
    card = viewer.locator(f"#promotions [data-kind='coupon_drop'][data-id='{drop['id']}']")
    await card.wait_for(timeout=5_000)
    assert "Autumn 5 off" in await card.text_content()
    await card.get_by_role("button", name="Claim").click()
    await viewer.wait_for_selector(
        f"#promotions [data-id='{drop['id']}'][data-status='claimed']", timeout=5_000
    )
    mine = await client.get("/coupons/mine", headers=fan.headers)
    assert mine.status_code == 200, mine.text
    assert [
        (c["drop_id"], c["status"], c["coupon"]["amount_off_minor"]) for c in mine.json()["items"]
    ] == [(drop["id"], "unused", 500)]
    listed = await client.get(f"/live/sessions/{live_room.id}/coupon-drops")
    assert [(d["id"], d["claimed"]) for d in listed.json()["items"]] == [(drop["id"], 1)]


async def test_a_percent_coupon_for_one_product_in_this_live_only(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    open_room: Any,
) -> None:
    fan = await make_account("fan")
    room = await open_room(live_room.id)
    viewer = await room_page(browser, live_server, live_room, token=fan.token)
    await viewer.wait_for_selector("#who:not(:empty)")
    console = await _console(browser, live_server, live_room, live_room.anchor.token)
    assert await console.is_hidden("#coupon-percent")
    await console.select_option("#coupon-kind", "percent")
    assert await console.is_hidden("#coupon-amount") and await console.is_visible("#coupon-cap")
    await console.fill("#coupon-title", "Tea 10% off")
    await console.fill("#coupon-percent", "101")
    await console.click("#coupon-form button[type=submit]")
    await console.wait_for_selector("#toast.error:has-text('from 1 to 100')", timeout=5_000)
    await console.fill("#coupon-percent", "10")
    # no cap: what the coupons take off has no bound, so the anchor names its budget
    await console.click("#coupon-form button[type=submit]")
    await console.wait_for_selector("#toast.error:has-text('needs a budget')", timeout=5_000)
    assert await console.evaluate("document.activeElement.id") == "coupon-budget"
    await console.fill("#coupon-budget", "20000000")  # more than the wallet holds
    await console.click("#coupon-form button[type=submit]")
    await console.wait_for_selector(
        "#toast.error:has-text('Your wallet holds less')", timeout=5_000
    )
    await console.fill("#coupon-budget", "")
    await console.fill("#coupon-cap", "5.00")
    await console.select_option("#coupon-scope", "skus")
    await console.click("#coupon-form button[type=submit]")
    await console.wait_for_selector("#toast.error:has-text('Tick at least one')", timeout=5_000)
    # from the keyboard: focus is on the first product's box; Space ticks it
    assert await console.evaluate("document.activeElement.value") == live_room.shop.sku_ids[0]
    await console.keyboard.press("Space")
    await console.check("#coupon-live-only")
    await console.click("#coupon-form button[type=submit]")

    drop = (await room.event("coupon.drop", within=10))["drop"]
    coupon = drop["coupon"]
    assert (coupon["kind"], coupon["percent_off"], coupon["cap_minor"]) == ("percent", 10, 500)
    assert (coupon["scope"], coupon["sku_ids"]) == ("skus", [live_room.shop.sku_ids[0]])
    assert coupon["live_session_only"] is True and coupon["stackable"] is False
    entry = f"#promotions li[data-kind='coupon_drop'][data-id='{drop['id']}']"
    await console.wait_for_selector(f"{entry}:has-text('10%')", timeout=5_000)
    assert "(up to 5.00 CNY) on 1 product(s)" in await console.text_content(entry)

    card = viewer.locator(f"#promotions [data-kind='coupon_drop'][data-id='{drop['id']}']")
    await card.wait_for(timeout=5_000)
    terms = await card.text_content()
    showcase = room.first["snapshot"]["showcase"]
    title = next(i["title"] for i in showcase if i["sku_id"] == live_room.shop.sku_ids[0])
    assert "10% off · up to 5.00 CNY · on " in terms and "for orders in this live" in terms
    assert title in terms
    await card.get_by_role("button", name="Claim").click()
    await viewer.wait_for_selector(
        f"#promotions [data-id='{drop['id']}'][data-status='claimed']", timeout=5_000
    )

    # the terms hold at checkout: the covered product in this live, capped at 5.00
    async def best(sku: str, live: bool) -> Any:
        body: dict[str, Any] = {"lines": [{"sku_id": sku, "quantity": 1}]}
        if live:
            body["live_session_id"] = live_room.id
        quote = await client.post("/orders/quote", json=body, headers=fan.headers)
        assert quote.status_code == 200, quote.text
        return quote.json()["best"]

    covered, other = live_room.shop.sku_ids[:2]
    assert (await best(covered, live=True))["discount_minor"] == 500
    assert await best(covered, live=False) is None
    assert await best(other, live=True) is None


async def test_a_viewers_message_is_moderated_from_the_console(
    browser: Any, live_server: LiveServer, live_room: Room, client: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    console = await _console(
        browser, live_server, live_room, live_room.anchor.token, block_chart=True
    )
    viewer = await room_page(browser, live_server, live_room, token=fan.token)
    await viewer.wait_for_selector("#who:not(:empty)")
    await viewer.fill("#chat-input", "buy my stuff at spam.example")
    await viewer.press("#chat-input", "Enter")
    await viewer.wait_for_selector("#chat li:has-text('spam.example')", timeout=5_000)
    line = console.locator("#mod-chat li", has_text="spam.example")
    await line.wait_for(timeout=5_000)
    # from the keyboard: the Delete button keeps its focus while new chat comes in
    await line.get_by_role("button", name="Delete the message of").focus()
    await viewer.fill("#chat-input", "is it real silk?")
    await viewer.press("#chat-input", "Enter")
    await console.wait_for_selector("#mod-chat li:first-child:has-text('real silk')", timeout=5_000)
    focused = "document.activeElement.closest('li')?.textContent ?? ''"
    assert "spam.example" in await console.evaluate(focused)
    await console.keyboard.press("Enter")
    await viewer.wait_for_selector("#chat li:has-text('spam.example')", state="detached")
    await line.wait_for(state="detached", timeout=5_000)

    # mute the writer: the room refuses their next message
    await viewer.fill("#chat-input", "one more")
    await viewer.press("#chat-input", "Enter")
    line = console.locator("#mod-chat li", has_text="one more")
    await line.get_by_role("button", name="Mute").click()
    await console.wait_for_selector("#toast:has-text('is muted')", timeout=5_000)
    sanctions = await client.get(
        f"/live/sessions/{live_room.id}/sanctions", headers=live_room.anchor.headers
    )
    assert [(s["account_id"], s["kind"]) for s in sanctions.json()] == [(fan.id, "mute")]

    # banned words: add, then remove
    await console.fill("#word-input", "spam")
    await console.press("#word-input", "Enter")
    await console.wait_for_selector("#words li:has-text('spam')", timeout=5_000)
    await console.get_by_role("button", name="Remove the banned word spam").click()
    await console.wait_for_selector("#words li:has-text('No banned words')", timeout=5_000)
    await console.wait_for_selector("#chart-fallback:not([hidden])", timeout=5_000)
    assert await console.text_content("#m-cpm") != "0"  # the numbers without the chart


async def test_a_fan_sees_the_apis_refusal_and_a_guest_signs_in_in_chinese(
    browser: Any, live_server: LiveServer, live_room: Room, make_account: Any
) -> None:
    fan = await make_account("fan")
    page = await _console(browser, live_server, live_room, None)
    await page.wait_for_selector("#signin:not([hidden])")
    assert await page.is_hidden("#console")
    await page.fill("#signin-email", fan.email)
    await page.fill("#signin-password", "correct horse battery")
    await page.press("#signin-password", "Enter")
    await page.wait_for_selector("#forbidden:has-text('You cannot manage this session')")
    assert await page.is_hidden("#console")

    page = await _console(browser, live_server, live_room, None, lang="zh-CN")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    await page.fill("#signin-email", live_room.anchor.email)
    await page.fill("#signin-password", "correct horse battery")
    await page.click("#signin button[type=submit]")
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    assert await page.text_content("#go-live") == "开始直播"
    assert await page.text_content("#session-status") == "直播状态：直播中"
    await page.select_option("#lang", "en")
    await page.wait_for_selector("#go-live:has-text('Go live')", timeout=10_000)


def test_the_console_messages_have_both_languages() -> None:
    assert set(i18n.catalog("en")) == set(i18n.catalog("zh-CN"))
    assert all(
        key in i18n.catalog("zh-CN") for key in i18n.catalog("en") if key.startswith("console.")
    )


async def test_an_unknown_session_console_is_a_404(client: Any) -> None:
    assert (await client.get("/console/sessions/nosuchsession")).status_code == 404
