"""HTTP schemas of the fans domain."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator


class FollowOut(BaseModel):
    account_id: str
    anchor_id: str
    followed_at: datetime


class AnchorFansOut(BaseModel):
    """An anchor's public fan summary; ``following`` / ``fan_group_member`` are the caller's
    (false when signed out)."""

    anchor_id: str
    display_name: str
    followers_count: int
    fan_groups_count: int
    following: bool
    fan_group_member: bool


class FollowingItem(BaseModel):
    anchor_id: str
    display_name: str
    followed_at: datetime


class FollowingPage(BaseModel):
    items: list[FollowingItem]
    next_cursor: str | None


class FanGroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    anchor_id: str | None = Field(
        default=None,
        min_length=26,
        max_length=26,
        description="Whose group (admins, operators); the caller's own by default.",
    )

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class FanGroupOut(BaseModel):
    id: str
    anchor_id: str
    name: str
    created_at: datetime
    member_count: int


class FanGroupList(BaseModel):
    items: list[FanGroupOut]


class MembershipOut(BaseModel):
    group: FanGroupOut
    account_id: str
    joined_at: datetime
