"""Live sessions over HTTP: create and schedule, rundown, operators, go live and end, pin,
announce; the room state; who watched.

A command that viewers must see runs under the session's command lock: change, commit, then
publish the priority room event, so the room gets events in commit order and never an event
for a change that did not land.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.service import Principal
from liveshop.catalog import service as catalog_service
from liveshop.deps import CurrentPrincipal, Runtime, RuntimeDep, SessionDep
from liveshop.errors import forbidden, not_found
from liveshop.live import service as live
from liveshop.live.models import LiveSession, PinRecord
from liveshop.live.schemas import (
    AnnouncementIn,
    AnnouncementList,
    Counters,
    OperatorIn,
    OperatorOut,
    PinIn,
    PinOut,
    PinTimeline,
    RoomState,
    RundownIn,
    RundownItemOut,
    RundownOut,
    SessionIn,
    SessionOut,
    SessionPage,
    SessionStatus,
    SessionUpdate,
    ViewersOut,
)
from liveshop.realtime.broker import RoomCounters
from liveshop.realtime.hub import counters_event

router = APIRouter(tags=["live"])
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(pattern="^[0-9a-hjkmnp-tv-z]{26}$")]


# -- helpers ---------------------------------------------------------------------------------


async def _session_out(
    session: AsyncSession, row: LiveSession, counters: RoomCounters | None = None
) -> SessionOut:
    payload = await live.session_payload(session, row)
    out = SessionOut(**payload, description=row.description, created_at=row.created_at.isoformat())
    if counters is not None:
        out.counters = Counters(
            likes=counters.likes, online=counters.online, unique=counters.unique, peak=counters.peak
        )
    return out


async def _page(
    session: AsyncSession, rows: list[LiveSession], next_cursor: str | None
) -> SessionPage:
    return SessionPage(
        items=[await _session_out(session, row) for row in rows], next_cursor=next_cursor
    )


async def _managed(
    session: AsyncSession, principal: Principal, session_id: str, *, lock: bool = False
) -> LiveSession:
    row = await live.get_or_raise(session, session_id=session_id, lock=lock)
    await live.require_manager(session, principal=principal, live=row)
    return row


@asynccontextmanager
async def _command(runtime: Runtime, session_id: str) -> AsyncIterator[None]:
    async with runtime.rooms.command_lock(session_id):
        yield


async def _publish(
    runtime: Runtime, session_id: str, event: dict[str, Any], principal: Principal
) -> None:
    await runtime.rooms.publish_priority(session_id, event, actor_id=principal.account_id)


def _pin_out(record: PinRecord, line: live.Line) -> PinOut:
    return PinOut.model_validate(
        {
            "id": record.id,
            "item": live.showcase_item(line),
            "pinned_at": record.pinned_at,
            "pinned_by": record.pinned_by,
            "unpinned_at": record.unpinned_at,
            "unpinned_by": record.unpinned_by,
        }
    )


def _rundown_out(lines: list[live.Line]) -> RundownOut:
    return RundownOut(
        items=[RundownItemOut(**live.showcase_item(line), note=line.item.note) for line in lines]
    )


# -- sessions --------------------------------------------------------------------------------


@router.post("/live/sessions", status_code=201, response_model=SessionOut)
async def create_session(
    body: SessionIn, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> SessionOut:
    """Schedule a session: an anchor for itself, an admin or operator for an anchor."""
    anchor_id = await live.resolve_anchor(session, principal=principal, anchor_id=body.anchor_id)
    row = await live.create_session(
        session, anchor_id=anchor_id, data=body, now=runtime.clock.now()
    )
    await session.commit()
    return await _session_out(session, row)


@router.get("/live/sessions", response_model=SessionPage)
async def list_sessions(
    session: SessionDep,
    status: SessionStatus | None = None,
    anchor_id: Annotated[str | None, Query(max_length=26)] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> SessionPage:
    """Sessions anyone can watch, newest first (``status=live`` for the rooms on air)."""
    rows, next_cursor = await live.list_sessions(
        session,
        status=status,
        anchor_ids=[anchor_id] if anchor_id else None,
        cursor=cursor,
        limit=limit,
    )
    return await _page(session, rows, next_cursor)


@router.get("/merchant/live-sessions", response_model=SessionPage)
async def merchant_sessions(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: SessionStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> SessionPage:
    """The sessions the caller's merchants' products appear in (an admin: every session),
    newest first."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    rows, next_cursor = await live.list_sessions(
        session, status=status, merchant_ids=scope, cursor=cursor, limit=limit
    )
    return await _page(session, rows, next_cursor)


@router.get("/anchor/sessions", response_model=SessionPage)
async def my_sessions(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: SessionStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> SessionPage:
    """The sessions the caller manages: its own, its anchors' (operators), those it operates;
    every session for an admin."""
    anchor_ids: list[str] | None = None
    operator_id: str | None = None
    if not principal.is_admin:
        anchor_ids = [principal.account_id]
        if principal.has("operator"):
            anchor_ids += await auth_service.anchors_of_operator(
                session, operator_id=principal.account_id
            )
        operator_id = principal.account_id
    rows, next_cursor = await live.list_sessions(
        session,
        status=status,
        anchor_ids=anchor_ids,
        operator_id=operator_id,
        cursor=cursor,
        limit=limit,
    )
    return await _page(session, rows, next_cursor)


@router.get("/live/sessions/{session_id}", response_model=SessionOut)
async def get_session(session_id: str, session: SessionDep, runtime: RuntimeDep) -> SessionOut:
    row = await live.get_or_raise(session, session_id=session_id)
    return await _session_out(session, row, await runtime.rooms.totals(row))


@router.patch(
    "/live/sessions/{session_id}",
    response_model=SessionOut,
    responses={409: {"description": "live.session_ended, live.already_started"}},
)
async def update_session(
    session_id: str,
    body: SessionUpdate,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SessionOut:
    async with _command(runtime, session_id):
        row = await _managed(session, principal, session_id, lock=True)
        changed = live.update_session(row, data=body, now=runtime.clock.now())
        await session.commit()
        out = await _session_out(session, row)
        if changed & set(live.ROOM_FIELDS):
            payload = await live.session_payload(session, row)
            await _publish(
                runtime, session_id, {"type": "session.updated", "session": payload}, principal
            )
        if "slow_mode_seconds" in changed:
            await runtime.rooms.moderation_changed(session_id)
    return out


@router.post(
    "/live/sessions/{session_id}/start",
    response_model=SessionOut,
    responses={409: {"description": "live.bad_transition"}},
)
async def start_session(
    session_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> SessionOut:
    """scheduled -> live; the room gets ``session.live``."""
    async with _command(runtime, session_id):
        row = await _managed(session, principal, session_id, lock=True)
        now = runtime.clock.now()
        await live.start_session(session, live=row, now=now)
        await session.commit()
        payload = await live.session_payload(session, row)
        event = {"type": "session.live", "session": payload, "at": now.isoformat()}
        await _publish(runtime, session_id, event, principal)
    return await _session_out(session, row)


@router.post(
    "/live/sessions/{session_id}/end",
    response_model=SessionOut,
    responses={409: {"description": "live.bad_transition"}},
)
async def end_session(
    session_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> SessionOut:
    """live (or scheduled) -> ended: the open pin closes, the room totals are kept."""
    async with _command(runtime, session_id):
        row = await _managed(session, principal, session_id, lock=True)
        now = runtime.clock.now()
        counters = await runtime.rooms.counters(session_id)
        await live.end_session(
            session, live=row, counters=counters, actor_id=principal.account_id, now=now
        )
        await session.commit()
        payload = await live.session_payload(session, row)
        event = {"type": "session.ended", "session": payload, "at": now.isoformat()}
        await _publish(runtime, session_id, event, principal)
    return await _session_out(session, row, await runtime.rooms.totals(row))


# -- rundown ---------------------------------------------------------------------------------


@router.get("/live/sessions/{session_id}/rundown", response_model=RundownOut)
async def get_rundown(
    session_id: str, principal: CurrentPrincipal, session: SessionDep
) -> RundownOut:
    await _managed(session, principal, session_id)
    return _rundown_out(await live.rundown(session, session_id=session_id))


@router.put(
    "/live/sessions/{session_id}/rundown",
    response_model=RundownOut,
    responses={
        409: {"description": "live.session_ended, live.item_pinned"},
        422: {"description": "live.sku_unavailable, live.duplicate_sku, live.price_above_list"},
    },
)
async def put_rundown(
    session_id: str,
    body: RundownIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> RundownOut:
    """Replace the rundown (the showcase viewers see), in order, with live prices."""
    async with _command(runtime, session_id):
        row = await _managed(session, principal, session_id, lock=True)
        lines = await live.put_rundown(session, live=row, items=body.items, now=runtime.clock.now())
        await session.commit()
        if row.status == "live":
            showcase = [live.showcase_item(line) for line in lines]
            await _publish(
                runtime, session_id, {"type": "showcase.updated", "showcase": showcase}, principal
            )
    return _rundown_out(lines)


# -- operators -------------------------------------------------------------------------------


@router.get("/live/sessions/{session_id}/operators", response_model=list[OperatorOut])
async def list_operators(
    session_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[OperatorOut]:
    await _managed(session, principal, session_id)
    return [
        OperatorOut(account_id=op.account_id, display_name=acc.display_name, added_at=op.created_at)
        for op, acc in await live.list_operators(session, session_id=session_id)
    ]


async def _owned(session: AsyncSession, principal: Principal, session_id: str) -> LiveSession:
    """Only the anchor, its assigned operators and admins change who operates a session."""
    row = await live.get_or_raise(session, session_id=session_id)
    if not await auth_service.can_act_for_anchor(
        session, principal=principal, anchor_id=row.anchor_id
    ):
        raise forbidden("only the anchor and its operators assign session operators")
    return row


@router.post(
    "/live/sessions/{session_id}/operators",
    response_model=list[OperatorOut],
    responses={422: {"description": "live.not_an_operator"}},
)
async def add_operator(
    session_id: str,
    body: OperatorIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    response: Response,
) -> list[OperatorOut]:
    row = await _owned(session, principal, session_id)
    added = await live.add_operator(
        session, live=row, account_id=body.account_id, now=runtime.clock.now()
    )
    await session.commit()
    response.status_code = 201 if added else 200
    return await list_operators(session_id, principal, session)


@router.delete("/live/sessions/{session_id}/operators/{account_id}", status_code=204)
async def remove_operator(
    session_id: str, account_id: str, principal: CurrentPrincipal, session: SessionDep
) -> None:
    row = await _owned(session, principal, session_id)
    await live.remove_operator(session, live=row, account_id=account_id)
    await session.commit()


# -- pins ------------------------------------------------------------------------------------


@router.post(
    "/live/sessions/{session_id}/pin",
    response_model=PinOut,
    responses={
        404: {"description": "live.item_not_found"},
        409: {"description": "live.not_live"},
    },
)
async def pin_product(
    session_id: str,
    body: PinIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> PinOut:
    """Pin "now explaining"; pinning the pinned product again changes nothing."""
    async with _command(runtime, session_id):
        row = await _managed(session, principal, session_id, lock=True)
        now = runtime.clock.now()
        line, changed = await live.pin(
            session, live=row, item_id=body.item_id, actor_id=principal.account_id, now=now
        )
        await session.commit()
        record, _ = (await live.pin_timeline(session, session_id=session_id))[-1]
        if changed:
            event = {
                "type": "product.pinned",
                "item": live.showcase_item(line),
                "at": now.isoformat(),
            }
            await _publish(runtime, session_id, event, principal)
    return _pin_out(record, line)


@router.post(
    "/live/sessions/{session_id}/unpin",
    response_model=PinOut,
    responses={409: {"description": "live.nothing_pinned, live.session_ended"}},
)
async def unpin_product(
    session_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> PinOut:
    async with _command(runtime, session_id):
        row = await _managed(session, principal, session_id, lock=True)
        now = runtime.clock.now()
        item_id = await live.unpin(session, live=row, actor_id=principal.account_id, now=now)
        await session.commit()
        record, line = (await live.pin_timeline(session, session_id=session_id))[-1]
        event = {"type": "product.unpinned", "item_id": item_id, "at": now.isoformat()}
        await _publish(runtime, session_id, event, principal)
    return _pin_out(record, line)


@router.get("/live/sessions/{session_id}/pins", response_model=PinTimeline)
async def pin_timeline(session_id: str, session: SessionDep) -> PinTimeline:
    """Every pin with its times, oldest first (replays and analytics read it)."""
    await live.get_or_raise(session, session_id=session_id)
    return PinTimeline(
        items=[
            _pin_out(record, line)
            for record, line in await live.pin_timeline(session, session_id=session_id)
        ]
    )


# -- announcements ---------------------------------------------------------------------------


@router.post("/live/sessions/{session_id}/announcements", status_code=201)
async def post_announcement(
    session_id: str,
    body: AnnouncementIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    async with _command(runtime, session_id):
        row = await _managed(session, principal, session_id, lock=True)
        announcement = await live.announce(
            session,
            live=row,
            author_id=principal.account_id,
            text=body.text,
            now=runtime.clock.now(),
        )
        await session.commit()
        author = await auth_service.get_or_raise(session, account_id=principal.account_id)
        out = live.announcement_out(announcement, author)
        await _publish(
            runtime, session_id, {"type": "announcement", "announcement": out}, principal
        )
    return out


@router.get("/live/sessions/{session_id}/announcements", response_model=AnnouncementList)
async def list_announcements(session_id: str, session: SessionDep) -> AnnouncementList:
    await live.get_or_raise(session, session_id=session_id)
    return AnnouncementList.model_validate(
        {"items": await live.announcements(session, session_id=session_id)}
    )


# -- room state and viewers ------------------------------------------------------------------


@router.get("/live/sessions/{session_id}/state", response_model=RoomState)
async def room_state(session_id: str, session: SessionDep, runtime: RuntimeDep) -> dict[str, Any]:
    """What a viewer sees besides chat and counters (the WebSocket snapshot holds those)."""
    state = await live.room_state(session, session_id=session_id, settings=runtime.settings)
    if state is None:
        raise not_found("live.session_not_found", "no such live session")
    return state


@router.get("/live/sessions/{session_id}/viewers", response_model=ViewersOut)
async def room_viewers(
    session_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ViewersOut:
    """Online, unique and peak viewers, and each viewer's visits and watch time."""
    row = await _managed(session, principal, session_id)
    # End this read before the log writer takes SQLite's write lock (it would wait on us).
    await session.commit()
    await runtime.rooms.flush_log()
    listed, total, seconds = await live.viewers(
        session, session_id=session_id, now=runtime.clock.now(), limit=limit
    )
    return ViewersOut.model_validate(
        {
            "counters": counters_event(await runtime.rooms.totals(row)),
            "total_viewers": total,
            "total_watch_seconds": seconds,
            "viewers": listed,
        }
    )
