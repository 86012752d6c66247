"""HTTP schemas of flash sales."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from liveshop.orders.schemas import AddressIn

MAX_QUANTITY = 100_000
MAX_PER_USER = 10


class FlashSaleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=26)
    price_minor: int = Field(gt=0, le=10**12)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    per_user_limit: int = Field(default=1, ge=1, le=MAX_PER_USER)
    countdown_seconds: int = Field(default=10, ge=10, le=300)
    duration_seconds: int = Field(default=120, ge=10, le=3600)
    payment_window_seconds: int = Field(default=300, ge=60, le=1800)


class FlashSaleOut(BaseModel):
    kind: Literal["flash_sale"]
    id: str
    session_id: str
    item_id: str
    sku_id: str
    product_id: str
    title: str
    price_minor: int
    list_price_minor: int
    currency: str
    quantity: int
    left: int
    per_user_limit: int
    status: Literal["countdown", "open", "closed"]
    opens_at: str
    closes_at: str


class BuyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(default=1, ge=1, le=MAX_PER_USER)
    shipping_address: AddressIn


class BuyOut(BaseModel):
    reservation_id: str
    sale_id: str
    order_id: str
    quantity: int
    total_minor: int
    currency: str
    status: Literal["live", "paid", "released", "cancelled"]
    expires_at: datetime
    from_waitlist: bool


class WaitlistOut(BaseModel):
    sale_id: str
    position: int


class MyFlashOut(BaseModel):
    sale: FlashSaleOut
    buys: list[BuyOut]
    waitlist_position: int | None
    waitlist_outcome: str | None
