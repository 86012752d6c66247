"""Chat moderation stored in the database: banned words, per-anchor settings, sanctions.

Plain async functions, ``session`` first, no HTTP. The in-memory rules that apply them on the
hot path are in ``live/moderation.py``; the room hub reads them through :func:`gate_inputs`
and reloads them when ``LiveRooms.moderation_changed`` is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.service import Principal
from liveshop.errors import conflict, invalid, not_found
from liveshop.live.models import (
    SANCTION_KINDS,
    BannedWord,
    LiveSession,
    ModerationSetting,
    Sanction,
    SessionOperator,
)
from liveshop.live.moderation import Sanctions, WordAction, normalize

WORD_MAX_LENGTH = 64
WORD_ACTIONS: tuple[WordAction, ...] = ("reject", "mask")
DEFAULT_ACTION: WordAction = "reject"
MAX_SANCTION_SECONDS = 30 * 24 * 3600
REASON_MAX_LENGTH = 200


@dataclass(frozen=True)
class GateInputs:
    """What a room's chat gate needs from the database."""

    words: list[str]
    action: WordAction
    sanctions: Sanctions


async def gate_inputs(session: AsyncSession, *, anchor_id: str, now: datetime) -> GateInputs:
    """Global and the anchor's banned words, its word action and its active sanctions."""
    words = await session.execute(
        select(BannedWord.word)
        .where(or_(BannedWord.anchor_id.is_(None), BannedWord.anchor_id == anchor_id))
        .order_by(BannedWord.word)
    )
    sanctions = Sanctions()
    for row in await active_sanctions(session, anchor_id=anchor_id, now=now):
        table = sanctions.mutes if row.kind == "mute" else sanctions.bans
        table[row.account_id] = _later(table.get(row.account_id, row.until), row.until)
    return GateInputs(
        words=list(dict.fromkeys(words.scalars())),
        action=await word_action(session, anchor_id=anchor_id),
        sanctions=sanctions,
    )


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two ends, None (permanent) beating any time."""
    if a is None or b is None:
        return None
    return max(a, b)


# -- who may moderate ------------------------------------------------------------------------


async def can_moderate(
    session: AsyncSession,
    *,
    principal: Principal,
    anchor_id: str,
    session_id: str | None = None,
) -> bool:
    """An admin, the anchor, an operator assigned to it, or an operator of that session (who
    still holds the operator role)."""
    if await auth_service.can_act_for_anchor(session, principal=principal, anchor_id=anchor_id):
        return True
    if session_id is None or not principal.has("operator"):
        return False
    row = await session.get(SessionOperator, (session_id, principal.account_id))
    return row is not None


async def get_live_session_or_raise(session: AsyncSession, *, session_id: str) -> LiveSession:
    live = await session.get(LiveSession, session_id)
    if live is None:
        raise not_found("live.session_not_found", "no such live session")
    return live


async def live_session_ids(session: AsyncSession, *, anchor_id: str | None) -> list[str]:
    """The sessions now live: the anchor's, or every one when ``anchor_id`` is None."""
    query = select(LiveSession.id).where(LiveSession.status == "live")
    if anchor_id is not None:
        query = query.where(LiveSession.anchor_id == anchor_id)
    return list((await session.execute(query.order_by(LiveSession.id))).scalars())


async def require_anchor(session: AsyncSession, *, anchor_id: str) -> None:
    """422 unless ``anchor_id`` is an account holding the anchor role."""
    if "anchor" not in await auth_service.roles_of(session, account_id=anchor_id):
        raise invalid("moderation.not_an_anchor", "the account is not an anchor", "anchor_id")


# -- banned words ----------------------------------------------------------------------------


def clean_word(word: str) -> str:
    """The stored form of a banned word (the form the gate matches on)."""
    cleaned = normalize(word.strip()).strip()
    if not 1 <= len(cleaned) <= WORD_MAX_LENGTH:
        raise invalid(
            "moderation.invalid_word",
            f"a banned word has 1 to {WORD_MAX_LENGTH} characters",
            "word",
        )
    return cleaned


async def add_word(
    session: AsyncSession, *, anchor_id: str | None, word: str, now: datetime
) -> BannedWord:
    """Add a banned word for ``anchor_id`` (None: every room); a duplicate is a 409."""
    cleaned = clean_word(word)
    if anchor_id is not None:
        await require_anchor(session, anchor_id=anchor_id)
    if await _find_word(session, anchor_id=anchor_id, word=cleaned) is not None:
        raise _word_exists()
    row = BannedWord(anchor_id=anchor_id, word=cleaned, created_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise _word_exists() from exc
    return row


def _word_exists() -> Exception:
    return conflict("moderation.word_exists", "this word is already banned")


def _owned_by(anchor_id: str | None) -> ColumnElement[bool]:
    if anchor_id is None:
        return BannedWord.anchor_id.is_(None)
    return BannedWord.anchor_id == anchor_id


async def _find_word(
    session: AsyncSession, *, anchor_id: str | None, word: str
) -> BannedWord | None:
    query = select(BannedWord).where(_owned_by(anchor_id), BannedWord.word == word)
    result = await session.execute(query)
    return result.scalars().first()


async def list_words(session: AsyncSession, *, anchor_id: str | None) -> list[BannedWord]:
    """The words of ``anchor_id`` only, or the global words when it is None."""
    query = select(BannedWord).where(_owned_by(anchor_id)).order_by(BannedWord.word)
    result = await session.execute(query)
    return list(result.scalars())


async def get_word_or_raise(session: AsyncSession, *, word_id: str) -> BannedWord:
    row = await session.get(BannedWord, word_id)
    if row is None:
        raise not_found("moderation.word_not_found", "no such banned word")
    return row


async def delete_word(session: AsyncSession, *, word: BannedWord) -> None:
    await session.delete(word)
    await session.flush()


# -- settings --------------------------------------------------------------------------------


async def word_action(session: AsyncSession, *, anchor_id: str) -> WordAction:
    row = await session.get(ModerationSetting, anchor_id)
    if row is None or row.banned_word_action not in WORD_ACTIONS:
        return DEFAULT_ACTION
    return row.banned_word_action


async def get_setting(session: AsyncSession, *, anchor_id: str) -> ModerationSetting | None:
    return await session.get(ModerationSetting, anchor_id)


async def put_setting(
    session: AsyncSession, *, anchor_id: str, action: WordAction, now: datetime
) -> ModerationSetting:
    if action not in WORD_ACTIONS:
        raise invalid("moderation.invalid_action", "the action is reject or mask", "action")
    await require_anchor(session, anchor_id=anchor_id)
    row = await session.get(ModerationSetting, anchor_id)
    if row is None:
        row = ModerationSetting(anchor_id=anchor_id, banned_word_action=action, updated_at=now)
        session.add(row)
    else:
        row.banned_word_action = action
        row.updated_at = now
    await session.flush()
    return row


# -- sanctions -------------------------------------------------------------------------------


async def create_sanction(
    session: AsyncSession,
    *,
    anchor_id: str,
    account_id: str,
    kind: str,
    duration_seconds: int | None,
    reason: str,
    session_id: str | None,
    created_by: str,
    now: datetime,
) -> Sanction:
    """Mute or ban ``account_id`` in every room of ``anchor_id`` for ``duration_seconds``
    (None: until revoked). It replaces an active sanction of the same kind."""
    if kind not in SANCTION_KINDS:
        raise invalid("moderation.invalid_kind", "a sanction is a mute or a ban", "kind")
    if duration_seconds is not None and not 1 <= duration_seconds <= MAX_SANCTION_SECONDS:
        raise invalid(
            "moderation.invalid_duration",
            f"a sanction lasts 1 to {MAX_SANCTION_SECONDS} seconds, or null for permanent",
            "duration_seconds",
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise invalid("moderation.invalid_reason", "the reason is too long", "reason")
    await auth_service.get_or_raise(session, account_id=account_id)
    roles = await auth_service.roles_of(session, account_id=account_id)
    if account_id == anchor_id or "admin" in roles:
        raise invalid(
            "moderation.protected_account",
            "the anchor and admins cannot be muted or banned",
            "account_id",
        )
    for previous in await active_sanctions(session, anchor_id=anchor_id, now=now):
        if previous.account_id == account_id and previous.kind == kind:
            previous.revoked_at = now
    until = None if duration_seconds is None else now + timedelta(seconds=duration_seconds)
    row = Sanction(
        anchor_id=anchor_id,
        account_id=account_id,
        kind=kind,
        until=until,
        reason=reason,
        session_id=session_id,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def active_sanctions(
    session: AsyncSession, *, anchor_id: str, now: datetime
) -> list[Sanction]:
    """Not revoked and not yet over, oldest first."""
    result = await session.execute(
        select(Sanction)
        .where(
            Sanction.anchor_id == anchor_id,
            Sanction.revoked_at.is_(None),
            or_(Sanction.until.is_(None), Sanction.until > now),
        )
        .order_by(Sanction.created_at, Sanction.id)
    )
    return list(result.scalars())


async def revoke_sanction(
    session: AsyncSession, *, anchor_id: str, sanction_id: str, now: datetime
) -> Sanction:
    """Lift a sanction of ``anchor_id`` (revoking twice is harmless)."""
    row = await session.get(Sanction, sanction_id)
    if row is None or row.anchor_id != anchor_id:
        raise not_found("moderation.sanction_not_found", "no such sanction")
    if row.revoked_at is None:
        row.revoked_at = now
        await session.flush()
    return row
