"""The merchant console and the admin page in a real browser: what the merchant and admin
APIs give the signed-in user, drawn as tables; the admin grants a role."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.factories import address
from tests.live.conftest import LiveServer, Room

pytestmark = pytest.mark.usefixtures("backend")


async def _page(browser: Any, server: LiveServer, path: str, token: str) -> Any:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    script = f"localStorage.setItem('liveshop_token', {json.dumps(token)})"
    await context.add_init_script(script)
    page = await context.new_page()
    await page.goto(f"{server.http_base}{path}?lang=en")
    return page


async def test_the_merchant_sees_its_products_stock_orders_and_sessions(
    browser: Any,
    live_server: LiveServer,
    live_room: Room,
    client: Any,
    make_account: Any,
    screenshot_dir: Path,
) -> None:
    admin, merchant, fan = (
        await make_account("admin"),
        await make_account("merchant"),
        await make_account("fan"),
    )
    added = await client.post(
        f"/admin/merchants/{live_room.shop.merchant_id}/members",
        json={"account_id": merchant.id, "role": "staff"},
        headers=admin.headers,
    )
    assert added.status_code == 204, added.text
    order = await client.post(
        "/orders",
        json={
            "lines": [{"sku_id": live_room.shop.sku_ids[0], "quantity": 1}],
            "shipping_address": address("Hangzhou"),
            "live_session_id": live_room.id,
        },
        headers={**fan.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert order.status_code == 201, order.text
    page = await _page(browser, live_server, "/console/merchant", merchant.token)
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    products = await page.text_content("#products tbody")
    assert "Longjing tea" in products and "79.00" not in products  # list prices here
    assert "99.00 CNY" in products
    stock = await page.inner_text("#stock tbody")
    assert "HZ · Hangzhou" in stock
    orders = await page.inner_text("#orders tbody")
    assert order.json()["id"][-8:] in orders and "pending_payment" in orders
    assert live_room.id in orders
    sessions = await page.inner_text("#sessions tbody")
    assert "Autumn picks" in sessions and "live" in sessions
    assert await page.get_attribute("#sessions a", "href") == f"/live/{live_room.id}"
    await page.screenshot(path=str(screenshot_dir / "merchant-console.png"), full_page=True)

    stranger = await _page(browser, live_server, "/console/merchant", fan.token)
    await stranger.wait_for_selector("#error:has-text('Sign in with a merchant')", timeout=10_000)


async def test_the_admin_grants_and_revokes_a_role(
    browser: Any, live_server: LiveServer, make_account: Any, client: Any
) -> None:
    admin = await make_account("admin")
    fan = await make_account("fan")
    page = await _page(browser, live_server, "/console/admin", admin.token)
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    row = page.locator("#accounts tbody tr", has_text=fan.email)
    await row.locator("select").select_option("anchor")
    await row.locator("button[type=submit]").click()
    await page.wait_for_selector(f"#accounts tr:has-text('{fan.email}') >> text=Revoke anchor")
    me = await client.get("/auth/me", headers=fan.headers)
    assert "anchor" in me.json()["roles"]
    await page.locator(f"#accounts tr:has-text('{fan.email}') >> text=Revoke anchor").click()
    await page.wait_for_selector(
        f"#accounts tr:has-text('{fan.email}') >> text=Revoke anchor", state="detached"
    )
    assert "anchor" not in (await client.get("/auth/me", headers=fan.headers)).json()["roles"]
