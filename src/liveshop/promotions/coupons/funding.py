"""Who pays for what a coupon takes off: the one who loses the money must be the one who said
so. Every template has a ``funded_by``:

- ``merchant``: a merchant's coupon on its own goods (``merchant_id``; its members issue it).
  The merchant receives the discounted price.
- ``wallet``: the issuer's own wallet. ``budget_minor`` is escrowed from it when the template
  is created (``coupon_budget``, ``ref`` = the template id; a short balance is ``409
  wallet.insufficient_funds`` and nothing is created); each use consumes what it takes off
  from the budget by a guarded UPDATE (``budget_used_minor + x <= budget_minor``: ``409
  coupon.budget_exhausted`` when it would not cover it); an order cancelled or expired gives
  its part back; when the coupon ends (its validity passes, or ``POST
  /coupon-templates/{id}/end``) the unused budget goes back to the wallet
  (``coupon_budget_refund``). The merchant receives the full price.
- ``deal``: a deal's coupon budget (``deal_id``): the merchant agreed, in the deal, to fund
  up to that much of the anchor's coupons on the deal's product; each use takes from it
  (``deals.consent``), the coupon covers that product's SKUs only, and the merchant receives
  the discounted price.
- ``platform``: admins only; the merchant receives the full price.

Anything else is ``422 coupon.funder_required`` (an anchor's coupon with neither a budget nor
a deal), and ``platform`` for anyone but an admin is ``403 auth.forbidden``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.service import Principal
from liveshop.catalog.models import Sku
from liveshop.deals import consent
from liveshop.deals import errors as deal_errors
from liveshop.deals import service as deals_service
from liveshop.deals.models import Deal
from liveshop.errors import Problem, conflict, forbidden, invalid
from liveshop.live.models import LiveSession
from liveshop.promotions.coupons.models import CouponTemplate
from liveshop.wallet import service as wallet

FUNDER_REQUIRED = "coupon.funder_required"
BUDGET_EXHAUSTED = "coupon.budget_exhausted"
MERCHANT_FUNDED = frozenset({"merchant", "deal"})
"""Redemptions whose discount is the merchant's loss (the others: it gets the full price)."""


@dataclass(frozen=True, slots=True)
class Funding:
    """Who pays, as decided for a new template."""

    funded_by: str
    funder_id: str | None = None
    budget_minor: int | None = None
    deal: Deal | None = None
    deal_sku_ids: tuple[str, ...] = ()  # the deal's product's SKUs: a deal coupon's scope


def _required(detail: str, field: str) -> Problem:
    return invalid(FUNDER_REQUIRED, detail, field)


async def resolve(
    session: AsyncSession,
    *,
    principal: Principal,
    funded_by: str | None,
    budget_minor: int | None,
    deal_id: str | None,
    merchant_id: str | None,
    live: LiveSession | None,
    currency: str,
    now: datetime,
) -> Funding:
    """Who funds a template the caller may issue (``templates.authorize_issuer`` decided the
    merchant and session): the one asked for, or the only one that fits."""
    if funded_by is None:
        if budget_minor is not None:
            funded_by = "wallet"
        elif deal_id is not None:
            funded_by = "deal"
        elif merchant_id is not None:
            funded_by = "merchant"
        elif live is None and principal.is_admin:
            funded_by = "platform"
        else:
            raise _required(
                "say who funds this coupon: a budget_minor from your wallet, or a deal_id whose "
                "merchant funds it (an anchor cannot discount a merchant's goods at its cost)",
                "funded_by",
            )
    if budget_minor is not None and funded_by != "wallet":
        raise _required("budget_minor is for wallet-funded coupons", "budget_minor")
    if deal_id is not None and funded_by != "deal":
        raise _required("deal_id is for deal-funded coupons", "deal_id")
    if funded_by == "merchant":
        if merchant_id is None:
            raise _required(
                "a merchant funds only its own coupon: name merchant_id (you must be a member)",
                "merchant_id",
            )
        return Funding("merchant")
    if funded_by == "platform":
        if not principal.is_admin:
            raise forbidden("only admins fund coupons from the platform")
        return Funding("platform")
    if funded_by == "wallet":
        if budget_minor is None:
            raise _required("a wallet-funded coupon needs a budget_minor", "budget_minor")
        return Funding("wallet", funder_id=principal.account_id, budget_minor=budget_minor)
    if deal_id is None:
        raise _required("a deal-funded coupon needs a deal_id", "deal_id")
    return await _deal_funding(
        session,
        principal=principal,
        deal_id=deal_id,
        merchant_id=merchant_id,
        live=live,
        currency=currency,
        now=now,
    )


async def _deal_funding(
    session: AsyncSession,
    *,
    principal: Principal,
    deal_id: str,
    merchant_id: str | None,
    live: LiveSession | None,
    currency: str,
    now: datetime,
) -> Funding:
    deal = await session.get(Deal, deal_id)
    if deal is None or not await auth_service.can_act_for_anchor(
        session, principal=principal, anchor_id=deal.anchor_id
    ):
        raise _required("no such deal of yours", "deal_id")
    if merchant_id is not None:
        raise _required("a deal-funded coupon is the anchor's: leave merchant_id out", "deal_id")
    if live is not None and live.anchor_id != deal.anchor_id:
        raise _required("the deal is another anchor's than the session's", "deal_id")
    if not deals_service.is_active(deal, now):
        raise _required("the deal has ended", "deal_id")
    if deal.coupon_budget_minor - deal.coupon_budget_used_minor <= 0:
        raise _required("the deal funds no (more) coupons: its coupon budget is spent", "deal_id")
    if deal.currency != currency:
        raise _required("the deal is in another currency", "currency")
    skus = await session.execute(
        select(Sku.id).where(Sku.product_id == deal.product_id).order_by(Sku.id)
    )
    return Funding("deal", deal=deal, deal_sku_ids=tuple(skus.scalars()))


async def charge(session: AsyncSession, *, template: CouponTemplate, now: datetime) -> None:
    """Escrow a wallet-funded template's budget from its funder's wallet (the template row is
    flushed, so it has its id); nothing for the other funders."""
    if template.funded_by != "wallet" or not template.budget_minor:
        return
    assert template.funder_id is not None
    await wallet.debit(
        session,
        account_id=template.funder_id,
        currency=template.currency,
        amount_minor=template.budget_minor,
        kind="coupon_budget",
        ref=template.id,
        now=now,
    )


def _exhausted(template_id: str, left: int, detail: str | None = None) -> Problem:
    return conflict(
        BUDGET_EXHAUSTED,
        detail or "the budget that funds this coupon is spent",
        template_id=template_id,
        budget_left_minor=max(0, left),
    )


async def budget_left(
    session: AsyncSession, *, template: CouponTemplate, now: datetime
) -> int | None:
    """What the template's funder may still pay (None: no budget bounds it)."""
    if template.funded_by == "wallet" and template.budget_minor is not None:
        if template.ended_at is not None:
            return 0
        return template.budget_minor - template.budget_used_minor - template.budget_refunded_minor
    if template.funded_by == "deal" and template.deal_id is not None:
        deal = await session.get(Deal, template.deal_id)
        if deal is None or not deals_service.is_active(deal, now):
            return 0
        return deal.coupon_budget_minor - deal.coupon_budget_used_minor
    return None


async def check_affordable(
    session: AsyncSession,
    *,
    templates: Mapping[str, CouponTemplate],
    amounts: Mapping[str, int],
    now: datetime,
) -> None:
    """409 ``coupon.budget_exhausted`` when a funder's budget would not cover what its
    coupons take off this cart (a read: :func:`consume` is the guarded write)."""
    for template_id, amount in amounts.items():
        left = await budget_left(session, template=templates[template_id], now=now)
        if left is not None and amount > left:
            raise _exhausted(template_id, left)


async def consume(
    session: AsyncSession,
    *,
    templates: Mapping[str, CouponTemplate],
    amounts: Mapping[str, int],
    order_id: str,
    now: datetime,
) -> None:
    """Take what the coupons of each template take off an order from its funder's budget:
    one guarded UPDATE each (the template's row, or the deal's), in template id order."""
    for template_id in sorted(amounts):
        template, amount = templates[template_id], amounts[template_id]
        if amount <= 0:
            continue
        if template.funded_by == "wallet" and template.budget_minor is not None:
            used = await session.scalar(
                update(CouponTemplate)
                .where(
                    CouponTemplate.id == template_id,
                    CouponTemplate.ended_at.is_(None),
                    CouponTemplate.budget_used_minor + CouponTemplate.budget_refunded_minor + amount
                    <= CouponTemplate.budget_minor,
                )
                .values(budget_used_minor=CouponTemplate.budget_used_minor + amount)
                .returning(CouponTemplate.budget_used_minor)
                .execution_options(synchronize_session=False)
            )
            if used is None:
                fresh = await session.get(CouponTemplate, template_id, populate_existing=True)
                assert fresh is not None
                raise _exhausted(
                    template_id, await budget_left(session, template=fresh, now=now) or 0
                )
        elif template.funded_by == "deal" and template.deal_id is not None:
            deal = await session.get(Deal, template.deal_id)
            assert deal is not None
            try:
                await consent.take(
                    session,
                    deal=deal,
                    kind="coupon_budget",
                    amount=amount,
                    source=order_id,
                    now=now,
                )
            except Problem as exc:
                if exc.code == deal_errors.REQUIRED:
                    detail = "the deal that funds this coupon has ended"
                    raise _exhausted(template_id, 0, detail) from None
                raise _exhausted(template_id, int(exc.extra.get("left", 0))) from None


async def give_back(
    session: AsyncSession,
    *,
    released: Sequence[tuple[str, str, int]],
    order_id: str,
    now: datetime,
) -> None:
    """An order's redemptions were released (``(template_id, funded_by, amount)``): give what
    they consumed back to their budgets. A wallet budget whose coupon has ended pays it
    straight back to the wallet (``coupon_budget_refund``, ``ref`` = template:order)."""
    amounts: dict[tuple[str, str], int] = {}
    for template_id, funded_by, amount in released:
        amounts[(template_id, funded_by)] = amounts.get((template_id, funded_by), 0) + amount
    for (template_id, funded_by), amount in sorted(amounts.items()):
        if amount <= 0:
            continue
        if funded_by == "wallet":
            row = (
                await session.execute(
                    update(CouponTemplate)
                    .where(
                        CouponTemplate.id == template_id,
                        CouponTemplate.budget_used_minor >= amount,
                    )
                    .values(budget_used_minor=CouponTemplate.budget_used_minor - amount)
                    .returning(
                        CouponTemplate.ended_at,
                        CouponTemplate.funder_id,
                        CouponTemplate.currency,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).first()
            if row is None:  # a bug: a redemption larger than what its budget counted
                raise RuntimeError(f"coupon template {template_id}: budget below its uses")
            ended_at, funder_id, currency = row
            if ended_at is not None and funder_id is not None:
                await session.execute(
                    update(CouponTemplate)
                    .where(CouponTemplate.id == template_id)
                    .values(budget_refunded_minor=CouponTemplate.budget_refunded_minor + amount)
                    .execution_options(synchronize_session=False)
                )
                await wallet.credit(
                    session,
                    account_id=funder_id,
                    currency=currency,
                    amount_minor=amount,
                    kind="coupon_budget_refund",
                    ref=f"{template_id}:{order_id}",
                    now=now,
                )
        elif funded_by == "deal":
            await consent.give_back(
                session, kind="coupon_budget", source=order_id, amount=amount, now=now
            )


async def end(session: AsyncSession, *, template: CouponTemplate, now: datetime) -> int:
    """End the template (no more claims or uses) and give the unused part of a wallet budget
    back to its funder; returns what went back. Once: a guarded UPDATE (ending it again
    changes nothing and returns 0)."""
    refunded = await session.scalar(
        update(CouponTemplate)
        .where(CouponTemplate.id == template.id, CouponTemplate.ended_at.is_(None))
        .values(
            ended_at=now,
            budget_refunded_minor=CouponTemplate.budget_refunded_minor
            + (
                CouponTemplate.budget_minor
                - CouponTemplate.budget_used_minor
                - CouponTemplate.budget_refunded_minor
                if template.budget_minor is not None
                else 0
            ),
        )
        .returning(CouponTemplate.budget_refunded_minor)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(template)
    if refunded is None or template.funded_by != "wallet" or not refunded:
        return 0
    assert template.funder_id is not None
    await wallet.credit(
        session,
        account_id=template.funder_id,
        currency=template.currency,
        amount_minor=int(refunded),
        kind="coupon_budget_refund",
        ref=template.id,
        now=now,
    )
    return int(refunded)


async def due_to_end(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[str]:
    """Wallet-funded templates past their validity whose budget has not gone back yet."""
    result = await session.execute(
        select(CouponTemplate.id)
        .where(
            CouponTemplate.funded_by == "wallet",
            CouponTemplate.ended_at.is_(None),
            CouponTemplate.valid_until <= now,
        )
        .order_by(CouponTemplate.valid_until)
        .limit(limit)
    )
    return list(result.scalars())
