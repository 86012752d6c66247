"""The wallet over HTTP: your balances, your ledger, and top-ups through the payment provider
(other money moves through the domains that cause it: grabbing or funding a red envelope,
store credit at checkout)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from liveshop import idempotency
from liveshop.deps import CurrentPrincipal, RuntimeDep, SessionDep
from liveshop.wallet import service as wallet
from liveshop.wallet import top_ups
from liveshop.wallet.schemas import (
    BalanceOut,
    EntryOut,
    EntryPage,
    TopUpIn,
    TopUpOut,
    WalletOut,
)

router = APIRouter(tags=["wallet"])
Cursor = Annotated[str | None, Query(pattern="^[0-9a-hjkmnp-tv-z]{26}$")]
Currency = Annotated[str | None, Query(pattern="^[A-Z]{3}$")]


@router.get("/wallet", response_model=WalletOut)
async def get_wallet(principal: CurrentPrincipal, session: SessionDep) -> WalletOut:
    """Your balance in every currency you have held (each equals the sum of your ledger)."""
    rows = await wallet.balances(session, account_id=principal.account_id)
    return WalletOut(
        balances=[
            BalanceOut(currency=r.currency, balance_minor=r.balance_minor, updated_at=r.updated_at)
            for r in rows
        ]
    )


@router.get("/wallet/entries", response_model=EntryPage)
async def list_entries(
    principal: CurrentPrincipal,
    session: SessionDep,
    currency: Currency = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> EntryPage:
    """Your ledger, newest first, a page at a time (``next_cursor`` until the end)."""
    rows, next_cursor = await wallet.list_entries(
        session, account_id=principal.account_id, currency=currency, cursor=cursor, limit=limit
    )
    return EntryPage(
        items=[EntryOut.model_validate(row, from_attributes=True) for row in rows],
        next_cursor=next_cursor,
    )


@router.post(
    "/wallet/top-ups",
    status_code=201,
    response_model=TopUpOut,
    responses={
        409: {"description": "idempotency.key_reused"},
        422: {"description": "wallet.bad_amount"},
    },
)
async def start_top_up(
    body: TopUpIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Pay money into your wallet: open ``pay_url`` at the provider; once the payment succeeds
    the wallet is credited (``top_up``), exactly once."""
    now = runtime.clock.now()

    async def action() -> TopUpOut:
        top_up = await top_ups.start(
            session,
            account_id=principal.account_id,
            amount_minor=body.amount_minor,
            currency=body.currency or runtime.settings.default_currency,
            provider=runtime.payments,
            idempotency_key=key,
            now=now,
        )
        return TopUpOut.model_validate(top_up)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation="wallet.top_up",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )


@router.get(
    "/wallet/top-ups/{top_up_id}",
    response_model=TopUpOut,
    responses={404: {"description": "wallet.top_up_not_found"}},
)
async def get_top_up(top_up_id: str, principal: CurrentPrincipal, session: SessionDep) -> TopUpOut:
    """One of your top-ups: ``requires_action`` until the provider reports the outcome."""
    top_up = await top_ups.get_or_raise(
        session, top_up_id=top_up_id, account_id=principal.account_id
    )
    return TopUpOut.model_validate(top_up)
