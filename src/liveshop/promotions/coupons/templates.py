"""Coupon templates: who may issue one, and the checks its terms pass before it is stored.

The terms are ``coupon_math.Coupon``'s (it raises ``coupon.bad_kind``, ``bad_amount``,
``bad_percent``, ``bad_cap``, ``bad_min_spend``, ``bad_scope``); the limits on top of them
(amounts, validity window, quotas, eligibility, live-session-only) are checked here.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.service import Principal
from liveshop.catalog import service as catalog_service
from liveshop.errors import Problem, forbidden, invalid
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.promotions.coupons import discounts as coupon_math
from liveshop.promotions.coupons import funding as funding_service
from liveshop.promotions.coupons.funding import Funding
from liveshop.promotions.coupons.models import CouponTemplate
from liveshop.promotions.coupons.schemas import (
    MAX_AMOUNT_MINOR,
    MAX_PER_USER_LIMIT,
    MAX_QUOTA,
    MAX_VALIDITY,
    TemplateIn,
)


async def merchant_sells_in(session: AsyncSession, *, merchant_id: str, session_id: str) -> bool:
    """Whether the merchant has a product in the session's rundown."""
    lines = await live_service.rundown(session, session_id=session_id)
    return any(line.product.merchant_id == merchant_id for line in lines)


async def authorize_issuer(
    session: AsyncSession,
    *,
    principal: Principal,
    merchant_id: str | None,
    session_id: str | None,
) -> tuple[str | None, LiveSession | None]:
    """Who issues the template: a merchant (its members; for a session, only when it sells
    in it), a session (its managers), or the platform (admins). Returns both owners."""
    live = None
    if session_id is not None:
        live = await live_service.get_or_raise(session, session_id=session_id)
        live_service.require_open(live)
    if merchant_id is not None or (live is None and not principal.is_admin):
        merchant_id = await catalog_service.resolve_merchant_id(
            session, principal=principal, merchant_id=merchant_id
        )
    if live is None:
        return merchant_id, None
    if merchant_id is None:
        await live_service.require_manager(session, principal=principal, live=live)
    elif not principal.is_admin and not await merchant_sells_in(
        session, merchant_id=merchant_id, session_id=live.id
    ):
        raise forbidden("the merchant has no product in this session's rundown")
    return merchant_id, live


async def authorize_ender(
    session: AsyncSession, *, principal: Principal, template: CouponTemplate
) -> None:
    """Who may end a template: its issuer, a member of its merchant, a manager of its
    session, an admin (403 ``auth.forbidden`` for anyone else)."""
    if principal.is_admin or principal.account_id == template.issuer_id:
        return
    if template.merchant_id is not None and template.merchant_id in (
        await catalog_service.merchant_ids_for(session, account_id=principal.account_id)
    ):
        return
    if template.session_id is not None:
        live = await live_service.get_or_raise(session, session_id=template.session_id)
        await live_service.require_manager(session, principal=principal, live=live)
        return
    raise forbidden("only the coupon's issuer, its merchant or an admin ends it")


def as_math(template: CouponTemplate, coupon_id: str) -> coupon_math.Coupon:
    """The template's terms for ``coupon_math``, under the id of a held coupon."""
    return coupon_math.Coupon(
        id=coupon_id,
        kind=cast(coupon_math.CouponKind, template.kind),
        amount_off_minor=template.amount_off_minor,
        percent_off=template.percent_off,
        cap_minor=template.cap_minor,
        min_spend_minor=template.min_spend_minor,
        scope=cast(coupon_math.CouponScope, template.scope),
        merchant_id=template.scope_merchant_id,
        sku_ids=frozenset(template.sku_ids),
        stackable=template.stackable,
    )


async def _resolve_scope(
    session: AsyncSession, *, data: TemplateIn, merchant_id: str | None, funding: Funding
) -> tuple[str, str | None, list[str]]:
    """The scope, its merchant and its SKUs; a merchant's coupon covers its own goods only,
    a deal-funded one the deal's product only (all its SKUs by default)."""
    scope = data.scope or ("merchant" if merchant_id else "order")
    scope_merchant = data.scope_merchant_id
    sku_ids = sorted(set(data.sku_ids))
    if funding.deal is not None:
        if data.scope not in (None, "skus") or data.scope_merchant_id is not None:
            raise invalid(
                "coupon.bad_scope", "a deal-funded coupon covers the deal's product only", "scope"
            )
        scope, sku_ids = "skus", sku_ids or list(funding.deal_sku_ids)
        if not set(sku_ids) <= set(funding.deal_sku_ids):
            raise invalid(
                "coupon.bad_scope", "a deal-funded coupon covers the deal's product only", "sku_ids"
            )
    if merchant_id is not None:
        if scope == "order" or scope_merchant not in (None, merchant_id):
            raise invalid(
                "coupon.bad_scope", "a merchant's coupon covers its own goods only", "scope"
            )
        if scope == "merchant":
            scope_merchant = merchant_id
    if scope == "merchant" and scope_merchant is not None:
        try:
            await catalog_service.get_merchant_or_raise(session, merchant_id=scope_merchant)
        except Problem:
            raise invalid("coupon.bad_scope", "no such merchant", "scope_merchant_id") from None
    if sku_ids:
        found = await catalog_service.get_skus(session, sku_ids=sku_ids)
        for sku_id in sku_ids:
            if sku_id not in found or (
                merchant_id is not None and found[sku_id][1].merchant_id != merchant_id
            ):
                raise invalid("coupon.bad_scope", f"SKU {sku_id} is not in scope", "sku_ids")
    return scope, scope_merchant, sku_ids


def _check_limits(data: TemplateIn, *, live: LiveSession | None, now: datetime) -> datetime:
    """Raise a 422 with a stable ``coupon.*`` code for terms outside our limits; returns
    ``valid_from``."""
    if data.eligibility == "followers" and live is None:
        raise invalid(
            "coupon.bad_eligibility",
            "a followers-only coupon needs a session_id: it is for the session anchor's followers",
            "eligibility",
        )
    for field, code in (
        ("amount_off_minor", "coupon.bad_amount"),
        ("cap_minor", "coupon.bad_cap"),
        ("min_spend_minor", "coupon.bad_min_spend"),
    ):
        value = getattr(data, field)
        if value is not None and value > MAX_AMOUNT_MINOR:
            raise invalid(code, f"{field} is at most {MAX_AMOUNT_MINOR}", field)
    valid_from = data.valid_from or now
    if not (valid_from < data.valid_until and now < data.valid_until) or (
        data.valid_until - valid_from > MAX_VALIDITY
    ):
        raise invalid(
            "coupon.bad_window",
            "valid_until must be in the future, after valid_from, and at most 366 days later",
            "valid_until",
        )
    if not 1 <= data.quota <= MAX_QUOTA:
        raise invalid("coupon.bad_quota", f"quota must be 1..{MAX_QUOTA}", "quota")
    if not 1 <= data.per_user_limit <= min(MAX_PER_USER_LIMIT, data.quota):
        raise invalid(
            "coupon.bad_limit",
            f"per_user_limit must be 1..{MAX_PER_USER_LIMIT} and at most the quota",
            "per_user_limit",
        )
    if data.live_session_only and live is None:
        raise invalid(
            "coupon.bad_session", "a live_session_only coupon needs a session_id", "session_id"
        )
    return valid_from


async def create_template(
    session: AsyncSession,
    *,
    data: TemplateIn,
    issuer_id: str,
    merchant_id: str | None,
    live: LiveSession | None,
    currency: str,
    funding: Funding,
    now: datetime,
) -> CouponTemplate:
    """Record a coupon template (the caller authorized the issuer: :func:`authorize_issuer`,
    and its funder: ``funding.resolve``); a wallet-funded one escrows its budget now."""
    valid_from = _check_limits(data, live=live, now=now)
    scope, scope_merchant, sku_ids = await _resolve_scope(
        session, data=data, merchant_id=merchant_id, funding=funding
    )
    template = CouponTemplate(
        issuer_id=issuer_id,
        merchant_id=merchant_id,
        session_id=live.id if live else None,
        title=data.title,
        kind=data.kind,
        amount_off_minor=data.amount_off_minor,
        percent_off=data.percent_off,
        cap_minor=data.cap_minor,
        min_spend_minor=data.min_spend_minor,
        currency=currency,
        scope=scope,
        scope_merchant_id=scope_merchant,
        sku_ids=sku_ids,
        valid_from=valid_from,
        valid_until=data.valid_until,
        live_session_only=data.live_session_only,
        quota=data.quota,
        claimed_count=0,
        per_user_limit=data.per_user_limit,
        eligibility=data.eligibility,
        stackable=data.stackable,
        created_at=now,
        funded_by=funding.funded_by,
        funder_id=funding.funder_id,
        deal_id=funding.deal.id if funding.deal is not None else None,
        budget_minor=funding.budget_minor,
        budget_used_minor=0,
        budget_refunded_minor=0,
    )
    as_math(template, "check")  # coupon.bad_kind, bad_amount, bad_percent, bad_cap, bad_scope
    session.add(template)
    await session.flush()
    await funding_service.charge(session, template=template, now=now)
    return template
