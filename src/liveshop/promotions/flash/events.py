"""Room events of flash sales (docs/protocol.md). ``flash.stock`` is a total sent at most once
a tick (a dropped one loses nothing); the others are priority events."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlashSaleView(_Strict):
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


class FlashCountdownEvent(_Strict):
    type: Literal["flash.countdown"]
    seq: int = Field(ge=1)
    sale: FlashSaleView


class FlashOpenEvent(_Strict):
    type: Literal["flash.open"]
    seq: int = Field(ge=1)
    sale: FlashSaleView


class FlashSoldOutEvent(_Strict):
    type: Literal["flash.sold_out"]
    seq: int = Field(ge=1)
    sale_id: str


class FlashClosedEvent(_Strict):
    type: Literal["flash.closed"]
    seq: int = Field(ge=1)
    sale_id: str
    sold: int


class FlashStockEvent(_Strict):
    type: Literal["flash.stock"]
    sale_id: str
    left: int


class FlashNoticeEvent(_Strict):
    """Personal: sent only to the account it concerns (a waitlist grant)."""

    type: Literal["flash.notice"]
    sale_id: str
    code: Literal["waitlist.granted"]
    order_id: str
    reservation_id: str


FLASH_PRIORITY_TYPES = frozenset(
    {"flash.countdown", "flash.open", "flash.sold_out", "flash.closed"}
)
