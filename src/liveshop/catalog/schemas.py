from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StrictInt, field_validator

Gender = Literal["female", "male", "any"]
MAX_PRICE = 10**11
CityTier = Annotated[int, Interval(ge=1, le=5)]


class MerchantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=120)
    slug: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")
    kind: Literal["brand", "factory"]
    city: str | None = Field(default=None, max_length=80)
    description: str = Field(default="", max_length=2000)
    owner_account_id: str


class MerchantOut(BaseModel):
    id: str
    name: str
    slug: str
    kind: str
    city: str | None
    description: str
    created_at: datetime


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str
    role: Literal["owner", "staff"] = "staff"


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    slug: str = Field(min_length=2, max_length=80, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=80)
    parent_id: str | None = None


class CategoryOut(BaseModel):
    id: str
    slug: str
    name: str
    parent_id: str | None


class Audience(BaseModel):
    """Who a product is for; anchor matching compares it with an anchor's fans."""

    model_config = ConfigDict(extra="forbid")

    gender: Gender = "any"
    age_bands: list[str] = Field(default_factory=list, max_length=10)
    city_tiers: list[CityTier] = Field(default_factory=list, max_length=5)
    interest_tags: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("age_bands")
    @classmethod
    def _bands(cls, value: list[str]) -> list[str]:
        import re

        for band in value:
            if not re.fullmatch(r"\d{2}-\d{2}|\d{2}\+", band):
                raise ValueError(f"age band {band!r} must look like 18-24 or 50+")
        return sorted(set(value))

    @field_validator("city_tiers")
    @classmethod
    def _tiers(cls, value: list[int]) -> list[int]:
        if any(t < 1 or t > 5 for t in value):
            raise ValueError("city tiers are 1 to 5")
        return sorted(set(value))

    @field_validator("interest_tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        tags = []
        for tag in value:
            tag = tag.strip().lower()
            if not 1 <= len(tag) <= 40:
                raise ValueError("a tag has 1 to 40 characters")
            tags.append(tag)
        return sorted(set(tags))


class SkuIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=64)
    attributes: dict[str, str] = Field(default_factory=dict, max_length=10)
    price_minor: StrictInt = Field(ge=1, le=MAX_PRICE, description="integer minor units")
    list_price_minor: StrictInt | None = Field(default=None, ge=1, le=MAX_PRICE)


class SkuUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, str] | None = Field(default=None, max_length=10)
    price_minor: StrictInt | None = Field(default=None, ge=1, le=MAX_PRICE)
    list_price_minor: StrictInt | None = Field(default=None, ge=1, le=MAX_PRICE)
    is_active: bool | None = None


class SkuOut(BaseModel):
    id: str
    product_id: str
    code: str
    attributes: dict[str, str]
    price_minor: int
    list_price_minor: int | None
    currency: str
    is_active: bool


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    merchant_id: str | None = None
    category_id: str | None = None
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    image_urls: list[HttpUrl] = Field(default_factory=list, max_length=10)
    audience: Audience = Field(default_factory=Audience)
    skus: list[SkuIn] = Field(default_factory=list, max_length=100)

    @field_validator("skus")
    @classmethod
    def _unique_codes(cls, value: list[SkuIn]) -> list[SkuIn]:
        codes = [s.code for s in value]
        if len(codes) != len(set(codes)):
            raise ValueError("SKU codes must be unique within a product")
        return value


class ProductUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category_id: str | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    image_urls: list[HttpUrl] | None = Field(default=None, max_length=10)
    audience: Audience | None = None


class ProductOut(BaseModel):
    id: str
    merchant_id: str
    category_id: str | None
    title: str
    description: str
    currency: str
    image_urls: list[str]
    status: Literal["draft", "published", "unpublished"]
    price_min_minor: int | None
    price_max_minor: int | None
    audience: Audience
    skus: list[SkuOut]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None
