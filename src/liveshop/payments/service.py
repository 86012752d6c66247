"""Payments: start a payment, apply provider events exactly once, refund.

An order pays at the provider only what store credit did not cover
(:func:`liveshop.orders.store_credit.payable`). A refund returns card money first, then store
credit (see :func:`refund`). Provider events whose intent is no order's payment belong to a
wallet top-up (:mod:`liveshop.wallet.top_ups`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.errors import Problem, conflict
from liveshop.ids import new_id
from liveshop.orders import service as orders
from liveshop.orders import store_credit
from liveshop.orders.models import Order
from liveshop.payments.models import Payment, Refund, WebhookEvent
from liveshop.payments.provider import (
    PaymentProvider,
    ProviderEvent,
    ProviderRefund,
    check_event_amount,
)
from liveshop.payments.schemas import PaymentOut, RefundOut
from liveshop.wallet import top_ups


async def start(
    session: AsyncSession,
    *,
    order: Order,
    provider: PaymentProvider,
    now: datetime,
    idempotency_key: str,
    return_url: str | None,
) -> Payment:
    """Open a payment for a pending order at the provider; reuse one still awaiting the buyer."""
    if orders.is_overdue(order, now):
        # The sweeper marks it expired; until then it is as good as expired.
        raise conflict(
            "order.invalid_state", "the payment window has passed", order_status="expired"
        )
    if order.status != "pending_payment":
        raise conflict(
            "order.invalid_state",
            f"an order that is {order.status} cannot be paid",
            order_status=order.status,
        )
    open_payment = (
        await session.execute(
            select(Payment).where(
                Payment.order_id == order.id,
                Payment.status == "requires_action",
                Payment.provider == provider.name,
            )
        )
    ).scalar_one_or_none()
    if open_payment is not None:
        return open_payment
    intent = await provider.create_intent(
        session,
        amount_minor=store_credit.payable(order),
        currency=order.currency,
        reference=order.id,
        description=f"liveshop order {order.id}",
        return_url=return_url,
        idempotency_key=idempotency_key,
    )
    payment = Payment(
        order_id=order.id,
        provider=provider.name,
        provider_intent_id=intent.id,
        amount_minor=intent.amount_minor,
        refunded_minor=0,
        currency=intent.currency,
        status="requires_action",
        pay_url=intent.pay_url,
        created_at=now,
    )
    session.add(payment)
    await session.flush()
    return payment


async def list_for_order(session: AsyncSession, *, order_id: str) -> list[Payment]:
    result = await session.execute(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)
    )
    return list(result.scalars())


async def list_refunds(session: AsyncSession, *, order_id: str) -> list[Refund]:
    result = await session.execute(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
    )
    return list(result.scalars())


async def apply_event(
    session: AsyncSession, *, provider: PaymentProvider, event: ProviderEvent, now: datetime
) -> str:
    """Apply a verified provider event once; a replayed event id is a 409 webhook.replayed."""
    session.add(
        WebhookEvent(
            provider=provider.name, event_id=event.id, event_type=event.type, received_at=now
        )
    )
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Problem(409, "webhook.replayed", "this event was already applied") from exc
    order_id = await session.scalar(
        select(Payment.order_id).where(Payment.provider_intent_id == event.intent_id)
    )
    if order_id is None:
        topped_up = await top_ups.apply_event(session, provider=provider, event=event, now=now)
        return topped_up or "ignored_unknown_payment"
    # The lock order (docs/architecture.md, "Locks"): the order first, then its payment.
    order = await orders.lock_order(session, order_id=order_id)
    assert order is not None
    payment = await _lock_payment(session, intent_id=event.intent_id)
    if event.type == "payment_intent.succeeded":
        check_event_amount(event, amount_minor=payment.amount_minor, currency=payment.currency)
    if event.type == "payment_intent.failed":
        if payment.status == "requires_action":
            payment.status = "failed"
        return "payment_failed"
    if event.type == "refund.succeeded":
        return "refund_noted"
    if event.type != "payment_intent.succeeded":
        return "ignored_unknown_type"
    if payment.status != "requires_action":
        return f"ignored_payment_{payment.status}"
    payment.status = "succeeded"
    payment.succeeded_at = now
    await session.flush()
    if await orders.mark_paid(session, order=order, now=now):
        return "order_paid"
    # Money arrived for an order that can no longer be fulfilled: give it back.
    if orders.is_overdue(order, now):
        await orders.expire(session, order=order, now=now)
    await _refund_late_payment(
        session,
        order=order,
        payment=payment,
        provider=provider,
        reason="payment arrived after the order closed",
        now=now,
    )
    return "refunded_late_payment"


async def _lock_payment(session: AsyncSession, *, intent_id: str) -> Payment:
    payment = (
        await session.execute(
            select(Payment)
            .where(Payment.provider_intent_id == intent_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return payment


async def captured_payment(session: AsyncSession, *, order_id: str) -> Payment | None:
    result = await session.execute(
        select(Payment).where(
            Payment.order_id == order_id,
            Payment.status.in_(("succeeded", "partially_refunded")),
        )
    )
    return result.scalars().first()


async def refund(
    session: AsyncSession,
    *,
    order: Order,
    provider: PaymentProvider,
    amount_minor: int,
    idempotency_key: str,
    reason: str,
    now: datetime,
) -> Refund:
    """Refund part or all of a paid order: card money first, up to what its payment captured
    and has not refunded, then the store credit it took from the buyer's wallet."""
    payment = await captured_payment(session, order_id=order.id)
    card_left = payment.amount_minor - payment.refunded_minor if payment is not None else 0
    credit_left = store_credit.refundable(order)
    if payment is None and credit_left == 0:
        raise conflict("refund.nothing_captured", "this order has no captured payment")
    if amount_minor <= 0 or amount_minor > card_left + credit_left:
        raise conflict(
            "refund.exceeds_captured", f"at most {card_left + credit_left} can still be refunded"
        )
    card = min(amount_minor, card_left)
    row = Refund(
        id=new_id(),
        payment_id=None,
        order_id=order.id,
        provider_refund_id=None,
        amount_minor=amount_minor,
        wallet_minor=amount_minor - card,
        currency=order.currency,
        status="succeeded",
        reason=reason[:200],
        created_at=now,
    )
    if card > 0:
        assert payment is not None
        result = await _refund_card(
            session,
            payment=payment,
            provider=provider,
            amount_minor=card,
            idempotency_key=idempotency_key,
        )
        row.payment_id, row.provider_refund_id, row.status = payment.id, result.id, result.status
    session.add(row)
    await session.flush()
    if row.wallet_minor > 0:
        await store_credit.refund(
            session, order=order, amount_minor=row.wallet_minor, refund_id=row.id, now=now
        )
    await orders.add_refunded(session, order=order, amount_minor=amount_minor)
    await session.flush()
    return row


async def _refund_late_payment(
    session: AsyncSession,
    *,
    order: Order,
    payment: Payment,
    provider: PaymentProvider,
    reason: str,
    now: datetime,
) -> Refund:
    """Give back all of a payment that arrived for a closed order (not counted on the order:
    it never counted as paid)."""
    result = await _refund_card(
        session,
        payment=payment,
        provider=provider,
        amount_minor=payment.amount_minor,
        idempotency_key=f"late-payment:{payment.id}",
    )
    row = Refund(
        payment_id=payment.id,
        order_id=order.id,
        provider_refund_id=result.id,
        amount_minor=payment.amount_minor,
        wallet_minor=0,
        currency=payment.currency,
        status=result.status,
        reason=reason[:200],
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def _refund_card(
    session: AsyncSession,
    *,
    payment: Payment,
    provider: PaymentProvider,
    amount_minor: int,
    idempotency_key: str,
) -> ProviderRefund:
    left = payment.amount_minor - payment.refunded_minor
    if amount_minor <= 0 or amount_minor > left:
        raise conflict("refund.exceeds_captured", f"at most {left} can still be refunded")
    result = await provider.refund(
        session,
        intent_id=payment.provider_intent_id,
        amount_minor=amount_minor,
        idempotency_key=idempotency_key,
    )
    # Guarded: never more than the payment captured, whatever ran meanwhile.
    refunded = await session.scalar(
        update(Payment)
        .where(
            Payment.id == payment.id,
            Payment.refunded_minor + amount_minor <= Payment.amount_minor,
        )
        .values(
            refunded_minor=Payment.refunded_minor + amount_minor,
            status=case(
                (Payment.refunded_minor + amount_minor == Payment.amount_minor, "refunded"),
                else_="partially_refunded",
            ),
        )
        .returning(Payment.refunded_minor)
        .execution_options(synchronize_session=False)
    )
    if refunded is None:
        raise conflict("refund.exceeds_captured", "refunds would exceed what the payment captured")
    await session.refresh(payment)
    return result


def payment_out(payment: Payment) -> PaymentOut:
    return PaymentOut(
        id=payment.id,
        order_id=payment.order_id,
        provider=payment.provider,
        status=payment.status,
        amount_minor=payment.amount_minor,
        refunded_minor=payment.refunded_minor,
        currency=payment.currency,
        pay_url=payment.pay_url,
        created_at=payment.created_at,
        succeeded_at=payment.succeeded_at,
    )


def refund_out(refund_row: Refund) -> RefundOut:
    return RefundOut(
        id=refund_row.id,
        order_id=refund_row.order_id,
        payment_id=refund_row.payment_id,
        amount_minor=refund_row.amount_minor,
        card_minor=refund_row.amount_minor - refund_row.wallet_minor,
        wallet_minor=refund_row.wallet_minor,
        currency=refund_row.currency,
        status=refund_row.status,
        reason=refund_row.reason,
        created_at=refund_row.created_at,
    )
