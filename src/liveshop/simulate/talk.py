"""How a simulated fan behaves, shared by the demo's crowd (``simulate/crowd.py``) and the
benchmarks (``benchmarks/room_clients.py``, ``benchmarks/flash_clients.py``): what a fan says
(talk about the pinned or a showcase product, greetings), how many likes a burst of taps
sends, where a fan's parcels go, how a simulated fan signs in, and the send-time stamp a
benchmark appends to a chat line to measure its delivery latency.

Everything here but :func:`sign_in` is pure and cheap (the room benchmark's chatter process
calls it 100 times a second); randomness comes from the caller's ``random.Random``, so a
seeded crowd does the same things every run.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from liveshop.config import Settings

if TYPE_CHECKING:
    import httpx

PHRASES = (
    "Is the {title} still in stock?",
    "How big is the {title}?",
    "Just bought the {title}!",
    "Does the {title} ship to Chengdu?",
    "{title} looks great on camera",
    "Any coupon for the {title}?",
    "Second time buying the {title}, love it",
    "Can you show the {title} again?",
    "这个{title}怎么卖？",
    "{title} 有优惠吗？",
    "主播能再讲一下{title}吗",
    "已下单 {title}，期待！",
)
GREETINGS = ("Hi everyone!", "First time here", "大家好", "Hello from Hangzhou", "666")
TITLE_MAX = 40  # characters of a product title a fan types (before the first comma)
LIKE_BURST_MAX = 20  # likes in one burst of taps (the server takes up to 50 a message)
# The server's chat length limit (LIVESHOP_CHAT_MAX_LENGTH's default, enforced by
# live.moderation.ChatGate): a stamped line always fits in it.
CHAT_MAX_LENGTH: int = Settings.model_fields["chat_max_length"].default
STAMP_MARK = " ·"  # stamp(): "<line> ·<send time in ns>"

ADDRESS = {
    "recipient": "Demo Fan",
    "phone": "+86 138 0000 0000",
    "line1": "1 West Lake Road",
    "city": "Hangzhou",  # a known city: the server finds its coordinates
}


# -- what a fan says --------------------------------------------------------------------------


def greeting(rng: random.Random) -> str:
    """What a talker says on arrival."""
    return rng.choice(GREETINGS)


def subject(rng: random.Random, state: dict[str, Any]) -> dict[str, Any]:
    """The product a fan talks about: the pinned one, else one of the showcase (``state`` is
    the room snapshot a client got on joining, kept up to date by :func:`follow`); ``{}`` in
    an empty room."""
    item: dict[str, Any] = state.get("pinned") or rng.choice(state.get("showcase") or [{}])
    return item


def title_of(item: dict[str, Any]) -> str:
    """A product title as a fan types it: up to the first comma, at most ``TITLE_MAX``."""
    return str(item.get("title", "tea")).split(",")[0][:TITLE_MAX]


def line(rng: random.Random, item: dict[str, Any]) -> str:
    """A chat line about ``item`` ("Is the Longjing Green Tea still in stock?")."""
    return rng.choice(PHRASES).format(title=title_of(item))


def follow(state: dict[str, Any], event: dict[str, Any]) -> None:
    """Keep ``state["pinned"]`` current from a room event, as the talk needs it."""
    kind = event.get("type")
    if kind == "product.pinned":
        state["pinned"] = event["item"]
    elif kind == "product.unpinned":
        state["pinned"] = None


def like_burst(rng: random.Random, most: int = LIKE_BURST_MAX) -> int:
    """Likes in one burst of taps (clients batch taps into one ``like`` message): 1 to
    ``min(most, LIKE_BURST_MAX)``, uniformly."""
    return rng.randint(1, max(1, min(most, LIKE_BURST_MAX)))


# -- the latency stamp ------------------------------------------------------------------------


def stamp(text: str, ns: int, *, limit: int = CHAT_MAX_LENGTH) -> str:
    """``text`` with the send time ``ns`` (``time.time_ns()``) appended, shortened so that the
    whole stays within ``limit`` characters (the server's chat length limit)."""
    mark = f"{STAMP_MARK}{ns}"
    if len(mark) > limit:
        raise ValueError(f"a stamp needs {len(mark)} characters, the limit is {limit}")
    return text[: limit - len(mark)] + mark


def read_stamp(text: str) -> int | None:
    """The send time :func:`stamp` put on ``text``, or None when it carries none."""
    _, mark, digits = text.rpartition(STAMP_MARK.strip())
    if not mark or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


# -- what a fan does over HTTP ----------------------------------------------------------------


def order_body(sku_id: str, session_id: str) -> dict[str, Any]:
    """``POST /orders``: one unit of ``sku_id`` bought in the live session."""
    return {
        "lines": [{"sku_id": sku_id, "quantity": 1}],
        "shipping_address": ADDRESS,
        "live_session_id": session_id,
    }


def flash_buy_body(quantity: int = 1) -> dict[str, Any]:
    """``POST /flash-sales/{id}/buy``."""
    return {"quantity": quantity, "shipping_address": ADDRESS}


async def sign_in(http: httpx.AsyncClient, i: int, *, prefix: str = "crowd") -> str:
    """A bearer token for simulated fan ``i`` (``<prefix>-<i>@demo.liveshop.dev``): signed in,
    or signed up the first time."""
    from liveshop.seed import DEMO_PASSWORD, demo_email  # the seed imports the models

    email = demo_email(f"{prefix}-{i}")
    r = await http.post("/auth/signin", json={"email": email, "password": DEMO_PASSWORD})
    if r.status_code == 401:
        r = await http.post(
            "/auth/signup",
            json={"email": email, "password": DEMO_PASSWORD, "display_name": f"Fan {i:03d}"},
        )
    r.raise_for_status()
    return str(r.json()["token"])
