"""Fans over HTTP: follow and unfollow anchors, an anchor's public fan summary, what you
follow; an anchor's fan groups, joining and leaving them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from liveshop.deps import ClockDep, CurrentPrincipal, OptionalPrincipal, SessionDep
from liveshop.fans import service as fans
from liveshop.fans.models import FanGroup
from liveshop.fans.schemas import (
    AnchorFansOut,
    FanGroupIn,
    FanGroupList,
    FanGroupOut,
    FollowingItem,
    FollowingPage,
    FollowOut,
    MembershipOut,
)

router = APIRouter(tags=["fans"])
AccountId = Annotated[str, Path(min_length=1, max_length=26)]
GroupId = Annotated[str, Path(min_length=1, max_length=26)]
Cursor = Annotated[str | None, Query(pattern="^[0-9]{1,20}-[0-9a-hjkmnp-tv-z]{26}$")]


def _group_out(group: FanGroup, member_count: int) -> FanGroupOut:
    return FanGroupOut(
        id=group.id,
        anchor_id=group.anchor_id,
        name=group.name,
        created_at=group.created_at,
        member_count=member_count,
    )


# -- follows ---------------------------------------------------------------------------------


@router.post(
    "/anchors/{anchor_id}/follow",
    status_code=201,
    response_model=FollowOut,
    responses={
        200: {"description": "already following: the existing follow"},
        404: {"description": "fans.anchor_not_found"},
        422: {"description": "fans.self_follow"},
    },
)
async def follow(
    anchor_id: AccountId,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    response: Response,
) -> FollowOut:
    """Follow an anchor (201); following again is a no-op that answers the follow (200)."""
    row, created = await fans.follow(
        session, account_id=principal.account_id, anchor_id=anchor_id, now=clock.now()
    )
    await session.commit()
    if not created:
        response.status_code = 200
    return FollowOut(
        account_id=row.account_id, anchor_id=row.anchor_id, followed_at=row.followed_at
    )


@router.delete("/anchors/{anchor_id}/follow", status_code=204)
async def unfollow(anchor_id: AccountId, principal: CurrentPrincipal, session: SessionDep) -> None:
    """Stop following an anchor and leave its fan groups (204 also when not following)."""
    await fans.unfollow(session, account_id=principal.account_id, anchor_id=anchor_id)
    await session.commit()


@router.get(
    "/anchors/{anchor_id}",
    response_model=AnchorFansOut,
    responses={404: {"description": "fans.anchor_not_found"}},
)
async def anchor_fans(
    anchor_id: AccountId, principal: OptionalPrincipal, session: SessionDep
) -> AnchorFansOut:
    """An anchor's public fan summary, and whether you follow it and are in its fan groups."""
    account = await fans.require_anchor(session, anchor_id=anchor_id)
    following = member = False
    if principal is not None:
        following = await fans.is_follower(
            session, account_id=principal.account_id, anchor_id=anchor_id
        )
        member = await fans.is_fan_group_member(
            session, account_id=principal.account_id, anchor_id=anchor_id
        )
    return AnchorFansOut(
        anchor_id=account.id,
        display_name=account.display_name,
        followers_count=await fans.followers_count(session, anchor_id=anchor_id),
        fan_groups_count=await fans.groups_count(session, anchor_id=anchor_id),
        following=following,
        fan_group_member=member,
    )


@router.get("/me/following", response_model=FollowingPage)
async def my_following(
    principal: CurrentPrincipal,
    session: SessionDep,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> FollowingPage:
    """The anchors you follow, most recently followed first (``next_cursor`` until the end)."""
    rows, next_cursor = await fans.list_following(
        session, account_id=principal.account_id, cursor=cursor, limit=limit
    )
    return FollowingPage(
        items=[
            FollowingItem(
                anchor_id=r.anchor_id, display_name=r.display_name, followed_at=r.followed_at
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


# -- fan groups ------------------------------------------------------------------------------


@router.post(
    "/anchor/fan-groups",
    status_code=201,
    response_model=FanGroupOut,
    responses={
        403: {"description": "auth.forbidden: not an anchor, or not working for anchor_id"},
        404: {"description": "fans.anchor_not_found"},
        409: {"description": "fans.group_name_taken"},
    },
)
async def create_group(
    body: FanGroupIn, principal: CurrentPrincipal, session: SessionDep, clock: ClockDep
) -> FanGroupOut:
    """Create a fan group: an anchor for itself, an admin or operator for an anchor."""
    anchor_id = await fans.resolve_group_owner(
        session, principal=principal, anchor_id=body.anchor_id
    )
    group = await fans.create_group(session, anchor_id=anchor_id, name=body.name, now=clock.now())
    await session.commit()
    return _group_out(group, 0)


@router.get(
    "/anchors/{anchor_id}/fan-groups",
    response_model=FanGroupList,
    responses={404: {"description": "fans.anchor_not_found"}},
)
async def list_groups(anchor_id: AccountId, session: SessionDep) -> FanGroupList:
    """An anchor's fan groups with their member counts (public)."""
    await fans.require_anchor(session, anchor_id=anchor_id)
    views = await fans.list_groups(session, anchor_id=anchor_id)
    return FanGroupList(items=[_group_out(v.group, v.member_count) for v in views])


@router.get(
    "/fan-groups/{group_id}",
    response_model=FanGroupOut,
    responses={404: {"description": "fans.group_not_found"}},
)
async def get_group(group_id: GroupId, session: SessionDep) -> FanGroupOut:
    group = await fans.get_group_or_raise(session, group_id=group_id)
    return _group_out(group, await fans.member_count(session, group_id=group.id))


@router.post(
    "/fan-groups/{group_id}/join",
    status_code=201,
    response_model=MembershipOut,
    responses={
        200: {"description": "already a member: the existing membership"},
        404: {"description": "fans.group_not_found"},
        409: {"description": "fans.not_following: follow the anchor first"},
    },
)
async def join_group(
    group_id: GroupId,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    response: Response,
) -> MembershipOut:
    """Join a fan group (201); joining again is a no-op that answers the membership (200)."""
    row, created = await fans.join_group(
        session, group_id=group_id, account_id=principal.account_id, now=clock.now()
    )
    await session.commit()
    if not created:
        response.status_code = 200
    group = await fans.get_group_or_raise(session, group_id=group_id)
    count = await fans.member_count(session, group_id=group_id)
    return MembershipOut(
        group=_group_out(group, count), account_id=row.account_id, joined_at=row.joined_at
    )


@router.post(
    "/fan-groups/{group_id}/leave",
    status_code=204,
    responses={404: {"description": "fans.group_not_found"}},
)
async def leave_group(group_id: GroupId, principal: CurrentPrincipal, session: SessionDep) -> None:
    """Leave a fan group (204 also when not a member)."""
    await fans.leave_group(session, group_id=group_id, account_id=principal.account_id)
    await session.commit()
