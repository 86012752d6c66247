"""The demo's audience: simulated viewers who come and go, chat about the products, like,
follow the anchor and now and then buy the product being explained — all through the public
WebSocket and HTTP APIs, as people's phones would. What a fan says, how many likes a burst
sends, the address and the sign-in are ``simulate/talk.py``'s, which the benchmarks share.

``liveshop demo --viewers N`` runs :func:`run` next to the server (about ``N`` viewers at a
time, a tenth of them signed in and talking); the tests run a small crowd for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import structlog
from websockets.asyncio.client import connect

from liveshop.simulate import talk

log = structlog.get_logger(__name__)


@dataclass
class Crowd:
    base_url: str
    viewers: int = 200
    talkers: int = 20  # signed-in viewers who chat, like, follow and buy
    stay: tuple[float, float] = (20.0, 120.0)  # seconds a viewer stays
    chat_every: tuple[float, float] = (6.0, 20.0)
    buy_chance: float = 0.02  # per chat line: the talker buys the pinned product
    seed: int | None = None


@dataclass
class Tally:
    """What the crowd did (the tests check it)."""

    joined: int = 0
    left: int = 0
    chats: int = 0
    likes: int = 0
    follows: int = 0
    orders: int = 0
    paid: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class _Viewer:
    def __init__(
        self,
        crowd: Crowd,
        session_id: str,
        token: str | None,
        rng: random.Random,
        tally: Tally,
        purchases: set[asyncio.Task[None]],
    ) -> None:
        self.crowd = crowd
        self.purchases = purchases
        self.session_id = session_id
        self.token = token
        self.rng = rng
        self.tally = tally
        self.state: dict[str, Any] = {}

    async def visit(self, http: httpx.AsyncClient) -> None:
        url = self.crowd.base_url.replace("http", "ws", 1) + f"/ws/rooms/{self.session_id}"
        stay = self.rng.uniform(*self.crowd.stay)
        async with connect(url, open_timeout=10, close_timeout=2) as ws:
            await ws.send(orjson.dumps({"type": "hello", "token": self.token}).decode())
            first = orjson.loads(await ws.recv())
            self.state = first.get("snapshot", {})
            self.tally.joined += 1
            reader = asyncio.create_task(self._read(ws))
            try:
                if self.token is not None:
                    await asyncio.wait_for(self._talk(ws, http), timeout=stay)
                else:
                    await asyncio.sleep(stay)
            except TimeoutError:
                pass
            finally:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
        self.tally.left += 1

    async def _read(self, ws: Any) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            for event in message.get("events", ()):
                talk.follow(self.state, event)

    async def _talk(self, ws: Any, http: httpx.AsyncClient) -> None:
        assert self.token is not None
        auth = {"Authorization": f"Bearer {self.token}"}
        anchor = (self.state.get("session") or {}).get("anchor", {}).get("id")
        if anchor and self.rng.random() < 0.5:
            r = await http.post(f"/anchors/{anchor}/follow", headers=auth)
            if r.status_code == 201:  # a new follower (200: followed already)
                self.tally.follows += 1
        greeting = talk.greeting(self.rng)
        await ws.send(orjson.dumps({"type": "chat", "text": greeting}).decode())
        self.tally.chats += 1
        while True:
            await asyncio.sleep(self.rng.uniform(*self.crowd.chat_every))
            likes = talk.like_burst(self.rng)
            await ws.send(orjson.dumps({"type": "like", "count": likes}).decode())
            self.tally.likes += likes
            item = talk.subject(self.rng, self.state)
            text = talk.line(self.rng, item)
            await ws.send(orjson.dumps({"type": "chat", "text": text}).decode())
            self.tally.chats += 1
            if item.get("sku_id") and self.rng.random() < self.crowd.buy_chance:
                # A buyer who started paying finishes paying, even when their visit ends (or
                # the crowd stops) meanwhile: ``run`` waits for every purchase.
                purchase = asyncio.create_task(self._buy(http, auth, item["sku_id"]))
                self.purchases.add(purchase)
                purchase.add_done_callback(self.purchases.discard)
                await asyncio.shield(purchase)

    async def _buy(self, http: httpx.AsyncClient, auth: dict[str, str], sku_id: str) -> None:
        order = await http.post(
            "/orders",
            json=talk.order_body(sku_id, self.session_id),
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        if order.status_code != 201:
            self.tally.error(f"order {order.status_code}")
            return
        self.tally.orders += 1
        payment = await http.post(
            f"/orders/{order.json()['id']}/payments",
            json={"return_url": f"/live/{self.session_id}"},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        if payment.status_code != 201:
            self.tally.error(f"payment {payment.status_code}")
            return
        pay = httpx.URL(payment.json()["pay_url"]).path
        decided = await http.post(f"{pay}/decision", data={"decision": "approve"})
        if decided.status_code == 303:
            self.tally.paid += 1


async def run(crowd: Crowd, *, seconds: float | None = None, tally: Tally | None = None) -> Tally:
    """Keep about ``crowd.viewers`` viewers in the live demo session (for ``seconds``, or
    until cancelled)."""
    rng = random.Random(crowd.seed)
    tally = tally or Tally()
    async with httpx.AsyncClient(base_url=crowd.base_url, timeout=30) as http:
        live = (await http.get("/live/sessions", params={"status": "live"})).json()["items"]
        if not live:
            raise RuntimeError("no live session: run `liveshop db seed-demo`")
        session_id = live[0]["id"]
        talkers = min(crowd.talkers, crowd.viewers)
        tokens = [await talk.sign_in(http, i, prefix="crowd") for i in range(talkers)]
        free = list(tokens)
        running: set[asyncio.Task[None]] = set()
        purchases: set[asyncio.Task[None]] = set()

        async def one(token: str | None) -> None:
            try:
                await _Viewer(crowd, session_id, token, rng, tally, purchases).visit(http)
            except (OSError, TimeoutError, httpx.HTTPError) as exc:
                tally.error(type(exc).__name__)
            except Exception as exc:  # a closed socket, a refused join: the next one comes
                tally.error(type(exc).__name__)
            finally:
                if token is not None:
                    free.append(token)

        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        try:
            while deadline is None or loop.time() < deadline:
                while len(running) < crowd.viewers:
                    token = free.pop() if free and rng.random() < 0.5 else None
                    task = asyncio.create_task(one(token))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    await asyncio.sleep(rng.uniform(0.0, 0.05))  # arrivals, not a stampede
                await asyncio.sleep(0.5)
        finally:
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for outcome in await asyncio.gather(*purchases, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    tally.error(type(outcome).__name__)
    log.info("crowd_done", **{k: v for k, v in vars(tally).items() if k != "errors"})
    return tally
