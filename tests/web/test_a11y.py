"""An automated accessibility audit of every page, in a real browser: axe-core (from npm, a
dev dependency; never served to users) checks the WCAG 2.1 A and AA rules it can check
(labels, names of buttons, contrast, landmarks, ARIA use, language, ...) on the home page,
the viewer room (phone; with its product bag and checkout open), the sandbox pay page, the
session console, the merchant console and the admin page, each with promotions, chat and
tables drawn. The replay is audited in tests/video (it needs a recorded show). Keyboard
paths are tested with the features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from liveshop.deps import Runtime
from tests.live.conftest import LiveServer, Room
from tests.web.axe import axe_script, violations
from tests.web.conftest import PHONE
from tests.web.flows import DESKTOP, drop_coupon, idempotency_key, open_page

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def axe() -> Path:
    return axe_script()


def _no_violations(found: dict[str, list[str]]) -> None:
    report = [f"{page}: {line}" for page, lines in found.items() for line in lines]
    assert not report, "accessibility violations:\n" + "\n".join(report)


async def _busy_room(client: Any, room: Room, runtime: Runtime) -> str:
    """A pinned product, a flash sale counting down and a coupon drop: the cards are drawn.
    Returns the coupon template (for another drop)."""
    headers = room.anchor.headers
    base = f"/live/sessions/{room.id}"
    pinned = await client.post(f"{base}/pin", json={"item_id": room.item_ids[0]}, headers=headers)
    assert pinned.status_code == 200, pinned.text
    sale = await client.post(
        f"{base}/flash-sales",
        json={"item_id": room.item_ids[0], "price_minor": 4900, "quantity": 3},
        headers={**headers, **idempotency_key()},
    )
    assert sale.status_code == 201, sale.text
    drop = await drop_coupon(client, room, runtime.clock.now(), quota=5)
    return str(drop["template_id"])


async def test_the_viewer_room_and_the_console_pass_the_audit(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    runtime: Runtime,
    axe: Path,
) -> None:
    template_id = await _busy_room(client, live_room, runtime)
    fan = await make_account("fan")
    room_url = f"{live_server.http_base}/live/{live_room.id}"
    found: dict[str, list[str]] = {}
    for lang in ("en", "zh-CN"):
        home = await open_page(browser, f"{live_server.http_base}/?lang={lang}", ready=False)
        found[f"home, {lang}"] = await violations(home, axe)
        guest = await open_page(browser, f"{room_url}?lang={lang}", None, PHONE)
        await guest.wait_for_selector("#promotions [data-kind='coupon_drop']", timeout=5_000)
        found[f"room, guest, {lang}"] = await violations(guest, axe)
    page = await open_page(browser, f"{room_url}?lang=en", fan.token, PHONE)
    await page.wait_for_selector("#who:not(:empty)")
    await page.fill("#chat-input", "Is the tea still in stock?")
    await page.press("#chat-input", "Enter")
    await page.wait_for_selector("#chat li", timeout=5_000)
    found["room, signed in"] = await violations(page, axe)
    drop = await client.post(
        f"/live/sessions/{live_room.id}/coupon-drops",
        json={"template_id": template_id, "quota": 3},
        headers={**live_room.anchor.headers, **idempotency_key()},
    )
    assert drop.status_code == 201, drop.text
    await page.wait_for_selector("#coupon-popup:not([hidden])", timeout=5_000)
    await page.wait_for_function("document.getAnimations().every((a) => a.playState !== 'running')")
    found["room, coupon popup"] = await violations(page, axe)
    await page.click("#bag-open")
    await page.wait_for_selector("#bag[open] #bag-items li", timeout=5_000)
    found["room, product bag"] = await violations(page, axe)
    await page.keyboard.press("Escape")
    await page.click("#pinned-buy")
    await page.wait_for_selector("#checkout[open]", timeout=5_000)
    found["room, checkout"] = await violations(page, axe)
    await page.fill("#ship-recipient", "Fan One")
    await page.fill("#ship-phone", "13800000000")
    await page.fill("#ship-line1", "88 Huaihai Rd")
    await page.fill("#ship-city", "Hangzhou")
    await page.press("#ship-city", "Enter")
    await page.wait_for_selector("text=Approve payment", timeout=30_000)
    found["sandbox pay page"] = await violations(page, axe)
    console = await open_page(
        browser,
        f"{live_server.http_base}/console/sessions/{live_room.id}?lang=en",
        live_room.anchor.token,
        DESKTOP,
    )
    await console.wait_for_selector("#promotions li", timeout=5_000)
    found["console"] = await violations(console, axe)
    _no_violations(found)


async def test_the_merchant_console_and_the_admin_page_pass_the_audit(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    axe: Path,
) -> None:
    admin, merchant = await make_account("admin"), await make_account("merchant")
    added = await client.post(
        f"/admin/merchants/{live_room.shop.merchant_id}/members",
        json={"account_id": merchant.id, "role": "staff"},
        headers=admin.headers,
    )
    assert added.status_code == 204, added.text
    found: dict[str, list[str]] = {}
    for path, token, what in (
        ("/console/merchant", merchant.token, "#products tr, #products li"),
        ("/console/admin", admin.token, "#accounts tr, #accounts li"),
    ):
        page = await open_page(browser, f"{live_server.http_base}{path}?lang=en", token, DESKTOP)
        await page.wait_for_selector(what, timeout=10_000)
        found[path] = await violations(page, axe)
    _no_violations(found)
