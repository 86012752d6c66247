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

    # a new product, published from the table; stock received into a warehouse
    await page.fill("#np-title", "Silk scarf")
    await page.fill("#np-code", "SC-1")
    await page.fill("#np-price", "12x")
    await page.click("#new-product button[type=submit]")
    await page.wait_for_selector("#error:has-text('Enter a price like 99.00')")
    await page.fill("#np-price", "129.90")
    await page.press("#np-price", "Enter")
    row = page.locator("#products tbody tr", has_text="Silk scarf")
    await row.wait_for(timeout=10_000)
    assert "SC-1 129.90 CNY" in await row.inner_text() and "draft" in await row.inner_text()
    await row.get_by_role("button", name="Publish: Silk scarf").click()
    await page.wait_for_selector("#products tr:has-text('Silk scarf') >> text=published")
    sku = live_room.shop.sku_ids[0]
    await page.select_option("#rc-sku", sku)
    await page.select_option("#rc-warehouse", live_room.shop.warehouses["HZ"])
    await page.fill("#rc-quantity", "5")
    await page.click("#receipt button[type=submit]")
    hz = "#stock tbody tr:has-text('HZ · Hangzhou'):has-text('15')"
    await page.wait_for_selector(hz, timeout=10_000)
    levels = await client.get("/merchant/stock", params={"sku_id": sku}, headers=merchant.headers)
    by_warehouse = {level["warehouse_id"]: level["on_hand"] for level in levels.json()}
    assert by_warehouse[live_room.shop.warehouses["HZ"]] == 15  # 10 + 5
    products = await client.get("/merchant/products", headers=merchant.headers)
    assert "published" in [
        p["status"] for p in products.json()["items"] if p["title"] == "Silk scarf"
    ]
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
