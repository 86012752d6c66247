"""Steps the browser tests take again and again: an address into a form, the sandbox payment."""

from __future__ import annotations

from typing import Any

ADDRESS = {"Recipient": "Fan One", "Phone": "13800000000", "Address": "88 Huaihai Rd"}


async def fill_address(scope: Any, *, phone: str = "13800000000") -> None:
    """Fill a card's address form (its fields found by their labels) in ``scope``."""
    for label, value in {**ADDRESS, "Phone": phone, "City": "Hangzhou"}.items():
        await scope.get_by_label(label).fill(value)


async def approve_payment(page: Any, session_id: str) -> None:
    """On the sandbox pay page: approve, then back in the room the order shows paid."""
    await page.wait_for_selector("text=Approve payment", timeout=10_000)
    await page.click("text=Approve payment")
    await page.wait_for_url(f"**/live/{session_id}?order=*", timeout=10_000)
    await page.wait_for_selector("#order-status[data-status='paid']", timeout=15_000)
