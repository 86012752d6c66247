"""Fans: follows of anchors and fan groups. Plain async functions, ``session`` first, no HTTP;
they flush, callers commit.

A fan group is a layer above following (as on Douyin): joining needs a follow, and unfollowing
an anchor leaves its groups. Follows and memberships are keyed on the pair, so racing follows
or joins of one fan make one row; the loser's IntegrityError (inside a savepoint) is a no-op.
On PostgreSQL a join holds a share lock on the follow row until it commits, so an unfollow
racing it either waits and then removes the new membership too, or wins and the join is
refused; SQLite serializes every writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.auth import service as auth_service
from liveshop.auth.models import Account
from liveshop.auth.service import Principal
from liveshop.db import insert_unique
from liveshop.errors import Problem, conflict, forbidden, invalid, not_found
from liveshop.fans.models import FanGroup, FanGroupMember, Follow

# -- anchors ---------------------------------------------------------------------------------


async def require_anchor(session: AsyncSession, *, anchor_id: str) -> Account:
    """The anchor's account; 404 ``fans.anchor_not_found`` for any account without the role."""
    account = await auth_service.get(session, account_id=anchor_id)
    if account is None or "anchor" not in await auth_service.roles_of(
        session, account_id=anchor_id
    ):
        raise not_found("fans.anchor_not_found", "no such anchor")
    return account


# -- follows ---------------------------------------------------------------------------------


async def get_follow(session: AsyncSession, *, account_id: str, anchor_id: str) -> Follow | None:
    return await session.get(Follow, (account_id, anchor_id))


async def is_follower(session: AsyncSession, *, account_id: str, anchor_id: str) -> bool:
    """Whether ``account_id`` follows the anchor ``anchor_id``."""
    result = await session.execute(
        select(Follow.account_id).where(
            Follow.account_id == account_id, Follow.anchor_id == anchor_id
        )
    )
    return result.first() is not None


async def follow(
    session: AsyncSession, *, account_id: str, anchor_id: str, now: datetime
) -> tuple[Follow, bool]:
    """Follow an anchor; (follow, False) when already following (a no-op)."""
    if account_id == anchor_id:
        raise invalid("fans.self_follow", "you cannot follow yourself", "anchor_id")
    await require_anchor(session, anchor_id=anchor_id)
    found = await get_follow(session, account_id=account_id, anchor_id=anchor_id)
    if found is not None:
        return found, False
    return await insert_unique(
        session,
        Follow(account_id=account_id, anchor_id=anchor_id, followed_at=now),
        lambda: get_follow(session, account_id=account_id, anchor_id=anchor_id),
    )


async def unfollow(session: AsyncSession, *, account_id: str, anchor_id: str) -> bool:
    """Stop following an anchor and leave its fan groups; False when not following."""
    result = await session.execute(
        delete(Follow)
        .where(Follow.account_id == account_id, Follow.anchor_id == anchor_id)
        .execution_options(synchronize_session=False)
    )
    groups = select(FanGroup.id).where(FanGroup.anchor_id == anchor_id).scalar_subquery()
    await session.execute(
        delete(FanGroupMember)
        .where(FanGroupMember.account_id == account_id, FanGroupMember.group_id.in_(groups))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def followers_count(session: AsyncSession, *, anchor_id: str) -> int:
    result = await session.execute(
        select(func.count()).select_from(Follow).where(Follow.anchor_id == anchor_id)
    )
    return int(result.scalar_one())


@dataclass(frozen=True, slots=True)
class Following:
    anchor_id: str
    display_name: str
    followed_at: datetime


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _cursor_of(item: Following) -> str:
    """``<microseconds since the epoch>-<anchor id>`` of the last item of a page (exact)."""
    return f"{(item.followed_at - _EPOCH) // _MICROSECOND}-{item.anchor_id}"


def _parse_cursor(cursor: str) -> tuple[datetime, str]:
    micros, _, anchor_id = cursor.partition("-")
    try:
        at = _EPOCH + int(micros) * _MICROSECOND
    except (ValueError, OverflowError):
        raise invalid("fans.bad_cursor", "the cursor is not one we gave out", "cursor") from None
    return at, anchor_id


async def list_following(
    session: AsyncSession, *, account_id: str, cursor: str | None = None, limit: int = 20
) -> tuple[list[Following], str | None]:
    """The anchors ``account_id`` follows, most recently followed first, a page at a time."""
    query = (
        select(Follow.anchor_id, Account.display_name, Follow.followed_at)
        .join(Account, Account.id == Follow.anchor_id)
        .where(Follow.account_id == account_id)
        .order_by(Follow.followed_at.desc(), Follow.anchor_id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        at, anchor_id = _parse_cursor(cursor)
        query = query.where(
            or_(
                Follow.followed_at < at,
                and_(Follow.followed_at == at, Follow.anchor_id < anchor_id),
            )
        )
    rows = [Following(a, name, at) for a, name, at in await session.execute(query)]
    next_cursor = _cursor_of(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


# -- fan groups ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupView:
    group: FanGroup
    member_count: int


def _name_taken() -> Problem:
    return conflict("fans.group_name_taken", "the anchor already has a fan group of that name")


async def create_group(
    session: AsyncSession, *, anchor_id: str, name: str, now: datetime
) -> FanGroup:
    """A new fan group of ``anchor_id`` (the caller checked it may act for the anchor)."""
    existing = await session.execute(
        select(FanGroup.id).where(FanGroup.anchor_id == anchor_id, FanGroup.name == name)
    )
    if existing.first() is not None:
        raise _name_taken()
    row = FanGroup(anchor_id=anchor_id, name=name, created_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise _name_taken() from exc
    return row


async def get_group_or_raise(session: AsyncSession, *, group_id: str) -> FanGroup:
    group = await session.get(FanGroup, group_id)
    if group is None:
        raise not_found("fans.group_not_found", "no such fan group")
    return group


async def member_count(session: AsyncSession, *, group_id: str) -> int:
    result = await session.execute(
        select(func.count()).select_from(FanGroupMember).where(FanGroupMember.group_id == group_id)
    )
    return int(result.scalar_one())


async def list_groups(session: AsyncSession, *, anchor_id: str) -> list[GroupView]:
    """The anchor's fan groups, oldest first, with their member counts."""
    result = await session.execute(
        select(FanGroup, func.count(FanGroupMember.account_id))
        .outerjoin(FanGroupMember, FanGroupMember.group_id == FanGroup.id)
        .where(FanGroup.anchor_id == anchor_id)
        .group_by(FanGroup.id)
        .order_by(FanGroup.created_at, FanGroup.id)
    )
    return [GroupView(group, int(count)) for group, count in result.all()]


async def get_membership(
    session: AsyncSession, *, group_id: str, account_id: str
) -> FanGroupMember | None:
    return await session.get(FanGroupMember, (group_id, account_id))


async def join_group(
    session: AsyncSession, *, group_id: str, account_id: str, now: datetime
) -> tuple[FanGroupMember, bool]:
    """Join a fan group (following its anchor first: 409 ``fans.not_following``);
    (membership, False) when already a member (a no-op)."""
    group = await get_group_or_raise(session, group_id=group_id)
    found = await get_membership(session, group_id=group_id, account_id=account_id)
    if found is not None:
        return found, False
    follows = await session.execute(
        select(Follow.account_id)
        .where(Follow.account_id == account_id, Follow.anchor_id == group.anchor_id)
        .with_for_update(read=True)
    )
    if follows.first() is None:
        raise conflict("fans.not_following", "follow the anchor before joining its fan group")
    return await insert_unique(
        session,
        FanGroupMember(group_id=group_id, account_id=account_id, joined_at=now),
        lambda: get_membership(session, group_id=group_id, account_id=account_id),
    )


async def leave_group(session: AsyncSession, *, group_id: str, account_id: str) -> bool:
    """Leave a fan group; False when not a member."""
    await get_group_or_raise(session, group_id=group_id)
    result = await session.execute(
        delete(FanGroupMember)
        .where(FanGroupMember.group_id == group_id, FanGroupMember.account_id == account_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def is_fan_group_member(session: AsyncSession, *, account_id: str, anchor_id: str) -> bool:
    """Whether ``account_id`` is in any of the anchor's fan groups."""
    result = await session.execute(
        select(FanGroupMember.group_id)
        .join(FanGroup, FanGroup.id == FanGroupMember.group_id)
        .where(FanGroupMember.account_id == account_id, FanGroup.anchor_id == anchor_id)
        .limit(1)
    )
    return result.first() is not None


async def groups_count(session: AsyncSession, *, anchor_id: str) -> int:
    result = await session.execute(
        select(func.count()).select_from(FanGroup).where(FanGroup.anchor_id == anchor_id)
    )
    return int(result.scalar_one())


async def resolve_group_owner(
    session: AsyncSession, *, principal: Principal, anchor_id: str | None
) -> str:
    """Whose fan group a new one is: the caller's own (an anchor), or the anchor named by an
    admin or one of its operators."""
    if anchor_id is None or anchor_id == principal.account_id:
        if not principal.has("anchor"):
            raise forbidden("only anchors have fan groups (or name one in anchor_id)")
        return principal.account_id
    await require_anchor(session, anchor_id=anchor_id)
    if not await auth_service.can_act_for_anchor(session, principal=principal, anchor_id=anchor_id):
        raise forbidden("you do not work for this anchor")
    return anchor_id
