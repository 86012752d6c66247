"""Live sessions: lifecycle, rundown, operators, pins, announcements and the room state.

Plain async functions, ``session`` first, no HTTP. They flush but never commit: the API
commits, then publishes the room event (never before the change is durable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.models import Account
from liveshop.auth.service import Principal
from liveshop.catalog.models import Product, Sku
from liveshop.config import Settings
from liveshop.deals import consent
from liveshop.errors import conflict, forbidden, invalid, not_found
from liveshop.live.models import (
    Announcement,
    LiveSession,
    PinRecord,
    RoomEvent,
    RundownItem,
    SessionOperator,
)
from liveshop.live.moderation_service import can_moderate
from liveshop.live.schemas import RundownItemIn, SessionIn, SessionUpdate
from liveshop.realtime.broker import RoomCounters

SNAPSHOT_ANNOUNCEMENTS = 5
# Fields of the session that viewers see (a change to one is a ``session.updated`` event).
ROOM_FIELDS = ("title", "cover_url", "scheduled_at", "slow_mode_seconds")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# -- finding and permissions -----------------------------------------------------------------


async def get_or_raise(
    session: AsyncSession, *, session_id: str, lock: bool = False
) -> LiveSession:
    query = select(LiveSession).where(LiveSession.id == session_id)
    if lock:
        query = query.with_for_update()
    live = (await session.execute(query)).scalars().first()
    if live is None:
        raise not_found("live.session_not_found", "no such live session")
    return live


async def require_manager(
    session: AsyncSession, *, principal: Principal, live: LiveSession
) -> None:
    """Admins, the anchor, its assigned operators and the session's operators manage it."""
    if not await can_moderate(
        session, principal=principal, anchor_id=live.anchor_id, session_id=live.id
    ):
        raise forbidden("only the anchor and its operators manage this session")


def require_open(live: LiveSession) -> None:
    if live.status == "ended":
        raise conflict("live.session_ended", "the session has ended")


# -- sessions --------------------------------------------------------------------------------


async def resolve_anchor(
    session: AsyncSession, *, principal: Principal, anchor_id: str | None
) -> str:
    """Whose session a new one is: the caller's own, or (admins, operators) the one named."""
    if anchor_id is None or anchor_id == principal.account_id:
        if not principal.has("anchor"):
            raise forbidden("only anchors create sessions (or name one in anchor_id)")
        return principal.account_id
    if "anchor" not in await auth_service.roles_of(session, account_id=anchor_id):
        raise invalid("live.not_an_anchor", "the account is not an anchor", "anchor_id")
    if not await auth_service.can_act_for_anchor(session, principal=principal, anchor_id=anchor_id):
        raise forbidden("you do not work for this anchor")
    return anchor_id


async def create_session(
    session: AsyncSession, *, anchor_id: str, data: SessionIn, now: datetime
) -> LiveSession:
    live = LiveSession(
        anchor_id=anchor_id,
        title=data.title,
        cover_url=str(data.cover_url) if data.cover_url else None,
        description=data.description,
        status="scheduled",
        scheduled_at=data.scheduled_at,
        slow_mode_seconds=0,
        peak_viewers=0,
        unique_viewers=0,
        likes=0,
        created_at=now,
        updated_at=now,
    )
    session.add(live)
    await session.flush()
    return live


async def list_sessions(
    session: AsyncSession,
    *,
    status: str | None = None,
    anchor_ids: Sequence[str] | None = None,
    operator_id: str | None = None,
    merchant_ids: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[LiveSession], str | None]:
    """Newest first; ``anchor_ids`` and ``operator_id`` (sessions it operates) are ORed;
    ``merchant_ids``: only sessions whose rundown holds one of their products."""
    query = select(LiveSession)
    if merchant_ids is not None:
        query = query.where(
            LiveSession.id.in_(
                select(RundownItem.session_id)
                .join(Product, Product.id == RundownItem.product_id)
                .where(Product.merchant_id.in_(list(merchant_ids)))
            )
        )
    if status is not None:
        query = query.where(LiveSession.status == status)
    scopes = []
    if anchor_ids is not None:
        scopes.append(LiveSession.anchor_id.in_(list(anchor_ids)))
    if operator_id is not None:
        scopes.append(
            LiveSession.id.in_(
                select(SessionOperator.session_id).where(SessionOperator.account_id == operator_id)
            )
        )
    if scopes:
        query = query.where(or_(*scopes))
    if cursor is not None:
        query = query.where(LiveSession.id < cursor)
    rows = list(
        (await session.execute(query.order_by(LiveSession.id.desc()).limit(limit + 1))).scalars()
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def update_session(live: LiveSession, *, data: SessionUpdate, now: datetime) -> set[str]:
    """Apply the fields given; returns the names of those that changed."""
    require_open(live)
    given = data.model_dump(exclude_unset=True)
    if "scheduled_at" in given and live.status != "scheduled":
        raise conflict("live.already_started", "the session has started: its time is kept")
    for name in ("title", "scheduled_at", "slow_mode_seconds"):
        if name in given and given[name] is None:
            raise invalid("request.invalid", f"{name} cannot be null", name)
    changed: set[str] = set()
    for name, value in given.items():
        if name == "cover_url" and value is not None:
            value = str(data.cover_url)
        if name == "description" and value is None:
            value = ""
        if getattr(live, name) != value:
            setattr(live, name, value)
            changed.add(name)
    if changed:
        live.updated_at = now
    return changed


async def start_session(session: AsyncSession, *, live: LiveSession, now: datetime) -> None:
    """scheduled -> live, while the session's anchor is an active account with the anchor
    role now (whoever starts it: the anchor, an operator, an admin, an encoder)."""
    if live.status != "scheduled":
        raise conflict(
            "live.bad_transition",
            f"a {live.status} session cannot go live",
            session_status=live.status,
        )
    if not await auth_service.is_active_anchor(session, account_id=live.anchor_id):
        raise forbidden(
            "the session's anchor is no longer an active anchor", "live.anchor_not_active"
        )
    live.status = "live"
    live.started_at = now
    live.updated_at = now
    await session.flush()


async def end_session(
    session: AsyncSession,
    *,
    live: LiveSession,
    counters: RoomCounters,
    actor_id: str,
    now: datetime,
) -> None:
    """End a live (or cancel a scheduled) session: close the open pin, keep the totals."""
    if live.status == "ended":
        raise conflict(
            "live.bad_transition", "the session has already ended", session_status="ended"
        )
    await _close_open_pin(session, live=live, actor_id=actor_id, now=now)
    live.status = "ended"
    live.ended_at = now
    live.updated_at = now
    live.peak_viewers = max(live.peak_viewers, counters.peak)
    live.unique_viewers = max(live.unique_viewers, counters.unique)
    live.likes = max(live.likes, counters.likes)
    await session.flush()


# -- operators -------------------------------------------------------------------------------


async def list_operators(
    session: AsyncSession, *, session_id: str
) -> list[tuple[SessionOperator, Account]]:
    result = await session.execute(
        select(SessionOperator, Account)
        .join(Account, Account.id == SessionOperator.account_id)
        .where(SessionOperator.session_id == session_id)
        .order_by(SessionOperator.created_at, SessionOperator.account_id)
    )
    return [(op, account) for op, account in result]


async def add_operator(
    session: AsyncSession, *, live: LiveSession, account_id: str, now: datetime
) -> bool:
    """Assign an operator to the session; False when it already was."""
    require_open(live)
    if await session.get(Account, account_id) is None or "operator" not in (
        await auth_service.roles_of(session, account_id=account_id)
    ):
        raise invalid("live.not_an_operator", "the account is not an operator", "account_id")
    if await session.get(SessionOperator, (live.id, account_id)) is not None:
        return False
    session.add(SessionOperator(session_id=live.id, account_id=account_id, created_at=now))
    await session.flush()
    return True


async def remove_operator(session: AsyncSession, *, live: LiveSession, account_id: str) -> None:
    row = await session.get(SessionOperator, (live.id, account_id))
    if row is None:
        raise not_found("live.operator_not_found", "this account does not operate the session")
    await session.delete(row)
    await session.flush()


# -- rundown and showcase --------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    item: RundownItem
    product: Product
    sku: Sku


def showcase_item(line: Line) -> dict[str, Any]:
    """The room's view of a rundown item (``ShowcaseItem`` in live/events.py)."""
    item, product = line.item, line.product
    return {
        "id": item.id,
        "position": item.position,
        "product_id": item.product_id,
        "sku_id": item.sku_id,
        "title": product.title,
        "image_url": product.image_urls[0] if product.image_urls else None,
        "live_price_minor": item.live_price_minor,
        "list_price_minor": line.sku.price_minor,
        "currency": item.currency,
    }


async def rundown(
    session: AsyncSession, *, session_id: str, include_removed: bool = False
) -> list[Line]:
    query = (
        select(RundownItem, Product, Sku)
        .join(Product, Product.id == RundownItem.product_id)
        .join(Sku, Sku.id == RundownItem.sku_id)
        .where(RundownItem.session_id == session_id)
    )
    if not include_removed:
        query = query.where(RundownItem.removed_at.is_(None))
    result = await session.execute(query.order_by(RundownItem.position, RundownItem.id))
    return [Line(item, product, sku) for item, product, sku in result]


async def put_rundown(
    session: AsyncSession, *, live: LiveSession, items: Sequence[RundownItemIn], now: datetime
) -> list[Line]:
    """Replace the rundown with ``items`` in that order. An SKU already in it keeps its item
    id; a removed one is hidden (the pin timeline still names it); the pinned one stays.
    Another merchant's product needs the anchor's active deal for it (403 ``deal.required``)
    and a live price at least its floor (422 ``deal.price_below_floor``)."""
    require_open(live)
    seen: set[str] = set()
    for index, entry in enumerate(items):
        if entry.sku_id in seen:
            raise invalid(
                "live.duplicate_sku",
                "an SKU appears twice in the rundown",
                f"items.{index}.sku_id",
            )
        seen.add(entry.sku_id)
    skus: dict[str, tuple[Sku, Product]] = {}
    if seen:
        result = await session.execute(
            select(Sku, Product).join(Product, Product.id == Sku.product_id).where(Sku.id.in_(seen))
        )
        skus = {sku.id: (sku, product) for sku, product in result}
    for index, entry in enumerate(items):
        found = skus.get(entry.sku_id)
        if found is None or not found[0].is_active or found[1].status != "published":
            raise invalid(
                "live.sku_unavailable",
                "the SKU does not exist or is not on sale",
                f"items.{index}.sku_id",
            )
        if entry.live_price_minor > found[0].price_minor:
            raise invalid(
                "live.price_above_list",
                "the live price cannot exceed the SKU's regular price",
                f"items.{index}.live_price_minor",
            )
    consented = await consent.deals_of(
        session,
        anchor_id=live.anchor_id,
        products={product.id: product.merchant_id for _, product in skus.values()},
        now=now,
    )
    for index, entry in enumerate(items):
        product = skus[entry.sku_id][1]
        if product.id not in consented:
            raise consent.required(
                "another merchant's product in the rundown needs an active deal with it",
                product_id=product.id,
                errors=[{"field": f"items.{index}.sku_id", "message": "no deal"}],
            )
        consent.check_floor(
            consented[product.id],
            price_minor=entry.live_price_minor,
            field=f"items.{index}.live_price_minor",
        )
    existing = {
        row.sku_id: row
        for row in (
            await session.execute(select(RundownItem).where(RundownItem.session_id == live.id))
        ).scalars()
    }
    for row in existing.values():
        if row.sku_id not in seen and row.removed_at is None:
            if row.id == live.pinned_item_id:
                raise conflict(
                    "live.item_pinned", "unpin the product before removing it", item_id=row.id
                )
            row.removed_at = now
    for position, entry in enumerate(items, start=1):
        sku, product = skus[entry.sku_id]
        found_row = existing.get(entry.sku_id)
        if found_row is None:
            found_row = RundownItem(session_id=live.id, sku_id=sku.id, product_id=product.id)
            session.add(found_row)
        row = found_row
        row.position = position
        row.live_price_minor = entry.live_price_minor
        row.currency = sku.currency
        row.note = entry.note
        row.removed_at = None
    live.updated_at = now
    await session.flush()
    return await rundown(session, session_id=live.id)


async def get_line_or_raise(session: AsyncSession, *, session_id: str, item_id: str) -> Line:
    result = await session.execute(
        select(RundownItem, Product, Sku)
        .join(Product, Product.id == RundownItem.product_id)
        .join(Sku, Sku.id == RundownItem.sku_id)
        .where(
            RundownItem.id == item_id,
            RundownItem.session_id == session_id,
            RundownItem.removed_at.is_(None),
        )
    )
    row = result.first()
    if row is None:
        raise not_found("live.item_not_found", "no such product in this session's rundown")
    return Line(*row)


# -- pins ------------------------------------------------------------------------------------


async def pin(
    session: AsyncSession, *, live: LiveSession, item_id: str, actor_id: str, now: datetime
) -> tuple[Line, bool]:
    """Pin a rundown item as "now explaining"; (line, False) when it already was pinned."""
    if live.status != "live":
        raise conflict("live.not_live", "products are pinned only while the session is live")
    line = await get_line_or_raise(session, session_id=live.id, item_id=item_id)
    if live.pinned_item_id == item_id:
        return line, False
    await _close_open_pin(session, live=live, actor_id=actor_id, now=now)
    session.add(PinRecord(session_id=live.id, item_id=item_id, pinned_at=now, pinned_by=actor_id))
    live.pinned_item_id = item_id
    live.updated_at = now
    await session.flush()
    return line, True


async def unpin(session: AsyncSession, *, live: LiveSession, actor_id: str, now: datetime) -> str:
    """Unpin the pinned product; returns its item id."""
    require_open(live)
    item_id = live.pinned_item_id
    if item_id is None:
        raise conflict("live.nothing_pinned", "no product is pinned")
    await _close_open_pin(session, live=live, actor_id=actor_id, now=now)
    live.updated_at = now
    await session.flush()
    return item_id


async def _close_open_pin(
    session: AsyncSession, *, live: LiveSession, actor_id: str, now: datetime
) -> None:
    open_pins = await session.execute(
        select(PinRecord).where(PinRecord.session_id == live.id, PinRecord.unpinned_at.is_(None))
    )
    for record in open_pins.scalars():
        record.unpinned_at = now
        record.unpinned_by = actor_id
    live.pinned_item_id = None


async def pin_timeline(session: AsyncSession, *, session_id: str) -> list[tuple[PinRecord, Line]]:
    """Every pin of the session, oldest first (removed items included: replays need them)."""
    lines = {
        line.item.id: line
        for line in await rundown(session, session_id=session_id, include_removed=True)
    }
    result = await session.execute(
        select(PinRecord)
        .where(PinRecord.session_id == session_id)
        .order_by(PinRecord.pinned_at, PinRecord.id)
    )
    return [(record, lines[record.item_id]) for record in result.scalars()]


# -- announcements ---------------------------------------------------------------------------


async def announce(
    session: AsyncSession, *, live: LiveSession, author_id: str, text: str, now: datetime
) -> Announcement:
    require_open(live)
    row = Announcement(session_id=live.id, author_id=author_id, text=text, created_at=now)
    session.add(row)
    await session.flush()
    return row


def announcement_out(row: Announcement, author: Account) -> dict[str, Any]:
    return {
        "id": row.id,
        "text": row.text,
        "author": {"id": author.id, "name": author.display_name},
        "at": row.created_at.isoformat(),
    }


async def announcements(
    session: AsyncSession, *, session_id: str, last: int | None = None
) -> list[dict[str, Any]]:
    """The session's announcements oldest first (only the ``last`` ones when given)."""
    query = (
        select(Announcement, Account)
        .join(Account, Account.id == Announcement.author_id)
        .where(Announcement.session_id == session_id)
        .order_by(Announcement.created_at.desc(), Announcement.id.desc())
    )
    if last is not None:
        query = query.limit(last)
    rows = [announcement_out(row, author) for row, author in (await session.execute(query))]
    rows.reverse()
    return rows


# -- what viewers see ------------------------------------------------------------------------


async def session_payload(session: AsyncSession, live: LiveSession) -> dict[str, Any]:
    """The room's view of the session (``RoomSession`` in live/events.py)."""
    anchor = await session.get(Account, live.anchor_id)
    return {
        "id": live.id,
        "title": live.title,
        "cover_url": live.cover_url,
        "status": live.status,
        "anchor": {"id": live.anchor_id, "display_name": anchor.display_name if anchor else ""},
        "scheduled_at": live.scheduled_at.isoformat(),
        "started_at": iso(live.started_at),
        "ended_at": iso(live.ended_at),
        "slow_mode_seconds": live.slow_mode_seconds,
    }


async def room_state(
    session: AsyncSession, *, session_id: str, settings: Settings
) -> dict[str, Any] | None:
    """Session, video, pinned product, showcase and the last announcements; None if no
    session."""
    from liveshop.video import service as video  # video builds on live: imported late

    live = await session.get(LiveSession, session_id)
    if live is None:
        return None
    stream = await video.get_stream(session, session_id=session_id)
    showcase = [showcase_item(line) for line in await rundown(session, session_id=session_id)]
    pinned = next((item for item in showcase if item["id"] == live.pinned_item_id), None)
    return {
        "session": await session_payload(session, live),
        "stream": video.stream_payload(settings, live, stream),
        "pinned": pinned,
        "showcase": showcase,
        "announcements": await announcements(
            session, session_id=session_id, last=SNAPSHOT_ANNOUNCEMENTS
        ),
    }


# -- viewers ---------------------------------------------------------------------------------


@dataclass
class _Viewer:
    account_id: str | None
    guest_id: str | None
    first: datetime
    last: datetime
    visits: int = 0
    open: int = 0
    opened_at: datetime | None = None
    seconds: float = 0.0


async def viewers(
    session: AsyncSession, *, session_id: str, now: datetime, limit: int
) -> tuple[list[dict[str, Any]], int, float]:
    """Each viewer's visits and watch time from the join/leave log (overlapping tabs count
    once), longest watchers first; plus the number of viewers and the total watch time."""
    result = await session.execute(
        select(RoomEvent.account_id, RoomEvent.guest_id, RoomEvent.type, RoomEvent.at)
        .where(RoomEvent.session_id == session_id, RoomEvent.type.in_(("join", "leave")))
        .order_by(RoomEvent.at, RoomEvent.id)
    )
    table: dict[str, _Viewer] = {}
    for account_id, guest_id, kind, at in result:
        key = account_id or f"g:{guest_id}"
        viewer = table.get(key)
        if viewer is None:
            viewer = table[key] = _Viewer(account_id, guest_id, at, at)
        viewer.last = at
        if kind == "join":
            viewer.visits += 1
            if viewer.open == 0:
                viewer.opened_at = at
            viewer.open += 1
        elif viewer.open > 0:
            viewer.open -= 1
            if viewer.open == 0 and viewer.opened_at is not None:
                viewer.seconds += (at - viewer.opened_at).total_seconds()
                viewer.opened_at = None
    for viewer in table.values():
        if viewer.open > 0 and viewer.opened_at is not None:
            viewer.seconds += max(0.0, (now - viewer.opened_at).total_seconds())
    ranked = sorted(table.values(), key=lambda v: (-v.seconds, v.first))
    names = await _names(session, [v.account_id for v in ranked[:limit] if v.account_id])
    out = [
        {
            "account_id": v.account_id,
            "guest_id": v.guest_id,
            "name": names.get(v.account_id) if v.account_id else None,
            "first_joined_at": v.first,
            "last_seen_at": now if v.open else v.last,
            "visits": v.visits,
            "watch_seconds": round(v.seconds, 3),
            "online": v.open > 0,
        }
        for v in ranked[:limit]
    ]
    return out, len(table), round(sum(v.seconds for v in ranked), 3)


async def _names(session: AsyncSession, account_ids: list[str]) -> dict[str, str]:
    if not account_ids:
        return {}
    result = await session.execute(
        select(Account.id, Account.display_name).where(Account.id.in_(account_ids))
    )
    return {key: name for key, name in result}
