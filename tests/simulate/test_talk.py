"""The simulated fans' behaviour (``simulate/talk.py``), shared by the demo's crowd and the
benchmarks: what they say, their like bursts, the latency stamp, their sign-in."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from liveshop.config import Settings
from liveshop.inventory.geo import CITIES
from liveshop.live.moderation import BannedWords, ChatGate, ChatRules, Sanctions
from liveshop.orders.schemas import AddressIn, OrderIn
from liveshop.orders.service import destination_of
from liveshop.promotions.flash.schemas import BuyIn
from liveshop.simulate import talk

SHOWCASE = [
    {"id": "i1", "sku_id": "s1", "title": "Longjing Green Tea, 250 g tin"},
    {"id": "i2", "sku_id": "s2", "title": "Silk Scarf"},
]
ROOM: dict[str, Any] = {"showcase": SHOWCASE, "pinned": None}


def said_about(text: str) -> set[str]:
    """The showcase titles (as a fan types them) that ``text`` names."""
    return {t for t in (talk.title_of(i) for i in SHOWCASE) if t in text}


def test_lines_talk_about_a_showcase_product_and_prefer_the_pinned_one() -> None:
    rng = random.Random(1)
    lines = [talk.line(rng, talk.subject(rng, ROOM)) for _ in range(200)]
    assert all(len(said_about(text)) == 1 for text in lines)
    assert {t for text in lines for t in said_about(text)} == {"Longjing Green Tea", "Silk Scarf"}
    assert all(", 250 g" not in text for text in lines)  # the title up to its first comma
    assert len(set(lines)) > 10  # many phrases, not one

    pinned = {**ROOM, "pinned": SHOWCASE[1]}
    assert all(
        said_about(talk.line(rng, talk.subject(rng, pinned))) == {"Silk Scarf"} for _ in range(50)
    )


def test_an_empty_room_still_gets_talk() -> None:
    rng = random.Random(2)
    assert "tea" in talk.line(rng, talk.subject(rng, {}))
    assert talk.greeting(rng) in talk.GREETINGS


def test_the_same_seed_says_the_same_things() -> None:
    def script(seed: int) -> list[Any]:
        rng = random.Random(seed)
        return [(talk.like_burst(rng), talk.line(rng, talk.subject(rng, ROOM))) for _ in range(20)]

    assert script(5) == script(5)
    assert script(5) != script(6)


def test_follow_keeps_the_pinned_product() -> None:
    state: dict[str, Any] = {"showcase": SHOWCASE, "pinned": None}
    talk.follow(state, {"type": "product.pinned", "item": SHOWCASE[0]})
    assert state["pinned"] == SHOWCASE[0]
    talk.follow(state, {"type": "chat", "text": "hi"})
    assert state["pinned"] == SHOWCASE[0]
    talk.follow(state, {"type": "product.unpinned", "item_id": "i1"})
    assert state["pinned"] is None


def test_like_bursts_are_one_to_twenty_taps_or_fewer_when_capped() -> None:
    rng = random.Random(3)
    bursts = [talk.like_burst(rng) for _ in range(2000)]
    assert min(bursts) == 1 and max(bursts) == talk.LIKE_BURST_MAX == 20
    assert max(talk.like_burst(rng, 50) for _ in range(2000)) == 20  # never above the model
    assert set(talk.like_burst(rng, 3) for _ in range(200)) == {1, 2, 3}
    assert talk.like_burst(rng, 0) == 1
    assert Settings.model_fields["like_max_per_message"].default >= talk.LIKE_BURST_MAX


@pytest.mark.parametrize(
    "text",
    ["Is the Silk Scarf still in stock?", "这个丝巾怎么卖？", "", "666", "price · 99", "x" * 500],
)
def test_a_stamp_reads_back_and_fits_the_chat_limit(text: str) -> None:
    ns = time.time_ns()
    stamped = talk.stamp(text, ns)
    assert talk.read_stamp(stamped) == ns
    assert len(stamped) <= talk.CHAT_MAX_LENGTH
    if len(text) + 21 <= talk.CHAT_MAX_LENGTH:
        assert stamped.startswith(text)  # the line itself is kept whole when it fits


@pytest.mark.parametrize(
    "text",
    ["bench 1712345678901234567", "Is the tea in stock?", "· abc", "·", "价格·１２３", "a ·12x"],
)
def test_text_without_a_stamp_reads_none(text: str) -> None:
    assert talk.read_stamp(text) is None


def test_a_stamp_that_cannot_fit_is_refused() -> None:
    with pytest.raises(ValueError):
        talk.stamp("hi", time.time_ns(), limit=10)


def test_the_server_takes_the_longest_stamped_line_as_it_is() -> None:
    assert Settings.model_fields["chat_max_length"].default == talk.CHAT_MAX_LENGTH
    longest = max(talk.PHRASES, key=len).format(title="T" * talk.TITLE_MAX)
    stamped = talk.stamp(longest, time.time_ns())
    assert stamped == longest + stamped[len(longest) :]  # nothing cut off
    gate = ChatGate(ChatRules(max_length=talk.CHAT_MAX_LENGTH), BannedWords(), Sanctions())
    verdict = gate.check("fan", stamped, now=0.0, wall=datetime.now(UTC))
    assert verdict.ok and verdict.text == stamped
    assert talk.read_stamp(verdict.text) is not None


def test_the_bodies_are_valid_requests_to_a_known_city() -> None:
    order = OrderIn.model_validate(talk.order_body("sku1", "session1"))
    assert order.lines[0].quantity == 1 and order.live_session_id == "session1"
    buy = BuyIn.model_validate(talk.flash_buy_body())
    assert buy.quantity == 1
    assert destination_of(AddressIn.model_validate(talk.ADDRESS)) == CITIES["hangzhou"]


@pytest.mark.usefixtures("backend")
async def test_sign_in_signs_a_new_fan_up_then_in_to_the_same_account(
    client: httpx.AsyncClient,
) -> None:
    first = await talk.sign_in(client, 7, prefix="test-fan")
    again = await talk.sign_in(client, 7, prefix="test-fan")
    other = await talk.sign_in(client, 8, prefix="test-fan")
    me = [
        (await client.get("/auth/me", headers={"Authorization": f"Bearer {t}"})).json()
        for t in (first, again, other)
    ]
    assert me[0]["email"] == "test-fan-7@demo.liveshop.dev"
    assert me[0]["id"] == me[1]["id"] != me[2]["id"]
    assert me[0]["display_name"] == "Fan 007"
