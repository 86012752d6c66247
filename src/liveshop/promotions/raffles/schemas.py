"""HTTP schemas of raffles. The room's shapes are in ``raffle_events.py``; the proof is
``raffle_proof.Proof``."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from liveshop.orders.schemas import AddressIn
from liveshop.promotions.raffles.events import RaffleEligibility, RafflePrize, RaffleWinnerOut

MIN_ENTRY_SECONDS = 10
MAX_ENTRY_SECONDS = 3600
MAX_WINNERS = 100


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RaffleIn(_In):
    title: str = Field(min_length=1, max_length=120)
    item_id: str = Field(min_length=1, max_length=26, description="A rundown item: the prize.")
    entry_seconds: StrictInt = Field(ge=MIN_ENTRY_SECONDS, le=MAX_ENTRY_SECONDS)
    eligibility: RaffleEligibility = "everyone"
    keyword: str | None = Field(default=None, min_length=1, max_length=50)
    winners_count: StrictInt = Field(default=1, ge=1, le=MAX_WINNERS)
    public_seed_source: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="An external randomness beacon announced now (e.g. a drand round after "
        "the close); the manager then supplies its value at the close. Omit it for the "
        "fallback public seed '{raffle_id}:{entrants_hash}'.",
    )

    @model_validator(mode="after")
    def _keyword_with_its_rule(self) -> RaffleIn:
        if (self.eligibility == "keyword") != (self.keyword is not None):
            raise ValueError("keyword is required with eligibility 'keyword', and only with it")
        return self


class CloseIn(_In):
    public_seed: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="The announced source's value; only for a raffle opened with "
        "public_seed_source.",
    )


class ClaimIn(_In):
    shipping_address: AddressIn


class RaffleYou(BaseModel):
    entered: bool
    winner: bool
    order_id: str | None


class RaffleOut(BaseModel):
    id: str
    session_id: str
    title: str
    prize: RafflePrize
    eligibility: RaffleEligibility
    keyword: str | None
    winners_count: int
    status: Literal["open", "closed", "drawn"]
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    drawn_at: datetime | None
    commitment: str
    public_seed_source: str
    entrants_count: int
    entrants_hash: str | None
    public_seed: str | None
    server_seed: str | None
    winners: list[RaffleWinnerOut]
    proof_url: str | None
    you: RaffleYou | None = None


class RafflePage(BaseModel):
    items: list[RaffleOut]


class EntryOut(BaseModel):
    raffle_id: str
    account_id: str
    entered_at: datetime
