"""Coupon math: scopes, minimum spend, rounding, caps, stacking and the best choice."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liveshop.errors import Problem
from liveshop.promotions.coupons.discounts import (
    MAX_STACKABLE_SEARCH,
    Applied,
    CartLine,
    Coupon,
    CouponError,
    apply,
    best_coupon,
    canonical_order,
    discount,
    eligible_subtotal,
)

CART = [
    CartLine("sku-tea", "m-tea", 1999, 2),  # 3998
    CartLine("sku-pot", "m-tea", 8900, 1),  # 8900
    CartLine("sku-rice", "m-farm", 450, 4),  # 1800
]
SUBTOTAL = 3998 + 8900 + 1800


def fixed(cid: str, off: int, **kw: object) -> Coupon:
    return Coupon(cid, "fixed", amount_off_minor=off, **kw)  # type: ignore[arg-type]


def percent(cid: str, pct: int, **kw: object) -> Coupon:
    return Coupon(cid, "percent", percent_off=pct, **kw)  # type: ignore[arg-type]


# -- templates and lines ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: fixed("c", 0), "coupon.bad_amount"),
        (lambda: fixed("c", 100, percent_off=5), "coupon.bad_kind"),
        (lambda: fixed("c", 100, cap_minor=50), "coupon.bad_kind"),
        (lambda: percent("c", 0), "coupon.bad_percent"),
        (lambda: percent("c", 101), "coupon.bad_percent"),
        (lambda: percent("c", 10, cap_minor=0), "coupon.bad_cap"),
        (lambda: percent("c", 10, amount_off_minor=5), "coupon.bad_kind"),
        (lambda: Coupon("c", "bogus", amount_off_minor=1), "coupon.bad_kind"),  # type: ignore[arg-type]
        (lambda: fixed("c", 100, min_spend_minor=-1), "coupon.bad_min_spend"),
        (lambda: fixed("c", 100, scope="merchant"), "coupon.bad_scope"),
        (lambda: fixed("c", 100, scope="skus"), "coupon.bad_scope"),
        (lambda: fixed("c", 100, merchant_id="m-tea"), "coupon.bad_scope"),
        (lambda: fixed("c", 100, sku_ids=frozenset({"x"})), "coupon.bad_scope"),
        (lambda: fixed("c", 100, scope="shop"), "coupon.bad_scope"),
        (lambda: CartLine("s", "m", -1, 1), "cart.bad_line"),
        (lambda: CartLine("s", "m", 100, 0), "cart.bad_line"),
    ],
)
def test_a_broken_template_or_line_is_refused_with_a_stable_code(
    make: Callable[[], object], code: str
) -> None:
    with pytest.raises(CouponError) as caught:
        make()
    assert caught.value.code == code
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, Problem)


def test_sku_ids_given_as_a_list_become_a_frozenset() -> None:
    coupon = fixed("c", 100, scope="skus", sku_ids=["sku-tea"])
    assert coupon.sku_ids == frozenset({"sku-tea"})
    assert hash(coupon)


# -- one coupon -------------------------------------------------------------------------------


def test_eligible_subtotal_follows_the_scope() -> None:
    assert eligible_subtotal(fixed("o", 1), CART) == SUBTOTAL
    assert eligible_subtotal(fixed("m", 1, scope="merchant", merchant_id="m-tea"), CART) == 12898
    skus = frozenset({"sku-rice", "sku-absent"})
    assert eligible_subtotal(fixed("s", 1, scope="skus", sku_ids=skus), CART) == 1800


def test_min_spend_is_checked_on_the_eligible_subtotal_not_the_order() -> None:
    farm = fixed("farm", 300, scope="merchant", merchant_id="m-farm", min_spend_minor=2000)
    assert discount(farm, CART) == 0  # the order is 14698, but the farm's lines are 1800
    assert discount(fixed("farm", 300, scope="merchant", merchant_id="m-farm"), CART) == 300


def test_min_spend_met_exactly_counts() -> None:
    assert discount(fixed("c", 500, min_spend_minor=SUBTOTAL), CART) == 500
    assert discount(fixed("c", 500, min_spend_minor=SUBTOTAL + 1), CART) == 0


def test_percent_rounds_down_to_the_minor_unit() -> None:
    lines = [CartLine("s", "m", 999, 1)]
    assert discount(percent("c", 15), lines) == 149  # 149.85


def test_percent_cap_holds() -> None:
    assert discount(percent("c", 50, cap_minor=2000), CART) == 2000


def test_a_hundred_percent_takes_exactly_the_eligible_subtotal() -> None:
    assert discount(percent("c", 100), CART) == SUBTOTAL


def test_fixed_never_takes_more_than_the_eligible_subtotal() -> None:
    rice = fixed("c", 5000, scope="skus", sku_ids=frozenset({"sku-rice"}))
    assert discount(rice, CART) == 1800


def test_a_coupon_with_nothing_in_scope_takes_nothing() -> None:
    assert discount(fixed("c", 100, scope="merchant", merchant_id="m-other"), CART) == 0
    assert discount(fixed("c", 100), []) == 0


# -- stacking ---------------------------------------------------------------------------------


def test_two_non_stackable_coupons_are_refused() -> None:
    with pytest.raises(CouponError) as caught:
        apply([fixed("a", 100), percent("b", 10)], CART)
    assert caught.value.code == "coupon.not_stackable"


def test_the_same_coupon_twice_is_refused() -> None:
    coupon = fixed("a", 100, stackable=True)
    with pytest.raises(CouponError) as caught:
        apply([coupon, coupon], CART)
    assert caught.value.code == "coupon.duplicate"


def test_one_non_stackable_combines_with_stackables() -> None:
    result = apply(
        [
            percent("order-10", 10),
            fixed("tea-500", 500, scope="merchant", merchant_id="m-tea", stackable=True),
        ],
        CART,
    )
    # The merchant coupon applies first (narrower scope), the order percent on what is left.
    assert result.coupon_ids == ("tea-500", "order-10")
    assert [d.amount_minor for d in result.discounts] == [500, (SUBTOTAL - 500) // 10]
    assert result.total_minor == SUBTOTAL - 500 - (SUBTOTAL - 500) // 10
    assert result.discount_minor == SUBTOTAL - result.total_minor


def test_the_order_of_the_coupons_given_does_not_matter() -> None:
    coupons = [
        percent("p", 20, stackable=True),
        fixed("f", 700, scope="skus", sku_ids=frozenset({"sku-pot"}), stackable=True),
        fixed("g", 300, scope="merchant", merchant_id="m-farm"),
    ]
    assert apply(coupons, CART) == apply(list(reversed(coupons)), CART)
    assert [c.id for c in canonical_order(coupons)] == ["f", "g", "p"]


def test_stacked_coupons_never_take_a_line_below_zero() -> None:
    rice = frozenset({"sku-rice"})
    coupons = [
        fixed("a", 1500, scope="skus", sku_ids=rice, stackable=True),
        fixed("b", 1500, scope="merchant", merchant_id="m-farm", stackable=True),
    ]
    result = apply(coupons, CART)
    assert [d.amount_minor for d in result.discounts] == [1500, 300]
    assert result.total_minor == SUBTOTAL - 1800


def test_min_spend_of_a_later_coupon_is_checked_on_what_earlier_ones_left() -> None:
    coupons = [
        fixed("tea", 1000, scope="merchant", merchant_id="m-tea", stackable=True),
        fixed("order", 2000, min_spend_minor=SUBTOTAL),
    ]
    result = apply(coupons, CART)
    assert [d.amount_minor for d in result.discounts] == [1000, 0]


def test_a_discount_is_spread_over_its_lines_in_proportion() -> None:
    lines = [CartLine("a", "m", 100, 1), CartLine("b", "m", 200, 1), CartLine("c", "n", 50, 1)]
    result = apply([fixed("x", 100, scope="merchant", merchant_id="m")], lines)
    (applied,) = result.discounts
    assert applied.per_line_minor == (33, 67, 0)  # 33.3 and 66.7: the larger remainder wins
    assert sum(applied.per_line_minor) == 100


def test_no_coupons_leave_the_cart_as_it_is() -> None:
    assert apply([], CART) == Applied(subtotal_minor=SUBTOTAL, total_minor=SUBTOTAL, discounts=())


# -- best choice ------------------------------------------------------------------------------


def test_best_coupon_picks_the_largest_single_discount() -> None:
    coupons = [fixed("a", 1000), percent("b", 10), percent("c", 50, cap_minor=800)]
    best = best_coupon(coupons, CART)
    assert best is not None and best.coupon_ids == ("b",)
    assert best.discount_minor == SUBTOTAL // 10


def test_best_coupon_combines_a_non_stackable_with_stackables() -> None:
    coupons = [
        fixed("big", 2000),
        fixed("small", 100),
        fixed("s1", 300, scope="merchant", merchant_id="m-farm", stackable=True),
        fixed("s2", 200, stackable=True),
    ]
    best = best_coupon(coupons, CART)
    assert best is not None and set(best.coupon_ids) == {"big", "s1", "s2"}
    assert best.discount_minor == 2500


def test_best_coupon_leaves_out_a_stackable_that_would_spoil_a_min_spend() -> None:
    coupons = [
        percent("half", 50, min_spend_minor=SUBTOTAL),
        fixed("spoiler", 5, scope="skus", sku_ids=frozenset({"sku-tea"}), stackable=True),
    ]
    best = best_coupon(coupons, CART)
    assert best is not None and best.coupon_ids == ("half",)


def test_best_coupon_breaks_ties_by_fewer_coupons_then_by_id() -> None:
    coupons = [fixed("b", 500), fixed("a", 500), fixed("z", 1, stackable=True)]
    best = best_coupon(coupons, [CartLine("s", "m", 500, 1)])
    assert best is not None and best.coupon_ids == ("a",)


def test_no_useful_coupon_means_no_best() -> None:
    assert best_coupon([fixed("a", 100, min_spend_minor=10**9)], CART) is None
    assert best_coupon([], CART) is None


def test_a_wallet_with_a_coupon_twice_is_refused() -> None:
    with pytest.raises(CouponError) as caught:
        best_coupon([fixed("a", 1), fixed("a", 2)], CART)
    assert caught.value.code == "coupon.duplicate"


def test_best_coupon_stays_fast_with_a_big_wallet() -> None:
    coupons = [fixed(f"s{i:02}", 10 + i, stackable=True) for i in range(40)]
    coupons += [percent(f"n{i:02}", 1 + i % 30) for i in range(20)]
    best = best_coupon(coupons, CART)
    assert best is not None
    assert len(best.coupon_ids) == MAX_STACKABLE_SEARCH + 1


# -- properties -------------------------------------------------------------------------------

MERCHANTS = ["m1", "m2", "m3"]
SKUS = ["k1", "k2", "k3", "k4", "k5"]

cart_lines = st.lists(
    st.builds(
        CartLine,
        sku_id=st.sampled_from(SKUS),
        merchant_id=st.sampled_from(MERCHANTS),
        unit_price_minor=st.integers(0, 50_000),
        quantity=st.integers(1, 5),
    ),
    max_size=6,
)


@st.composite
def coupons(draw: st.DrawFn, cid: str = "c") -> Coupon:
    scope = draw(st.sampled_from(["order", "merchant", "skus"]))
    where: dict[str, object] = {"scope": scope}
    if scope == "merchant":
        where["merchant_id"] = draw(st.sampled_from(MERCHANTS))
    if scope == "skus":
        where["sku_ids"] = frozenset(draw(st.lists(st.sampled_from(SKUS), min_size=1)))
    common = {
        "min_spend_minor": draw(st.integers(0, 100_000)),
        "stackable": draw(st.booleans()),
        **where,
    }
    if draw(st.booleans()):
        return fixed(cid, draw(st.integers(1, 60_000)), **common)
    cap = draw(st.none() | st.integers(1, 30_000))
    return percent(cid, draw(st.integers(1, 100)), cap_minor=cap, **common)


@st.composite
def wallets(draw: st.DrawFn) -> list[Coupon]:
    size = draw(st.integers(0, 6))
    return [draw(coupons(cid=f"c{i}")) for i in range(size)]


def valid_subset(wallet: list[Coupon]) -> list[Coupon]:
    """The wallet with all but its first non-stackable coupon removed."""
    first = next((c for c in wallet if not c.stackable), None)
    return [c for c in wallet if c.stackable or c is first]


@settings(max_examples=200, deadline=None)
@given(coupons(), cart_lines)
def test_one_coupon_obeys_its_bounds(coupon: Coupon, lines: list[CartLine]) -> None:
    eligible = eligible_subtotal(coupon, lines)
    off = discount(coupon, lines)
    assert 0 <= off <= eligible
    if eligible < coupon.min_spend_minor:
        assert off == 0
    if coupon.kind == "percent":
        assert off <= eligible * coupon.percent_off // 100
        if coupon.cap_minor is not None:
            assert off <= coupon.cap_minor
    else:
        assert off <= coupon.amount_off_minor


@settings(max_examples=200, deadline=None)
@given(wallets(), cart_lines)
def test_applying_coupons_never_takes_the_total_below_zero(
    wallet: list[Coupon], lines: list[CartLine]
) -> None:
    chosen = valid_subset(wallet)
    result = apply(chosen, lines)
    assert result.subtotal_minor == sum(line.subtotal_minor for line in lines)
    assert 0 <= result.total_minor <= result.subtotal_minor
    assert sum(d.amount_minor for d in result.discounts) == result.discount_minor
    by_id = {c.id: c for c in chosen}
    for applied in result.discounts:
        coupon = by_id[applied.coupon_id]
        assert 0 <= applied.amount_minor <= discount(coupon, lines)
        assert sum(applied.per_line_minor) == applied.amount_minor
        for line, share in zip(lines, applied.per_line_minor, strict=True):
            assert share >= 0 and (share == 0 or coupon.applies_to(line))
    for i, line in enumerate(lines):
        assert sum(d.per_line_minor[i] for d in result.discounts) <= line.subtotal_minor


@settings(max_examples=150, deadline=None)
@given(wallets(), cart_lines)
def test_best_coupon_beats_every_single_coupon_and_every_small_valid_combination(
    wallet: list[Coupon], lines: list[CartLine]
) -> None:
    best = best_coupon(wallet, lines)
    best_off = 0 if best is None else best.discount_minor
    for coupon in wallet:
        assert best_off >= discount(coupon, lines)
    for pair in combinations(wallet, 2):
        if sum(not c.stackable for c in pair) <= 1:
            assert best_off >= apply(pair, lines).discount_minor
    if best is not None:
        assert best.discount_minor > 0
        by_id = {c.id: c for c in wallet}
        assert sum(not by_id[cid].stackable for cid in best.coupon_ids) <= 1
