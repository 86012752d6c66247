"""The viewer's promotions in the live room, in a real browser (phone viewport) on both
databases: a flash sale counts down, opens, is bought and paid and the order comes back paid;
a coupon drop is claimed; a red envelope is grabbed; the anchor is followed and unfollowed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.promotions.flash.runtime import FlashSales
from tests.live.conftest import LiveServer, Room
from tests.web.flows import approve_payment, drop_coupon, fill_address, idempotency_key, room_page

pytestmark = pytest.mark.usefixtures("backend")

FLASH = "#promotions [data-kind='flash_sale']"
COUPON = "#promotions [data-kind='coupon_drop']"
ENVELOPE = "#promotions [data-kind='red_envelope']"


@pytest.fixture
def clock() -> FrozenClock:
    """The frozen clock starts at the browser's time, so the page's countdown is meaningful."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


async def test_a_viewer_sees_a_flash_sale_count_down_open_and_buys_and_pays_it(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    runtime: Runtime,
    clock: FrozenClock,
) -> None:
    fan = await make_account("fan")
    guest = await room_page(browser, live_server, live_room)
    page = await room_page(browser, live_server, live_room, token=fan.token)
    await page.wait_for_selector("#who:not(:empty)")
    created = await client.post(
        f"/live/sessions/{live_room.id}/flash-sales",
        json={"item_id": live_room.item_ids[0], "price_minor": 4900, "quantity": 3},
        headers={**live_room.anchor.headers, **idempotency_key()},
    )
    assert created.status_code == 201, created.text
    sale_id = created.json()["id"]

    card = f"{FLASH}[data-id='{sale_id}']"
    await page.wait_for_selector(f"{card}[data-status='countdown']", timeout=5_000)
    assert "Opens in" in await page.text_content(f"{card} .promo-timer")
    assert "49.00 CNY" in await page.text_content(f"{card} .promo-price")
    assert await page.text_content(f"{card} .promo-left") == "3 of 3 left"
    assert await page.is_disabled(f"{card} button.promo-action")

    clock.advance(seconds=10)
    flash: FlashSales = runtime.extras["flash"]
    await flash.tick()
    await page.wait_for_selector(f"{card}[data-status='open']", timeout=5_000)
    await guest.wait_for_selector(f"{card}[data-status='open']", timeout=5_000)
    await guest.click(f"{card} button.promo-action")
    await guest.wait_for_selector(f"{card} .promo-msg:has-text('Sign in first')")

    # No address saved yet: the card asks for one, a bad phone number is refused.
    sale = page.locator(card)
    await sale.get_by_role("button", name="Grab it").click()
    await page.wait_for_selector(f"{card} form.promo-address:not([hidden])")
    await fill_address(sale, phone="not a phone")
    await sale.get_by_role("button", name="Buy with this address").click()
    await page.wait_for_selector(f"{card} .promo-msg[data-tone='error']", timeout=5_000)
    await sale.get_by_label("Phone").fill("13800000000")
    await sale.get_by_label("Phone").press("Enter")  # the keyboard submits
    await approve_payment(page, live_room.id)
    await page.wait_for_selector(f"{card} .promo-left:has-text('2 of 3 left')", timeout=5_000)
    orders = (await client.get("/orders", headers=fan.headers)).json()["items"]
    assert [(o["status"], o["total_minor"]) for o in orders] == [("paid", 4900)]

    # The saved address is used next time: one per fan, so the second buy is refused. From
    # the keyboard: the button is disabled while the request is out, then has the focus back.
    await page.get_by_role("button", name="Grab it").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_selector(
        f"{card} .promo-msg:has-text('You already bought your limit')", timeout=5_000
    )
    assert await page.evaluate("document.activeElement.textContent") == "Grab it"


async def test_a_fan_waits_in_line_for_a_sold_out_sale_and_pays_the_unit_that_came_back(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    runtime: Runtime,
    clock: FrozenClock,
) -> None:
    buyer, fan = await make_account("fan"), await make_account("fan")
    created = await client.post(
        f"/live/sessions/{live_room.id}/flash-sales",
        json={
            "item_id": live_room.item_ids[0],
            "price_minor": 4900,
            "quantity": 1,
            "payment_window_seconds": 60,
        },
        headers={**live_room.anchor.headers, **idempotency_key()},
    )
    assert created.status_code == 201, created.text
    sale_id = created.json()["id"]
    clock.advance(seconds=10)
    flash: FlashSales = runtime.extras["flash"]
    await flash.tick()
    address = {
        "recipient": "Fan Two",
        "phone": "13800000001",
        "line1": "1 Lake Rd",
        "city": "Hangzhou",
    }
    bought = await client.post(
        f"/flash-sales/{sale_id}/buy",
        json={"shipping_address": address},
        headers={**buyer.headers, **idempotency_key()},
    )
    assert bought.status_code == 201, bought.text

    page = await room_page(browser, live_server, live_room, token=fan.token)
    card = f"{FLASH}[data-id='{sale_id}']"
    await page.wait_for_selector(f"{card}[data-status='sold_out']", timeout=5_000)
    sale = page.locator(card)
    await sale.get_by_role("button", name="Join the waitlist").click()
    await page.wait_for_selector(f"{card} form.promo-address:not([hidden])")
    await fill_address(sale)
    await sale.get_by_role("button", name="Wait in line with this address").click()
    await page.wait_for_selector(f"{card} .promo-msg:has-text('You are #1 in line')", timeout=5_000)
    assert await sale.get_by_role("button", name="In line: #1").is_disabled()
    # a fresh page knows its place in line
    await page.reload()
    await page.wait_for_selector(f"{card} button:has-text('In line: #1')", timeout=10_000)

    clock.advance(seconds=61)  # the buyer did not pay: the unit is the fan's order
    await flash.tick()
    await page.wait_for_selector(f"{card} .promo-msg:has-text('it is yours')", timeout=10_000)
    assert await sale.get_by_role("button", name="Pay now").is_enabled()
    assert await page.evaluate("document.activeElement.textContent") == "Pay now"
    await page.keyboard.press("Enter")  # focus is on Pay now: the keyboard pays
    await approve_payment(page, live_room.id)
    orders = (await client.get("/orders", headers=fan.headers)).json()["items"]
    assert [(o["status"], o["total_minor"]) for o in orders] == [("paid", 4900)]
    mine = (await client.get(f"/flash-sales/{sale_id}/me", headers=fan.headers)).json()
    assert mine["waitlist_outcome"] == "granted"
    assert [b["from_waitlist"] for b in mine["buys"]] == [True]


async def test_a_viewer_claims_a_coupon_from_a_drop(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    runtime: Runtime,
) -> None:
    fan = await make_account("fan")
    guest = await room_page(browser, live_server, live_room)
    page = await room_page(browser, live_server, live_room, token=fan.token)
    drop = await drop_coupon(client, live_room, runtime.clock.now(), live_session_only=True)
    card = f"{COUPON}[data-id='{drop['id']}']"
    await page.wait_for_selector(card, timeout=5_000)
    assert "5.00 CNY off" in await page.text_content(f"{card} .promo-terms")
    # the drop pops up over the video, with its terms; the card stays in the list
    popup = page.get_by_role("dialog", name="5 off")
    await popup.wait_for(timeout=5_000)
    assert "5.00 CNY off" in await popup.text_content()
    await guest.wait_for_selector(card, timeout=5_000)
    await guest.get_by_role("dialog", name="5 off").get_by_role("button", name="Claim").click()
    await guest.wait_for_selector("#coupon-popup-msg:has-text('Sign in first')")
    await guest.wait_for_selector(f"{card} .promo-msg:has-text('Sign in first')")
    await guest.keyboard.press("Escape")  # the focus is on the sign-in form: the popup stays
    await guest.get_by_role("button", name="Close the coupon drop").click()
    await guest.wait_for_selector("#coupon-popup", state="hidden")

    await popup.get_by_role("button", name="Claim").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_selector(f"{card}[data-status='claimed']", timeout=5_000)
    assert "Claimed: 5 off" in await page.text_content(f"{card} .promo-msg")
    await page.wait_for_selector("#coupon-popup-msg:has-text('Claimed: 5 off')")
    assert await page.evaluate("document.activeElement.id") == "coupon-popup-close"
    await page.keyboard.press("Escape")  # closes it; the focus goes to the chat input
    await page.wait_for_selector("#coupon-popup", state="hidden")
    assert await page.evaluate("document.activeElement.id") == "chat-input"
    mine = (await client.get("/coupons/mine", headers=fan.headers)).json()["items"]
    assert len(mine) == 1


async def test_a_viewer_grabs_a_red_envelope_and_follows_the_anchor(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
) -> None:
    fan = await make_account("fan")
    page = await room_page(browser, live_server, live_room, token=fan.token)
    await page.wait_for_selector("#follow[aria-pressed='false']:not([hidden])")
    funded = await client.post(
        f"/live/sessions/{live_room.id}/red-envelopes",
        json={"amount_minor": 1000, "count": 2},
        headers={**live_room.anchor.headers, **idempotency_key()},
    )
    assert funded.status_code == 201, funded.text
    card = f"{ENVELOPE}[data-id='{funded.json()['id']}']"
    await page.wait_for_selector(f"{card}[data-status='open']", timeout=5_000)
    await page.get_by_role("button", name="Grab", exact=True).click()
    await page.wait_for_selector(f"{card}[data-status='grabbed']", timeout=5_000)
    amount = int(await page.get_attribute(f"{card} .promo-msg", "data-amount") or 0)
    assert 0 < amount <= 1000
    text = await page.text_content(f"{card} .promo-msg")
    assert text == f"You got {amount // 100}.{amount % 100:02d} CNY!"

    anchor = f"/anchors/{live_room.anchor.id}"
    await page.click("#follow")
    await page.wait_for_selector("#follow[aria-pressed='true']:has-text('Unfollow')")
    assert (await client.get(anchor, headers=fan.headers)).json()["following"] is True
    await page.click("#follow")
    await page.wait_for_selector("#follow[aria-pressed='false']:has-text('Follow')")
    assert (await client.get(anchor, headers=fan.headers)).json()["following"] is False


async def test_a_viewer_enters_a_raffle_and_sees_it_won_with_a_link_to_the_proof(
    browser: Any, live_server: LiveServer, live_room: Room, client: Any, make_account: Any
) -> None:
    fan = await make_account("fan")
    page = await room_page(browser, live_server, live_room, token=fan.token)
    created = await client.post(
        f"/live/sessions/{live_room.id}/raffles",
        json={"title": "Tea for one", "item_id": live_room.item_ids[0], "entry_seconds": 60},
        headers=live_room.anchor.headers,
    )
    assert created.status_code == 201, created.text
    raffle_id = created.json()["id"]
    card = f"#promotions [data-kind='raffle'][data-id='{raffle_id}']"
    await page.wait_for_selector(f"{card}[data-status='open']", timeout=5_000)
    await page.get_by_role("button", name="Enter the raffle").click()
    await page.wait_for_selector(f"{card}[data-status='entered']", timeout=5_000)
    closed = await client.post(f"/raffles/{raffle_id}/close", headers=live_room.anchor.headers)
    assert closed.status_code == 200, closed.text
    await page.wait_for_selector(f"{card}[data-status='drawn']", timeout=5_000)
    assert await page.text_content(f"{card} .promo-won") == "You won!"
    proof = await page.get_attribute(f"{card} a.promo-proof", "href")
    assert proof == f"/raffles/{raffle_id}/proof"
    assert (await client.get(proof)).status_code == 200
    await page.get_by_role("button", name="Dismiss").click()
    await page.wait_for_selector(card, state="detached")
