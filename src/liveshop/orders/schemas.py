from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from liveshop.inputs import MAX_MONEY_MINOR, Bounded

Id = Annotated[str, StringConstraints(min_length=1, max_length=26)]
WalletMinor = Annotated[StrictInt, Bounded(0, MAX_MONEY_MINOR, code="wallet.bad_amount")]
"""Store credit to apply to an order (minor units); negative is ``wallet.bad_amount``."""
OrderStatus = Literal[
    "pending_payment", "paid", "shipped", "delivered", "completed", "cancelled", "expired"
]


class AddressIn(BaseModel):
    """Where the parcel goes. Coordinates are optional when the city is a known one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    recipient: str = Field(min_length=1, max_length=60)
    phone: str = Field(pattern=r"^\+?[0-9][0-9 -]{4,19}$")
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=80)
    region: str = Field(default="", max_length=80)
    postal_code: str | None = Field(default=None, max_length=16)
    country: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _both_or_neither(self) -> AddressIn:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku_id: str = Field(min_length=1, max_length=26)
    quantity: StrictInt = Field(ge=1, le=999)


class OrderIn(BaseModel):
    """A "buy now" checkout: one or more lines of one merchant, and an address; optionally
    the live session it is bought in and coupons to apply (docs/promotions.md)."""

    model_config = ConfigDict(extra="forbid")

    lines: list[OrderLineIn] = Field(min_length=1, max_length=50)
    shipping_address: AddressIn
    live_session_id: str | None = Field(default=None, min_length=1, max_length=26)
    coupon_ids: list[Id] = Field(default_factory=list, max_length=5)
    wallet_minor: WalletMinor = Field(
        default=0, description="Store credit to pay from your wallet (minor units)."
    )


class StoreCreditQuoteOut(BaseModel):
    """Store credit in a quote: your balance, what would be applied, what is left to pay."""

    balance_minor: int
    wallet_minor: int
    payable_minor: int


class OrderLineOut(BaseModel):
    id: str
    sku_id: str
    product_id: str
    title: str
    sku_code: str
    sku_attributes: dict[str, Any]
    unit_price_minor: int
    quantity: int
    line_total_minor: int


class AllocationOut(BaseModel):
    sku_id: str
    warehouse_id: str
    quantity: int
    status: str


class OrderCouponOut(BaseModel):
    """A coupon the order used and what it took off; ``released_at`` once the order was
    cancelled or expired and the coupon went back to the buyer."""

    coupon_id: str
    template_id: str
    title: str
    amount_minor: int
    released_at: datetime | None
    funded_by: Literal["merchant", "wallet", "deal", "platform"] = "merchant"


class OrderOut(BaseModel):
    id: str
    status: OrderStatus
    buyer_id: str
    merchant_id: str
    currency: str
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    total_minor: int
    refunded_minor: int
    merchant_discount_minor: int = Field(
        default=0, description="What the coupons took off at the merchant's cost."
    )
    merchant_receives_minor: int = Field(
        default=0,
        description="subtotal + shipping - merchant_discount_minor: a discount funded by "
        "someone else (an anchor's wallet, the platform) leaves the merchant the full price.",
    )
    wallet_minor: int = 0
    wallet_refunded_minor: int = 0
    payable_minor: int = 0
    lines: list[OrderLineOut]
    allocations: list[AllocationOut]
    coupons: list[OrderCouponOut] = []
    live_session_id: str | None = None
    shipping_address: dict[str, Any]
    carrier: str | None
    tracking_number: str | None
    cancel_reason: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    completed_at: datetime | None
    closed_at: datetime | None


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class ShipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(min_length=1, max_length=60)
    tracking_number: str = Field(min_length=1, max_length=80)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=200)


class StatusChangeOut(BaseModel):
    from_status: str | None
    to_status: str
    actor_id: str | None
    note: str
    created_at: datetime


class SessionGmvOut(BaseModel):
    currency: str
    gmv_minor: int


class SessionSalesOut(BaseModel):
    """What a live session sold: ``conversion`` = paying buyers / unique viewers."""

    orders: int
    paid_orders: int
    buyers: int
    gmv: list[SessionGmvOut]
    unique_viewers: int
    conversion: float
