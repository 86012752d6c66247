"""Room events of red envelopes (docs/protocol.md): both are priority events.

- ``red_envelope.open``: a pot was funded; ``envelope`` is also the pot's entry in the room
  snapshot's ``promotions`` list until its result.
- ``red_envelope.result``: the last share was taken (``state: finished``) or the pot expired
  (``state: expired``, the remainder went back to the funder); the entry leaves ``promotions``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_RESULT_GRABS = 200
"""The most grabs a result event lists (``grabs_truncated`` says when there were more;
``GET /red-envelopes/{id}`` has them all)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvelopePerson(_Strict):
    id: str
    name: str


class RedEnvelopeView(_Strict):
    """A pot as the room sees it (the snapshot's ``promotions`` entry)."""

    kind: Literal["red_envelope"]
    id: str
    session_id: str
    funder: EnvelopePerson
    merchant_id: str | None
    amount_minor: int
    currency: str
    count: int
    mode: Literal["double_mean", "pre_split"]
    eligibility: Literal["everyone", "followers", "fan_group"]
    opens_at: str
    expires_at: str


class EnvelopeGrabView(_Strict):
    user: EnvelopePerson
    amount_minor: int
    seq: int
    at: str


class RedEnvelopeResult(_Strict):
    id: str
    session_id: str
    state: Literal["finished", "expired"]
    amount_minor: int
    currency: str
    count: int
    grabbed_count: int
    grabbed_minor: int
    refunded_minor: int
    grabs: list[EnvelopeGrabView]
    grabs_truncated: bool
    best_luck: EnvelopeGrabView | None


class RedEnvelopeOpenEvent(_Strict):
    type: Literal["red_envelope.open"]
    seq: int = Field(ge=1)
    envelope: RedEnvelopeView
    at: str


class RedEnvelopeResultEvent(_Strict):
    type: Literal["red_envelope.result"]
    seq: int = Field(ge=1)
    result: RedEnvelopeResult
    at: str


ENVELOPE_PRIORITY_TYPES = frozenset({"red_envelope.open", "red_envelope.result"})
