"""Red envelopes over HTTP: fund a pot in a live session, grab a share, see a pot's state.

Money commands (fund, grab) need an ``Idempotency-Key``: the key row and the command commit
together, a retry replays the stored answer. The room hears about a pot after the commit
(``red_envelope.open``), and about its end after the commit that ended it
(``red_envelope.result``).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from liveshop import idempotency
from liveshop.deps import CurrentPrincipal, OptionalPrincipal, RuntimeDep, SessionDep
from liveshop.live import service as live_service
from liveshop.promotions.envelopes import flows, views
from liveshop.promotions.envelopes import service as envelopes
from liveshop.promotions.envelopes.schemas import (
    EnvelopeIn,
    EnvelopeList,
    EnvelopeOut,
    EnvelopeSummaryOut,
    GrabOut,
)

router = APIRouter(tags=["promotions"])


@router.post(
    "/live/sessions/{session_id}/red-envelopes",
    status_code=201,
    response_model=EnvelopeSummaryOut,
    responses={
        403: {"description": "auth.forbidden: not a manager, nor a merchant of the session"},
        409: {"description": "live.not_live, idempotency.key_reused, wallet.insufficient_funds"},
        422: {
            "description": "envelope.bad_amount, envelope.bad_count, envelope.too_small, "
            "envelope.too_large, envelope.bad_delay, envelope.bad_expiry"
        },
    },
)
async def fund_envelope(
    session_id: str,
    body: EnvelopeIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Fund a pot shared by the first ``count`` grabbers, paid from your wallet (409
    ``wallet.insufficient_funds`` creates nothing); the room gets ``red_envelope.open``."""
    now = runtime.clock.now()
    created: dict[str, str] = {}

    async def action() -> EnvelopeSummaryOut:
        live = await live_service.get_or_raise(session, session_id=session_id)
        merchant_id = await envelopes.authorize_funder(
            session, principal=principal, live=live, merchant_id=body.merchant_id
        )
        envelope = await envelopes.create(
            session,
            live=live,
            funder_id=principal.account_id,
            merchant_id=merchant_id,
            data=body,
            currency=body.currency or runtime.settings.default_currency,
            now=now,
        )
        created["id"] = envelope.id
        [out] = await views.summaries(session, [envelope], now)
        return EnvelopeSummaryOut.model_validate(out)

    async with runtime.rooms.command_lock(session_id):  # commit, then publish, in order
        response = await idempotency.run(
            session,
            scope=principal.account_id,
            key=key,
            operation=f"red_envelopes.fund:{session_id}",
            payload=body.model_dump(mode="json"),
            now=now,
            action=action,
            status_code=201,
        )
        if "id" in created:
            await flows.opened(runtime, created["id"], actor_id=principal.account_id)
    return response


@router.get("/live/sessions/{session_id}/red-envelopes", response_model=EnvelopeList)
async def list_envelopes(session_id: str, session: SessionDep, runtime: RuntimeDep) -> EnvelopeList:
    """Every pot of a session, newest first, with its state and counts."""
    await live_service.get_or_raise(session, session_id=session_id)
    rows = await envelopes.list_for_session(session, session_id=session_id)
    items = await views.summaries(session, rows, runtime.clock.now())
    return EnvelopeList(items=[EnvelopeSummaryOut.model_validate(i) for i in items])


@router.get(
    "/red-envelopes/{envelope_id}",
    response_model=EnvelopeOut,
    responses={404: {"description": "envelope.not_found"}},
)
async def get_envelope(
    envelope_id: str, principal: OptionalPrincipal, session: SessionDep, runtime: RuntimeDep
) -> EnvelopeOut:
    """A pot's state, every grab in order, best luck once it closed, and yours."""
    envelope = await envelopes.get_or_raise(session, envelope_id=envelope_id)
    out = await views.detail(
        session,
        envelope,
        now=runtime.clock.now(),
        viewer_id=principal.account_id if principal else None,
    )
    return EnvelopeOut.model_validate(out)


@router.post(
    "/red-envelopes/{envelope_id}/grab",
    response_model=GrabOut,
    responses={
        401: {"description": "auth.required: guests cannot grab"},
        403: {"description": "envelope.not_eligible: not a follower / fan group member"},
        404: {"description": "envelope.not_found"},
        409: {
            "description": "envelope.already_grabbed, envelope.empty, envelope.not_open, "
            "envelope.expired, idempotency.key_reused"
        },
        503: {"description": "envelope.unavailable: the gate (Redis) did not answer; retry"},
    },
)
async def grab_envelope(
    envelope_id: str,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Grab a share: credited to your wallet (``envelope_grab``) before the answer; once per
    user. A retry with the same key answers the same amount."""
    now = runtime.clock.now()
    finished: dict[str, bool] = {}

    async def action() -> GrabOut:
        result = await envelopes.grab(
            session,
            gate=flows.gate_of(runtime),
            envelope_id=envelope_id,
            account_id=principal.account_id,
            now=now,
        )
        finished["last"] = result.finished
        return GrabOut(
            envelope_id=envelope_id,
            amount_minor=result.grab.amount_minor,
            currency=result.envelope.currency,
            seq=result.grab.seq,
            grabbed_at=result.grab.created_at.isoformat(),
        )

    response = await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation="red_envelopes.grab",
        payload={"envelope_id": envelope_id},
        now=now,
        action=action,
    )
    if finished.get("last"):
        await flows.closed(runtime, envelope_id)
    return response
