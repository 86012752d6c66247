"""The room reducer: ``apply_event(snapshot, event)`` is what a client does with each event.

The invariant the tests hold us to (as Zulip does): a snapshot taken at seq n with every later
event applied equals a fresh snapshot. Every reducer step is idempotent, because a client may
see an event whose effect its snapshot already holds.
"""

from __future__ import annotations

import copy
from typing import Any

MAX_CHAT = 50
MAX_ANNOUNCEMENTS = 5


def apply_event(snapshot: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    state = copy.deepcopy(snapshot)
    kind = event.get("type")
    if kind == "product.pinned":
        state["pinned"] = event["item"]
    elif kind == "product.unpinned":
        pinned = state.get("pinned")
        if pinned is not None and pinned["id"] == event["item_id"]:
            state["pinned"] = None
    elif kind == "showcase.updated":
        state["showcase"] = event["showcase"]
        pinned = state.get("pinned")
        if pinned is not None:
            fresh = {item["id"]: item for item in event["showcase"]}
            state["pinned"] = fresh.get(pinned["id"])
    elif kind == "announcement":
        announcement = event["announcement"]
        listed = [a for a in state.get("announcements", []) if a["id"] != announcement["id"]]
        listed.append(announcement)
        listed.sort(key=lambda a: (a["at"], a["id"]))
        state["announcements"] = listed[-MAX_ANNOUNCEMENTS:]
    elif kind in ("session.live", "session.updated"):
        state["session"] = event["session"]
    elif kind == "session.ended":
        state["session"] = event["session"]
        state["pinned"] = None
    elif kind in ("stream.online", "stream.offline"):
        state["stream"] = event["stream"]
    elif kind == "chat":
        if "chat" in state:
            chat = [m for m in state["chat"] if m["id"] != event["id"]]
            chat.append({k: v for k, v in event.items() if k != "seq"})
            state["chat"] = chat[-MAX_CHAT:]
    elif kind == "chat.deleted":
        if "chat" in state:
            state["chat"] = [m for m in state["chat"] if m["id"] != event["id"]]
    elif kind in ("flash.countdown", "flash.open"):
        _put_promotion(state, event["sale"])
    elif kind == "flash.stock":
        _update_promotion(state, event["sale_id"], left=event["left"])
    elif kind == "flash.sold_out":
        _update_promotion(state, event["sale_id"], left=0)
    elif kind == "flash.closed":
        _drop_promotion(state, event["sale_id"])
    elif kind == "raffle.open":
        _put_promotion(state, event["raffle"])
    elif kind in ("raffle.closed", "raffle.result"):  # only open raffles are listed
        _drop_promotion(state, event["raffle_id"])
    elif kind == "red_envelope.open":
        _put_promotion(state, event["envelope"])
    elif kind == "red_envelope.result":  # only pots still open are listed
        _drop_promotion(state, event["result"]["id"])
    elif kind == "coupon.drop":
        _put_promotion(state, event["drop"])
    elif kind == "coupon.drop_ended":  # only running drops are listed
        _drop_promotion(state, event["drop_id"])
    elif kind == "counters":
        state["counters"] = {k: v for k, v in event.items() if k != "seq"}
    return state


def _put_promotion(state: dict[str, Any], promotion: dict[str, Any]) -> None:
    """Add or replace an open promotion; the list is kept in id order (as snapshots are)."""
    listed = [p for p in state.get("promotions", []) if p["id"] != promotion["id"]]
    listed.append(promotion)
    state["promotions"] = sorted(listed, key=lambda p: p["id"])


def _update_promotion(state: dict[str, Any], promotion_id: str, **changes: Any) -> None:
    state["promotions"] = [
        {**p, **changes} if p["id"] == promotion_id else p for p in state.get("promotions", [])
    ]


def _drop_promotion(state: dict[str, Any], promotion_id: str) -> None:
    state["promotions"] = [p for p in state.get("promotions", []) if p["id"] != promotion_id]


def apply_events(snapshot: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    for event in events:
        snapshot = apply_event(snapshot, event)
    return snapshot
