"""Steps the browser tests take again and again: opening a page (signed in or not), an
address into a form, the sandbox payment."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from tests.live.conftest import LiveServer, Room
from tests.web.conftest import PHONE

DESKTOP = {"viewport": {"width": 1280, "height": 900}}


async def open_page(
    browser: Any,
    url: str,
    token: str | None = None,
    device: dict[str, Any] | None = None,
    *,
    ready: bool = True,
    blocked: tuple[str, ...] = (),
) -> Any:
    """A page in a browser context of its own (a phone unless ``device``), signed in with
    ``token``; ``ready``: wait until the page's module has drawn it (``body[data-ready]``);
    ``blocked``: URL patterns that fail to load (a library that did not come)."""
    context = await browser.new_context(**(device or PHONE))
    for pattern in blocked:
        await context.route(pattern, lambda route: route.abort())
    if token:
        script = f"localStorage.setItem('liveshop_token', {json.dumps(token)})"
        await context.add_init_script(script)
    page = await context.new_page()
    await page.goto(url)
    if ready:
        await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    return page


async def room_page(browser: Any, server: LiveServer, room: Room, token: str | None = None) -> Any:
    """The live room in English on a phone, drawn."""
    return await open_page(browser, f"{server.http_base}/live/{room.id}?lang=en", token)


ADDRESS = {"Recipient": "Fan One", "Phone": "13800000000", "Address": "88 Huaihai Rd"}


async def fill_address(scope: Any, *, phone: str = "13800000000") -> None:
    """Fill a card's address form (its fields found by their labels) in ``scope``."""
    for label, value in {**ADDRESS, "Phone": phone, "City": "Hangzhou"}.items():
        await scope.get_by_label(label).fill(value)


async def approve_payment(page: Any, session_id: str) -> None:
    """On the sandbox pay page: approve, then back in the room the order shows paid."""
    await page.wait_for_selector("text=Approve payment", timeout=30_000)
    await page.click("text=Approve payment")
    await page.wait_for_url(f"**/live/{session_id}?order=*", timeout=10_000)
    await page.wait_for_selector("#order-status[data-status='paid']", timeout=15_000)


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def drop_coupon(
    client: Any, room: Room, now: datetime, *, quota: int = 5, **terms: Any
) -> dict[str, Any]:
    """The anchor drops a coupon in the room (a "5 off" template for the session, valid a
    day, funded from the anchor's wallet: a budget of 50.00, with ``terms`` on top); the drop
    as the API returns it (its template in ``template_id``)."""
    headers = room.anchor.headers
    body = {
        "title": "5 off",
        "kind": "fixed",
        "amount_off_minor": 500,
        "valid_until": (now + timedelta(days=1)).isoformat(),
        "quota": 100,
        "session_id": room.id,
        "budget_minor": 5000,
        **terms,
    }
    template = await client.post(
        "/coupon-templates", json=body, headers={**headers, **idempotency_key()}
    )
    assert template.status_code == 201, template.text
    drop = await client.post(
        f"/live/sessions/{room.id}/coupon-drops",
        json={"template_id": template.json()["id"], "quota": quota},
        headers={**headers, **idempotency_key()},
    )
    assert drop.status_code == 201, drop.text
    return {**drop.json(), "template_id": template.json()["id"]}
