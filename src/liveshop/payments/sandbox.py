"""The built-in ``sandbox`` payment provider: behaves like a real one, moves no money.

- ``create_intent`` returns a hosted pay page URL (``/sandbox/pay/{intent}``) where the
  buyer approves or declines.
- The outcome reaches liveshop asynchronously as a webhook POST signed with HMAC-SHA256:
  header ``Liveshop-Signature: t=<unix seconds>,v1=<hex hmac of "<t>.<body>">``. Events sit
  in an outbox (``sandbox_events``) and are retried with backoff until accepted.
- Refunds, full or partial, up to what was captured.

Its books live in the same database as liveshop's, standing in for the provider's own.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import orjson
import structlog
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.clock import Clock
from liveshop.config import Settings
from liveshop.errors import Problem, conflict, not_found
from liveshop.payments.models import SandboxEvent, SandboxIntent, SandboxRefund
from liveshop.payments.provider import Intent, ProviderEvent, ProviderRefund

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "Liveshop-Signature"
BACKOFF_SECONDS = (1, 5, 30, 120, 600, 1800)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: "²".isdigit() is True
_SIGNATURE = re.compile(r"[0-9a-f]{64}")  # a hex HMAC-SHA256 (compare_digest takes only ASCII)


def _parse_signature(header: str) -> tuple[int, list[str]]:
    """``t=<unix seconds>,v1=<hex>[,v1=<hex>...]``; anything else is 400
    ``webhook.invalid_signature``."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and _TIMESTAMP.fullmatch(value):
            timestamp = int(value)
        elif name == "v1" and _SIGNATURE.fullmatch(value):
            signatures.append(value)
    if timestamp is None or not signatures:
        raise Problem(400, "webhook.invalid_signature", "malformed signature header")
    return timestamp, signatures


class SandboxProvider:
    name = "sandbox"

    def __init__(self, *, settings: Settings, clock: Clock) -> None:
        self._secret = settings.webhook_secret
        self._tolerance = settings.webhook_tolerance_seconds
        self._public_url = settings.public_url.rstrip("/")
        self._webhook_url = settings.webhook_url
        self._clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- the provider protocol -----------------------------------------------------------

    async def create_intent(
        self,
        session: AsyncSession,
        *,
        amount_minor: int,
        currency: str,
        reference: str,
        description: str,
        return_url: str | None,
        idempotency_key: str,
    ) -> Intent:
        key = f"{reference}:{idempotency_key}"
        existing = (
            await session.execute(select(SandboxIntent).where(SandboxIntent.idempotency_key == key))
        ).scalar_one_or_none()
        if existing is None:
            existing = SandboxIntent(
                id="pi_" + secrets.token_urlsafe(18),
                reference=reference,
                amount_minor=amount_minor,
                refunded_minor=0,
                currency=currency,
                description=description[:200],
                status="requires_action",
                return_url=return_url,
                idempotency_key=key,
                created_at=self._clock.now(),
            )
            session.add(existing)
            await session.flush()
        elif existing.amount_minor != amount_minor or existing.currency != currency:
            raise conflict(
                "payment.provider_conflict", "the provider saw this key with another amount"
            )
        return self._intent(existing)

    async def refund(
        self, session: AsyncSession, *, intent_id: str, amount_minor: int, idempotency_key: str
    ) -> ProviderRefund:
        key = f"{intent_id}:{idempotency_key}"
        done = (
            await session.execute(select(SandboxRefund).where(SandboxRefund.idempotency_key == key))
        ).scalar_one_or_none()
        if done is not None:
            return ProviderRefund(done.id, intent_id, done.amount_minor, "succeeded")
        intent = await session.get(SandboxIntent, intent_id)
        if intent is None:
            raise not_found("payment.not_found", "the provider does not know this payment")
        if intent.status != "succeeded":
            raise conflict("refund.not_captured", "only a succeeded payment can be refunded")
        # One guarded update: never more than the intent captured, whatever ran meanwhile.
        refunded = (
            None
            if amount_minor <= 0
            else await session.scalar(
                update(SandboxIntent)
                .where(
                    SandboxIntent.id == intent_id,
                    SandboxIntent.refunded_minor + amount_minor <= SandboxIntent.amount_minor,
                )
                .values(refunded_minor=SandboxIntent.refunded_minor + amount_minor)
                .returning(SandboxIntent.refunded_minor)
                .execution_options(synchronize_session=False)
            )
        )
        if refunded is None:
            await session.refresh(intent)
            raise conflict(
                "refund.exceeds_captured",
                f"at most {intent.amount_minor - intent.refunded_minor} can still be refunded",
            )
        await session.refresh(intent)
        refund = SandboxRefund(
            id="re_" + secrets.token_urlsafe(18),
            intent_id=intent_id,
            amount_minor=amount_minor,
            idempotency_key=key,
            created_at=self._clock.now(),
        )
        session.add(refund)
        self._enqueue(session, "refund.succeeded", intent, amount_minor, refund_id=refund.id)
        await session.flush()
        return ProviderRefund(refund.id, intent_id, amount_minor, "succeeded")

    def verify_webhook(
        self, *, headers: Mapping[str, str], body: bytes, now: float
    ) -> ProviderEvent:
        header = headers.get(SIGNATURE_HEADER.lower()) or headers.get(SIGNATURE_HEADER)
        if not header:
            raise Problem(400, "webhook.invalid_signature", f"missing {SIGNATURE_HEADER} header")
        timestamp, signatures = _parse_signature(header)
        expected = sign(self._secret, body, timestamp).partition("v1=")[2]
        if not any(hmac.compare_digest(expected, s) for s in signatures):
            raise Problem(400, "webhook.invalid_signature", "the signature does not match")
        if abs(now - timestamp) > self._tolerance:
            raise Problem(400, "webhook.stale", "the webhook timestamp is outside the tolerance")
        try:
            payload = orjson.loads(body)
            data = payload["data"]
            return ProviderEvent(
                id=str(payload["id"]),
                type=str(payload["type"]),
                intent_id=str(data["intent_id"]),
                amount_minor=int(data["amount_minor"]),
                currency=str(data["currency"]),
                created=int(payload["created"]),
                data=data,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise Problem(
                400, "webhook.malformed", "the webhook body is not a valid event"
            ) from exc

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the hosted pay page -------------------------------------------------------------

    async def get_intent(self, session: AsyncSession, *, intent_id: str) -> SandboxIntent:
        intent = await session.get(SandboxIntent, intent_id)
        if intent is None:
            raise not_found("payment.not_found", "no such payment")
        return intent

    async def decide(
        self, session: AsyncSession, *, intent_id: str, approve: bool
    ) -> SandboxIntent:
        """The buyer approves or declines on the pay page; the outcome goes to the outbox."""
        intent = await self.get_intent(session, intent_id=intent_id)
        # Guarded: of concurrent decisions on one intent exactly one wins.
        decided = await session.execute(
            update(SandboxIntent)
            .where(SandboxIntent.id == intent_id, SandboxIntent.status == "requires_action")
            .values(status="succeeded" if approve else "declined", decided_at=self._clock.now())
            .execution_options(synchronize_session=False)
        )
        await session.refresh(intent)
        assert isinstance(decided, CursorResult)
        if decided.rowcount != 1:
            raise conflict("payment.already_decided", f"this payment is already {intent.status}")
        event = "payment_intent.succeeded" if approve else "payment_intent.failed"
        self._enqueue(session, event, intent, intent.amount_minor)
        await session.flush()
        return intent

    # -- webhook delivery (the outbox) ---------------------------------------------------

    def _enqueue(
        self,
        session: AsyncSession,
        event_type: str,
        intent: SandboxIntent,
        amount: int,
        **extra: str,
    ) -> None:
        now = self._clock.now()
        event_id = "evt_" + secrets.token_urlsafe(18)
        payload = {
            "id": event_id,
            "type": event_type,
            "created": int(now.timestamp()),
            "data": {
                "intent_id": intent.id,
                "reference": intent.reference,
                "amount_minor": amount,
                "currency": intent.currency,
                **extra,
            },
        }
        session.add(
            SandboxEvent(
                id=event_id,
                event_type=event_type,
                payload=payload,
                body=orjson.dumps(payload).decode(),
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    def schedule_delivery(
        self, sessionmaker: async_sessionmaker[AsyncSession], http: httpx.AsyncClient
    ) -> None:
        """Deliver pending events soon, in the background (as a real provider would)."""
        task = asyncio.create_task(self.deliver_pending(sessionmaker, http))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sandbox_delivery_crashed", error=repr(task.exception()))

    async def drain(self) -> None:
        """Wait for background deliveries in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def deliver_pending(
        self, sessionmaker: async_sessionmaker[AsyncSession], http: httpx.AsyncClient
    ) -> int:
        """POST every due event; no database transaction is held during the HTTP call."""
        now = self._clock.now()
        async with sessionmaker() as session:
            events = list(
                (
                    await session.execute(
                        select(SandboxEvent.id, SandboxEvent.body)
                        .where(
                            SandboxEvent.delivered_at.is_(None), SandboxEvent.next_attempt_at <= now
                        )
                        .order_by(SandboxEvent.created_at)
                        .limit(100)
                    )
                ).all()
            )
            await session.rollback()
        delivered = 0
        for event_id, body in events:
            ok = await self._post(http, body.encode())
            async with sessionmaker() as session:
                row = await session.get(SandboxEvent, event_id)
                if row is None or row.delivered_at is not None:
                    continue
                row.attempts += 1
                if ok:
                    row.delivered_at = self._clock.now()
                    delivered += 1
                else:
                    delay = BACKOFF_SECONDS[min(row.attempts - 1, len(BACKOFF_SECONDS) - 1)]
                    row.next_attempt_at = self._clock.now() + timedelta(seconds=delay)
                await session.commit()
        return delivered

    async def _post(self, http: httpx.AsyncClient, body: bytes) -> bool:
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body, timestamp),
        }
        try:
            response = await http.post(self._webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("sandbox_webhook_failed", error=str(exc), url=self._webhook_url)
            return False
        if response.status_code < 300:
            return True
        log.warning(
            "sandbox_webhook_refused", status=response.status_code, body=response.text[:300]
        )
        # Our endpoint answers 409 webhook.replayed for an event it already applied.
        return response.status_code == 409 and b"webhook.replayed" in response.content

    def _intent(self, intent: SandboxIntent) -> Intent:
        return Intent(
            id=intent.id,
            amount_minor=intent.amount_minor,
            currency=intent.currency,
            status=intent.status,
            pay_url=f"{self._public_url}/sandbox/pay/{intent.id}",
        )
