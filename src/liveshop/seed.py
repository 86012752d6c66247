"""Idempotent demo data: accounts for every role, two merchants, products, warehouses, stock,
the deals under which the demo anchor sells both merchants' products (each merchant offered
every product to the anchor, which accepted), and the demo operator's wallet credit (a top-up
granted once, a real ledger entry) that pays for the red envelopes and funds the coupons the
demo launches.

Running it again finds what exists (by email, slug, code) and creates nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.passwords import Passwords
from liveshop.auth.schemas import Role
from liveshop.catalog import service as catalog
from liveshop.catalog.models import Product
from liveshop.catalog.schemas import Audience, CategoryIn, MerchantIn, ProductIn, SkuIn
from liveshop.config import Settings
from liveshop.db import create_engine, create_sessionmaker
from liveshop.deals import consent as deal_consent
from liveshop.deals import service as deals
from liveshop.deals.schemas import OfferIn
from liveshop.inventory import service as inventory
from liveshop.inventory.geo import CITIES
from liveshop.inventory.models import Warehouse
from liveshop.live.models import LiveSession, PinRecord, RundownItem, SessionOperator
from liveshop.wallet import top_ups

DEMO_PASSWORD = "liveshop-demo"
DEMO_OPERATOR_CREDIT_MINOR = 10_000_000
"""The demo operator's seeded top-up: a demo red envelope is 888, so thousands of cycles."""
DEMO_DOMAIN = "demo.liveshop.dev"
DEMO_DEAL_FLOOR_PERCENT = 50
"""The demo deals' floor: half the product's cheapest SKU (the demo's flash sales run at about
51 %: 60 % of a live price of 85 %)."""
DEMO_DEAL_STOCK_SHARE = 1_000_000
"""Units the demo anchor may put into flash sales (ample: benchmarks sell thousands a run)."""
DEMO_DEAL_PRIZE_UNITS = 100_000
DEMO_DEAL_COMMISSION_BPS = 1_000
DEMO_DEAL_DAYS = 365

ACCOUNTS: list[tuple[str, str, tuple[Role, ...]]] = [
    ("admin", "Demo Admin", ("admin",)),
    ("merchant", "Lakeside Tea (merchant)", ("merchant",)),
    ("factory", "Yiwu Knitwear (factory)", ("merchant",)),
    ("anchor", "Xiao Lan (anchor)", ("anchor",)),
    ("operator", "Ah Jie (operator)", ("operator",)),
    ("fan1", "Fan One", ("fan",)),
    ("fan2", "Fan Two", ("fan",)),
    ("fan3", "Fan Three", ("fan",)),
]

CATEGORIES = [("tea", "Tea"), ("home", "Home"), ("apparel", "Apparel")]

# (merchant key, slug, name, kind, city, owner)
MERCHANTS = [
    ("lakeside", "lakeside", "Lakeside Tea & Home", "brand", "Hangzhou", "merchant"),
    ("yiwu", "yiwu-knit", "Yiwu Knitwear Factory", "factory", "Yiwu", "factory"),
]

WAREHOUSES = {
    "lakeside": [("HZ", "Hangzhou"), ("GZ", "Guangzhou"), ("CD", "Chengdu")],
    "yiwu": [("YW", "Yiwu"), ("BJ", "Beijing"), ("WH", "Wuhan")],
}
REGIONS = {
    "Hangzhou": "Zhejiang",
    "Guangzhou": "Guangdong",
    "Chengdu": "Sichuan",
    "Yiwu": "Zhejiang",
    "Beijing": "Beijing",
    "Wuhan": "Hubei",
}

# (merchant, category, title, audience, tags, skus[(code, attrs, price)], stock per warehouse)
PRODUCTS: list[tuple[str, str, str, Audience, list[tuple[str, dict[str, str], int]], int]] = [
    (
        "lakeside",
        "tea",
        "West Lake Longjing green tea, 250 g",
        Audience(
            gender="any",
            age_bands=["25-34", "35-44"],
            city_tiers=[1, 2],
            interest_tags=["tea", "gifts"],
        ),
        [
            ("LJ-250", {"grade": "AAA", "weight": "250g"}, 12800),
            ("LJ-250-GIFT", {"grade": "AAA", "weight": "250g", "box": "gift"}, 15800),
        ],
        120,
    ),
    (
        "lakeside",
        "tea",
        "Anji white tea, 100 g",
        Audience(
            gender="female",
            age_bands=["25-34"],
            city_tiers=[1, 2, 3],
            interest_tags=["tea", "wellness"],
        ),
        [("AJ-100", {"weight": "100g"}, 6800)],
        80,
    ),
    (
        "lakeside",
        "home",
        "Celadon tea set, 6 cups",
        Audience(
            gender="any",
            age_bands=["35-44", "45-54"],
            city_tiers=[1, 2],
            interest_tags=["home", "gifts"],
        ),
        [("CS-6-GREEN", {"colour": "green"}, 25900), ("CS-6-BLUE", {"colour": "blue"}, 25900)],
        30,
    ),
    (
        "yiwu",
        "apparel",
        "Merino crew-neck sweater",
        Audience(
            gender="female",
            age_bands=["18-24", "25-34"],
            city_tiers=[2, 3, 4],
            interest_tags=["fashion", "winter"],
        ),
        [
            (f"MCN-{c[:3].upper()}-{s}", {"colour": c, "size": s}, 19900)
            for c in ("oat", "navy")
            for s in ("S", "M", "L")
        ],
        40,
    ),
    (
        "yiwu",
        "apparel",
        "Cable-knit scarf",
        Audience(
            gender="any",
            age_bands=["18-24", "25-34", "35-44"],
            city_tiers=[1, 2, 3, 4, 5],
            interest_tags=["fashion", "winter", "gifts"],
        ),
        [("CKS-RED", {"colour": "red"}, 5900), ("CKS-GREY", {"colour": "grey"}, 5900)],
        60,
    ),
]


@dataclass
class DemoData:
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # email, password, roles
    account_ids: dict[str, str] = field(default_factory=dict)
    merchant_ids: dict[str, str] = field(default_factory=dict)
    product_ids: list[str] = field(default_factory=list)
    session_id: str | None = None
    created: bool = False


def demo_email(name: str) -> str:
    return f"{name}@{DEMO_DOMAIN}"


async def seed_demo(settings: Settings, *, now: datetime) -> DemoData:
    """Create the demo data once; later calls return what exists."""
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            data = await _seed(session, settings, now)
            await session.commit()
            return data
    finally:
        await engine.dispose()


async def _seed(session: AsyncSession, settings: Settings, now: datetime) -> DemoData:
    data = DemoData()
    passwords = Passwords(
        time_cost=settings.argon2_time_cost, memory_cost_kib=settings.argon2_memory_cost_kib
    )
    for name, display, roles in ACCOUNTS:
        email = demo_email(name)
        account = await auth_service.get_by_email(session, email=email)
        if account is None:
            account = await auth_service.create(
                session,
                email=email,
                password=DEMO_PASSWORD,
                display_name=display,
                roles=roles,
                passwords=passwords,
                now=now,
            )
            data.created = True
        data.account_ids[name] = account.id
        data.logins.append((email, DEMO_PASSWORD, ", ".join(roles)))
    await auth_service.assign_operator(
        session,
        operator_id=data.account_ids["operator"],
        anchor_id=data.account_ids["anchor"],
        now=now,
    )
    await top_ups.grant(
        session,
        account_id=data.account_ids["operator"],
        amount_minor=DEMO_OPERATOR_CREDIT_MINOR,
        currency=settings.default_currency,
        source="seed",
        now=now,
    )

    categories: dict[str, str] = {}
    for slug, name in CATEGORIES:
        category = await catalog.get_category_by_slug(session, slug=slug)
        if category is None:
            category = await catalog.create_category(session, data=CategoryIn(slug=slug, name=name))
        categories[slug] = category.id

    warehouses: dict[str, list[str]] = {}
    for key, slug, name, kind, city, owner in MERCHANTS:
        merchant = await catalog.get_merchant_by_slug(session, slug=slug)
        if merchant is None:
            merchant = await catalog.create_merchant(
                session,
                now=now,
                data=MerchantIn(
                    name=name,
                    slug=slug,
                    kind=kind,
                    city=city,
                    description=f"Demo {kind}",
                    owner_account_id=data.account_ids[owner],
                ),
            )
        data.merchant_ids[key] = merchant.id
        warehouses[key] = []
        for code, wh_city in WAREHOUSES[key]:
            existing = (
                await session.execute(
                    select(Warehouse).where(
                        Warehouse.merchant_id == merchant.id, Warehouse.code == code
                    )
                )
            ).scalar_one_or_none()
            if existing is None:
                lat, lon = CITIES[wh_city.lower()]
                existing = await inventory.create_warehouse(
                    session,
                    merchant_id=merchant.id,
                    code=code,
                    name=f"{wh_city} warehouse",
                    city=wh_city,
                    region=REGIONS[wh_city],
                    latitude=lat,
                    longitude=lon,
                    now=now,
                )
            warehouses[key].append(existing.id)

    for key, category_slug, title, audience, skus, stock in PRODUCTS:
        merchant_id = data.merchant_ids[key]
        product = (
            await session.execute(
                select(Product).where(Product.merchant_id == merchant_id, Product.title == title)
            )
        ).scalar_one_or_none()
        if product is None:
            slug = title.split(",")[0].lower().replace(" ", "-")[:40]
            product = await catalog.create_product(
                session,
                merchant_id=merchant_id,
                now=now,
                data=ProductIn(
                    category_id=categories[category_slug],
                    title=title,
                    description=f"{title}. Demo product.",
                    currency=settings.default_currency,
                    image_urls=[f"https://images.liveshop.dev/demo/{slug}.jpg"],
                    audience=audience,
                    skus=[SkuIn(code=c, attributes=a, price_minor=p) for c, a, p in skus],
                ),
            )
            await catalog.publish(session, product=product, now=now)
            found = await catalog.get_skus(
                session, sku_ids=[s.id for s in (await catalog.product_out(session, product)).skus]
            )
            for index, sku_id in enumerate(sorted(found)):
                for w_index, warehouse_id in enumerate(warehouses[key]):
                    quantity = max(1, stock // (w_index + 1) - index)
                    await inventory.receive(
                        session,
                        sku_id=sku_id,
                        warehouse_id=warehouse_id,
                        quantity=quantity,
                        now=now,
                        note="demo stock",
                    )
            data.created = True
        data.product_ids.append(product.id)
    await _seed_deals(session, data, now)
    data.session_id = await _seed_live_session(session, data, now)
    return data


async def _seed_deals(session: AsyncSession, data: DemoData, now: datetime) -> None:
    """The demo anchor's deal for every demo product: an offer of its merchant to the anchor,
    accepted. A product with an active deal keeps it; an expired one gets a new one."""
    anchor_id = data.account_ids["anchor"]
    owners = {key: data.account_ids[owner] for key, *_, owner in MERCHANTS}
    by_merchant = {merchant_id: key for key, merchant_id in data.merchant_ids.items()}
    active = await deal_consent.active_deals(
        session, anchor_id=anchor_id, product_ids=data.product_ids, now=now
    )
    for product_id in data.product_ids:
        if product_id in active:
            continue
        product = await catalog.get_product_or_raise(session, product_id=product_id)
        cheapest = product.price_min_minor or 0
        offer = await deals.publish_offer(
            session,
            product=product,
            data=OfferIn(
                product_id=product_id,
                floor_price_minor=cheapest * DEMO_DEAL_FLOOR_PERCENT // 100,
                stock_share=DEMO_DEAL_STOCK_SHARE,
                prize_units=DEMO_DEAL_PRIZE_UNITS,
                commission_bps=DEMO_DEAL_COMMISSION_BPS,
                valid_until=now + timedelta(days=DEMO_DEAL_DAYS),
                anchor_ids=[anchor_id],
            ),
            actor_id=owners[by_merchant[product.merchant_id]],
            now=now,
        )
        await deals.accept(session, offer=offer, anchor_id=anchor_id, actor_id=anchor_id, now=now)
        data.created = True


DEMO_SESSION_TITLE = "Autumn tea & knitwear live"


async def _seed_live_session(session: AsyncSession, data: DemoData, now: datetime) -> str:
    """The demo anchor's session, live, with every demo product in its rundown at 85 % of the
    list price and the first one pinned. Found again by anchor and title."""
    anchor_id = data.account_ids["anchor"]
    existing = (
        await session.execute(
            select(LiveSession).where(
                LiveSession.anchor_id == anchor_id, LiveSession.title == DEMO_SESSION_TITLE
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing.id
    live = LiveSession(
        anchor_id=anchor_id,
        title=DEMO_SESSION_TITLE,
        cover_url="https://images.liveshop.dev/demo/cover.jpg",
        description="Longjing, white tea and hand-knit scarves, straight from Hangzhou and Yiwu.",
        status="live",
        scheduled_at=now,
        started_at=now,
        slow_mode_seconds=0,
        created_at=now,
        updated_at=now,
    )
    session.add(live)
    await session.flush()
    session.add(
        SessionOperator(session_id=live.id, account_id=data.account_ids["operator"], created_at=now)
    )
    first_item: str | None = None
    for position, product_id in enumerate(data.product_ids):
        out = await catalog.product_out(
            session, await catalog.get_product_or_raise(session, product_id=product_id)
        )
        sku = out.skus[0]
        item = RundownItem(
            session_id=live.id,
            position=position,
            product_id=product_id,
            sku_id=sku.id,
            live_price_minor=sku.price_minor * 85 // 100,
            currency=out.currency,
        )
        session.add(item)
        await session.flush()
        first_item = first_item or item.id
    if first_item is not None:
        live.pinned_item_id = first_item
        session.add(
            PinRecord(session_id=live.id, item_id=first_item, pinned_at=now, pinned_by=anchor_id)
        )
    data.created = True
    return live.id
