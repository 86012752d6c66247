"""The demo's simulated audience against a real server: viewers come and go, talkers chat
about the pinned product (``simulate.talk``), like, follow and buy it (paid on the sandbox),
with no errors."""

from __future__ import annotations

from typing import Any

import pytest

from liveshop.deps import Runtime
from liveshop.simulate import talk
from liveshop.simulate.crowd import Crowd, run
from tests.live.conftest import LiveServer, Room, live_room, live_server, open_room

pytestmark = pytest.mark.usefixtures("backend")
__all__ = ["live_room", "live_server", "open_room"]


async def test_a_small_crowd_watches_talks_likes_follows_and_buys(
    live_server: LiveServer, live_room: Room, client: Any, runtime: Runtime, open_room: Any
) -> None:
    pinned = await client.post(
        f"/live/sessions/{live_room.id}/pin",
        json={"item_id": live_room.item_ids[0]},
        headers=live_room.anchor.headers,
    )
    assert pinned.status_code == 200
    crowd = Crowd(  # seed 7: the talkers follow
        base_url=live_server.http_base,
        viewers=8,
        talkers=3,
        stay=(1.5, 2.5),
        chat_every=(1.1, 1.4),
        buy_chance=1.0,
        seed=7,
    )
    tally = await run(crowd, seconds=4.0)
    assert tally.errors == {}, tally
    assert tally.joined >= 8 and tally.left >= 8  # they come and go (and are replaced)
    assert tally.chats >= 3 and tally.likes > 0 and tally.orders >= 1
    assert tally.paid == tally.orders
    counters = await runtime.rooms.counters(live_room.id)
    assert counters.likes == tally.likes
    assert counters.unique >= 4  # the guests and the talkers, as distinct viewers
    fans = (await client.get(f"/anchors/{live_room.anchor.id}")).json()
    assert fans["followers_count"] == tally.follows  # each talker follows at most once
    assert tally.follows >= 1

    # what they said: greetings, and talk about the pinned product by name
    state = (await client.get(f"/live/sessions/{live_room.id}/state")).json()
    title = talk.title_of(state["pinned"])
    viewer = await open_room(live_room.id)
    said = [m["text"] for m in viewer.first["snapshot"]["chat"]]
    assert said
    talked = [text for text in said if text not in talk.GREETINGS]
    assert talked and all(title in text for text in talked), (title, said)
    assert all(any(text == p.format(title=title) for p in talk.PHRASES) for text in talked)
