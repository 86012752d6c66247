"""Fans on both databases: follow and unfollow (idempotent, racing), an anchor's fan summary,
what a fan follows (paged), fan groups (create, list, join needs a follow, leave), the
service checks other domains use, and bad input with stable codes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from liveshop.clock import FrozenClock
from liveshop.deps import Runtime
from liveshop.fans import service as fans
from liveshop.fans.models import FanGroupMember, Follow
from tests.conftest import Actor
from tests.factories import problem_code as _code

pytestmark = pytest.mark.usefixtures("backend")


async def _follow(client: Any, fan: Actor, anchor: Actor) -> Any:
    return await client.post(f"/anchors/{anchor.id}/follow", headers=fan.headers)


async def _group(client: Any, anchor: Actor, name: str = "Tea lovers") -> dict[str, Any]:
    response = await client.post("/anchor/fan-groups", json={"name": name}, headers=anchor.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def _count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessionmaker() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_following_is_idempotent_counted_and_undone(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    anchor = await make_account("anchor")
    fan, other = await make_account("fan"), await make_account("fan")

    first = await _follow(client, fan, anchor)
    assert first.status_code == 201, first.text
    assert first.json()["anchor_id"] == anchor.id and first.json()["account_id"] == fan.id
    again = await _follow(client, fan, anchor)
    assert again.status_code == 200 and again.json() == first.json()
    assert (await _follow(client, other, anchor)).status_code == 201

    summary = await client.get(f"/anchors/{anchor.id}", headers=fan.headers)
    assert summary.status_code == 200, summary.text
    assert summary.json() == {
        "anchor_id": anchor.id,
        "display_name": anchor.email.split("@")[0],
        "followers_count": 2,
        "fan_groups_count": 0,
        "following": True,
        "fan_group_member": False,
    }
    public = (await client.get(f"/anchors/{anchor.id}")).json()
    assert public["followers_count"] == 2 and public["following"] is False

    gone = await client.delete(f"/anchors/{anchor.id}/follow", headers=fan.headers)
    assert gone.status_code == 204
    assert (await client.delete(f"/anchors/{anchor.id}/follow", headers=fan.headers)).status_code
    after = (await client.get(f"/anchors/{anchor.id}", headers=fan.headers)).json()
    assert after["followers_count"] == 1 and after["following"] is False
    assert await _count(runtime, Follow) == 1


async def test_concurrent_follows_of_one_fan_make_one_row(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    anchor, fan = await make_account("anchor"), await make_account("fan")
    answers = await asyncio.gather(*(_follow(client, fan, anchor) for _ in range(8)))
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201], [r.text for r in answers]
    assert await _count(runtime, Follow) == 1


async def test_my_following_lists_newest_first_a_page_at_a_time(
    client: Any, make_account: Any, clock: FrozenClock
) -> None:
    fan = await make_account("fan")
    anchors = [await make_account("anchor") for _ in range(5)]
    for i, anchor in enumerate(anchors):
        if i != 2:  # two follows at the same instant still page without a gap or a repeat
            clock.advance(seconds=1)
        assert (await _follow(client, fan, anchor)).status_code == 201

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get("/me/following", params=params, headers=fan.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [item["anchor_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and set(seen) == {a.id for a in anchors}
    assert seen[0] == anchors[4].id and seen[-1] == anchors[0].id
    assert set(seen[2:4]) == {anchors[1].id, anchors[2].id}

    assert (await client.get("/me/following")).status_code == 401
    bad = await client.get("/me/following", params={"cursor": "nope"}, headers=fan.headers)
    assert bad.status_code == 422 and _code(bad) == "request.invalid"


async def test_following_bad_input_gets_stable_codes(client: Any, make_account: Any) -> None:
    anchor, fan = await make_account("anchor"), await make_account("fan")

    own = await _follow(client, anchor, anchor)
    assert own.status_code == 422 and _code(own) == "fans.self_follow"
    not_anchor = await _follow(client, anchor, fan)
    assert not_anchor.status_code == 404 and _code(not_anchor) == "fans.anchor_not_found"
    unknown = await client.post("/anchors/0000000000000000000000000a/follow", headers=fan.headers)
    assert unknown.status_code == 404 and _code(unknown) == "fans.anchor_not_found"
    summary = await client.get(f"/anchors/{fan.id}")
    assert summary.status_code == 404 and _code(summary) == "fans.anchor_not_found"
    anon = await client.post(f"/anchors/{anchor.id}/follow")
    assert anon.status_code == 401 and _code(anon) == "auth.required"
    anon_delete = await client.delete(f"/anchors/{anchor.id}/follow")
    assert anon_delete.status_code == 401


async def test_a_fan_group_needs_a_follow_and_counts_its_members(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    anchor = await make_account("anchor")
    fan, other = await make_account("fan"), await make_account("fan")
    group = await _group(client, anchor)
    assert group["anchor_id"] == anchor.id and group["member_count"] == 0
    second = await _group(client, anchor, "Night owls")

    refused = await client.post(f"/fan-groups/{group['id']}/join", headers=fan.headers)
    assert refused.status_code == 409 and _code(refused) == "fans.not_following"

    await _follow(client, fan, anchor)
    await _follow(client, other, anchor)
    joined = await client.post(f"/fan-groups/{group['id']}/join", headers=fan.headers)
    assert joined.status_code == 201, joined.text
    assert joined.json()["group"]["member_count"] == 1 and joined.json()["account_id"] == fan.id
    again = await client.post(f"/fan-groups/{group['id']}/join", headers=fan.headers)
    assert again.status_code == 200 and again.json() == joined.json()
    assert (
        await client.post(f"/fan-groups/{group['id']}/join", headers=other.headers)
    ).status_code == 201

    listed = (await client.get(f"/anchors/{anchor.id}/fan-groups")).json()["items"]
    assert [(g["id"], g["member_count"]) for g in listed] == [(group["id"], 2), (second["id"], 0)]
    one = (await client.get(f"/fan-groups/{group['id']}")).json()
    assert one["member_count"] == 2 and one["name"] == "Tea lovers"
    summary = (await client.get(f"/anchors/{anchor.id}", headers=fan.headers)).json()
    assert summary["fan_groups_count"] == 2 and summary["fan_group_member"] is True

    left = await client.post(f"/fan-groups/{group['id']}/leave", headers=other.headers)
    assert left.status_code == 204
    assert (
        await client.post(f"/fan-groups/{group['id']}/leave", headers=other.headers)
    ).status_code == 204
    assert (await client.get(f"/fan-groups/{group['id']}")).json()["member_count"] == 1

    # unfollowing leaves the anchor's groups too: a fan group is a layer above following
    await client.delete(f"/anchors/{anchor.id}/follow", headers=fan.headers)
    assert (await client.get(f"/fan-groups/{group['id']}")).json()["member_count"] == 0
    assert await _count(runtime, FanGroupMember) == 0


async def test_concurrent_joins_of_one_fan_make_one_membership(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    anchor, fan = await make_account("anchor"), await make_account("fan")
    group = await _group(client, anchor)
    await _follow(client, fan, anchor)
    answers = await asyncio.gather(
        *(client.post(f"/fan-groups/{group['id']}/join", headers=fan.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in answers) == [200] * 7 + [201]
    assert await _count(runtime, FanGroupMember) == 1


async def test_fan_groups_bad_input_gets_stable_codes(client: Any, make_account: Any) -> None:
    anchor, fan = await make_account("anchor"), await make_account("fan")
    admin, operator = await make_account("admin"), await make_account("operator")
    group = await _group(client, anchor)

    cases = [
        (fan, {"name": "Mine"}, 403, "auth.forbidden"),
        (anchor, {"name": "  "}, 422, "request.invalid"),
        (anchor, {"name": "x" * 65}, 422, "request.invalid"),
        (anchor, {}, 422, "request.invalid"),
        (anchor, {"name": "Tea lovers"}, 409, "fans.group_name_taken"),
        (operator, {"name": "Theirs", "anchor_id": anchor.id}, 403, "auth.forbidden"),
        (admin, {"name": "Theirs", "anchor_id": fan.id}, 404, "fans.anchor_not_found"),
    ]
    for actor, body, status, code in cases:
        response = await client.post("/anchor/fan-groups", json=body, headers=actor.headers)
        assert response.status_code == status and _code(response) == code, (body, response.text)
    assert (await client.post("/anchor/fan-groups", json={"name": "x"})).status_code == 401

    by_admin = await client.post(
        "/anchor/fan-groups", json={"name": "Theirs", "anchor_id": anchor.id}, headers=admin.headers
    )
    assert by_admin.status_code == 201 and by_admin.json()["anchor_id"] == anchor.id

    missing = "0000000000000000000000000a"
    for path in (f"/fan-groups/{missing}/join", f"/fan-groups/{missing}/leave"):
        response = await client.post(path, headers=fan.headers)
        assert response.status_code == 404 and _code(response) == "fans.group_not_found"
    got = await client.get(f"/fan-groups/{missing}")
    assert got.status_code == 404 and _code(got) == "fans.group_not_found"
    listed = await client.get(f"/anchors/{fan.id}/fan-groups")
    assert listed.status_code == 404 and _code(listed) == "fans.anchor_not_found"
    anon = await client.post(f"/fan-groups/{group['id']}/join")
    assert anon.status_code == 401


async def test_the_service_checks_other_domains_use(
    client: Any, make_account: Any, runtime: Runtime
) -> None:
    anchor, other_anchor = await make_account("anchor"), await make_account("anchor")
    fan = await make_account("fan")
    group = await _group(client, anchor)
    await _group(client, other_anchor)

    async def check() -> tuple[bool, bool, bool, bool]:
        async with runtime.sessionmaker() as s:
            return (
                await fans.is_follower(s, account_id=fan.id, anchor_id=anchor.id),
                await fans.is_fan_group_member(s, account_id=fan.id, anchor_id=anchor.id),
                await fans.is_follower(s, account_id=fan.id, anchor_id=other_anchor.id),
                await fans.is_fan_group_member(s, account_id=fan.id, anchor_id=other_anchor.id),
            )

    assert await check() == (False, False, False, False)
    await _follow(client, fan, anchor)
    assert await check() == (True, False, False, False)
    await client.post(f"/fan-groups/{group['id']}/join", headers=fan.headers)
    assert await check() == (True, True, False, False)
    await client.post(f"/fan-groups/{group['id']}/leave", headers=fan.headers)
    assert await check() == (True, False, False, False)
