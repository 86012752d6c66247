"""Schemas of every WebSocket message, in both directions (docs/protocol.md).

Each server event type has a model here and a test that sees it on a real socket and
validates it against the model; ``parse_event`` is what those tests use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from liveshop.promotions.coupons.events import (
    COUPON_PRIORITY_TYPES,
    CouponDropEndedEvent,
    CouponDropEvent,
)
from liveshop.promotions.envelopes.events import (
    ENVELOPE_PRIORITY_TYPES,
    RedEnvelopeOpenEvent,
    RedEnvelopeResultEvent,
)
from liveshop.promotions.flash.events import (
    FLASH_PRIORITY_TYPES,
    FlashClosedEvent,
    FlashCountdownEvent,
    FlashNoticeEvent,
    FlashOpenEvent,
    FlashSoldOutEvent,
    FlashStockEvent,
)
from liveshop.promotions.raffles.events import (
    RAFFLE_PRIORITY_TYPES,
    RaffleClosedEvent,
    RaffleOpenEvent,
    RaffleResultEvent,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- client -> server -----------------------------------------------------------------------


class HelloIn(_Strict):
    type: Literal["hello"]
    token: str | None = None
    last_seq: int | None = Field(default=None, ge=0)
    guest_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$")


class ChatIn(_Strict):
    type: Literal["chat"]
    text: str


class LikeIn(_Strict):
    type: Literal["like"]
    count: int = Field(default=1, ge=1, le=50)


class PingIn(_Strict):
    type: Literal["ping"]


ClientMessage = Annotated[HelloIn | ChatIn | LikeIn | PingIn, Field(discriminator="type")]


# -- shared shapes --------------------------------------------------------------------------


class Person(_Strict):
    id: str
    name: str


class Anchor(_Strict):
    id: str
    display_name: str


class RoomSession(_Strict):
    id: str
    title: str
    cover_url: str | None
    status: Literal["scheduled", "live", "ended"]
    anchor: Anchor
    scheduled_at: str
    started_at: str | None
    ended_at: str | None
    slow_mode_seconds: int


class RoomStream(_Strict):
    """The video: ``idle`` (never published), ``online`` (playable at ``playback_url``),
    ``offline`` (the encoder left; the session waits for it: the grace)."""

    status: Literal["idle", "online", "offline"]
    playback_url: str | None
    online_at: str | None
    offline_at: str | None


class ShowcaseItem(_Strict):
    id: str
    position: int
    product_id: str
    sku_id: str
    title: str
    image_url: str | None
    live_price_minor: int
    list_price_minor: int
    currency: str


class AnnouncementOut(_Strict):
    id: str
    text: str
    author: Person
    at: str


# -- server -> client: room events (inside frames) ------------------------------------------


class ChatEvent(_Strict):
    type: Literal["chat"]
    id: str
    text: str
    user: Person
    at: str


class CountersEvent(_Strict):
    type: Literal["counters"]
    likes: int
    online: int
    unique: int
    peak: int


class _Priority(_Strict):
    seq: int = Field(ge=1)


class ChatDeletedEvent(_Priority):
    type: Literal["chat.deleted"]
    id: str


class ProductPinnedEvent(_Priority):
    type: Literal["product.pinned"]
    item: ShowcaseItem
    at: str


class ProductUnpinnedEvent(_Priority):
    type: Literal["product.unpinned"]
    item_id: str
    at: str


class ShowcaseUpdatedEvent(_Priority):
    type: Literal["showcase.updated"]
    showcase: list[ShowcaseItem]


class AnnouncementEvent(_Priority):
    type: Literal["announcement"]
    announcement: AnnouncementOut


class SessionLiveEvent(_Priority):
    type: Literal["session.live"]
    session: RoomSession
    at: str


class SessionEndedEvent(_Priority):
    type: Literal["session.ended"]
    session: RoomSession
    at: str


class SessionUpdatedEvent(_Priority):
    type: Literal["session.updated"]
    session: RoomSession


class StreamOnlineEvent(_Priority):
    type: Literal["stream.online"]
    stream: RoomStream
    at: str


class StreamOfflineEvent(_Priority):
    type: Literal["stream.offline"]
    stream: RoomStream
    grace_seconds: int
    at: str


RoomEventModel = Annotated[
    ChatEvent
    | CountersEvent
    | ChatDeletedEvent
    | ProductPinnedEvent
    | ProductUnpinnedEvent
    | ShowcaseUpdatedEvent
    | AnnouncementEvent
    | SessionLiveEvent
    | SessionEndedEvent
    | SessionUpdatedEvent
    | StreamOnlineEvent
    | StreamOfflineEvent
    | FlashCountdownEvent
    | FlashOpenEvent
    | FlashSoldOutEvent
    | FlashClosedEvent
    | FlashStockEvent
    | RaffleOpenEvent
    | RaffleClosedEvent
    | RaffleResultEvent
    | RedEnvelopeOpenEvent
    | RedEnvelopeResultEvent
    | CouponDropEvent
    | CouponDropEndedEvent,
    Field(discriminator="type"),
]
PRIORITY_TYPES = frozenset(
    {
        "chat.deleted",
        "product.pinned",
        "product.unpinned",
        "showcase.updated",
        "announcement",
        "session.live",
        "session.ended",
        "session.updated",
        "stream.online",
        "stream.offline",
    }
    | FLASH_PRIORITY_TYPES
    | RAFFLE_PRIORITY_TYPES
    | ENVELOPE_PRIORITY_TYPES
    | COUPON_PRIORITY_TYPES
)
EVENT_TYPES = PRIORITY_TYPES | {"chat", "counters", "flash.stock"}


# -- server -> client: messages -------------------------------------------------------------


class You(_Strict):
    account_id: str | None
    name: str | None
    guest_id: str | None


class RoomSnapshot(_Strict):
    session: RoomSession
    stream: RoomStream
    pinned: ShowcaseItem | None
    showcase: list[ShowcaseItem]
    announcements: list[AnnouncementOut]
    chat: list[ChatEvent]
    counters: CountersEvent
    promotions: list[dict[str, Any]]


class SnapshotMessage(_Strict):
    type: Literal["snapshot"]
    seq: int = Field(ge=0)
    snapshot: RoomSnapshot
    you: You


class ResumeMessage(_Strict):
    type: Literal["resume"]
    seq: int = Field(ge=0)
    events: list[RoomEventModel]
    counters: CountersEvent
    you: You


class Frame(_Strict):
    seq: int = Field(ge=0)
    events: list[RoomEventModel]


class ErrorMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # e.g. retry_after, got
    type: Literal["error"]
    code: str
    detail: str


class PongMessage(_Strict):
    type: Literal["pong"]
    at: str


_event_adapter: TypeAdapter[Any] = TypeAdapter(RoomEventModel)
_client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)


def parse_event(data: dict[str, Any]) -> BaseModel:
    """Validate one room event against its schema (raises pydantic.ValidationError)."""
    model: BaseModel = _event_adapter.validate_python(data)
    return model


def parse_server_message(data: dict[str, Any]) -> BaseModel:
    """Validate any message a client can receive."""
    if "events" in data and "type" not in data:
        return Frame.model_validate(data)
    models: dict[str, type[BaseModel]] = {
        "flash.notice": FlashNoticeEvent,
        "snapshot": SnapshotMessage,
        "resume": ResumeMessage,
        "error": ErrorMessage,
        "pong": PongMessage,
    }
    kind = data.get("type")
    if kind not in models:
        raise ValueError(f"unknown server message type {kind!r}")
    return models[str(kind)].model_validate(data)


def parse_client_message(data: dict[str, Any]) -> BaseModel:
    model: BaseModel = _client_adapter.validate_python(data)
    return model
