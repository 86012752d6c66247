"""Room events of coupon drops (docs/protocol.md), both priority events, and the drop's entry
in the room snapshot's ``promotions`` list (``CouponDropView``).

- ``coupon.drop``: a manager handed out a coupon in the session; ``drop`` is also its
  ``promotions`` entry until it ends. How many are left is not in the room (claim over HTTP).
- ``coupon.drop_ended``: the drop's quota is gone (``claimed_out``) or its time is up
  (``expired``); the entry leaves ``promotions``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CouponKind = Literal["fixed", "percent"]
CouponScope = Literal["order", "merchant", "skus"]
DropEndReason = Literal["claimed_out", "expired"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CouponTerms(_Strict):
    """What a coupon takes off and when it may be used (the template's terms)."""

    template_id: str
    title: str
    kind: CouponKind
    amount_off_minor: int
    percent_off: int
    cap_minor: int | None
    min_spend_minor: int
    currency: str
    scope: CouponScope
    scope_merchant_id: str | None
    sku_ids: list[str]
    stackable: bool
    live_session_only: bool
    session_id: str | None
    valid_from: str
    valid_until: str


class CouponDropView(_Strict):
    """A drop as the room shows it (an entry of the snapshot's ``promotions``)."""

    kind: Literal["coupon_drop"]
    id: str
    session_id: str
    coupon: CouponTerms
    quota: int
    per_user_limit: int
    opened_at: str
    ends_at: str


class CouponDropEvent(_Strict):
    type: Literal["coupon.drop"]
    seq: int = Field(ge=1)
    drop: CouponDropView
    at: str


class CouponDropEndedEvent(_Strict):
    type: Literal["coupon.drop_ended"]
    seq: int = Field(ge=1)
    drop_id: str
    reason: DropEndReason
    claimed: int
    quota: int
    at: str


COUPON_PRIORITY_TYPES = frozenset({"coupon.drop", "coupon.drop_ended"})
