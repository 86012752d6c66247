"""Raffles in a live session: open with a committed seed, enter, freeze, draw, reveal, claim.

Plain async functions, ``session`` first, no HTTP; they flush, callers commit and then publish
the room events (``raffle_api.py``). The draw and the proof are ``raffle_proof.py``'s.

Locking: an entry reads the raffle ``FOR SHARE`` and the close ``FOR UPDATE`` (PostgreSQL), so
the close waits for entries in flight and no entry lands after the list is frozen; SQLite
serializes every writer anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.models import Account
from liveshop.auth.service import Principal
from liveshop.catalog import service as catalog_service
from liveshop.db import insert_unique
from liveshop.deals import consent
from liveshop.errors import Problem, conflict, forbidden, invalid, not_found
from liveshop.inventory import service as inventory
from liveshop.live import service as live_service
from liveshop.live.models import LiveSession
from liveshop.orders import promotional
from liveshop.orders import service as orders_service
from liveshop.orders.models import Order
from liveshop.orders.schemas import AddressIn
from liveshop.promotions.raffles import proof as raffle_proof
from liveshop.promotions.raffles.eligibility import check_eligible
from liveshop.promotions.raffles.models import Raffle, RaffleEntry, RaffleWinner
from liveshop.promotions.raffles.schemas import RaffleIn

FALLBACK_SOURCE = "{raffle_id}:{entrants_hash}"


@dataclass(frozen=True)
class Closing:
    """What a close did: froze the entrant list, drew the winners (either or both)."""

    froze: bool
    drew: bool


def _not_found() -> Problem:
    return not_found("raffle.not_found", "no such raffle")


async def get_or_raise(
    session: AsyncSession, *, raffle_id: str, lock: bool = False, share: bool = False
) -> Raffle:
    """The raffle; ``lock`` (FOR UPDATE) or ``share`` (FOR SHARE) re-reads it under a lock."""
    query = select(Raffle).where(Raffle.id == raffle_id)
    if lock or share:
        query = query.with_for_update(read=share and not lock).execution_options(
            populate_existing=True
        )
    raffle = (await session.execute(query)).scalars().first()
    if raffle is None:
        raise _not_found()
    return raffle


async def list_for_session(session: AsyncSession, *, session_id: str) -> list[Raffle]:
    """The session's raffles, oldest first."""
    result = await session.execute(
        select(Raffle).where(Raffle.session_id == session_id).order_by(Raffle.id)
    )
    return list(result.scalars())


def is_due(raffle: Raffle, now: datetime) -> bool:
    """Open, but its entry window has ended: the next access (or the sweep) closes it."""
    return raffle.status == "open" and now >= raffle.closes_at


async def due(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[str]:
    result = await session.execute(
        select(Raffle.id)
        .where(Raffle.status == "open", Raffle.closes_at <= now)
        .order_by(Raffle.closes_at)
        .limit(limit)
    )
    return list(result.scalars())


# -- opening ---------------------------------------------------------------------------------


async def create(
    session: AsyncSession, *, live: LiveSession, data: RaffleIn, actor_id: str, now: datetime
) -> Raffle:
    """Open a raffle now: the server seed is drawn and stored, its commitment is public.
    Another merchant's product as the prize needs the anchor's active deal
    (``deal.required``) whose prize units still cover ``winners_count``
    (``deal.prize_share_exceeded``)."""
    if live.status != "live":
        raise conflict("live.not_live", "raffles run only while the session is live")
    lines = await live_service.rundown(session, session_id=live.id)
    line = next((line for line in lines if line.item.id == data.item_id), None)
    if line is None:
        raise invalid(
            "raffle.bad_prize", "the prize must be a product of this session's rundown", "item_id"
        )
    deal = await consent.deal_for(
        session,
        anchor_id=live.anchor_id,
        product_id=line.product.id,
        merchant_id=line.product.merchant_id,
        now=now,
    )
    seed = raffle_proof.new_server_seed()
    raffle = Raffle(
        session_id=live.id,
        item_id=line.item.id,
        sku_id=line.item.sku_id,
        product_id=line.item.product_id,
        title=data.title,
        eligibility=data.eligibility,
        keyword=data.keyword,
        winners_count=data.winners_count,
        status="open",
        server_seed=seed,
        commitment=raffle_proof.commitment(seed),
        public_seed_source=data.public_seed_source,
        opened_at=now,
        closes_at=now + timedelta(seconds=data.entry_seconds),
        created_by=actor_id,
    )
    session.add(raffle)
    await session.flush()
    if deal is not None:  # another merchant's goods: the prizes come out of the deal's share
        await consent.take(
            session, deal=deal, kind="prize", amount=raffle.winners_count, source=raffle.id, now=now
        )
    return raffle


# -- what viewers see ------------------------------------------------------------------------


async def prize(session: AsyncSession, raffle: Raffle) -> dict[str, Any]:
    """The prize as ``RafflePrize`` (a removed rundown item still names it)."""
    lines = await live_service.rundown(session, session_id=raffle.session_id, include_removed=True)
    line = next(line for line in lines if line.item.id == raffle.item_id)
    item = live_service.showcase_item(line)
    return {
        "item_id": item["id"],
        "sku_id": item["sku_id"],
        "product_id": item["product_id"],
        "title": item["title"],
        "image_url": item["image_url"],
        "list_price_minor": item["list_price_minor"],
        "currency": item["currency"],
    }


def public_seed_source(raffle: Raffle) -> str:
    return raffle.public_seed_source or FALLBACK_SOURCE


async def view(session: AsyncSession, raffle: Raffle) -> dict[str, Any]:
    """The raffle as the room shows it (``RaffleView``): never the seed."""
    return {
        "kind": "raffle",
        "id": raffle.id,
        "session_id": raffle.session_id,
        "title": raffle.title,
        "prize": await prize(session, raffle),
        "eligibility": raffle.eligibility,
        "keyword": raffle.keyword,
        "winners_count": raffle.winners_count,
        "opened_at": raffle.opened_at.isoformat(),
        "closes_at": raffle.closes_at.isoformat(),
        "commitment": raffle.commitment,
        "public_seed_source": public_seed_source(raffle),
    }


async def open_raffles_for_room(session: AsyncSession, session_id: str) -> list[dict[str, Any]]:
    """The room snapshot's raffle entries of ``promotions``: open raffles, ordered by id.

    Merge with the other promotions by id (ids are time-ordered), which is the order the
    reducer (``live/state.py``) keeps.
    """
    result = await session.execute(
        select(Raffle)
        .where(Raffle.session_id == session_id, Raffle.status == "open")
        .order_by(Raffle.id)
    )
    return [await view(session, raffle) for raffle in result.scalars()]


# -- entering --------------------------------------------------------------------------------


async def entry(session: AsyncSession, *, raffle_id: str, account_id: str) -> RaffleEntry | None:
    return await session.get(RaffleEntry, (raffle_id, account_id))


async def entrants_count(session: AsyncSession, *, raffle_id: str) -> int:
    return len(await _entrant_ids(session, raffle_id=raffle_id))


async def _entrant_ids(session: AsyncSession, *, raffle_id: str) -> list[str]:
    result = await session.execute(
        select(RaffleEntry.account_id).where(RaffleEntry.raffle_id == raffle_id)
    )
    return list(result.scalars())


def require_open(raffle: Raffle, now: datetime) -> None:
    if raffle.status != "open" or now >= raffle.closes_at:
        raise conflict("raffle.closed", "the raffle no longer takes entries")


async def enter(
    session: AsyncSession, *, raffle_id: str, principal: Principal, now: datetime
) -> tuple[RaffleEntry, bool]:
    """Enter ``principal``; (entry, False) when it already had entered (a no-op)."""
    raffle = await get_or_raise(session, raffle_id=raffle_id, share=True)
    require_open(raffle, now)
    found = await entry(session, raffle_id=raffle_id, account_id=principal.account_id)
    if found is not None:
        return found, False
    await check_eligible(session, raffle=raffle, principal=principal)
    return await insert_unique(
        session,
        RaffleEntry(raffle_id=raffle_id, account_id=principal.account_id, created_at=now),
        lambda: entry(session, raffle_id=raffle_id, account_id=principal.account_id),
    )


# -- close, draw, proof ----------------------------------------------------------------------


async def close(
    session: AsyncSession, *, raffle: Raffle, now: datetime, public_seed: str | None = None
) -> Closing:
    """Freeze the entrant list (an open raffle) and draw when the public seed is known: the
    fallback at once, an announced source's value when the manager supplies it. The server
    seed is revealed in the same step as the draw. ``raffle`` must be locked (FOR UPDATE)."""
    if raffle.status == "drawn":
        raise conflict("raffle.closed", "the raffle has been drawn")
    if public_seed is not None and raffle.public_seed_source is None:
        raise invalid(
            "raffle.public_seed_unexpected",
            "this raffle announced the fallback public seed at its open: none may be supplied",
            "public_seed",
        )
    froze = raffle.status == "open"
    entrants = await _entrant_ids(session, raffle_id=raffle.id)
    if froze:
        raffle.status = "closed"
        raffle.closed_at = now
        raffle.entrants_count = len(entrants)
        raffle.entrants_hash = raffle_proof.entrants_hash(entrants)
    assert raffle.entrants_hash is not None
    if raffle.public_seed_source is None:
        public_seed = raffle_proof.suggested_public_seed(raffle.id, raffle.entrants_hash)
    elif public_seed is None:
        if froze:
            await session.flush()
            return Closing(froze=True, drew=False)
        raise invalid(
            "raffle.public_seed_required",
            f"supply the value of the announced public seed ({raffle.public_seed_source})",
            "public_seed",
        )
    proof = raffle_proof.build_proof(
        raffle_id=raffle.id,
        server_seed=raffle.server_seed,
        public_seed=public_seed,
        entrant_ids=entrants,
        winners_count=raffle.winners_count,
    )
    if proof.entrants_hash != raffle.entrants_hash:  # a bug: never draw on another list
        raise RuntimeError(f"raffle {raffle.id}: the frozen entrant list changed")
    for rank, account_id in enumerate(proof.winners, start=1):
        session.add(RaffleWinner(raffle_id=raffle.id, rank=rank, account_id=account_id))
    raffle.public_seed = public_seed
    raffle.status = "drawn"
    raffle.drawn_at = now
    # fewer entrants than prizes: the prizes nobody won go back to the deal's prize units
    await consent.give_back(
        session,
        kind="prize",
        source=raffle.id,
        amount=raffle.winners_count - len(proof.winners),
        now=now,
    )
    await session.flush()
    return Closing(froze=froze, drew=True)


async def winners(session: AsyncSession, *, raffle_id: str) -> list[tuple[RaffleWinner, str]]:
    """The winners in rank order with their display names."""
    result = await session.execute(
        select(RaffleWinner, Account.display_name)
        .join(Account, Account.id == RaffleWinner.account_id)
        .where(RaffleWinner.raffle_id == raffle_id)
        .order_by(RaffleWinner.rank)
    )
    return [(winner, name) for winner, name in result]


async def proof(session: AsyncSession, *, raffle: Raffle) -> raffle_proof.Proof:
    """The published proof of a drawn raffle, from the stored rows (nothing recomputed)."""
    if raffle.status != "drawn":
        raise conflict("raffle.not_drawn", "the raffle has not been drawn yet")
    assert raffle.entrants_hash is not None and raffle.public_seed is not None
    drawn = await winners(session, raffle_id=raffle.id)
    return raffle_proof.Proof(
        raffle_id=raffle.id,
        commitment=raffle.commitment,
        entrants=raffle_proof.canonical_entrants(await _entrant_ids(session, raffle_id=raffle.id)),
        entrants_hash=raffle.entrants_hash,
        public_seed=raffle.public_seed,
        server_seed=raffle.server_seed,
        winners_count=raffle.winners_count,
        winners=[winner.account_id for winner, _ in drawn],
    )


# -- the prize -------------------------------------------------------------------------------


async def claim(
    session: AsyncSession, *, raffle: Raffle, account_id: str, address: AddressIn, now: datetime
) -> tuple[Order, bool]:
    """A winner's prize: a paid order of one unit at price 0 (source ``raffle``), stock
    reserved near the address. (order, False) when it was claimed before."""
    if raffle.status != "drawn":
        raise conflict("raffle.not_drawn", "the raffle has not been drawn yet")
    winner = (
        (
            await session.execute(
                select(RaffleWinner)
                .where(RaffleWinner.raffle_id == raffle.id, RaffleWinner.account_id == account_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .first()
    )
    if winner is None:
        raise forbidden("you did not win this raffle", code="raffle.not_a_winner")
    if winner.order_id is not None:
        order = await orders_service.get_or_raise(session, order_id=winner.order_id)
        return order, False
    found = (await catalog_service.get_skus(session, sku_ids=[raffle.sku_id])).get(raffle.sku_id)
    if found is None or not found[0].is_active or found[1].status != "published":
        raise conflict("raffle.prize_unavailable", "the prize is no longer on sale")
    sku, product = found
    destination = orders_service.destination_of(address)
    built, rows = promotional.build_order(
        buyer_id=account_id,
        sku=sku,
        product=product,
        quantity=1,
        unit_price_minor=0,
        address=address.model_dump(mode="json"),
        destination=destination,
        source="raffle",
        live_session_id=raffle.session_id,
        now=now,
        expires_at=now,
    )
    session.add_all(rows)
    await session.flush()
    order = built.order
    await inventory.allocate(
        session,
        order_id=order.id,
        merchant_id=order.merchant_id,
        requests=[inventory.AllocationRequest(sku.id, 1, built.line.id)],
        destination=destination,
        expires_at=None,
        now=now,
    )
    await inventory.commit_for_order(session, order_id=order.id)
    await orders_service.transition(
        session, order=order, to="paid", now=now, note=f"raffle {raffle.id} prize"
    )
    winner.order_id = order.id
    winner.claimed_at = now
    await session.flush()
    return order, True
