"""The merchant console and the admin page in a real browser: what the merchant and admin
APIs give the signed-in user, drawn as tables; the merchant edits and adds SKUs, adjusts
stock, ships, delivers, refunds and cancels orders; the admin grants a role."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from liveshop.deps import Runtime
from tests.factories import address, make_shop
from tests.live.conftest import LiveServer, Room
from tests.payments.helpers import pay, place_order
from tests.web.flows import DESKTOP, open_page

pytestmark = pytest.mark.usefixtures("backend")


async def _page(browser: Any, server: LiveServer, path: str, token: str, lang: str = "en") -> Any:
    url = f"{server.http_base}{path}?lang={lang}"
    return await open_page(browser, url, token, DESKTOP, ready=False)


async def _focused(page: Any) -> dict[str, str | None]:
    """The focused element's id, data-focus and accessible label."""
    return dict(
        await page.evaluate(
            "() => ({ id: document.activeElement.id || null,"
            " focus: document.activeElement.dataset.focus ?? null,"
            " label: document.activeElement.getAttribute('aria-label') })"
        )
    )


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
    assert order.json()["id"][-8:] in orders and "Pending payment" in orders
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
    assert "SC-1 129.90 CNY" in await row.inner_text()
    assert await row.locator("td").nth(1).inner_text() == "Draft"
    await row.get_by_role("button", name="Publish: Silk scarf").click()
    await row.get_by_role("button", name="Unpublish: Silk scarf").wait_for(timeout=10_000)
    assert await row.locator("td").nth(1).inner_text() == "Published"
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


async def _merchant_page(
    browser: Any, live_server: LiveServer, runtime: Runtime, make_account: Any
) -> tuple[Any, Any, Any]:
    """A merchant owning a fresh shop (one product, SKU-0 at 99.00, 10 in Hangzhou), and its
    console, drawn."""
    merchant = await make_account("merchant")
    shop = await make_shop(runtime, owner_id=merchant.id)
    page = await _page(browser, live_server, "/console/merchant", merchant.token)
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    return merchant, shop, page


async def test_the_merchant_edits_a_sku_price_and_adds_a_sku(
    browser: Any,
    live_server: LiveServer,
    runtime: Runtime,
    client: Any,
    make_account: Any,
    screenshot_dir: Path,
) -> None:
    merchant, shop, page = await _merchant_page(browser, live_server, runtime, make_account)
    sku = shop.sku_ids[0]
    row = page.locator("#products tbody tr", has_text="Longjing tea")
    assert "SKU-0 99.00 CNY" in await row.inner_text()

    # edit SKU-0: the dialog holds its price; a bad price is refused in the dialog
    await row.get_by_role("button", name="Edit SKU SKU-0 of Longjing tea", exact=False).click()
    await page.wait_for_selector("#sku-dialog[open]")
    assert (await _focused(page))["id"] == "sku-price"
    assert await page.input_value("#sku-price") == "99.00"
    assert await page.locator("#sku-code").evaluate("e => e.readOnly")
    await page.fill("#sku-price", "88.8x")
    await page.click("#sku-form button[type=submit]")
    await page.wait_for_selector("#sku-error:has-text('Enter a price like 99.00')")
    assert await page.locator("#sku-dialog").evaluate("d => d.open")
    await page.fill("#sku-price", "88.8")
    await page.fill("#sku-list-price", "120")
    await page.fill("#sku-attributes", "size=L; color=red")
    await page.click("#sku-form button[type=submit]")
    await page.wait_for_selector("#sku-dialog", state="hidden", timeout=10_000)
    await row.locator("li", has_text="SKU-0 88.80 CNY").wait_for(timeout=10_000)
    line = await row.locator("li", has_text="SKU-0").inner_text()
    assert "120.00 CNY" in line and "size=L; color=red" in line and "99.00" not in line
    # the notice and the focus come once the page is drawn again
    await page.wait_for_selector("#notice:has-text('Saved SKU SKU-0: 88.80 CNY')")
    assert (await _focused(page))["focus"] == f"edit-sku:{sku}"  # back where it started
    product = (
        await client.get(f"/merchant/products/{shop.product_id}", headers=merchant.headers)
    ).json()
    (saved,) = product["skus"]
    assert (saved["price_minor"], saved["list_price_minor"]) == (8880, 12000)
    assert saved["attributes"] == {"size": "L", "color": "red"} and saved["is_active"]

    # add a SKU: a taken code is the API's sku.code_taken, shown in words
    await row.get_by_role("button", name="Add a SKU to Longjing tea", exact=False).click()
    await page.wait_for_selector("#sku-dialog[open]")
    assert (await _focused(page))["id"] == "sku-code"
    assert not await page.locator("#sku-code").evaluate("e => e.readOnly")
    await page.fill("#sku-code", "SKU-0")
    await page.fill("#sku-price", "59.90")
    await page.click("#sku-form button[type=submit]")
    await page.wait_for_selector(
        "#sku-error:has-text('This product already has a SKU with that code')", timeout=10_000
    )
    await page.fill("#sku-code", "SKU-9")
    await page.click("#sku-form button[type=submit]")
    await row.locator("li", has_text="SKU-9 59.90 CNY").wait_for(timeout=10_000)
    product = (
        await client.get(f"/merchant/products/{shop.product_id}", headers=merchant.headers)
    ).json()
    added = {s["code"]: s["price_minor"] for s in product["skus"]}
    assert added == {"SKU-0": 8880, "SKU-9": 5990}
    assert product["price_min_minor"] == 5990
    new_id = next(s["id"] for s in product["skus"] if s["code"] == "SKU-9")
    assert await page.locator(f"#rc-sku option[value='{new_id}']").count() == 1  # receivable
    await page.screenshot(path=str(screenshot_dir / "merchant-console-sku.png"), full_page=True)

    # the same page in Chinese: the new controls are translated too
    chinese = await _page(browser, live_server, "/console/merchant", merchant.token, "zh-CN")
    await chinese.wait_for_selector("body[data-ready='1']", timeout=10_000)
    assert await chinese.get_by_role("button", name="添加规格", exact=False).count() == 1
    assert "库存调整" in await chinese.inner_text("#adjust")


async def test_the_merchant_adjusts_stock_and_sees_the_movement(
    browser: Any,
    live_server: LiveServer,
    runtime: Runtime,
    client: Any,
    make_account: Any,
) -> None:
    merchant, shop, page = await _merchant_page(browser, live_server, runtime, make_account)
    sku, hangzhou = shop.sku_ids[0], shop.warehouses["HZ"]
    # the ledger of the first SKU shows under "Recent stock movements": its receipt
    receipt = page.locator("#movements tbody tr[data-kind='receipt']")
    assert "+10" in await receipt.inner_text() and "HZ · Hangzhou" in await receipt.inner_text()

    await page.select_option("#aj-sku", sku)
    await page.select_option("#aj-warehouse", hangzhou)
    await page.fill("#aj-delta", "-25")
    await page.fill("#aj-note", "stock count")
    await page.click("#adjust button[type=submit]")
    await page.wait_for_selector(
        "#error:has-text('Not enough stock: on-hand cannot go below zero')", timeout=10_000
    )

    await page.fill("#aj-delta", "-3")
    await page.fill("#aj-note", "2 broken in transit, 1 lost")
    async with page.expect_request(lambda r: r.url.endswith("/merchant/stock/adjustments")) as sent:
        await page.press("#aj-note", "Enter")  # the keyboard submits the form
    request = await sent.value
    assert request.headers.get("idempotency-key")
    assert json.loads(request.post_data) == {
        "sku_id": sku,
        "warehouse_id": hangzhou,
        "delta": -3,
        "note": "2 broken in transit, 1 lost",
    }
    adjustment = page.locator("#movements tbody tr[data-kind='adjustment']")
    await adjustment.wait_for(timeout=10_000)
    text = await adjustment.inner_text()
    assert "Adjustment" in text and "-3" in text and "2 broken in transit, 1 lost" in text
    assert "HZ · Hangzhou" in text
    level = page.locator("#stock tbody tr", has_text="HZ · Hangzhou")
    assert [await c.inner_text() for c in await level.locator("td").all()][2:] == ["7", "0", "7"]
    await page.wait_for_selector("#notice:has-text('Adjusted Longjing tea')")
    assert await page.input_value("#aj-delta") == ""  # ready for the next one

    levels = await client.get("/merchant/stock", params={"sku_id": sku}, headers=merchant.headers)
    assert {r["warehouse_id"]: r["on_hand"] for r in levels.json()}[hangzhou] == 7
    ledger = await client.get(
        "/merchant/stock/movements", params={"sku_id": sku}, headers=merchant.headers
    )
    adjustments = [m for m in ledger.json()["items"] if m["kind"] == "adjustment"]
    assert [(m["on_hand_delta"], m["note"]) for m in adjustments] == [
        (-3, "2 broken in transit, 1 lost")
    ]


async def test_the_merchant_ships_delivers_refunds_and_cancels_orders(
    browser: Any,
    live_server: LiveServer,
    runtime: Runtime,
    client: Any,
    make_account: Any,
    screenshot_dir: Path,
) -> None:
    merchant, shop, _ = await _merchant_page(browser, live_server, runtime, make_account)
    fan = await make_account("fan")
    paid = await place_order(client, fan, shop.sku_ids[0])
    assert (await pay(client, runtime, fan, paid["id"]))["status"] == "paid"
    pending = await place_order(client, fan, shop.sku_ids[0])
    page = await _page(browser, live_server, "/console/merchant", merchant.token)
    await page.wait_for_selector("body[data-ready='1']", timeout=10_000)
    paid_row = page.locator(f"#orders tbody tr[data-order='{paid['id']}']")
    pending_row = page.locator(f"#orders tbody tr[data-order='{pending['id']}']")
    short, pending_short = paid["id"][-8:], pending["id"][-8:]

    def actions(row: Any) -> Any:
        return row.locator("td").last.get_by_role("button").all_inner_texts()

    async def wait_status(order_id: str, status: str, shown: str) -> None:
        row = page.locator(f"#orders tbody tr[data-order='{order_id}'][data-status='{status}']")
        await row.wait_for(timeout=10_000)
        assert await row.locator("td").nth(1).inner_text() == shown

    # what each order offers follows its status
    assert await actions(paid_row) == ["Details", "Ship", "Cancel order", "Refund"]
    assert await actions(pending_row) == ["Details", "Cancel order"]

    # ship from the keyboard: Tab from Details to Ship, Enter, type, Tab, type, Enter
    await paid_row.get_by_role("button", name=f"Details of order {short}").focus()
    await page.keyboard.press("Tab")
    assert (await _focused(page))["label"] == f"Ship order {short}"
    await page.keyboard.press("Enter")
    await page.wait_for_selector("#ship-dialog[open]")
    assert (await _focused(page))["id"] == "ship-carrier"
    await page.keyboard.type("SF Express")
    await page.keyboard.press("Tab")
    assert (await _focused(page))["id"] == "ship-tracking"
    await page.keyboard.type("SF1234567890")
    async with page.expect_request(lambda r: r.url.endswith(f"/{paid['id']}/ship")) as sent:
        await page.keyboard.press("Enter")
    assert (await sent.value).headers.get("idempotency-key")
    await wait_status(paid["id"], "shipped", "Shipped")
    assert await actions(paid_row) == ["Details", "Mark delivered", "Refund"]
    await page.wait_for_selector(
        f"#notice:has-text('Order {short} shipped with SF Express (SF1234567890)')"
    )
    assert (await _focused(page))["focus"] == f"details:{paid['id']}"
    order = (await client.get(f"/merchant/orders/{paid['id']}", headers=merchant.headers)).json()
    assert (order["status"], order["carrier"], order["tracking_number"]) == (
        "shipped",
        "SF Express",
        "SF1234567890",
    )

    # the detail: lines, tracking, status history
    await page.keyboard.press("Enter")  # on Details
    await page.wait_for_selector("#order-detail:not([hidden])", timeout=10_000)
    assert (await _focused(page))["id"] == "order-detail"
    assert await page.inner_text("#od-title") == f"Order {short}"
    assert await page.inner_text("#od-facts dd[data-fact='tracking']") == "SF1234567890"
    assert await page.inner_text("#od-facts dd[data-fact='carrier']") == "SF Express"
    # no coupon: the merchant receives the whole total, and nobody else funded a discount
    receives = await page.inner_text("#od-facts dd[data-fact='receives']")
    assert receives == await page.inner_text("#od-facts dd[data-fact='total']")
    assert await page.locator("#od-facts dd[data-fact='others_funded']").count() == 0
    lines = await page.inner_text("#od-lines tbody")
    assert "Longjing tea" in lines and "SKU-0" in lines and "99.00 CNY" in lines
    history = await page.locator("#od-history tbody tr").all_inner_texts()
    assert [h.split("\t")[1] for h in history] == [
        "Pending payment",
        "Pending payment → Paid",
        "Paid → Shipped",
    ]
    assert "You" in history[2] and "Buyer" in history[0]
    assert "Nothing yet" in await page.inner_text("#od-refunds tbody")

    # refund: too much is the API's refund.exceeds_captured, in words; then part of it
    await paid_row.get_by_role("button", name=f"Refund order {short}").click()
    await page.wait_for_selector("#refund-dialog[open]")
    assert await page.input_value("#refund-amount") == "99.00"
    assert "Up to 99.00 CNY can be refunded" in await page.inner_text("#refund-left")
    await page.fill("#refund-amount", "100")
    await page.click("#refund-form button[type=submit]")
    await page.wait_for_selector(
        "#refund-error:has-text('more than can still be refunded')", timeout=10_000
    )
    await page.fill("#refund-amount", "10.5")
    await page.fill("#refund-reason", "late delivery")
    await page.screenshot(path=str(screenshot_dir / "merchant-console-refund.png"))
    async with page.expect_request(lambda r: r.url.endswith(f"/{paid['id']}/refunds")) as sent:
        await page.click("#refund-form button[type=submit]")
    refund_request = await sent.value
    assert refund_request.headers.get("idempotency-key")
    assert json.loads(refund_request.post_data) == {
        "amount_minor": 1050,
        "reason": "late delivery",
    }
    await paid_row.locator("td:nth-child(4)", has_text="10.50 CNY").wait_for(timeout=10_000)
    refunds = page.locator("#od-refunds tbody tr")  # the open detail follows
    await refunds.filter(has_text="late delivery").wait_for(timeout=10_000)
    assert "10.50 CNY" in await refunds.inner_text()
    assert await page.inner_text("#od-facts dd[data-fact='refunded']") == "10.50 CNY"
    order = (await client.get(f"/merchant/orders/{paid['id']}", headers=merchant.headers)).json()
    assert order["refunded_minor"] == 1050

    # delivered
    await paid_row.get_by_role("button", name=f"Mark order {short} delivered").click()
    await wait_status(paid["id"], "delivered", "Delivered")
    assert await actions(paid_row) == ["Details", "Refund"]

    # cancel the unpaid one: Escape keeps it, confirming cancels it
    await pending_row.get_by_role("button", name=f"Cancel order {pending_short}").click()
    await page.wait_for_selector("#cancel-dialog[open]")
    assert "not paid yet" in await page.inner_text("#cancel-warning")
    await page.keyboard.press("Escape")
    await page.wait_for_selector("#cancel-dialog", state="hidden")
    assert await actions(pending_row) == ["Details", "Cancel order"]
    await pending_row.get_by_role("button", name=f"Cancel order {pending_short}").click()
    await page.fill("#cancel-reason", "out of stock")
    await page.click("#cancel-form button[type=submit]")
    await wait_status(pending["id"], "cancelled", "Cancelled")
    assert await actions(pending_row) == ["Details"]
    order = (await client.get(f"/merchant/orders/{pending['id']}", headers=merchant.headers)).json()
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "out of stock")
    await page.screenshot(path=str(screenshot_dir / "merchant-console-orders.png"), full_page=True)
