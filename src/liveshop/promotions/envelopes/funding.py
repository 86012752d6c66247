"""Who pays for a red envelope, and where its remainder goes.

Funding a pot debits the funder's wallet by the whole pot (``envelope_fund``, ``ref`` = the
envelope id) in the transaction that creates it: a short balance is ``409
wallet.insufficient_funds`` and nothing is created. Grabs then move the pot's money into the
grabbers' wallets (``envelope_grab``), and at expiry what nobody took goes back to the same
wallet it came from (``envelope_refund``, once: the pot's guarded expiry UPDATE and the unique
``(account, kind, ref)`` of the ledger). So a pot's grabs plus its refund equal its funding.

The funder is always the signed-in account (``funder_id``), also when it funds on behalf of a
merchant (``merchant_id``): there is no merchant balance, so the member's own wallet pays and
gets the remainder back. Money gets into a wallet by a top-up (``POST /wallet/top-ups``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.promotions.envelopes.models import RedEnvelope
from liveshop.wallet import service as wallet


async def charge(session: AsyncSession, *, envelope: RedEnvelope, now: datetime) -> None:
    """Debit the funder's wallet by the pot (the envelope row is flushed, so it has its id)."""
    await wallet.debit(
        session,
        account_id=envelope.funder_id,
        currency=envelope.currency,
        amount_minor=envelope.amount_minor,
        kind="envelope_fund",
        ref=envelope.id,
        now=now,
    )


async def refund_remainder(
    session: AsyncSession, *, envelope: RedEnvelope, amount_minor: int, now: datetime
) -> None:
    """Credit what is left of an expired pot back to the wallet that funded it."""
    if amount_minor <= 0:
        return
    await wallet.credit(
        session,
        account_id=envelope.funder_id,
        currency=envelope.currency,
        amount_minor=amount_minor,
        kind="envelope_refund",
        ref=envelope.id,
        now=now,
    )
