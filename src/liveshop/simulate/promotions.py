"""The demo's promotions: every cycle the demo operator runs a flash sale, drops a coupon,
launches a red envelope and a raffle in the live demo session, and simulated fans buy, claim,
grab and enter — all through the public HTTP API, exactly as people would.

``liveshop demo`` runs :func:`run` next to the server; tests run one cycle against a real one.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from liveshop.seed import DEMO_PASSWORD, demo_email
from liveshop.simulate.talk import flash_buy_body

log = structlog.get_logger(__name__)


ENVELOPE_MINOR = 888
COUPON_OFF_MINOR = 500
COUPON_MIN_SPEND_MINOR = 3000
TOP_UP_MINOR = 100_000


@dataclass
class Cycle:
    """What one cycle did (the demo prints it; the tests check it)."""

    flash_sale_id: str | None = None
    bought: int = 0
    sold_out: int = 0
    coupon_drop_id: str | None = None
    coupons_claimed: int = 0
    coupons_gone: int = 0
    envelope_id: str | None = None
    grabbed_minor: list[int] = field(default_factory=list)
    raffle_id: str | None = None
    entrants: int = 0
    winners: list[str] = field(default_factory=list)


@dataclass
class Script:
    base_url: str
    fans: int = 8
    countdown_seconds: int = 10
    entry_seconds: int = 15
    pause_seconds: float = 60.0


async def _token(http: httpx.AsyncClient, email: str, name: str) -> str:
    r = await http.post("/auth/signin", json={"email": email, "password": DEMO_PASSWORD})
    if r.status_code == 401:
        r = await http.post(
            "/auth/signup", json={"email": email, "password": DEMO_PASSWORD, "display_name": name}
        )
    r.raise_for_status()
    return str(r.json()["token"])


def _auth(token: str, *, key: bool = False) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    return headers


async def _wait_for(
    http: httpx.AsyncClient,
    url: str,
    done: Any,
    *,
    within: float,
    every: float = 0.5,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        body: dict[str, Any] = (await http.get(url, headers=headers)).json()
        if done(body) or loop.time() > deadline:
            return body
        await asyncio.sleep(every)


async def _ensure_balance(http: httpx.AsyncClient, token: str, need: int) -> None:
    """Red envelopes and coupon budgets are paid from the funder's wallet: when it would not
    cover ``need``, top
    it up through the payment provider's pay page, as a person would (the seed's grant lasts
    thousands of cycles, so this rarely runs)."""
    balances = (await http.get("/wallet", headers=_auth(token))).json()["balances"]
    if max((b["balance_minor"] for b in balances), default=0) >= need:
        return
    started = await http.post(
        "/wallet/top-ups", json={"amount_minor": TOP_UP_MINOR}, headers=_auth(token, key=True)
    )
    started.raise_for_status()
    top_up = started.json()
    await http.post(f"{httpx.URL(top_up['pay_url']).path}/decision", data={"decision": "approve"})
    await _wait_for(
        http,
        f"/wallet/top-ups/{top_up['id']}",
        lambda t: t.get("status") != "requires_action",
        within=30,
        headers=_auth(token),
    )


async def one_cycle(http: httpx.AsyncClient, script: Script, n: int = 0) -> Cycle:
    """Run a flash sale, a coupon drop, a red envelope and a raffle once in the live demo
    session."""
    operator = await _token(http, demo_email("operator"), "Demo Operator")
    fans = [
        await _token(http, f"sim-fan-{i}@demo.liveshop.dev", f"Sim Fan {i}")
        for i in range(script.fans)
    ]
    live = (await http.get("/live/sessions", params={"status": "live"})).json()["items"]
    if not live:
        raise RuntimeError("no live session: run `liveshop db seed-demo`")
    session_id = live[0]["id"]
    showcase = (await http.get(f"/live/sessions/{session_id}/state")).json()["showcase"]
    item = showcase[n % len(showcase)]
    prize = showcase[(n + 1) % len(showcase)]
    base = f"/live/sessions/{session_id}"
    cycle = Cycle()

    sale = await http.post(
        f"{base}/flash-sales",
        json={
            "item_id": item["id"],
            "price_minor": max(1, item["live_price_minor"] * 6 // 10),
            "quantity": max(1, script.fans // 2),
            "countdown_seconds": script.countdown_seconds,
            "duration_seconds": 60,
        },
        headers=_auth(operator, key=True),
    )
    if sale.status_code == 201:
        cycle.flash_sale_id = sale.json()["id"]
    else:
        log.warning("demo_flash_sale_refused", status=sale.status_code, body=sale.text)

    await _coupon_drop(http, operator, fans, session_id, cycle)

    await _ensure_balance(http, operator, ENVELOPE_MINOR)
    envelope = await http.post(
        f"{base}/red-envelopes",
        json={
            "amount_minor": ENVELOPE_MINOR,
            "count": max(1, script.fans // 2),
            "expires_in_seconds": 600,
        },
        headers=_auth(operator, key=True),
    )
    if envelope.status_code == 201:
        cycle.envelope_id = envelope.json()["id"]
        for fan in fans:
            grab = await http.post(
                f"/red-envelopes/{cycle.envelope_id}/grab", headers=_auth(fan, key=True)
            )
            if grab.is_success:
                cycle.grabbed_minor.append(int(grab.json()["amount_minor"]))
    else:
        log.warning("demo_envelope_refused", status=envelope.status_code, body=envelope.text)

    raffle = await http.post(
        f"{base}/raffles",
        json={
            "title": f"Win a {prize['title']}",
            "item_id": prize["id"],
            "entry_seconds": script.entry_seconds,
        },
        headers=_auth(operator),
    )
    if raffle.status_code == 201:
        cycle.raffle_id = raffle.json()["id"]
        for fan in fans:
            entered = await http.post(
                f"/raffles/{cycle.raffle_id}/enter", headers=_auth(fan, key=True)
            )
            cycle.entrants += entered.status_code in (200, 201)

    if cycle.flash_sale_id:
        await _wait_for(
            http,
            f"/flash-sales/{cycle.flash_sale_id}",
            lambda s: s["status"] == "open",
            within=script.countdown_seconds + 10,
        )
        for fan in fans:
            r = await http.post(
                f"/flash-sales/{cycle.flash_sale_id}/buy",
                json=flash_buy_body(),
                headers=_auth(fan, key=True),
            )
            cycle.bought += r.status_code == 201
            cycle.sold_out += r.status_code == 409 and r.json().get("code") == "flash.sold_out"

    if cycle.raffle_id:
        done = await _wait_for(
            http,
            f"/raffles/{cycle.raffle_id}",
            lambda r: bool(r.get("winners")),
            within=script.entry_seconds + 15,
        )
        cycle.winners = [w["id"] for w in done.get("winners") or []]
    return cycle


async def _coupon_drop(
    http: httpx.AsyncClient, operator: str, fans: list[str], session_id: str, cycle: Cycle
) -> None:
    """A live-only coupon (5.00 off 30.00) dropped for half the fans; every fan tries. The
    operator funds it from its wallet (a budget of every coupon's 5.00; the merchants
    receive the full price), so the budget is topped up first when the wallet is short."""
    budget = len(fans) * COUPON_OFF_MINOR
    await _ensure_balance(http, operator, budget)
    template = await http.post(
        "/coupon-templates",
        json={
            "title": "Live room: 5 off 30",
            "kind": "fixed",
            "amount_off_minor": COUPON_OFF_MINOR,
            "min_spend_minor": COUPON_MIN_SPEND_MINOR,
            "valid_until": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "live_session_only": True,
            "quota": len(fans),
            "session_id": session_id,
            "funded_by": "wallet",
            "budget_minor": budget,
        },
        headers=_auth(operator, key=True),
    )
    if template.status_code != 201:
        log.warning("demo_coupon_refused", status=template.status_code, body=template.text)
        return
    drop = await http.post(
        f"/live/sessions/{session_id}/coupon-drops",
        json={"template_id": template.json()["id"], "quota": max(1, len(fans) // 2)},
        headers=_auth(operator, key=True),
    )
    if drop.status_code != 201:
        log.warning("demo_coupon_drop_refused", status=drop.status_code, body=drop.text)
        return
    cycle.coupon_drop_id = drop.json()["id"]
    for fan in fans:
        claim = await http.post(
            f"/coupon-drops/{cycle.coupon_drop_id}/claim", headers=_auth(fan, key=True)
        )
        cycle.coupons_claimed += claim.status_code in (200, 201)
        cycle.coupons_gone += claim.status_code == 409


async def run(script: Script, *, cycles: int | None = None) -> None:
    """Run cycles until cancelled (or ``cycles`` of them), pausing between them."""
    async with httpx.AsyncClient(base_url=script.base_url, timeout=30) as http:
        n = 0
        while cycles is None or n < cycles:
            try:
                cycle = await one_cycle(http, script, n)
                log.info("demo_promotions", cycle=n, **cycle.__dict__)
            except (httpx.HTTPError, RuntimeError) as exc:
                log.warning("demo_promotions_failed", error=str(exc))
            n += 1
            await asyncio.sleep(script.pause_seconds)
