"""The viewer's live room page in a real browser (phone viewport): the snapshot, a pin, chat
between two browsers, likes, sign-in, the language switch, the reconnect banner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from liveshop.deps import Runtime
from liveshop.web import i18n
from tests.live.conftest import LiveServer, Room
from tests.web.conftest import PHONE
from tests.web.flows import approve_payment, room_page

pytestmark = pytest.mark.usefixtures("backend")


async def test_a_viewer_sees_the_room_and_the_pinned_product_arrives(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    screenshot_dir: Path,
) -> None:
    fan = await make_account("fan")
    page = await room_page(browser, live_server, live_room, token=fan.token)
    assert "Autumn picks" in await page.text_content("#anchor-name")
    assert await page.is_hidden("#pinned")
    assert await page.text_content("#bag-open") == "Product bag (2)"
    assert await page.text_content("#poster-text") == "The anchor is not streaming right now"
    pinned = await client.post(
        f"/live/sessions/{live_room.id}/pin",
        json={"item_id": live_room.item_ids[0]},
        headers=live_room.anchor.headers,
    )
    assert pinned.status_code == 200, pinned.text
    await page.wait_for_selector("#pinned:not([hidden])", timeout=5_000)
    assert "79.00 CNY" in await page.text_content("#pinned-price")  # the live price
    assert await page.text_content("#pinned-list") == "99.00 CNY"
    announced = await client.post(
        f"/live/sessions/{live_room.id}/announcements",
        json={"text": "Coupons at 8pm"},
        headers=live_room.anchor.headers,
    )
    assert announced.status_code == 201
    await page.wait_for_selector("#announcement:has-text('Coupons at 8pm')", timeout=5_000)
    await page.click("#like")
    await page.click("#like")
    await page.wait_for_function(
        "document.getElementById('likes').textContent.startsWith('2 ')", timeout=5_000
    )
    await page.screenshot(path=str(screenshot_dir / "live-room-phone.png"), full_page=True)


async def test_chat_goes_between_two_browsers_and_a_guest_is_asked_to_sign_in(
    browser: Any, live_server: LiveServer, live_room: Room, make_account: Any
) -> None:
    fan = await make_account("fan")
    guest = await room_page(browser, live_server, live_room)
    speaker = await room_page(browser, live_server, live_room, token=fan.token)
    await speaker.wait_for_selector("#who:not(:empty)")
    await speaker.fill("#chat-input", "Is the red one in stock?")
    await speaker.press("#chat-input", "Enter")  # the keyboard sends
    await guest.wait_for_selector("#chat li:has-text('Is the red one in stock?')", timeout=5_000)
    await guest.fill("#chat-input", "hello")
    await guest.click("text=Send")
    await guest.wait_for_selector("#chat-error:has-text('Sign in to chat')", timeout=5_000)


async def test_signing_in_from_the_room_and_switching_to_chinese(
    browser: Any, live_server: LiveServer, live_room: Room, make_account: Any
) -> None:
    fan = await make_account("fan")
    page = await room_page(browser, live_server, live_room)
    await page.fill("#signin-password", "wrong-password")
    await page.fill("#signin-email", fan.email)
    await page.click("#signin button[type=submit]")
    await page.wait_for_selector("#signin-error:has-text('Wrong email or password')")
    await page.fill("#signin-password", "correct horse battery")  # make_account's
    await page.click("#signin button[type=submit]")
    await page.wait_for_selector("#who:has-text('Signed in as')", timeout=5_000)
    await page.select_option("#lang", "zh-CN")
    await page.wait_for_selector("body[data-ready='1']")
    await page.wait_for_selector("#like:has-text('点赞')", timeout=10_000)
    assert await page.text_content("#chat-form button") == "发送"
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert await page.is_visible("#signout")  # still signed in after the reload


async def test_the_reconnect_banner_shows_while_the_socket_is_down(
    browser: Any, live_server: LiveServer, live_room: Room, runtime: Runtime, client: Any
) -> None:
    page = await room_page(browser, live_server, live_room)
    assert await page.is_hidden("#reconnect")
    for conn in runtime.rooms.hub.connections(live_room.id):
        conn.close(4008)  # the server drops it (as it does a slow reader)
    await page.wait_for_selector("#reconnect:not([hidden])", timeout=5_000)
    await page.wait_for_selector("#reconnect[hidden]", state="attached", timeout=10_000)
    pinned = await client.post(
        f"/live/sessions/{live_room.id}/pin",
        json={"item_id": live_room.item_ids[1]},
        headers=live_room.anchor.headers,
    )
    assert pinned.status_code == 200
    await page.wait_for_selector("#pinned:not([hidden])", timeout=5_000)


def test_every_message_has_both_languages() -> None:
    assert set(i18n.catalog("en")) == set(i18n.catalog("zh-CN"))
    assert all(i18n.catalog("zh-CN").values())


async def test_an_unknown_session_page_is_a_404(client: Any) -> None:
    response = await client.get("/live/nosuchsession")
    assert response.status_code == 404
    assert (await client.get("/live/sessions")).status_code == 200  # the API, not the page


async def test_the_home_page_leads_to_the_live_room_and_its_console_in_both_languages(
    browser: Any, live_server: LiveServer, live_room: Room
) -> None:
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await page.goto(f"{live_server.http_base}/?lang=zh-CN")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert await page.text_content("#h-live") == "正在直播"
    await page.click("nav.langs a[lang='en']")
    await page.wait_for_selector("#h-live:has-text('Live now')")
    watch = page.get_by_role("link", name="Autumn picks: Watch")
    assert await watch.get_attribute("href") == f"/live/{live_room.id}"
    console = page.get_by_role("link", name="Autumn picks: Console")
    assert await console.get_attribute("href") == f"/console/sessions/{live_room.id}"
    await watch.focus()
    await page.keyboard.press("Enter")  # from the keyboard into the room
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    assert page.url.endswith(f"/live/{live_room.id}")


async def test_buying_the_pinned_product_paying_and_coming_back_to_the_room(
    browser: Any, live_server: LiveServer, live_room: Room, client: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    pinned = await client.post(
        f"/live/sessions/{live_room.id}/pin",
        json={"item_id": live_room.item_ids[0]},
        headers=live_room.anchor.headers,
    )
    assert pinned.status_code == 200
    guest = await room_page(browser, live_server, live_room)
    await guest.click("#pinned-buy")
    await guest.wait_for_selector("#signin-error:has-text('Sign in first')")

    page = await room_page(browser, live_server, live_room, token=fan.token)
    await page.click("#pinned-buy")
    await page.wait_for_selector("#checkout[open]")
    await page.fill("#ship-recipient", "Fan One")
    await page.fill("#ship-phone", "not a phone")
    await page.fill("#ship-line1", "88 Huaihai Rd")
    await page.fill("#ship-city", "Hangzhou")
    await page.click("#checkout-form button[type=submit]")
    await page.wait_for_selector("#checkout-error:has-text('Something went wrong')")
    await page.fill("#ship-phone", "13800000000")
    await page.click("#checkout-form button[type=submit]")
    await approve_payment(page, live_room.id)  # the payment page, then back in the room
    orders = (await client.get("/orders", headers=fan.headers)).json()["items"]
    assert [(o["status"], o["total_minor"], o["live_session_id"]) for o in orders] == [
        ("paid", 7900, live_room.id)  # the live price
    ]


async def test_signing_up_without_leaving_the_room_then_chatting(
    browser: Any, live_server: LiveServer, live_room: Room, make_account: Any
) -> None:
    taken = await make_account("fan")
    page = await room_page(browser, live_server, live_room)
    await page.click("#signup-toggle")
    assert await page.text_content("#signin-submit") == "Create my account"
    await page.fill("#signin-email", taken.email)
    await page.fill("#signin-password", "a-long-password")
    await page.fill("#signup-name", "New Fan")
    await page.click("#signin-submit")
    await page.wait_for_selector("#signin-error:has-text('Could not create the account')")
    await page.fill("#signin-email", "new-fan@example.com")
    await page.click("#signin-submit")
    await page.wait_for_selector("#who:has-text('Signed in as New Fan')", timeout=10_000)
    await page.wait_for_selector("body[data-ready='1']")
    await page.fill("#chat-input", "Hello from a new account")
    await page.press("#chat-input", "Enter")
    await page.wait_for_selector("#chat li:has-text('New Fan: Hello from a new account')")
