"""Live room fixtures: a real uvicorn server on a loopback port (``tests.servers.serve``: in the
test's event loop, sharing the app and its lifespan) and a small WebSocket client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from liveshop.deps import Runtime
from liveshop.live.models import LiveSession
from tests.conftest import Actor
from tests.factories import Shop, make_deal, make_shop
from tests.servers import serve
from tests.wallet.helpers import top_up

ROOM_ANCHOR_CREDIT = 1_000_000


@dataclass
class LiveServer:
    host: str
    port: int

    @property
    def ws_base(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
async def live_server(app: FastAPI) -> AsyncIterator[LiveServer]:
    async with serve(app) as served:
        yield LiveServer(served.host, served.port)


@dataclass
class RoomClient:
    """A viewer: sends hello, keeps every message, lets a test wait for what it expects."""

    ws: ClientConnection
    messages: list[dict[str, Any]] = field(default_factory=list)
    first: dict[str, Any] | None = None

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        if isinstance(message, dict):
            message = orjson.dumps(message).decode()
        await self.ws.send(message)

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout=within)
        message: dict[str, Any] = orjson.loads(raw)
        self.messages.append(message)
        return message

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 5.0
    ) -> dict[str, Any]:
        """The next message (or event inside a frame) that satisfies ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("expected message did not arrive")
            message = await self.next(within=left)
            candidates = message.get("events", [message])
            for item in candidates:
                if predicate(item):
                    return item

    async def event(self, kind: str, within: float = 5.0) -> dict[str, Any]:
        return await self.wait_for(lambda e: e.get("type") == kind, within)

    def events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for message in self.messages:
            out.extend(message.get("events", []))
        return out

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def open_room(live_server: LiveServer) -> AsyncIterator[Any]:
    """open_room(session_id, token=None, last_seq=None, hello=True) -> RoomClient"""
    opened: list[RoomClient] = []

    async def factory(
        session_id: str,
        token: str | None = None,
        *,
        last_seq: int | None = None,
        hello: bool = True,
        **kwargs: Any,
    ) -> RoomClient:
        ws = await connect(f"{live_server.ws_base}/ws/rooms/{session_id}", **kwargs)
        client = RoomClient(ws)
        opened.append(client)
        if hello:
            await client.send({"type": "hello", "token": token, "last_seq": last_seq})
            client.first = await client.next()
        return client

    yield factory
    for client in opened:
        with contextlib.suppress(Exception):
            await client.close()


@dataclass
class Room:
    id: str
    anchor: Actor
    shop: Shop
    item_ids: list[str]


@pytest.fixture
async def live_room(runtime: Runtime, client: Any, make_account: Any) -> Room:
    """A live session of a fresh anchor with a two-item rundown, started through the API; the
    anchor has topped up :data:`ROOM_ANCHOR_CREDIT` (red envelopes are paid from its wallet)
    and sells the shop's product under a deal with it (floor 0, ample shares)."""
    anchor = await make_account("anchor")
    shop = await make_shop(runtime, prices=(9900, 19900))
    await make_deal(runtime, product_id=shop.product_id, anchor_id=anchor.id)
    response = await client.post(
        "/live/sessions",
        json={"title": "Autumn picks", "scheduled_at": runtime.clock.now().isoformat()},
        headers=anchor.headers,
    )
    assert response.status_code == 201, response.text
    session_id = response.json()["id"]
    response = await client.put(
        f"/live/sessions/{session_id}/rundown",
        json={
            "items": [
                {"sku_id": shop.sku_ids[0], "live_price_minor": 7900},
                {"sku_id": shop.sku_ids[1], "live_price_minor": 15900},
            ]
        },
        headers=anchor.headers,
    )
    assert response.status_code == 200, response.text
    item_ids = [item["id"] for item in response.json()["items"]]
    response = await client.post(f"/live/sessions/{session_id}/start", headers=anchor.headers)
    assert response.status_code == 200, response.text
    async with runtime.sessionmaker() as s:
        assert (await s.get(LiveSession, session_id)) is not None
    await top_up(client, runtime, anchor, ROOM_ANCHOR_CREDIT)
    return Room(session_id, anchor, shop, item_ids)
