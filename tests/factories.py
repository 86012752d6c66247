"""Test data built straight into the database (behaviour is tested through the API)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from liveshop.catalog.models import Merchant, MerchantMember, Product, Sku
from liveshop.deps import Runtime
from liveshop.inventory import service as inventory

# name -> (city, region, lat, lon)
WAREHOUSES = {
    "HZ": ("Hangzhou", "Zhejiang", 30.2741, 120.1551),
    "GZ": ("Guangzhou", "Guangdong", 23.1291, 113.2644),
    "CD": ("Chengdu", "Sichuan", 30.5728, 104.0668),
}


@dataclass
class Shop:
    merchant_id: str
    product_id: str
    sku_ids: list[str]
    warehouses: dict[str, str] = field(default_factory=dict)  # code -> id


async def make_shop(
    runtime: Runtime,
    *,
    owner_id: str | None = None,
    stock: dict[str, int] | None = None,
    prices: tuple[int, ...] = (9900,),
    published: bool = True,
) -> Shop:
    """A merchant with one product, one SKU per price, warehouses HZ/GZ/CD and stock of the
    first SKU as given per warehouse code (default: 10 in Hangzhou)."""
    stock = {"HZ": 10} if stock is None else stock
    now = runtime.clock.now()
    suffix = uuid.uuid4().hex[:8]
    async with runtime.sessionmaker() as s:
        merchant = Merchant(
            name=f"Shop {suffix}",
            slug=f"shop-{suffix}",
            kind="brand",
            description="",
            created_at=now,
        )
        s.add(merchant)
        await s.flush()
        if owner_id:
            s.add(MerchantMember(merchant_id=merchant.id, account_id=owner_id, role="owner"))
        product = Product(
            merchant_id=merchant.id,
            title=f"Longjing tea {suffix}",
            description="",
            currency="CNY",
            image_urls=[],
            status="published" if published else "draft",
            price_min_minor=min(prices),
            price_max_minor=max(prices),
            audience_gender="any",
            audience_age_bands=[],
            audience_city_tiers=[],
            created_at=now,
            updated_at=now,
            published_at=now if published else None,
        )
        s.add(product)
        await s.flush()
        skus = []
        for i, price in enumerate(prices):
            sku = Sku(
                product_id=product.id,
                code=f"SKU-{i}",
                attributes={"size": str(i)},
                price_minor=price,
                currency="CNY",
                is_active=True,
                created_at=now,
            )
            s.add(sku)
            skus.append(sku)
        await s.flush()
        shop = Shop(merchant.id, product.id, [sku.id for sku in skus])
        for code, (city, region, lat, lon) in WAREHOUSES.items():
            w = await inventory.create_warehouse(
                s,
                merchant_id=merchant.id,
                code=code,
                name=f"{city} DC",
                city=city,
                region=region,
                latitude=lat,
                longitude=lon,
                now=now,
            )
            shop.warehouses[code] = w.id
        for code, quantity in stock.items():
            if quantity:
                await inventory.receive(
                    s,
                    sku_id=shop.sku_ids[0],
                    warehouse_id=shop.warehouses[code],
                    quantity=quantity,
                    now=now,
                )
        await s.commit()
    return shop


def address(city: str = "Shanghai", **extra: object) -> dict[str, object]:
    return {
        "recipient": "Li Lei",
        "phone": "+86 138 0000 0000",
        "line1": "1 Nanjing Rd",
        "city": city,
        "region": "",
        **extra,
    }


def order_body(sku_id: str, quantity: int = 1, city: str = "Shanghai") -> dict[str, object]:
    return {"lines": [{"sku_id": sku_id, "quantity": quantity}], "shipping_address": address(city)}


def idempotency_key() -> dict[str, str]:
    """A fresh ``Idempotency-Key`` header."""
    return {"Idempotency-Key": uuid.uuid4().hex}


def problem_code(response: Any) -> str:
    """The stable code of a problem+json answer (asserting it is one)."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["code"])


async def make_deal(
    runtime: Runtime,
    *,
    product_id: str,
    anchor_id: str,
    floor_price_minor: int = 0,
    stock_share: int = 1_000,
    prize_units: int = 100,
    coupon_budget_minor: int = 0,
    days: int = 30,
) -> str:
    """The merchant of ``product_id`` offers it to ``anchor_id``, which accepts: the deal's id
    (through the deals service; the API is tested in tests/deals)."""
    from datetime import timedelta

    from liveshop.deals import service as deals
    from liveshop.deals.schemas import OfferIn

    now = runtime.clock.now()
    async with runtime.sessionmaker() as s:
        product = await s.get(Product, product_id)
        assert product is not None
        offer = await deals.publish_offer(
            s,
            product=product,
            data=OfferIn(
                product_id=product_id,
                floor_price_minor=floor_price_minor,
                stock_share=stock_share,
                prize_units=prize_units,
                coupon_budget_minor=coupon_budget_minor,
                valid_until=now + timedelta(days=days),
                anchor_ids=[anchor_id],
            ),
            actor_id=anchor_id,
            now=now,
        )
        deal = await deals.accept(s, offer=offer, anchor_id=anchor_id, actor_id=anchor_id, now=now)
        await s.commit()
        return deal.id
