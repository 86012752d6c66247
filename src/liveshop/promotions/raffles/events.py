"""Room events of raffles (docs/protocol.md), all priority events, and the raffle's entry in
the room snapshot's ``promotions`` list (``RaffleView``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RaffleEligibility = Literal["everyone", "keyword", "bought_in_session", "follower", "fan_group"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RafflePrize(_Strict):
    """The rundown item given free (one unit to each winner)."""

    item_id: str
    sku_id: str
    product_id: str
    title: str
    image_url: str | None
    list_price_minor: int
    currency: str


class RaffleView(_Strict):
    """An open raffle as the room shows it (an entry of the snapshot's ``promotions``)."""

    kind: Literal["raffle"]
    id: str
    session_id: str
    title: str
    prize: RafflePrize
    eligibility: RaffleEligibility
    keyword: str | None
    winners_count: int
    opened_at: str
    closes_at: str
    commitment: str
    # "{raffle_id}:{entrants_hash}" (the fallback) or the announced external source.
    public_seed_source: str


class RaffleWinnerOut(_Strict):
    id: str
    name: str


class RaffleOpenEvent(_Strict):
    type: Literal["raffle.open"]
    seq: int = Field(ge=1)
    raffle: RaffleView
    at: str


class RaffleClosedEvent(_Strict):
    """The entrant list is frozen: its hash is published before the draw."""

    type: Literal["raffle.closed"]
    seq: int = Field(ge=1)
    raffle_id: str
    entrants_count: int
    entrants_hash: str
    at: str


class RaffleResultEvent(_Strict):
    """The draw and the reveal: the winners in rank order and everything to verify them."""

    type: Literal["raffle.result"]
    seq: int = Field(ge=1)
    raffle_id: str
    winners: list[RaffleWinnerOut]
    winners_count: int
    entrants_count: int
    commitment: str
    entrants_hash: str
    public_seed: str
    server_seed: str
    proof_url: str
    at: str


RAFFLE_PRIORITY_TYPES = frozenset({"raffle.open", "raffle.closed", "raffle.result"})
