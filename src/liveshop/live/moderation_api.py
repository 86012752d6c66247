"""Chat moderation over HTTP: banned words, settings, sanctions, deleting chat messages.

After each commit that changes what the chat gate checks, every live room of the affected
anchor (every live room, for global words) is told to reload its rules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth.service import Principal
from liveshop.deps import CurrentPrincipal, Runtime, RuntimeDep, SessionDep
from liveshop.errors import forbidden, invalid, not_found
from liveshop.live import moderation_service as moderation
from liveshop.live.models import BannedWord, LiveSession, Sanction
from liveshop.live.moderation import WordAction

router = APIRouter(tags=["moderation"])

Scope = Literal["anchor", "global"]
AnchorQuery = Annotated[str | None, Query(max_length=26)]
SessionQuery = Annotated[
    str | None,
    Query(
        max_length=26,
        description="Acting as a moderator of this live session (an operator of only this "
        "session may manage its anchor's words this way); the anchor is the session's.",
    ),
]


# -- schemas ---------------------------------------------------------------------------------


class BannedWordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    word: str = Field(min_length=1, max_length=moderation.WORD_MAX_LENGTH)
    scope: Scope = "anchor"
    anchor_id: str | None = Field(default=None, max_length=26)

    @model_validator(mode="after")
    def _global_has_no_anchor(self) -> BannedWordIn:
        if self.scope == "global" and self.anchor_id is not None:
            raise ValueError("a global word has no anchor_id")
        return self


class BannedWordOut(BaseModel):
    id: str
    word: str
    scope: Scope
    anchor_id: str | None
    created_at: datetime


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    banned_word_action: WordAction


class SettingsOut(BaseModel):
    anchor_id: str
    banned_word_action: WordAction
    updated_at: datetime | None


class SanctionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_id: str = Field(min_length=1, max_length=26)
    kind: Literal["mute", "ban"]
    duration_seconds: int | None = Field(ge=1, le=moderation.MAX_SANCTION_SECONDS)
    reason: str = Field(default="", max_length=moderation.REASON_MAX_LENGTH)


class SanctionOut(BaseModel):
    id: str
    anchor_id: str
    account_id: str
    kind: Literal["mute", "ban"]
    until: datetime | None
    reason: str
    session_id: str | None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


def _word_out(row: BannedWord) -> BannedWordOut:
    return BannedWordOut(
        id=row.id,
        word=row.word,
        scope="global" if row.anchor_id is None else "anchor",
        anchor_id=row.anchor_id,
        created_at=row.created_at,
    )


def _sanction_out(row: Sanction) -> SanctionOut:
    return SanctionOut.model_validate(
        {
            "id": row.id,
            "anchor_id": row.anchor_id,
            "account_id": row.account_id,
            "kind": row.kind,
            "until": row.until,
            "reason": row.reason,
            "session_id": row.session_id,
            "created_by": row.created_by,
            "created_at": row.created_at,
            "revoked_at": row.revoked_at,
        }
    )


# -- helpers ---------------------------------------------------------------------------------


def _anchor_of(principal: Principal, anchor_id: str | None) -> str:
    """The anchor a request is about: the one named, else the caller when it is an anchor.
    Moderation is the work of anchors, their operators and admins: anyone else is refused."""
    if not (principal.is_admin or principal.has("anchor") or principal.has("operator")):
        raise forbidden("moderation needs the anchor, operator or admin role")
    if anchor_id:
        return anchor_id
    if principal.has("anchor"):
        return principal.account_id
    raise invalid("moderation.anchor_required", "name the anchor: anchor_id", "anchor_id")


async def _moderated_anchor(
    session: AsyncSession, principal: Principal, anchor_id: str | None, session_id: str | None
) -> str:
    """The anchor whose rules the request changes, once the caller may moderate them: named
    (``anchor_id``), the caller itself, or the anchor of the live session it moderates."""
    if session_id is None:
        anchor = _anchor_of(principal, anchor_id)
        await _require_moderator(session, principal, anchor)
        return anchor
    live = await moderation.get_live_session_or_raise(session, session_id=session_id)
    if anchor_id is not None and anchor_id != live.anchor_id:
        raise invalid(
            "moderation.anchor_mismatch", "the session belongs to another anchor", "anchor_id"
        )
    await _require_moderator(session, principal, live.anchor_id, live.id)
    return live.anchor_id


async def _require_moderator(
    session: AsyncSession,
    principal: Principal,
    anchor_id: str,
    session_id: str | None = None,
) -> None:
    allowed = await moderation.can_moderate(
        session, principal=principal, anchor_id=anchor_id, session_id=session_id
    )
    if not allowed:
        raise forbidden("you may not moderate this anchor's rooms")


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise forbidden("global banned words need the admin role")


async def _commit_and_reload(
    runtime: Runtime, session: AsyncSession, anchor_id: str | None
) -> list[str]:
    """Commit, then tell every live room of ``anchor_id`` (None: every live room) to reload
    its rules; returns those rooms."""
    live_ids = await moderation.live_session_ids(session, anchor_id=anchor_id)
    await session.commit()
    for session_id in live_ids:
        await runtime.rooms.moderation_changed(session_id)
    return live_ids


async def _session_for_moderation(
    session: AsyncSession, principal: Principal, session_id: str
) -> LiveSession:
    live = await moderation.get_live_session_or_raise(session, session_id=session_id)
    await _require_moderator(session, principal, live.anchor_id, live.id)
    return live


# -- banned words ----------------------------------------------------------------------------


@router.get("/moderation/banned-words", response_model=list[BannedWordOut])
async def list_banned_words(
    principal: CurrentPrincipal,
    session: SessionDep,
    scope: Scope = "anchor",
    anchor_id: AnchorQuery = None,
    session_id: SessionQuery = None,
) -> list[BannedWordOut]:
    """The anchor's own words (``scope=anchor``) or the platform-wide ones (``scope=global``,
    readable by admins, anchors and operators)."""
    if scope == "global":
        if not (principal.is_admin or principal.has("anchor") or principal.has("operator")):
            raise forbidden("global banned words are for admins, anchors and operators")
        rows = await moderation.list_words(session, anchor_id=None)
    else:
        anchor = await _moderated_anchor(session, principal, anchor_id, session_id)
        rows = await moderation.list_words(session, anchor_id=anchor)
    return [_word_out(r) for r in rows]


@router.post("/moderation/banned-words", status_code=201, response_model=BannedWordOut)
async def add_banned_word(
    body: BannedWordIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    session_id: SessionQuery = None,
) -> BannedWordOut:
    """Ban a word in the anchor's rooms, or (admins) in every room. Stored normalized
    (NFKC, case-folded); a duplicate is 409 ``moderation.word_exists``."""
    anchor: str | None
    if body.scope == "global":
        _require_admin(principal)
        anchor = None
    else:
        anchor = await _moderated_anchor(session, principal, body.anchor_id, session_id)
    row = await moderation.add_word(
        session, anchor_id=anchor, word=body.word, now=runtime.clock.now()
    )
    await _commit_and_reload(runtime, session, anchor)
    return _word_out(row)


@router.delete("/moderation/banned-words/{word_id}", status_code=204)
async def delete_banned_word(
    word_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    session_id: SessionQuery = None,
) -> Response:
    row = await moderation.get_word_or_raise(session, word_id=word_id)
    anchor = row.anchor_id
    if anchor is None:
        _require_admin(principal)
    else:
        await _moderated_anchor(session, principal, anchor, session_id)
    await moderation.delete_word(session, word=row)
    await _commit_and_reload(runtime, session, anchor)
    return Response(status_code=204)


# -- settings --------------------------------------------------------------------------------


@router.get("/moderation/settings", response_model=SettingsOut)
async def get_settings(
    principal: CurrentPrincipal,
    session: SessionDep,
    anchor_id: AnchorQuery = None,
    session_id: SessionQuery = None,
) -> SettingsOut:
    anchor = await _moderated_anchor(session, principal, anchor_id, session_id)
    row = await moderation.get_setting(session, anchor_id=anchor)
    return SettingsOut(
        anchor_id=anchor,
        banned_word_action=await moderation.word_action(session, anchor_id=anchor),
        updated_at=row.updated_at if row else None,
    )


@router.put("/moderation/settings", response_model=SettingsOut)
async def put_settings(
    body: SettingsIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    anchor_id: AnchorQuery = None,
    session_id: SessionQuery = None,
) -> SettingsOut:
    """Reject messages with a banned word, or mask the word with asterisks."""
    anchor = await _moderated_anchor(session, principal, anchor_id, session_id)
    row = await moderation.put_setting(
        session, anchor_id=anchor, action=body.banned_word_action, now=runtime.clock.now()
    )
    await _commit_and_reload(runtime, session, anchor)
    return SettingsOut(
        anchor_id=anchor,
        banned_word_action=body.banned_word_action,
        updated_at=row.updated_at,
    )


# -- sanctions -------------------------------------------------------------------------------


@router.post("/live/sessions/{session_id}/sanctions", status_code=201, response_model=SanctionOut)
async def create_sanction(
    session_id: str,
    body: SanctionIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SanctionOut:
    """Mute (no chat) or ban (no entry) an account in every room of the session's anchor,
    for ``duration_seconds`` (at most 30 days) or, with null, until revoked."""
    live = await _session_for_moderation(session, principal, session_id)
    anchor = live.anchor_id
    row = await moderation.create_sanction(
        session,
        anchor_id=anchor,
        account_id=body.account_id,
        kind=body.kind,
        duration_seconds=body.duration_seconds,
        reason=body.reason,
        session_id=live.id,
        created_by=principal.account_id,
        now=runtime.clock.now(),
    )
    live_ids = await _commit_and_reload(runtime, session, anchor)
    if body.kind == "ban":
        for room_id in dict.fromkeys([live.id, *live_ids]):
            await runtime.rooms.kick(room_id, body.account_id)
    runtime.rooms.log(
        live.id,
        "moderation",
        account_id=principal.account_id,
        payload={
            "action": body.kind,
            "target": body.account_id,
            "sanction_id": row.id,
            "until": row.until.isoformat() if row.until else None,
        },
    )
    return _sanction_out(row)


@router.get("/live/sessions/{session_id}/sanctions", response_model=list[SanctionOut])
async def list_sanctions(
    session_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> list[SanctionOut]:
    """The active sanctions of the session's anchor (they apply in all its rooms)."""
    live = await _session_for_moderation(session, principal, session_id)
    rows = await moderation.active_sanctions(
        session, anchor_id=live.anchor_id, now=runtime.clock.now()
    )
    return [_sanction_out(r) for r in rows]


@router.delete("/live/sessions/{session_id}/sanctions/{sanction_id}", status_code=204)
async def revoke_sanction(
    session_id: str,
    sanction_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    live = await _session_for_moderation(session, principal, session_id)
    row = await moderation.revoke_sanction(
        session, anchor_id=live.anchor_id, sanction_id=sanction_id, now=runtime.clock.now()
    )
    await _commit_and_reload(runtime, session, live.anchor_id)
    runtime.rooms.log(
        live.id,
        "moderation",
        account_id=principal.account_id,
        payload={"action": "revoke", "target": row.account_id, "sanction_id": row.id},
    )
    return Response(status_code=204)


# -- chat ------------------------------------------------------------------------------------


@router.delete("/live/sessions/{session_id}/chat/{message_id}", status_code=204)
async def delete_chat_message(
    session_id: str,
    message_id: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    """Remove a chat message from the room's recent list and every viewer's screen."""
    live = await _session_for_moderation(session, principal, session_id)
    found = await runtime.rooms.delete_chat(live.id, message_id, actor_id=principal.account_id)
    if not found:
        raise not_found("moderation.message_not_found", "no such chat message in this room")
    runtime.rooms.log(
        live.id,
        "moderation",
        account_id=principal.account_id,
        payload={"action": "delete", "target": message_id},
    )
    return Response(status_code=204)
