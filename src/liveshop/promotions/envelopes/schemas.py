"""HTTP schemas of red envelopes (the room's shapes are in ``envelope_events.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from liveshop.inputs import Bounded
from liveshop.promotions.envelopes.events import EnvelopeGrabView, RedEnvelopeView
from liveshop.promotions.envelopes.split import MAX_COUNT

EnvelopeState = Literal["scheduled", "open", "finished", "expired"]
DEFAULT_EXPIRES_IN_SECONDS = 24 * 3600
MAX_POT_MINOR = 1_000_000_000
MAX_DELAY_SECONDS = 300
MIN_EXPIRES_IN_SECONDS = 60
MAX_EXPIRES_IN_SECONDS = 24 * 3600


class EnvelopeIn(BaseModel):
    """Fund a pot. Amounts are integer minor units (a JSON float is refused)."""

    model_config = ConfigDict(extra="forbid")

    amount_minor: Annotated[
        StrictInt,
        Bounded(1, MAX_POT_MINOR, code="envelope.bad_amount", over="envelope.too_large"),
    ]
    count: Annotated[StrictInt, Bounded(1, MAX_COUNT, code="envelope.bad_count")]
    currency: str | None = Field(default=None, pattern="^[A-Z]{3}$")
    mode: Literal["double_mean", "pre_split"] = "double_mean"
    eligibility: Literal["everyone", "followers", "fan_group"] = "everyone"
    delay_seconds: Annotated[
        StrictInt, Bounded(0, MAX_DELAY_SECONDS, code="envelope.bad_delay")
    ] = 0
    expires_in_seconds: Annotated[
        StrictInt,
        Bounded(MIN_EXPIRES_IN_SECONDS, MAX_EXPIRES_IN_SECONDS, code="envelope.bad_expiry"),
    ] = DEFAULT_EXPIRES_IN_SECONDS
    merchant_id: str | None = Field(default=None, min_length=26, max_length=26)


class EnvelopeSummaryOut(RedEnvelopeView):
    state: EnvelopeState
    created_at: str
    closed_at: str | None
    grabbed_count: int
    grabbed_minor: int
    remaining_count: int
    remaining_minor: int
    refunded_minor: int


class EnvelopeOut(EnvelopeSummaryOut):
    grabs: list[EnvelopeGrabView]
    best_luck: EnvelopeGrabView | None
    you: EnvelopeGrabView | None


class EnvelopeList(BaseModel):
    items: list[EnvelopeSummaryOut]


class GrabOut(BaseModel):
    envelope_id: str
    amount_minor: int
    currency: str
    seq: int
    grabbed_at: str
