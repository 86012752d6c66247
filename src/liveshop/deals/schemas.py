"""HTTP schemas of deals: a merchant's offer, an anchor's acceptance, the deal it makes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

MAX_MINOR = 1_000_000_000_000
"""The largest floor price or coupon budget (10 billion in major units)."""
MAX_UNITS = 1_000_000
MAX_TARGETS = 100

Id = Annotated[str, Field(min_length=1, max_length=26)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OfferIn(_In):
    """A merchant's terms for one of its products. Amounts are integer minor units in the
    product's currency; unit counts are whole units. ``anchor_ids`` empty: open to every
    anchor."""

    product_id: Id
    floor_price_minor: StrictInt = Field(
        ge=0, le=MAX_MINOR, description="The lowest live or flash price an anchor may set."
    )
    stock_share: StrictInt = Field(
        default=0, ge=0, le=MAX_UNITS, description="Units the anchor may put into flash sales."
    )
    prize_units: StrictInt = Field(
        default=0, ge=0, le=MAX_UNITS, description="Units the anchor may give as raffle prizes."
    )
    coupon_budget_minor: StrictInt = Field(
        default=0,
        ge=0,
        le=MAX_MINOR,
        description="Discounts the merchant funds on the anchor's deal-funded coupons.",
    )
    commission_bps: StrictInt = Field(
        default=0, ge=0, le=10_000, description="The anchor's commission, recorded for settlement."
    )
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime
    anchor_ids: list[Id] = Field(default_factory=list, max_length=MAX_TARGETS)


class Terms(BaseModel):
    floor_price_minor: int
    currency: str
    stock_share: int
    prize_units: int
    coupon_budget_minor: int
    commission_bps: int
    valid_from: datetime
    valid_until: datetime


class OfferOut(BaseModel):
    id: str
    merchant_id: str
    product_id: str
    product_title: str
    open_to_all: bool
    anchor_ids: list[str]
    terms: Terms
    status: Literal["open", "withdrawn", "expired"]
    created_at: datetime
    withdrawn_at: datetime | None


class OfferList(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None


class AcceptIn(_In):
    anchor_id: Id | None = Field(
        default=None, description="Whose deal (admins, operators); the caller's own by default."
    )


class DealOut(BaseModel):
    id: str
    offer_id: str
    merchant_id: str
    anchor_id: str
    product_id: str
    product_title: str
    terms: Terms
    stock_used: int
    stock_left: int
    prize_used: int
    prize_left: int
    coupon_budget_used_minor: int
    coupon_budget_left_minor: int
    status: Literal["active", "ended", "expired"]
    accepted_by: str
    accepted_at: datetime
    ended_by: str | None
    ended_at: datetime | None


class DealList(BaseModel):
    items: list[DealOut]
    next_cursor: str | None
