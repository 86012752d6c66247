"""``liveshop watch``: join a room's WebSocket from a terminal and print what arrives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from websockets.asyncio.client import connect


def describe(event: dict[str, Any]) -> str:
    kind = event.get("type")
    if kind == "chat":
        return f"[chat] {event['user']['name']}: {event['text']}"
    if kind == "counters":
        return (
            f"[counters] online {event['online']}  likes {event['likes']}  "
            f"unique {event['unique']}  peak {event['peak']}"
        )
    if kind == "product.pinned":
        item = event["item"]
        price = f"{item['live_price_minor']} {item['currency']}"
        return f"[pinned #{event['seq']}] {item['title']} {price}"
    return (
        f"[{kind}{' #' + str(event['seq']) if 'seq' in event else ''}] "
        + orjson.dumps({k: v for k, v in event.items() if k not in ("type", "seq")}).decode()
    )


async def watch(
    url: str,
    session_id: str,
    *,
    token: str | None,
    count: int | None,
    out: Callable[[str], None],
) -> int:
    """Print the snapshot and then every event; stop after ``count`` messages if given."""
    ws_url = url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/")
    received = 0
    async with connect(f"{ws_url}/ws/rooms/{session_id}") as ws:
        await ws.send(orjson.dumps({"type": "hello", "token": token}).decode())
        async for raw in ws:
            message = orjson.loads(raw)
            received += 1
            if message.get("type") == "snapshot":
                snap = message["snapshot"]
                session = snap["session"]
                anchor = session["anchor"]["display_name"]
                out(f"{session['title']} ({session['status']}) by {anchor}")
                pinned = snap.get("pinned")
                title = pinned["title"] if pinned else "-"
                out(f"pinned: {title}; showcase: {len(snap['showcase'])} items")
                out(describe(snap["counters"]))
                for chat in snap["chat"]:
                    out(describe(chat))
            elif "events" in message:
                for event in message["events"]:
                    out(describe(event))
            else:
                out(describe(message))
            if count is not None and received >= count:
                break
    return received


def run(url: str, session_id: str, token: str | None, count: int | None) -> int:
    return asyncio.run(watch(url, session_id, token=token, count=count, out=print))
