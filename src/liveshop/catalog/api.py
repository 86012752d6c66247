from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.service import Principal
from liveshop.catalog import service as catalog
from liveshop.catalog.models import Category, Merchant, Product
from liveshop.catalog.schemas import (
    CategoryIn,
    CategoryOut,
    Gender,
    MemberIn,
    MerchantIn,
    MerchantOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductUpdate,
    SkuIn,
    SkuOut,
    SkuUpdate,
)
from liveshop.deps import AdminPrincipal, CurrentPrincipal, RuntimeDep, SessionDep
from liveshop.inputs import Money

router = APIRouter(tags=["catalog"])
Limit = Annotated[int, Query(ge=1, le=100)]
Price = Annotated[Money | None, Query()]
# A cursor is the last id of the previous page (ids sort by creation time).
Cursor = Annotated[str | None, Query(pattern="^[0-9a-hjkmnp-tv-z]{26}$")]


def _merchant_out(m: Merchant) -> MerchantOut:
    return MerchantOut(
        id=m.id,
        name=m.name,
        slug=m.slug,
        kind=m.kind,
        city=m.city,
        description=m.description,
        created_at=m.created_at,
    )


def _category_out(c: Category) -> CategoryOut:
    return CategoryOut(id=c.id, slug=c.slug, name=c.name, parent_id=c.parent_id)


# -- public ---------------------------------------------------------------------------------


@router.get("/catalog/merchants/{merchant_id}", response_model=MerchantOut)
async def get_merchant(merchant_id: str, session: SessionDep) -> MerchantOut:
    return _merchant_out(await catalog.get_merchant_or_raise(session, merchant_id=merchant_id))


@router.get("/catalog/categories", response_model=list[CategoryOut])
async def list_categories(session: SessionDep) -> list[CategoryOut]:
    return [_category_out(c) for c in await catalog.list_categories(session)]


@router.get("/catalog/products", response_model=ProductPage)
async def list_products(
    session: SessionDep,
    merchant_id: str | None = None,
    category_id: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    min_price: Price = None,
    max_price: Price = None,
    gender: Gender | None = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> ProductPage:
    """Published products, newest first; prices in minor units."""
    filters = catalog.ProductFilters(
        merchant_id=merchant_id,
        category_id=category_id,
        q=q,
        min_price=min_price,
        max_price=max_price,
        gender=gender,
        tag=tag,
    )
    rows, next_cursor = await catalog.list_products(
        session, filters=filters, published_only=True, cursor=cursor, limit=limit
    )
    return ProductPage(
        items=[await catalog.product_out(session, p) for p in rows], next_cursor=next_cursor
    )


@router.get("/catalog/products/{product_id}", response_model=ProductOut)
async def get_product(product_id: str, session: SessionDep) -> ProductOut:
    product = await catalog.get_product_or_raise(
        session, product_id=product_id, published_only=True
    )
    return await catalog.product_out(session, product)


# -- admin ----------------------------------------------------------------------------------


@router.post("/admin/merchants", status_code=201, response_model=MerchantOut)
async def create_merchant(
    body: MerchantIn, _: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> MerchantOut:
    merchant = await catalog.create_merchant(session, data=body, now=runtime.clock.now())
    await session.commit()
    return _merchant_out(merchant)


@router.post("/admin/merchants/{merchant_id}/members", status_code=204)
async def add_member(
    merchant_id: str, body: MemberIn, _: AdminPrincipal, session: SessionDep, runtime: RuntimeDep
) -> None:
    await catalog.add_member(
        session, merchant_id=merchant_id, account_id=body.account_id, role=body.role
    )
    await session.commit()
    await runtime.invalidation.account_changed(body.account_id)  # the merchant role is new


@router.post("/admin/categories", status_code=201, response_model=CategoryOut)
async def create_category(body: CategoryIn, _: AdminPrincipal, session: SessionDep) -> CategoryOut:
    category = await catalog.create_category(session, data=body)
    await session.commit()
    return _category_out(category)


# -- the merchant's own catalog -------------------------------------------------------------


@router.get("/merchant/me", response_model=list[MerchantOut])
async def my_merchants(principal: CurrentPrincipal, session: SessionDep) -> list[MerchantOut]:
    return [
        _merchant_out(m)
        for m in await catalog.merchants_for(session, account_id=principal.account_id)
    ]


@router.get("/merchant/products", response_model=ProductPage)
async def list_my_products(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(draft|published|unpublished)$")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> ProductPage:
    scope = await catalog.merchant_scope(session, principal=principal)
    rows, next_cursor = await catalog.list_products(
        session,
        filters=catalog.ProductFilters(q=q, status=status),
        merchant_ids=scope,
        cursor=cursor,
        limit=limit,
    )
    return ProductPage(
        items=[await catalog.product_out(session, p) for p in rows], next_cursor=next_cursor
    )


@router.post("/merchant/products", status_code=201, response_model=ProductOut)
async def create_product(
    body: ProductIn, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> ProductOut:
    merchant_id = await catalog.resolve_merchant_id(
        session, principal=principal, merchant_id=body.merchant_id
    )
    product = await catalog.create_product(
        session, merchant_id=merchant_id, data=body, now=runtime.clock.now()
    )
    await session.commit()
    return await catalog.product_out(session, product)


async def _my_product(session: AsyncSession, principal: Principal, product_id: str) -> Product:
    scope = await catalog.merchant_scope(session, principal=principal)
    return await catalog.get_product_or_raise(session, product_id=product_id, merchant_ids=scope)


@router.get("/merchant/products/{product_id}", response_model=ProductOut)
async def get_my_product(
    product_id: str, principal: CurrentPrincipal, session: SessionDep
) -> ProductOut:
    return await catalog.product_out(session, await _my_product(session, principal, product_id))


@router.patch("/merchant/products/{product_id}", response_model=ProductOut)
async def update_product(
    product_id: str,
    body: ProductUpdate,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ProductOut:
    product = await _my_product(session, principal, product_id)
    await catalog.update_product(session, product=product, data=body, now=runtime.clock.now())
    await session.commit()
    return await catalog.product_out(session, product)


@router.post("/merchant/products/{product_id}/publish", response_model=ProductOut)
async def publish(
    product_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> ProductOut:
    product = await _my_product(session, principal, product_id)
    await catalog.publish(session, product=product, now=runtime.clock.now())
    await session.commit()
    return await catalog.product_out(session, product)


@router.post("/merchant/products/{product_id}/unpublish", response_model=ProductOut)
async def unpublish(
    product_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> ProductOut:
    product = await _my_product(session, principal, product_id)
    await catalog.unpublish(session, product=product, now=runtime.clock.now())
    await session.commit()
    return await catalog.product_out(session, product)


@router.post("/merchant/products/{product_id}/skus", status_code=201, response_model=SkuOut)
async def add_sku(
    product_id: str,
    body: SkuIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SkuOut:
    product = await _my_product(session, principal, product_id)
    sku = await catalog.add_sku(session, product=product, data=body, now=runtime.clock.now())
    await session.commit()
    out = await catalog.product_out(session, product)
    return next(s for s in out.skus if s.id == sku.id)


@router.patch("/merchant/skus/{sku_id}", response_model=SkuOut)
async def update_sku(
    sku_id: str,
    body: SkuUpdate,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SkuOut:
    scope = await catalog.merchant_scope(session, principal=principal)
    sku, product = await catalog.get_sku_or_raise(session, sku_id=sku_id, merchant_ids=scope)
    await catalog.update_sku(session, sku=sku, product=product, data=body, now=runtime.clock.now())
    await session.commit()
    out = await catalog.product_out(session, product)
    return next(s for s in out.skus if s.id == sku.id)
