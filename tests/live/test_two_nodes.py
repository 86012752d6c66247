"""Two app processes on different ports sharing PostgreSQL and Redis: a chat sent on node 1
reaches a viewer on node 2, priority events cross too, and both nodes agree on the totals."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from liveshop.clock import SystemClock
from liveshop.config import Settings
from liveshop.seed import DEMO_PASSWORD, demo_email, seed_demo
from tests.conftest import REDIS_URL, connect_redis
from tests.live.conftest import RoomClient
from tests.test_demo_e2e import free_port


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
async def seeded(database_url: str, tmp_path: Path) -> str:
    redis = await connect_redis()  # skips (or fails when required) without Redis
    await redis.aclose()
    settings = Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
    )
    data = await seed_demo(settings, now=SystemClock().now())
    assert data.session_id
    return data.session_id


@pytest.fixture
def nodes(database_url: str, seeded: str, tmp_path: Path) -> Iterator[list[str]]:
    bases: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    for n in (1, 2):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "LIVESHOP_DATABASE_URL": database_url,
            "LIVESHOP_REDIS_URL": REDIS_URL,
            "LIVESHOP_VAR_DIR": str(tmp_path / f"var{n}"),
            "LIVESHOP_PUBLIC_URL": base,
            "LIVESHOP_ARGON2_TIME_COST": "1",
            "LIVESHOP_ARGON2_MEMORY_COST_KIB": "64",
            "LIVESHOP_SECRET_KEY": "two-node-test-secret-0123456789abcdef",
            "LIVESHOP_HUB_TICK_MS": "50",
        }
        log = (tmp_path / f"node{n}.log").open("w")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "liveshop",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        bases.append(base)
    try:
        for n, (base, proc) in enumerate(zip(bases, procs, strict=True), start=1):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"node {n} did not start:\n" + (tmp_path / f"node{n}.log").read_text()
                    )
                time.sleep(0.2)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


async def _signin(http: httpx.AsyncClient, name: str) -> str:
    r = await http.post("/auth/signin", json={"email": demo_email(name), "password": DEMO_PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


@pytest.fixture
async def viewers() -> AsyncIterator[Any]:
    opened: list[RoomClient] = []

    async def open_viewer(base: str, session_id: str, token: str | None = None) -> RoomClient:
        ws = await connect(base.replace("http", "ws", 1) + f"/ws/rooms/{session_id}")
        client = RoomClient(ws)
        opened.append(client)
        await client.send({"type": "hello", "token": token})
        client.first = await client.next()
        assert client.first["type"] == "snapshot", client.first
        return client

    yield open_viewer
    for client in opened:
        await client.close()


async def test_chat_and_priority_events_cross_nodes_and_totals_agree(
    nodes: list[str], seeded: str, viewers: Any
) -> None:
    node1, node2 = nodes
    session_id = seeded
    async with (
        httpx.AsyncClient(base_url=node1, timeout=10) as h1,
        httpx.AsyncClient(base_url=node2, timeout=10) as h2,
    ):
        fan1 = await _signin(h1, "fan1")
        fan2 = await _signin(h2, "fan2")
        operator = await _signin(h2, "operator")
        speaker = await viewers(node1, session_id, fan1)
        watcher = await viewers(node2, session_id)
        liker = await viewers(node2, session_id, fan2)

        await speaker.send({"type": "chat", "text": "hello from node 1"})
        chat = await watcher.wait_for(lambda e: e.get("type") == "chat")
        assert chat["text"] == "hello from node 1"

        await speaker.send({"type": "like", "count": 20})
        await liker.send({"type": "like", "count": 5})

        def settled(e: dict[str, Any]) -> bool:
            return e.get("type") == "counters" and e["likes"] == 25 and e["online"] == 3

        on1 = await speaker.wait_for(settled, within=10)
        on2 = await watcher.wait_for(settled, within=10)
        assert on1 == on2
        assert on1["unique"] == 3

        state = (await h1.get(f"/live/sessions/{session_id}/state")).json()
        item = state["showcase"][1]["id"]
        pin = await h2.post(
            f"/live/sessions/{session_id}/pin",
            json={"item_id": item},
            headers={"Authorization": f"Bearer {operator}"},
        )
        assert pin.status_code == 200, pin.text
        pinned = await speaker.wait_for(lambda e: e.get("type") == "product.pinned")
        assert pinned["item"]["id"] == item

        deleted = await h2.delete(
            f"/live/sessions/{session_id}/chat/{chat['id']}",
            headers={"Authorization": f"Bearer {operator}"},
        )
        assert deleted.status_code == 204, deleted.text
        gone = await speaker.wait_for(lambda e: e.get("type") == "chat.deleted")
        assert gone["id"] == chat["id"]
        assert (await watcher.wait_for(lambda e: e.get("type") == "chat.deleted"))["seq"] == gone[
            "seq"
        ]

        await liker.close()
        left = await speaker.wait_for(
            lambda e: e.get("type") == "counters" and e["online"] == 2, within=10
        )
        assert left["likes"] == 25 and left["peak"] == 3
        await asyncio.sleep(0)
        late = await viewers(node1, session_id)
        assert [m["text"] for m in late.first["snapshot"]["chat"]] == []
        assert late.first["snapshot"]["pinned"]["id"] == item
        assert orjson.dumps(late.first["snapshot"]["session"])
