"""The wallet over HTTP: your balances and your ledger (read only; money moves through the
domains that cause it, e.g. grabbing a red envelope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from liveshop.deps import CurrentPrincipal, SessionDep
from liveshop.wallet import service as wallet
from liveshop.wallet.schemas import BalanceOut, EntryOut, EntryPage, WalletOut

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
