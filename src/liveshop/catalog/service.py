"""Catalog operations: merchants and members, categories, products and SKUs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.service import Principal
from liveshop.catalog.models import Category, Merchant, MerchantMember, Product, ProductTag, Sku
from liveshop.catalog.schemas import (
    Audience,
    CategoryIn,
    MerchantIn,
    ProductIn,
    ProductOut,
    ProductUpdate,
    SkuIn,
    SkuOut,
    SkuUpdate,
)
from liveshop.errors import conflict, forbidden, invalid, not_found

# -- merchants ------------------------------------------------------------------------------


async def create_merchant(session: AsyncSession, *, data: MerchantIn, now: datetime) -> Merchant:
    """A brand or factory, owned by an existing account (which gains the merchant role)."""
    if await auth_service.get(session, account_id=data.owner_account_id) is None:
        raise invalid("account.not_found", "no such account", "owner_account_id")
    taken = await session.execute(select(Merchant.id).where(Merchant.slug == data.slug))
    if taken.first() is not None:
        raise conflict("merchant.slug_taken", f"the slug {data.slug!r} is taken")
    merchant = Merchant(
        name=data.name,
        slug=data.slug,
        kind=data.kind,
        city=data.city,
        description=data.description,
        created_at=now,
    )
    session.add(merchant)
    await session.flush()
    await add_member(
        session, merchant_id=merchant.id, account_id=data.owner_account_id, role="owner"
    )
    return merchant


async def get_merchant_or_raise(session: AsyncSession, *, merchant_id: str) -> Merchant:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise not_found("merchant.not_found", "no such merchant")
    return merchant


async def get_merchant_by_slug(session: AsyncSession, *, slug: str) -> Merchant | None:
    result = await session.execute(select(Merchant).where(Merchant.slug == slug))
    return result.scalar_one_or_none()


async def add_member(
    session: AsyncSession, *, merchant_id: str, account_id: str, role: str = "staff"
) -> None:
    """Make an account a member of a merchant (and give it the merchant role)."""
    await get_merchant_or_raise(session, merchant_id=merchant_id)
    await auth_service.grant_role(session, account_id=account_id, role="merchant")
    member = await session.get(MerchantMember, (merchant_id, account_id))
    if member is None:
        session.add(MerchantMember(merchant_id=merchant_id, account_id=account_id, role=role))
    else:
        member.role = role
    await session.flush()


async def merchant_ids_for(session: AsyncSession, *, account_id: str) -> list[str]:
    result = await session.execute(
        select(MerchantMember.merchant_id)
        .where(MerchantMember.account_id == account_id)
        .order_by(MerchantMember.merchant_id)
    )
    return list(result.scalars())


async def merchants_for(session: AsyncSession, *, account_id: str) -> list[Merchant]:
    ids = await merchant_ids_for(session, account_id=account_id)
    if not ids:
        return []
    result = await session.execute(select(Merchant).where(Merchant.id.in_(ids)))
    return list(result.scalars())


async def resolve_merchant_id(
    session: AsyncSession, *, principal: Principal, merchant_id: str | None
) -> str:
    """The merchant a write acts for: the named one (if the caller may), or the only one."""
    if principal.is_admin and merchant_id is not None:
        await get_merchant_or_raise(session, merchant_id=merchant_id)
        return merchant_id
    if not principal.has("merchant"):
        raise forbidden("this needs the merchant role")
    mine = await merchant_ids_for(session, account_id=principal.account_id)
    if merchant_id is not None:
        if merchant_id not in mine:
            raise forbidden("you are not a member of this merchant")
        return merchant_id
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise forbidden("you are not a member of any merchant")
    raise invalid(
        "merchant.ambiguous", "you belong to several merchants: name merchant_id", "merchant_id"
    )


async def merchant_scope(session: AsyncSession, *, principal: Principal) -> list[str] | None:
    """Merchants whose catalog the caller manages (None: every merchant, for an admin)."""
    if principal.is_admin:
        return None
    if not principal.has("merchant"):
        raise forbidden("this needs the merchant role")
    return await merchant_ids_for(session, account_id=principal.account_id)


# -- categories -----------------------------------------------------------------------------


async def create_category(session: AsyncSession, *, data: CategoryIn) -> Category:
    taken = await session.execute(select(Category.id).where(Category.slug == data.slug))
    if taken.first() is not None:
        raise conflict("category.slug_taken", f"the slug {data.slug!r} is taken")
    if data.parent_id is not None and await session.get(Category, data.parent_id) is None:
        raise invalid("category.not_found", "no such parent category", "parent_id")
    category = Category(slug=data.slug, name=data.name, parent_id=data.parent_id)
    session.add(category)
    await session.flush()
    return category


async def list_categories(session: AsyncSession) -> list[Category]:
    return list((await session.execute(select(Category).order_by(Category.slug))).scalars())


async def get_category_by_slug(session: AsyncSession, *, slug: str) -> Category | None:
    result = await session.execute(select(Category).where(Category.slug == slug))
    return result.scalar_one_or_none()


async def _check_category(session: AsyncSession, category_id: str | None) -> None:
    if category_id is not None and await session.get(Category, category_id) is None:
        raise invalid("category.not_found", "no such category", "category_id")


# -- products and SKUs ----------------------------------------------------------------------


async def _set_tags(session: AsyncSession, product_id: str, tags: Sequence[str]) -> None:
    await session.execute(delete(ProductTag).where(ProductTag.product_id == product_id))
    for tag in tags:
        session.add(ProductTag(product_id=product_id, tag=tag))


async def _refresh_prices(session: AsyncSession, product: Product) -> None:
    result = await session.execute(
        select(func.min(Sku.price_minor), func.max(Sku.price_minor)).where(
            Sku.product_id == product.id, Sku.is_active.is_(True)
        )
    )
    low, high = result.one()
    product.price_min_minor = low
    product.price_max_minor = high


async def create_product(
    session: AsyncSession, *, merchant_id: str, data: ProductIn, now: datetime
) -> Product:
    await _check_category(session, data.category_id)
    audience = data.audience
    product = Product(
        merchant_id=merchant_id,
        category_id=data.category_id,
        title=data.title,
        description=data.description,
        currency=data.currency,
        image_urls=[str(u) for u in data.image_urls],
        status="draft",
        audience_gender=audience.gender,
        audience_age_bands=audience.age_bands,
        audience_city_tiers=audience.city_tiers,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    await session.flush()
    await _set_tags(session, product.id, audience.interest_tags)
    for sku in data.skus:
        session.add(_new_sku(product, sku, now))
    await session.flush()
    await _refresh_prices(session, product)
    await session.flush()
    return product


def _new_sku(product: Product, data: SkuIn, now: datetime) -> Sku:
    return Sku(
        product_id=product.id,
        code=data.code,
        attributes=data.attributes,
        price_minor=data.price_minor,
        list_price_minor=data.list_price_minor,
        currency=product.currency,
        is_active=True,
        created_at=now,
    )


async def get_product_or_raise(
    session: AsyncSession,
    *,
    product_id: str,
    merchant_ids: Sequence[str] | None = None,
    published_only: bool = False,
) -> Product:
    """The product; missing, unpublished (for the public) or another merchant's is a 404."""
    product = await session.get(Product, product_id)
    if (
        product is None
        or (merchant_ids is not None and product.merchant_id not in merchant_ids)
        or (published_only and product.status != "published")
    ):
        raise not_found("product.not_found", "no such product")
    return product


async def update_product(
    session: AsyncSession, *, product: Product, data: ProductUpdate, now: datetime
) -> Product:
    fields = data.model_fields_set
    if "category_id" in fields:
        await _check_category(session, data.category_id)
        product.category_id = data.category_id
    if data.title is not None:
        product.title = data.title
    if data.description is not None:
        product.description = data.description
    if data.image_urls is not None:
        product.image_urls = [str(u) for u in data.image_urls]
    if data.audience is not None:
        product.audience_gender = data.audience.gender
        product.audience_age_bands = data.audience.age_bands
        product.audience_city_tiers = data.audience.city_tiers
        await _set_tags(session, product.id, data.audience.interest_tags)
    product.updated_at = now
    await session.flush()
    return product


async def add_sku(session: AsyncSession, *, product: Product, data: SkuIn, now: datetime) -> Sku:
    taken = await session.execute(
        select(Sku.id).where(Sku.product_id == product.id, Sku.code == data.code)
    )
    if taken.first() is not None:
        raise conflict("sku.code_taken", f"the SKU code {data.code!r} is taken in this product")
    sku = _new_sku(product, data, now)
    session.add(sku)
    await session.flush()
    await _refresh_prices(session, product)
    product.updated_at = now
    await session.flush()
    return sku


async def get_sku_or_raise(
    session: AsyncSession, *, sku_id: str, merchant_ids: Sequence[str] | None = None
) -> tuple[Sku, Product]:
    found = (await get_skus(session, sku_ids=[sku_id])).get(sku_id)
    if found is None or (merchant_ids is not None and found[1].merchant_id not in merchant_ids):
        raise not_found("sku.not_found", "no such SKU")
    return found


async def update_sku(
    session: AsyncSession, *, sku: Sku, product: Product, data: SkuUpdate, now: datetime
) -> Sku:
    if data.attributes is not None:
        sku.attributes = data.attributes
    if data.price_minor is not None:
        sku.price_minor = data.price_minor
    if "list_price_minor" in data.model_fields_set:
        sku.list_price_minor = data.list_price_minor
    if data.is_active is not None:
        sku.is_active = data.is_active
    await session.flush()
    await _refresh_prices(session, product)
    product.updated_at = now
    await session.flush()
    return sku


async def publish(session: AsyncSession, *, product: Product, now: datetime) -> Product:
    """Put a product on sale; it needs at least one active SKU."""
    active = await session.execute(
        select(func.count()).where(Sku.product_id == product.id, Sku.is_active.is_(True))
    )
    if active.scalar_one() == 0:
        raise invalid("product.no_skus", "a product needs an active SKU to be published", "skus")
    product.status = "published"
    product.published_at = product.published_at or now
    product.updated_at = now
    await session.flush()
    return product


async def unpublish(session: AsyncSession, *, product: Product, now: datetime) -> Product:
    product.status = "unpublished"
    product.updated_at = now
    await session.flush()
    return product


@dataclass(frozen=True, slots=True)
class ProductFilters:
    merchant_id: str | None = None
    category_id: str | None = None
    q: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    gender: str | None = None
    tag: str | None = None
    status: str | None = None


async def list_products(
    session: AsyncSession,
    *,
    filters: ProductFilters | None = None,
    published_only: bool = False,
    merchant_ids: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Product], str | None]:
    """Newest first with cursor pagination; price filters match any SKU's price range."""
    f = filters or ProductFilters()
    query = select(Product).order_by(Product.id.desc()).limit(limit + 1)
    if published_only:
        query = query.where(Product.status == "published")
    elif f.status:
        query = query.where(Product.status == f.status)
    if merchant_ids is not None:
        query = query.where(Product.merchant_id.in_(merchant_ids))
    if f.merchant_id:
        query = query.where(Product.merchant_id == f.merchant_id)
    if f.category_id:
        query = query.where(Product.category_id == f.category_id)
    if f.q:
        query = query.where(func.lower(Product.title).contains(f.q.lower()))
    if f.min_price is not None:
        query = query.where(Product.price_max_minor >= f.min_price)
    if f.max_price is not None:
        query = query.where(Product.price_min_minor <= f.max_price)
    if f.gender:
        query = query.where(
            or_(Product.audience_gender == f.gender, Product.audience_gender == "any")
        )
    if f.tag:
        query = query.where(
            Product.id.in_(select(ProductTag.product_id).where(ProductTag.tag == f.tag.lower()))
        )
    if cursor:
        query = query.where(Product.id < cursor)
    rows = list((await session.execute(query)).scalars())
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


async def get_skus(
    session: AsyncSession, *, sku_ids: Sequence[str]
) -> dict[str, tuple[Sku, Product]]:
    """SKUs with their products, for checkout and inventory (missing ids are left out)."""
    if not sku_ids:
        return {}
    result = await session.execute(
        select(Sku, Product).join(Product, Product.id == Sku.product_id).where(Sku.id.in_(sku_ids))
    )
    return {sku.id: (sku, product) for sku, product in result.all()}


async def product_out(session: AsyncSession, product: Product) -> ProductOut:
    skus = (
        await session.execute(select(Sku).where(Sku.product_id == product.id).order_by(Sku.id))
    ).scalars()
    tags = (
        await session.execute(
            select(ProductTag.tag)
            .where(ProductTag.product_id == product.id)
            .order_by(ProductTag.tag)
        )
    ).scalars()
    return ProductOut(
        id=product.id,
        merchant_id=product.merchant_id,
        category_id=product.category_id,
        title=product.title,
        description=product.description,
        currency=product.currency,
        image_urls=list(product.image_urls),
        status=product.status,
        price_min_minor=product.price_min_minor,
        price_max_minor=product.price_max_minor,
        audience=Audience(
            gender=product.audience_gender,
            age_bands=list(product.audience_age_bands),
            city_tiers=list(product.audience_city_tiers),
            interest_tags=list(tags),
        ),
        skus=[
            SkuOut(
                id=s.id,
                product_id=s.product_id,
                code=s.code,
                attributes=dict(s.attributes),
                price_minor=s.price_minor,
                list_price_minor=s.list_price_minor,
                currency=s.currency,
                is_active=s.is_active,
            )
            for s in skus
        ],
        created_at=product.created_at,
        updated_at=product.updated_at,
        published_at=product.published_at,
    )
