"""Coupon math without a database: what a coupon takes off a cart, alone or stacked.

All amounts are integer minor units. The rules (``docs/promotions.md``, "Coupon math"):

- A coupon looks only at the lines in its scope (the whole order, one merchant, some SKUs):
  its *eligible subtotal*. Below ``min_spend_minor`` it takes nothing off.
- ``fixed`` takes ``amount_off_minor``; ``percent`` takes ``percent_off`` % rounded down to the
  minor unit, then at most ``cap_minor``. Neither takes more than the eligible amount.
- An order carries at most one non-stackable coupon; stackable ones add to it. Coupons apply
  one after another in a canonical order (narrow scope first: SKUs, merchant, order; then by
  id), each against what earlier ones left of its lines, and its minimum spend is checked
  against that remainder, so the total never goes negative and no coupon double-counts money.
- Each discount is spread over its lines in proportion to what they had left (largest
  remainder for the odd minor units), so a later refund of one line knows its share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Final, Literal, get_args

from liveshop.errors import Problem

CouponKind = Literal["fixed", "percent"]
CouponScope = Literal["order", "merchant", "skus"]

MAX_STACKABLE_SEARCH: Final = 8
""":func:`best_coupon` tries every subset of at most this many stackable coupons."""

_SCOPE_RANK: Final[dict[str, int]] = {"skus": 0, "merchant": 1, "order": 2}


class CouponError(Problem, ValueError):
    """A coupon or cart that breaks a rule; ``code`` is stable (``coupon.*``), HTTP 422."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(422, code, detail)


@dataclass(frozen=True, slots=True)
class Coupon:
    """A coupon template: what it takes off, from which lines, and whether it stacks."""

    id: str
    kind: CouponKind
    amount_off_minor: int = 0
    percent_off: int = 0
    cap_minor: int | None = None
    min_spend_minor: int = 0
    scope: CouponScope = "order"
    merchant_id: str | None = None
    sku_ids: frozenset[str] = frozenset()
    stackable: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "sku_ids", frozenset(self.sku_ids))
        _check_kind(self)
        _check_scope(self)
        if self.min_spend_minor < 0:
            raise CouponError("coupon.bad_min_spend", "min_spend_minor may not be negative")

    def applies_to(self, line: CartLine) -> bool:
        """Whether ``line`` is in this coupon's scope."""
        if self.scope == "merchant":
            return line.merchant_id == self.merchant_id
        if self.scope == "skus":
            return line.sku_id in self.sku_ids
        return True


def _check_kind(coupon: Coupon) -> None:
    """The fields of a coupon's kind are set and sane, the other kind's are not."""
    if coupon.kind not in get_args(CouponKind):
        raise CouponError("coupon.bad_kind", f"unknown coupon kind {coupon.kind!r}")
    if coupon.kind == "fixed":
        if coupon.amount_off_minor < 1:
            raise CouponError("coupon.bad_amount", "a fixed coupon takes at least 1 minor unit")
        if coupon.percent_off or coupon.cap_minor is not None:
            raise CouponError("coupon.bad_kind", "a fixed coupon has no percent_off or cap")
        return
    if not 1 <= coupon.percent_off <= 100:
        raise CouponError("coupon.bad_percent", "percent_off must be 1..100")
    if coupon.cap_minor is not None and coupon.cap_minor < 1:
        raise CouponError("coupon.bad_cap", "cap_minor must be at least 1 when set")
    if coupon.amount_off_minor:
        raise CouponError("coupon.bad_kind", "a percent coupon has no amount_off_minor")


def _check_scope(coupon: Coupon) -> None:
    """A merchant scope names a merchant, a SKU scope names SKUs, an order scope neither."""
    if coupon.scope not in _SCOPE_RANK:
        raise CouponError("coupon.bad_scope", f"unknown coupon scope {coupon.scope!r}")
    wants_merchant = coupon.scope == "merchant"
    wants_skus = coupon.scope == "skus"
    if wants_merchant != (coupon.merchant_id is not None):
        raise CouponError("coupon.bad_scope", "merchant_id is set exactly for a merchant scope")
    if wants_skus != bool(coupon.sku_ids):
        raise CouponError("coupon.bad_scope", "sku_ids are set exactly for a skus scope")


@dataclass(frozen=True, slots=True)
class CartLine:
    """One line of a cart: a SKU of a merchant, its unit price and how many."""

    sku_id: str
    merchant_id: str
    unit_price_minor: int
    quantity: int

    def __post_init__(self) -> None:
        if self.unit_price_minor < 0:
            raise CouponError("cart.bad_line", "unit_price_minor may not be negative")
        if self.quantity < 1:
            raise CouponError("cart.bad_line", "quantity must be at least 1")

    @property
    def subtotal_minor(self) -> int:
        """Unit price times quantity."""
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True, slots=True)
class AppliedDiscount:
    """What one coupon took off, in total and per cart line (aligned with the lines)."""

    coupon_id: str
    amount_minor: int
    per_line_minor: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Applied:
    """A cart with coupons applied: subtotal, total to pay and each coupon's discount."""

    subtotal_minor: int
    total_minor: int
    discounts: tuple[AppliedDiscount, ...]

    @property
    def discount_minor(self) -> int:
        """Everything the coupons took off."""
        return self.subtotal_minor - self.total_minor

    @property
    def coupon_ids(self) -> tuple[str, ...]:
        """The coupons, in the order they were applied."""
        return tuple(d.coupon_id for d in self.discounts)


def eligible_subtotal(coupon: Coupon, lines: Iterable[CartLine]) -> int:
    """The part of the cart the coupon looks at: subtotal of the lines in its scope."""
    return sum(line.subtotal_minor for line in lines if coupon.applies_to(line))


def _discount_on(coupon: Coupon, eligible: int) -> int:
    """What ``coupon`` takes off an eligible amount (0 below its minimum spend)."""
    if eligible <= 0 or eligible < coupon.min_spend_minor:
        return 0
    if coupon.kind == "fixed":
        return min(coupon.amount_off_minor, eligible)
    off = eligible * coupon.percent_off // 100
    if coupon.cap_minor is not None:
        off = min(off, coupon.cap_minor)
    return min(off, eligible)


def discount(coupon: Coupon, lines: Sequence[CartLine]) -> int:
    """What ``coupon`` alone takes off ``lines``: never more than its eligible subtotal."""
    return _discount_on(coupon, eligible_subtotal(coupon, lines))


def _spread(amount: int, remaining: Sequence[int]) -> list[int]:
    """Split ``amount`` over lines in proportion to ``remaining`` (largest remainder).

    Each share is at most the line's remaining amount, given ``amount <= sum(remaining)``;
    odd minor units go to the largest remainders, the earlier line on a tie.
    """
    total = sum(remaining)
    if amount == 0 or total == 0:
        return [0] * len(remaining)
    shares = [amount * left // total for left in remaining]
    leftovers = sorted(range(len(remaining)), key=lambda i: (-(amount * remaining[i] % total), i))
    for i in leftovers[: amount - sum(shares)]:
        shares[i] += 1
    return shares


def canonical_order(coupons: Iterable[Coupon]) -> list[Coupon]:
    """The order coupons apply in: SKU scope, then merchant, then order; then by id."""
    return sorted(coupons, key=lambda c: (_SCOPE_RANK[c.scope], c.id))


def _check_unique_ids(coupons: Sequence[Coupon]) -> None:
    """No coupon given twice (a wallet may hold many non-stackables, each id once)."""
    ids = [c.id for c in coupons]
    if len(set(ids)) != len(ids):
        raise CouponError("coupon.duplicate", "the same coupon is given twice")


def _check_combination(coupons: Sequence[Coupon]) -> None:
    """At most one non-stackable coupon, and no coupon twice."""
    _check_unique_ids(coupons)
    exclusive = [c.id for c in coupons if not c.stackable]
    if len(exclusive) > 1:
        raise CouponError(
            "coupon.not_stackable",
            f"only one non-stackable coupon per order, got {', '.join(sorted(exclusive))}",
        )


def apply(coupons: Sequence[Coupon], lines: Sequence[CartLine]) -> Applied:
    """Apply ``coupons`` to ``lines`` in :func:`canonical_order`; the total never goes negative.

    Raises ``coupon.not_stackable`` for two non-stackable coupons and ``coupon.duplicate`` for
    a coupon given twice. A coupon whose minimum spend is not met gets a discount of 0.
    """
    _check_combination(coupons)
    remaining = [line.subtotal_minor for line in lines]
    applied: list[AppliedDiscount] = []
    for coupon in canonical_order(coupons):
        in_scope = [coupon.applies_to(line) for line in lines]
        scoped = [left if inside else 0 for left, inside in zip(remaining, in_scope, strict=True)]
        per_line = _spread(_discount_on(coupon, sum(scoped)), scoped)
        remaining = [left - off for left, off in zip(remaining, per_line, strict=True)]
        applied.append(AppliedDiscount(coupon.id, sum(per_line), tuple(per_line)))
    subtotal = sum(line.subtotal_minor for line in lines)
    return Applied(subtotal_minor=subtotal, total_minor=sum(remaining), discounts=tuple(applied))


def _candidate_sets(coupons: Sequence[Coupon]) -> Iterable[tuple[Coupon, ...]]:
    """Every valid combination worth trying: each coupon alone, and each non-stackable (or
    none) with every subset of the :data:`MAX_STACKABLE_SEARCH` best stackables."""
    for coupon in coupons:
        yield (coupon,)
    stackables = [c for c in coupons if c.stackable]
    non_stackables: list[Coupon | None] = [None, *(c for c in coupons if not c.stackable)]
    searched = stackables[:MAX_STACKABLE_SEARCH]
    for base in non_stackables:
        head = () if base is None else (base,)
        for size in range(2 - len(head), len(searched) + 1):
            for extra in combinations(searched, size):
                yield head + extra


def best_coupon(coupons: Sequence[Coupon], lines: Sequence[CartLine]) -> Applied | None:
    """The valid combination of ``coupons`` that takes the most off ``lines``.

    ``None`` when no coupon takes anything off. Ties go to fewer coupons (the rest stay in
    the wallet), then to the smallest sorted tuple of ids. Coupons that take nothing alone
    are left out (they can only take less next to others). With more than
    :data:`MAX_STACKABLE_SEARCH` useful stackables, only the ones worth most alone are
    combined; every single coupon is still tried.
    """
    _check_unique_ids(coupons)
    alone = {c.id: discount(c, lines) for c in coupons}
    useful = sorted((c for c in coupons if alone[c.id] > 0), key=lambda c: (-alone[c.id], c.id))
    best: Applied | None = None
    best_key: tuple[int, int, tuple[str, ...]] | None = None
    for combo in _candidate_sets(useful):
        result = apply(combo, lines)
        key = (-result.discount_minor, len(combo), tuple(sorted(c.id for c in combo)))
        if best_key is None or key < best_key:
            best, best_key = result, key
    return best
