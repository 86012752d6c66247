"""Raffles over HTTP: open in a live session, enter, close (draw and reveal), proof, claim.

Like the live API: under the session's command lock, change, commit, then publish
(``raffle.open`` here; the close is ``raffle_flows.close_and_publish``). A raffle whose entry
window has ended is closed by the next request that touches it, or by the sweeper.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop import idempotency
from liveshop.auth.service import Principal
from liveshop.deps import CurrentPrincipal, OptionalPrincipal, Runtime, RuntimeDep, SessionDep
from liveshop.live import service as live_service
from liveshop.orders import service as orders_service
from liveshop.orders.schemas import OrderOut
from liveshop.promotions.raffles import service as raffles
from liveshop.promotions.raffles.flows import close_and_publish, current, proof_url
from liveshop.promotions.raffles.models import Raffle
from liveshop.promotions.raffles.proof import Proof
from liveshop.promotions.raffles.schemas import (
    ClaimIn,
    CloseIn,
    EntryOut,
    RaffleIn,
    RaffleOut,
    RafflePage,
    RaffleYou,
)

router = APIRouter(tags=["raffles"])


# -- helpers ---------------------------------------------------------------------------------


async def _out(
    runtime: Runtime, session: AsyncSession, raffle: Raffle, principal: Principal | None = None
) -> RaffleOut:
    drawn = raffle.status == "drawn"
    winners = await raffles.winners(session, raffle_id=raffle.id) if drawn else []
    count = raffle.entrants_count
    if count is None:
        count = await raffles.entrants_count(session, raffle_id=raffle.id)
    you = None
    if principal is not None:
        mine = next((w for w, _ in winners if w.account_id == principal.account_id), None)
        entered = await raffles.entry(session, raffle_id=raffle.id, account_id=principal.account_id)
        you = RaffleYou(
            entered=entered is not None,
            winner=mine is not None,
            order_id=mine.order_id if mine else None,
        )
    return RaffleOut.model_validate(
        {
            "id": raffle.id,
            "session_id": raffle.session_id,
            "title": raffle.title,
            "prize": await raffles.prize(session, raffle),
            "eligibility": raffle.eligibility,
            "keyword": raffle.keyword,
            "winners_count": raffle.winners_count,
            "status": raffle.status,
            "opened_at": raffle.opened_at,
            "closes_at": raffle.closes_at,
            "closed_at": raffle.closed_at,
            "drawn_at": raffle.drawn_at,
            "commitment": raffle.commitment,
            "public_seed_source": raffles.public_seed_source(raffle),
            "entrants_count": count,
            "entrants_hash": raffle.entrants_hash,
            "public_seed": raffle.public_seed if drawn else None,
            "server_seed": raffle.server_seed if drawn else None,
            "winners": [{"id": w.account_id, "name": name} for w, name in winners],
            "proof_url": proof_url(runtime, raffle.id) if drawn else None,
            "you": you,
        }
    )


async def _require_manager(session: AsyncSession, principal: Principal, raffle: Raffle) -> None:
    live = await live_service.get_or_raise(session, session_id=raffle.session_id)
    await live_service.require_manager(session, principal=principal, live=live)


def _json(model: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status_code)


# -- endpoints -------------------------------------------------------------------------------


@router.post(
    "/live/sessions/{session_id}/raffles",
    status_code=201,
    response_model=RaffleOut,
    responses={
        409: {"description": "live.not_live"},
        422: {"description": "raffle.bad_prize"},
    },
)
async def create_raffle(
    session_id: str,
    body: RaffleIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RaffleOut:
    """Open a raffle now: the room gets ``raffle.open`` with the seed's commitment."""
    await session.commit()  # see close_and_publish: no transaction while waiting for the lock
    async with runtime.rooms.command_lock(session_id):
        live = await live_service.get_or_raise(session, session_id=session_id, lock=True)
        await live_service.require_manager(session, principal=principal, live=live)
        now = runtime.clock.now()
        raffle = await raffles.create(
            session, live=live, data=body, actor_id=principal.account_id, now=now
        )
        await session.commit()
        view = await raffles.view(session, raffle)
        event = {"type": "raffle.open", "raffle": view, "at": now.isoformat()}
        await runtime.rooms.publish_priority(session_id, event, actor_id=principal.account_id)
    return await _out(runtime, session, raffle)


@router.get("/live/sessions/{session_id}/raffles", response_model=RafflePage)
async def list_raffles(session_id: str, session: SessionDep, runtime: RuntimeDep) -> RafflePage:
    """The session's raffles, oldest first."""
    await live_service.get_or_raise(session, session_id=session_id)
    rows = await raffles.list_for_session(session, session_id=session_id)
    now = runtime.clock.now()
    items = [
        await current(runtime, session, row.id) if raffles.is_due(row, now) else row for row in rows
    ]
    return RafflePage(items=[await _out(runtime, session, row) for row in items])


@router.get("/raffles/{raffle_id}", response_model=RaffleOut)
async def get_raffle(
    raffle_id: str, principal: OptionalPrincipal, session: SessionDep, runtime: RuntimeDep
) -> RaffleOut:
    """A raffle; signed in, ``you`` says whether you entered, won, and your prize order."""
    raffle = await current(runtime, session, raffle_id)
    return await _out(runtime, session, raffle, principal)


@router.post(
    "/raffles/{raffle_id}/enter",
    status_code=201,
    response_model=EntryOut,
    responses={
        200: {"description": "already entered: nothing changes"},
        403: {"description": "raffle.not_eligible"},
        409: {"description": "raffle.closed"},
    },
)
async def enter_raffle(
    raffle_id: str,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Enter (201); entering again is a no-op (200, the first entry)."""
    raffle = await current(runtime, session, raffle_id)
    raffles.require_open(raffle, runtime.clock.now())
    found = await raffles.entry(session, raffle_id=raffle_id, account_id=principal.account_id)
    if found is not None:
        return _json(
            EntryOut(raffle_id=raffle_id, account_id=found.account_id, entered_at=found.created_at)
        )
    await session.commit()  # end this read: the log writer takes SQLite's write lock
    if raffle.eligibility == "keyword":
        await runtime.rooms.flush_log()
    now = runtime.clock.now()

    async def action() -> EntryOut:
        row, _ = await raffles.enter(session, raffle_id=raffle_id, principal=principal, now=now)
        return EntryOut(raffle_id=raffle_id, account_id=row.account_id, entered_at=row.created_at)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"raffles.enter:{raffle_id}",
        payload={},
        now=now,
        action=action,
        status_code=201,
    )


@router.post(
    "/raffles/{raffle_id}/close",
    response_model=RaffleOut,
    responses={
        409: {"description": "raffle.closed"},
        422: {"description": "raffle.public_seed_required, raffle.public_seed_unexpected"},
    },
)
async def close_raffle(
    raffle_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    body: CloseIn | None = None,
) -> RaffleOut:
    """Close now: freeze the entrants, draw and reveal (``raffle.closed``, ``raffle.result``).
    A raffle that announced an external public seed draws once ``public_seed`` is given."""
    raffle = await raffles.get_or_raise(session, raffle_id=raffle_id)
    await _require_manager(session, principal, raffle)
    raffle = await close_and_publish(
        runtime,
        session,
        raffle_id=raffle_id,
        actor_id=principal.account_id,
        public_seed=body.public_seed if body else None,
    )
    return await _out(runtime, session, raffle)


@router.get(
    "/raffles/{raffle_id}/proof",
    response_model=Proof,
    responses={409: {"description": "raffle.not_drawn"}},
)
async def raffle_proof(raffle_id: str, session: SessionDep, runtime: RuntimeDep) -> Proof:
    """The proof ``liveshop raffle verify`` checks (docs/raffles.md), once drawn."""
    raffle = await current(runtime, session, raffle_id)
    return await raffles.proof(session, raffle=raffle)


@router.post(
    "/raffles/{raffle_id}/claim",
    status_code=201,
    response_model=OrderOut,
    responses={
        200: {"description": "claimed before: the same order"},
        403: {"description": "raffle.not_a_winner"},
        409: {"description": "raffle.not_drawn, stock.insufficient"},
    },
)
async def claim_prize(
    raffle_id: str,
    body: ClaimIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """A winner's prize: a paid order at price 0 (201); claiming again returns it (200)."""
    raffle = await current(runtime, session, raffle_id)
    now = runtime.clock.now()
    mine = next(
        (
            w
            for w, _ in await raffles.winners(session, raffle_id=raffle_id)
            if w.account_id == principal.account_id
        ),
        None,
    )
    if mine is not None and mine.order_id is not None:
        order = await orders_service.get_or_raise(session, order_id=mine.order_id)
        return _json(await orders_service.to_out(session, order))

    async def action() -> OrderOut:
        order, _ = await raffles.claim(
            session,
            raffle=raffle,
            account_id=principal.account_id,
            address=body.shipping_address,
            now=now,
        )
        return await orders_service.to_out(session, order)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"raffles.claim:{raffle_id}",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )
