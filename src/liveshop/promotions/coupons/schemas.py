"""HTTP schemas of coupons (the room's shapes are in ``coupon_events.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

from liveshop.inputs import Bounded
from liveshop.orders.schemas import Id, OrderLineIn, StoreCreditQuoteOut, WalletMinor
from liveshop.promotions.coupons.events import CouponDropView, CouponTerms, DropEndReason

MAX_COUPONS_PER_ORDER = 5
MAX_BUDGET_MINOR = 10_000_000_000
ID = Field(min_length=1, max_length=26)
MAX_AMOUNT_MINOR = 1_000_000_000
MAX_QUOTA = 1_000_000
MAX_PER_USER_LIMIT = 100
MAX_VALIDITY = timedelta(days=366)

AmountOff = Annotated[StrictInt, Bounded(0, MAX_AMOUNT_MINOR, code="coupon.bad_amount")]
PercentOff = Annotated[StrictInt, Bounded(0, 100, code="coupon.bad_percent")]
Cap = Annotated[StrictInt, Bounded(1, MAX_AMOUNT_MINOR, code="coupon.bad_cap")]
MinSpend = Annotated[StrictInt, Bounded(0, MAX_AMOUNT_MINOR, code="coupon.bad_min_spend")]
Quota = Annotated[StrictInt, Bounded(1, MAX_QUOTA, code="coupon.bad_quota")]
PerUserLimit = Annotated[StrictInt, Bounded(1, MAX_PER_USER_LIMIT, code="coupon.bad_limit")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateIn(_In):
    """A coupon's terms. Amounts are integer minor units (a JSON float is refused).

    ``merchant_id``: issue for that merchant (a member, or an admin); ``session_id``: for
    that live session (a manager of it, or a merchant selling in it). Neither: a platform
    coupon (admins), or the caller's only merchant.
    """

    title: str = Field(min_length=1, max_length=120)
    kind: Literal["fixed", "percent"]
    amount_off_minor: AmountOff = 0
    percent_off: PercentOff = 0
    cap_minor: Cap | None = None
    min_spend_minor: MinSpend = 0
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    scope: Literal["order", "merchant", "skus"] | None = None
    scope_merchant_id: str | None = Field(default=None, min_length=1, max_length=26)
    sku_ids: list[Id] = Field(default_factory=list, max_length=100)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime
    live_session_only: StrictBool = False
    quota: Quota
    per_user_limit: PerUserLimit = 1
    eligibility: Literal["everyone", "followers"] = "everyone"
    stackable: StrictBool = False
    merchant_id: str | None = Field(default=None, min_length=1, max_length=26)
    session_id: str | None = Field(default=None, min_length=1, max_length=26)
    funded_by: Literal["merchant", "wallet", "deal", "platform"] | None = Field(
        default=None,
        description="Who pays what the coupon takes off (docs/api.md, 'Who may fund a "
        "discount'); by default the one the other fields name.",
    )
    budget_minor: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_BUDGET_MINOR,
        description="Wallet-funded: escrowed from your wallet now; uses consume it; the rest "
        "comes back when the coupon ends.",
    )
    deal_id: str | None = Field(
        default=None, min_length=1, max_length=26, description="Deal-funded: the deal."
    )


class TemplateOut(BaseModel):
    id: str
    issuer_id: str
    merchant_id: str | None
    session_id: str | None
    terms: CouponTerms
    quota: int
    claimed_count: int
    per_user_limit: int
    eligibility: Literal["everyone", "followers"]
    created_at: datetime
    funded_by: Literal["merchant", "wallet", "deal", "platform"]
    funder_id: str | None = None
    deal_id: str | None = None
    budget_minor: int | None = None
    budget_used_minor: int = 0
    budget_refunded_minor: int = 0
    ended_at: datetime | None = None


class TemplateList(BaseModel):
    items: list[TemplateOut]


class DropIn(_In):
    template_id: str = ID
    quota: Quota
    duration_seconds: StrictInt = Field(default=600, ge=10, le=86_400)


class DropOut(CouponDropView):
    status: Literal["active", "ended"]
    claimed: int
    end_reason: DropEndReason | None
    ended_at: str | None


class DropList(BaseModel):
    items: list[DropOut]


class CouponOut(BaseModel):
    """A coupon you hold."""

    id: str
    template_id: str
    drop_id: str | None
    status: Literal["unused", "used"]
    order_id: str | None
    claimed_at: datetime
    used_at: datetime | None
    coupon: CouponTerms


class CouponList(BaseModel):
    items: list[CouponOut]


class QuoteIn(_In):
    """A cart to price: the same lines as ``POST /orders``, the session it is bought in, and
    optionally the coupons you mean to use (checked exactly as checkout checks them)."""

    lines: list[OrderLineIn] = Field(min_length=1, max_length=50)
    live_session_id: str | None = Field(default=None, min_length=1, max_length=26)
    coupon_ids: list[Id] = Field(default_factory=list, max_length=MAX_COUPONS_PER_ORDER)
    wallet_minor: WalletMinor = Field(
        default=0, description="Store credit you mean to pay, checked as checkout checks it."
    )


class DiscountOut(BaseModel):
    coupon_id: str
    template_id: str
    title: str
    amount_minor: int


class AppliedOut(BaseModel):
    coupon_ids: list[str]
    discount_minor: int
    total_minor: int
    discounts: list[DiscountOut]


class QuoteOut(BaseModel):
    merchant_id: str
    currency: str
    subtotal_minor: int
    applied: AppliedOut | None
    best: AppliedOut | None
    wallet: StoreCreditQuoteOut | None = None
