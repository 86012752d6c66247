"""The benchmark baseline (``LIVESHOP_FLASH_MODE=naive``: a locked transaction per buy) must
be correct too, or the benchmark's ratio would compare against a broken baseline."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from liveshop.clock import FrozenClock
from liveshop.config import Settings
from liveshop.deps import Runtime
from liveshop.inventory import service as inventory
from liveshop.promotions.flash.models import FlashReservation
from tests.live.conftest import Room
from tests.promotions.flash.test_sales import _buy, _code, _open_sale, shop_room

pytestmark = pytest.mark.usefixtures("backend")
__all__ = ["shop_room"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"flash_mode": "naive"})


async def test_the_naive_baseline_sells_exactly_the_stock_and_keeps_limits(
    shop_room: Room, client: Any, clock: FrozenClock, runtime: Runtime, make_account: Any
) -> None:
    fans = await asyncio.gather(*(make_account("fan") for _ in range(30)))
    sale = await _open_sale(client, shop_room, clock, runtime, quantity=5, per_user_limit=1)
    responses = await asyncio.gather(*(_buy(client, sale["id"], fan) for fan in fans))
    assert [r.status_code for r in responses].count(201) == 5
    assert {_code(r) for r in responses if r.status_code != 201} == {"flash.sold_out"}
    winner = next(fan for fan, r in zip(fans, responses, strict=True) if r.status_code == 201)
    again = await _buy(client, sale["id"], winner)
    assert again.status_code == 409 and _code(again) == "flash.limit_reached"
    async with runtime.sessionmaker() as s:
        rows = list((await s.execute(select(FlashReservation))).scalars())
        assert sum(r.quantity for r in rows) == 5 and len({r.user_id for r in rows}) == 5
        assert await inventory.verify_ledger(s) == []
