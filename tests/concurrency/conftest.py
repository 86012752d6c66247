from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Actor
from tests.factories import make_shop
from tests.payments.helpers import pay, place_order

pytestmark = pytest.mark.usefixtures("backend")


@dataclass
class PaidOrder:
    id: str
    total_minor: int
    fan: Actor
    merchant: Actor
    sku_id: str


@pytest.fixture
def paid_order(client: Any, runtime: Any, make_account: Any) -> Any:
    """paid_order(price) -> a paid order of one unit at ``price`` and who bought and sold it."""

    async def factory(price: int = 1000, stock: int = 10) -> PaidOrder:
        merchant = await make_account("merchant")
        fan = await make_account("fan")
        shop = await make_shop(runtime, owner_id=merchant.id, prices=(price,), stock={"HZ": stock})
        order = await place_order(client, fan, shop.sku_ids[0])
        assert (await pay(client, runtime, fan, order["id"]))["status"] == "paid"
        return PaidOrder(order["id"], order["total_minor"], fan, merchant, shop.sku_ids[0])

    return factory
