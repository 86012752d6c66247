"""The embedded default end to end, as a newcomer runs it: a real server process on SQLite,
the demo seed, a demo fan buying a demo product and paying on the sandbox pay page, with the
webhook travelling over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

DEMO_PASSWORD = "liveshop-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LIVESHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "LIVESHOP_VAR_DIR": str(tmp_path / "var"),
        "LIVESHOP_PUBLIC_URL": base,
        "LIVESHOP_ARGON2_TIME_COST": "1",
        "LIVESHOP_ARGON2_MEMORY_COST_KIB": "64",
        "LIVESHOP_SWEEP_INTERVAL_SECONDS": "0.5",
    }
    env.pop("LIVESHOP_REDIS_URL", None)
    env.pop("LIVESHOP_DATABASE_SCHEMA", None)
    cli = [sys.executable, "-m", "liveshop"]
    for args in (["db", "upgrade"], ["db", "seed-demo"], ["db", "seed-demo"]):
        done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not start:\n" + (tmp_path / "server.log").read_text())
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_a_demo_fan_buys_a_demo_product_and_pays_on_the_sandbox_page(demo_server: str) -> None:
    with httpx.Client(base_url=demo_server, timeout=10) as http:
        assert "liveshop" in http.get("/").text
        signin = http.post(
            "/auth/signin", json={"email": "fan1@demo.liveshop.dev", "password": DEMO_PASSWORD}
        )
        assert signin.status_code == 200, signin.text
        auth = {"Authorization": f"Bearer {signin.json()['token']}"}

        products = http.get("/catalog/products").json()["items"]
        assert len(products) >= 3
        product = http.get(f"/catalog/products/{products[0]['id']}").json()
        sku = product["skus"][0]

        order = http.post(
            "/orders",
            json={
                "lines": [{"sku_id": sku["id"], "quantity": 1}],
                "shipping_address": {
                    "recipient": "Fan One",
                    "phone": "13800000000",
                    "line1": "88 Huaihai Rd",
                    "city": "Shanghai",
                    "region": "Shanghai",
                },
            },
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert order.status_code == 201, order.text
        order_id = order.json()["id"]
        assert order.json()["total_minor"] == sku["price_minor"]

        payment = http.post(
            f"/orders/{order_id}/payments",
            json={"return_url": "/"},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert payment.status_code == 201, payment.text
        pay_url = payment.json()["pay_url"]
        assert pay_url.startswith(demo_server)
        page = http.get(pay_url)
        assert "Approve payment" in page.text
        decided = http.post(f"{pay_url}/decision", data={"decision": "approve"})
        assert decided.status_code == 303

        deadline = time.monotonic() + 15
        while True:
            status = http.get(f"/orders/{order_id}", headers=auth).json()["status"]
            if status == "paid" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == "paid"


def test_the_demo_live_session_is_live_and_its_room_can_be_joined(demo_server: str) -> None:
    from websockets.sync.client import connect

    with httpx.Client(base_url=demo_server, timeout=10) as http:
        sessions = http.get("/live/sessions", params={"status": "live"}).json()["items"]
        assert len(sessions) == 1
        session_id = sessions[0]["id"]
        signin = http.post(
            "/auth/signin", json={"email": "fan1@demo.liveshop.dev", "password": DEMO_PASSWORD}
        )
        token = signin.json()["token"]
    ws_url = demo_server.replace("http://", "ws://") + f"/ws/rooms/{session_id}"
    with connect(ws_url) as ws:
        ws.send(json.dumps({"type": "hello", "token": token}))
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "snapshot"
        snapshot = first["snapshot"]
        assert snapshot["session"]["status"] == "live"
        assert snapshot["pinned"]["id"] == snapshot["showcase"][0]["id"]
        assert len(snapshot["showcase"]) >= 3
        ws.send(json.dumps({"type": "chat", "text": "Hello from the demo test"}))
        deadline = time.monotonic() + 10
        texts: list[str] = []
        while time.monotonic() < deadline and "Hello from the demo test" not in texts:
            message = json.loads(ws.recv(timeout=10))
            texts += [e["text"] for e in message.get("events", []) if e["type"] == "chat"]
        assert "Hello from the demo test" in texts
    # a terminal viewer (`liveshop watch`) joins the same room
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "liveshop",
            "watch",
            session_id,
            "--url",
            demo_server,
            "--count",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Autumn tea & knitwear live (live)" in done.stdout
    assert "Hello from the demo test" in done.stdout


def test_the_demo_promotion_script_runs_a_flash_sale_a_coupon_drop_an_envelope_and_a_raffle(
    demo_server: str, tmp_path: Path
) -> None:
    import asyncio

    from liveshop.promotions.raffles.proof import parse_proof, verify
    from liveshop.simulate.promotions import Script, one_cycle

    async def cycle() -> Any:
        async with httpx.AsyncClient(base_url=demo_server, timeout=30) as http:
            return await one_cycle(http, Script(base_url=demo_server, fans=6), 0)

    done = asyncio.run(cycle())
    assert done.flash_sale_id and done.bought == 3 and done.sold_out == 3
    assert done.coupon_drop_id and done.coupons_claimed == 3 and done.coupons_gone == 3
    assert done.envelope_id and len(done.grabbed_minor) == 3 and sum(done.grabbed_minor) == 888
    assert done.raffle_id and done.entrants == 6 and len(done.winners) == 1
    with httpx.Client(base_url=demo_server, timeout=10) as http:
        proof = http.get(f"/raffles/{done.raffle_id}/proof")
        assert verify(parse_proof(proof.content)).winners == done.winners
        sale = http.get(f"/flash-sales/{done.flash_sale_id}").json()
        assert sale["left"] == 0
        drop = http.get(f"/coupon-drops/{done.coupon_drop_id}").json()
        assert drop["claimed"] == 3 and drop["status"] == "ended"
        template = http.get(f"/coupon-templates/{drop['coupon']['template_id']}").json()
        # the operator's wallet funds the demo coupon: every coupon's 5.00, escrowed
        assert (template["funded_by"], template["budget_minor"]) == ("wallet", 6 * 500)
