"""Checkout's cart: lines resolved to the SKUs of one merchant in one currency, and the
session an order is bought in. Shared by checkout and the quote (``POST /orders/quote``),
so both refuse the same carts with the same codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from liveshop.catalog import service as catalog_service
from liveshop.catalog.models import Product, Sku
from liveshop.deals import consent
from liveshop.errors import conflict, invalid
from liveshop.live import service as live_service
from liveshop.orders import store_credit
from liveshop.orders.schemas import OrderLineIn
from liveshop.promotions.coupons import checkout
from liveshop.promotions.coupons.checkout import Cart, Evaluation
from liveshop.promotions.coupons.discounts import CartLine
from liveshop.video.models import VideoReplay
from liveshop.wallet import service as wallet_service


@dataclass(frozen=True, slots=True)
class PricedCart:
    """Checkout lines resolved to SKUs of one merchant, one currency, quantities per SKU."""

    merchant_id: str
    currency: str
    skus: dict[str, tuple[Sku, Product]]
    quantities: dict[str, int]
    # unit prices that differ from the SKU's own: the live price of a rundown item
    prices: dict[str, int] = field(default_factory=dict)

    def unit_price(self, sku_id: str) -> int:
        return self.prices.get(sku_id, self.skus[sku_id][0].price_minor)

    def coupon_cart(self, live_session_id: str | None) -> Cart:
        """The cart as the coupons see it (lines at the prices the order charges)."""
        lines = [
            CartLine(sku_id, self.merchant_id, self.unit_price(sku_id), quantity)
            for sku_id, quantity in self.quantities.items()
        ]
        return Cart(lines=lines, currency=self.currency, live_session_id=live_session_id)


async def price_lines(session: AsyncSession, *, lines: Sequence[OrderLineIn]) -> PricedCart:
    """Resolve checkout lines (``order.sku_unavailable``, ``order.multiple_merchants``,
    ``order.mixed_currencies``)."""
    quantities: dict[str, int] = {}
    for line in lines:
        quantities[line.sku_id] = quantities.get(line.sku_id, 0) + line.quantity
    skus = await catalog_service.get_skus(session, sku_ids=list(quantities))
    for index, line in enumerate(lines):
        found = skus.get(line.sku_id)
        if found is None or not found[0].is_active or found[1].status != "published":
            raise invalid(
                "order.sku_unavailable",
                f"SKU {line.sku_id} does not exist or is not on sale",
                f"lines.{index}.sku_id",
            )
    merchants = {product.merchant_id for _, product in skus.values()}
    if len(merchants) != 1:
        raise invalid(
            "order.multiple_merchants",
            "one order holds the products of one merchant: place one order per merchant",
            "lines",
        )
    currencies = {sku.currency for sku, _ in skus.values()}
    if len(currencies) != 1:
        raise invalid("order.mixed_currencies", "all lines must be in one currency", "lines")
    return PricedCart(merchants.pop(), currencies.pop(), skus, quantities)


async def session_prices(
    session: AsyncSession, *, priced: PricedCart, live_session_id: str, now: datetime
) -> PricedCart:
    """The cart bought in a live session: while it is on air each SKU of its rundown at its
    live price (another merchant's product only while the anchor's deal for it is active:
    once the merchant ends it, the list price); from its replay (an ended session with a
    ready replay) at the replay price its merchant set, else the list price. The other SKUs
    at their own price."""
    live = await live_service.get_or_raise(session, session_id=live_session_id)
    if live.status == "live":
        replaying = False
    elif live.status == "ended" and await _replay_ready(session, live_session_id):
        replaying = True
    else:
        raise conflict("live.not_live", "the live session is not on air")
    prices: dict[str, int] = {}
    lines = [
        line
        for line in await live_service.rundown(session, session_id=live_session_id)
        if line.item.sku_id in priced.quantities and line.item.currency == priced.currency
    ]
    consented: Mapping[str, object] = {}
    if lines and not replaying:
        consented = await consent.deals_of(
            session,
            anchor_id=live.anchor_id,
            products={line.product.id: line.product.merchant_id for line in lines},
            now=now,
        )
    for line in lines:
        item = line.item
        if not replaying and item.product_id not in consented:
            continue
        price = item.replay_price_minor if replaying else item.live_price_minor
        if price is not None:
            prices[item.sku_id] = price
    return replace(priced, prices=prices)


async def _replay_ready(session: AsyncSession, session_id: str) -> bool:
    replay = await session.get(VideoReplay, session_id)
    return replay is not None and replay.status == "ready"


@dataclass(frozen=True, slots=True)
class WalletQuote:
    balance_minor: int
    wallet_minor: int
    payable_minor: int


@dataclass(frozen=True, slots=True)
class Quote:
    merchant_id: str
    currency: str
    subtotal_minor: int
    applied: Evaluation | None  # the coupons named, checked as checkout checks them
    best: Evaluation | None  # the buyer's best combination for this cart
    wallet: WalletQuote | None  # the store credit asked for, on the total after ``applied``


async def quote(
    session: AsyncSession,
    *,
    account_id: str,
    lines: Sequence[OrderLineIn],
    live_session_id: str | None,
    coupon_ids: Sequence[str],
    wallet_minor: int,
    now: datetime,
) -> Quote:
    """Price a cart as checkout would, using nothing: the same refusals and codes."""
    priced = await price_lines(session, lines=lines)
    if live_session_id is not None:
        priced = await session_prices(
            session, priced=priced, live_session_id=live_session_id, now=now
        )
    cart = priced.coupon_cart(live_session_id)
    applied = None
    if coupon_ids:
        applied = await checkout.evaluate(
            session, account_id=account_id, coupon_ids=list(coupon_ids), cart=cart, now=now
        )
    best = await checkout.best_for_cart(session, account_id=account_id, cart=cart, now=now)
    subtotal = sum(line.subtotal_minor for line in cart.lines)
    wallet = None
    if wallet_minor:
        total = applied.applied.total_minor if applied else subtotal
        await store_credit.check(
            session,
            account_id=account_id,
            currency=priced.currency,
            total_minor=total,
            wallet_minor=wallet_minor,
        )
        balance = await wallet_service.balance(
            session, account_id=account_id, currency=priced.currency
        )
        wallet = WalletQuote(balance, wallet_minor, total - wallet_minor)
    return Quote(priced.merchant_id, priced.currency, subtotal, applied, best, wallet)
