"""HTTP schemas of live sessions: the session, its rundown, operators, pins, announcements.

The room's own shapes (what viewers receive over the WebSocket) are in ``live/events.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from liveshop.live.events import AnnouncementOut, RoomSession, RoomStream, ShowcaseItem

SessionStatus = Literal["scheduled", "live", "ended"]
MAX_RUNDOWN_ITEMS = 100
MAX_SLOW_MODE_SECONDS = 300


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SessionIn(_In):
    title: str = Field(min_length=1, max_length=120)
    cover_url: HttpUrl | None = None
    description: str = Field(default="", max_length=2000)
    scheduled_at: AwareDatetime
    # An admin or an operator creates a session for an anchor; an anchor for itself.
    anchor_id: str | None = Field(default=None, min_length=26, max_length=26)


class SessionUpdate(_In):
    title: str | None = Field(default=None, min_length=1, max_length=120)
    cover_url: HttpUrl | None = None
    description: str | None = Field(default=None, max_length=2000)
    scheduled_at: AwareDatetime | None = None
    slow_mode_seconds: int | None = Field(default=None, ge=0, le=MAX_SLOW_MODE_SECONDS)


class Counters(BaseModel):
    likes: int
    online: int
    unique: int
    peak: int


class SessionOut(RoomSession):
    description: str
    created_at: str
    counters: Counters | None = None


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


class RundownItemIn(_In):
    sku_id: str = Field(min_length=1, max_length=26)
    live_price_minor: int = Field(gt=0, le=10**12)
    note: str = Field(default="", max_length=200)


class RundownIn(_In):
    items: list[RundownItemIn] = Field(max_length=MAX_RUNDOWN_ITEMS)


class RundownItemOut(ShowcaseItem):
    note: str


class RundownOut(BaseModel):
    items: list[RundownItemOut]


class OperatorIn(_In):
    account_id: str = Field(min_length=26, max_length=26)


class OperatorOut(BaseModel):
    account_id: str
    display_name: str
    added_at: datetime


class PinIn(_In):
    item_id: str = Field(min_length=1, max_length=26)


class PinOut(BaseModel):
    id: str
    item: ShowcaseItem
    pinned_at: datetime
    pinned_by: str
    unpinned_at: datetime | None
    unpinned_by: str | None


class PinTimeline(BaseModel):
    items: list[PinOut]


class AnnouncementIn(_In):
    text: str = Field(min_length=1, max_length=500)


class AnnouncementList(BaseModel):
    items: list[AnnouncementOut]


class RoomState(BaseModel):
    session: RoomSession
    stream: RoomStream
    pinned: ShowcaseItem | None
    showcase: list[ShowcaseItem]
    announcements: list[AnnouncementOut]


class ViewerOut(BaseModel):
    account_id: str | None
    guest_id: str | None
    name: str | None
    first_joined_at: datetime
    last_seen_at: datetime
    visits: int
    watch_seconds: float
    online: bool


class ViewersOut(BaseModel):
    counters: Counters
    total_viewers: int
    total_watch_seconds: float
    viewers: list[ViewerOut]
