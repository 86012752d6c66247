from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class WarehouseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    merchant_id: str | None = None
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=120)
    city: str = Field(min_length=1, max_length=80)
    region: str = Field(min_length=1, max_length=80)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class WarehouseOut(BaseModel):
    id: str
    merchant_id: str
    code: str
    name: str
    city: str
    region: str
    latitude: float
    longitude: float
    is_active: bool


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku_id: str
    warehouse_id: str
    quantity: StrictInt = Field(ge=1, le=1_000_000)
    note: str = Field(default="", max_length=200)


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku_id: str
    warehouse_id: str
    delta: StrictInt = Field(ge=-1_000_000, le=1_000_000)
    note: str = Field(min_length=1, max_length=200, description="Why (count, damage, ...)")


class MovementOut(BaseModel):
    id: str
    sku_id: str
    warehouse_id: str
    kind: str
    on_hand_delta: int
    reserved_delta: int
    order_id: str | None
    note: str
    created_at: datetime


class MovementPage(BaseModel):
    items: list[MovementOut]
    next_cursor: str | None


class StockLevelOut(BaseModel):
    sku_id: str
    warehouse_id: str
    on_hand: int
    reserved: int
    available: int


class AvailabilityOut(BaseModel):
    sku_id: str
    available: int
