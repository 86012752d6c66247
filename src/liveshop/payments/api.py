from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from liveshop import idempotency
from liveshop.catalog import service as catalog_service
from liveshop.deps import CurrentPrincipal, RuntimeDep, SessionDep
from liveshop.errors import invalid
from liveshop.orders import service as orders
from liveshop.payments import service as payments
from liveshop.payments.schemas import PaymentIn, PaymentOut, RefundIn, RefundOut, WebhookResult

router = APIRouter(tags=["payments"])


def _is_own_url(url: str, public_url: str) -> bool:
    """No open redirects: a local path, or an address under our public URL."""
    if url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return True
    return url.startswith(public_url.rstrip("/") + "/")


@router.post("/orders/{order_id}/payments", status_code=201, response_model=PaymentOut)
async def start_payment(
    order_id: str,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
    body: PaymentIn | None = None,
) -> JSONResponse:
    """Open a payment for your pending order; send the buyer to ``pay_url``."""
    now = runtime.clock.now()
    body = body or PaymentIn()
    if body.return_url and not _is_own_url(body.return_url, runtime.settings.public_url):
        raise invalid(
            "payment.invalid_return_url",
            "return_url must be a path on this site (e.g. /orders/...)",
            "return_url",
        )

    async def action() -> PaymentOut:
        order = await orders.get_or_raise(
            session, order_id=order_id, buyer_id=principal.account_id, lock=True
        )
        payment = await payments.start(
            session,
            order=order,
            provider=runtime.payments,
            now=now,
            idempotency_key=key,
            return_url=body.return_url,
        )
        return payments.payment_out(payment)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"payments.start:{order_id}",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )


@router.get("/orders/{order_id}/payments", response_model=list[PaymentOut])
async def list_payments(
    order_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[PaymentOut]:
    await orders.get_or_raise(session, order_id=order_id, buyer_id=principal.account_id)
    return [
        payments.payment_out(p) for p in await payments.list_for_order(session, order_id=order_id)
    ]


@router.get("/merchant/orders/{order_id}/refunds", response_model=list[RefundOut])
async def list_refunds(
    order_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[RefundOut]:
    """The order's refunds, oldest first (the merchant's own orders; others' are a 404)."""
    scope = await catalog_service.merchant_scope(session, principal=principal)
    await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope)
    return [payments.refund_out(r) for r in await payments.list_refunds(session, order_id=order_id)]


@router.post("/merchant/orders/{order_id}/refunds", status_code=201, response_model=RefundOut)
async def refund_order(
    order_id: str,
    body: RefundIn,
    principal: CurrentPrincipal,
    key: idempotency.IdempotencyKey,
    session: SessionDep,
    runtime: RuntimeDep,
) -> JSONResponse:
    """Refund part or all of a paid order (goodwill, after-sales): card money first, then the
    store credit it used, back to the buyer's wallet (``card_minor`` / ``wallet_minor``)."""
    now = runtime.clock.now()
    scope = await catalog_service.merchant_scope(session, principal=principal)

    async def action() -> RefundOut:
        order = await orders.get_or_raise(session, order_id=order_id, merchant_ids=scope, lock=True)
        refund = await payments.refund(
            session,
            order=order,
            provider=runtime.payments,
            amount_minor=body.amount_minor,
            idempotency_key=key,
            reason=body.reason,
            now=now,
        )
        return payments.refund_out(refund)

    return await idempotency.run(
        session,
        scope=principal.account_id,
        key=key,
        operation=f"payments.refund:{order_id}",
        payload=body.model_dump(mode="json"),
        now=now,
        action=action,
        status_code=201,
    )


@router.post("/payments/webhooks/sandbox", response_model=WebhookResult)
async def sandbox_webhook(
    request: Request, session: SessionDep, runtime: RuntimeDep
) -> WebhookResult:
    """Events from the sandbox provider, signed with HMAC-SHA256 (see docs/api.md)."""
    body = await request.body()
    now = runtime.clock.now()
    event = runtime.payments.verify_webhook(headers=request.headers, body=body, now=now.timestamp())
    outcome = await payments.apply_event(session, provider=runtime.payments, event=event, now=now)
    await session.commit()
    if outcome == "order_paid":
        runtime.metrics.payments_succeeded.inc()
    return WebhookResult(event_id=event.id, outcome=outcome)
