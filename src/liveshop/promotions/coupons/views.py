"""What clients see of coupons: a template's terms, a drop as the room shows it (its
``promotions`` entry), and the HTTP shapes. Pure functions of rows, no queries."""

from __future__ import annotations

from typing import Any

from liveshop.promotions.coupons.checkout import Evaluation
from liveshop.promotions.coupons.models import Coupon, CouponDrop, CouponTemplate
from liveshop.promotions.coupons.schemas import (
    AppliedOut,
    CouponOut,
    DiscountOut,
    DropOut,
    TemplateOut,
)


def terms(template: CouponTemplate) -> dict[str, Any]:
    """``CouponTerms``: what the coupon takes off, from which lines, and when."""
    return {
        "template_id": template.id,
        "title": template.title,
        "kind": template.kind,
        "amount_off_minor": template.amount_off_minor,
        "percent_off": template.percent_off,
        "cap_minor": template.cap_minor,
        "min_spend_minor": template.min_spend_minor,
        "currency": template.currency,
        "scope": template.scope,
        "scope_merchant_id": template.scope_merchant_id,
        "sku_ids": list(template.sku_ids),
        "stackable": template.stackable,
        "live_session_only": template.live_session_only,
        "session_id": template.session_id,
        "valid_from": template.valid_from.isoformat(),
        "valid_until": template.valid_until.isoformat(),
    }


def drop_view(drop: CouponDrop, template: CouponTemplate) -> dict[str, Any]:
    """``CouponDropView``: the room's view of a drop, also its ``promotions`` entry. It holds
    nothing that changes while the drop runs, so snapshot + events stays equal to a fresh
    snapshot without an event per claim."""
    return {
        "kind": "coupon_drop",
        "id": drop.id,
        "session_id": drop.session_id,
        "coupon": terms(template),
        "quota": drop.quota,
        "per_user_limit": template.per_user_limit,
        "opened_at": drop.opened_at.isoformat(),
        "ends_at": drop.ends_at.isoformat(),
    }


def drop_out(drop: CouponDrop, template: CouponTemplate) -> DropOut:
    return DropOut.model_validate(
        {
            **drop_view(drop, template),
            "status": drop.status,
            "claimed": drop.claimed_count,
            "end_reason": drop.end_reason,
            "ended_at": drop.ended_at.isoformat() if drop.ended_at else None,
        }
    )


def drop_ended_event(drop: CouponDrop) -> dict[str, Any]:
    """The ``coupon.drop_ended`` event of an ended drop (its seq is the broker's)."""
    assert drop.ended_at is not None and drop.end_reason is not None
    return {
        "type": "coupon.drop_ended",
        "drop_id": drop.id,
        "reason": drop.end_reason,
        "claimed": drop.claimed_count,
        "quota": drop.quota,
        "at": drop.ended_at.isoformat(),
    }


def template_out(template: CouponTemplate) -> TemplateOut:
    return TemplateOut.model_validate(
        {
            "id": template.id,
            "issuer_id": template.issuer_id,
            "merchant_id": template.merchant_id,
            "session_id": template.session_id,
            "terms": terms(template),
            "quota": template.quota,
            "claimed_count": template.claimed_count,
            "per_user_limit": template.per_user_limit,
            "eligibility": template.eligibility,
            "created_at": template.created_at,
            "funded_by": template.funded_by,
            "funder_id": template.funder_id,
            "deal_id": template.deal_id,
            "budget_minor": template.budget_minor,
            "budget_used_minor": template.budget_used_minor,
            "budget_refunded_minor": template.budget_refunded_minor,
            "ended_at": template.ended_at,
        }
    )


def coupon_out(coupon: Coupon, template: CouponTemplate) -> CouponOut:
    return CouponOut.model_validate(
        {
            "id": coupon.id,
            "template_id": coupon.template_id,
            "drop_id": coupon.drop_id,
            "status": coupon.status,
            "order_id": coupon.order_id,
            "claimed_at": coupon.claimed_at,
            "used_at": coupon.used_at,
            "coupon": terms(template),
        }
    )


def applied_out(evaluation: Evaluation) -> AppliedOut:
    """Coupons applied to a cart, as ``POST /orders/quote`` shows them."""
    applied = evaluation.applied
    return AppliedOut(
        coupon_ids=list(applied.coupon_ids),
        discount_minor=applied.discount_minor,
        total_minor=applied.total_minor,
        discounts=[
            DiscountOut(
                coupon_id=item.coupon_id,
                template_id=evaluation.held[item.coupon_id].template.id,
                title=evaluation.held[item.coupon_id].template.title,
                amount_minor=item.amount_minor,
            )
            for item in applied.discounts
        ],
    )
