"""Red envelopes without a database: how a pot of money is split among its grabbers.

Two modes, both in integer minor units (never floats), both with an injected random source so
a seeded :class:`random.Random` reproduces a split exactly; production passes
:data:`SYSTEM_RANDOM` (the OS's CSPRNG).

- **double mean** (:func:`split_double_mean`): the amount of each grab is drawn when it
  happens, from ``[1, 2 * remaining_amount / remaining_count)``; the last grabber takes the
  rest. Every position has the same expected amount (exactly: see the rounding note below);
  later positions have more spread.
- **pre-split** (:func:`pre_split`): the whole pot is cut up front, uniformly among all the
  ways of writing ``amount`` as ``count`` positive parts, so the amounts are exchangeable: the
  position of a grab tells nothing about its amount.

``docs/promotions.md`` explains both and what "fair" means for each.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Protocol

from liveshop.errors import Problem

MAX_COUNT: Final = 10_000
"""The most grabbers one pot may have."""

SYSTEM_RANDOM: Final = secrets.SystemRandom()
"""The random source production uses: not seedable, not predictable."""


class RandomSource(Protocol):
    """What the split needs from a random generator (``random.Random`` has it)."""

    def randrange(self, start: int, stop: int, /) -> int:
        """A uniform integer in ``[start, stop)``."""
        ...


class EnvelopeError(Problem, ValueError):
    """A pot that cannot be split; ``code`` is stable (``envelope.*``), HTTP 422."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(422, code, detail)


@dataclass(frozen=True, slots=True)
class Grab:
    """One grab of a pot: who, how much (minor units), and its place in grab order."""

    user_id: str
    amount_minor: int
    seq: int


def validate_pot(amount: int, count: int) -> None:
    """Raise :class:`EnvelopeError` unless ``amount`` can be split among ``count`` people.

    Codes: ``envelope.bad_count`` (count outside 1..:data:`MAX_COUNT`), ``envelope.bad_amount``
    (amount <= 0), ``envelope.too_small`` (fewer minor units than people: someone would get 0).
    """
    if not 1 <= count <= MAX_COUNT:
        raise EnvelopeError("envelope.bad_count", f"count must be 1..{MAX_COUNT}, not {count}")
    if amount <= 0:
        raise EnvelopeError("envelope.bad_amount", f"amount must be positive, not {amount}")
    if amount < count:
        raise EnvelopeError(
            "envelope.too_small",
            f"{amount} minor units cannot give {count} people at least 1 each",
        )


def _double_mean_ceiling(remaining_amount: int, remaining_count: int, rng: RandomSource) -> int:
    """The largest amount of this grab: ``h`` or ``h + 1`` so that the mean is exact.

    A uniform integer in ``[1, top]`` has mean ``(1 + top) / 2``. Choosing ``top`` as
    ``(2a - c) // c`` or one more, the latter with probability ``((2a - c) % c) / c``, makes
    ``E[top] = (2a - c) / c`` and so the grab's mean exactly ``a / c``. ``top`` never exceeds
    the largest integer below ``2a / c``.
    """
    twice_spare = 2 * remaining_amount - remaining_count
    top, fraction = divmod(twice_spare, remaining_count)
    if fraction and rng.randrange(0, remaining_count) < fraction:
        top += 1
    return top


def split_double_mean(remaining_amount: int, remaining_count: int, rng: RandomSource) -> int:
    """The amount of the next grab of a pot with ``remaining_amount`` left for ``remaining_count``.

    The last grabber gets the rest. Otherwise the amount is a random integer in
    ``[1, 2 * remaining_amount / remaining_count)`` whose mean is exactly
    ``remaining_amount / remaining_count`` (see :func:`_double_mean_ceiling`), and it always
    leaves at least 1 minor unit for each person still to grab.
    """
    validate_pot(remaining_amount, remaining_count)
    if remaining_count == 1:
        return remaining_amount
    top = _double_mean_ceiling(remaining_amount, remaining_count, rng)
    # Never binds when count >= 2 (2a/c <= a - c + 2), kept as the stated invariant.
    top = min(top, remaining_amount - (remaining_count - 1))
    return rng.randrange(1, top + 1)


def double_mean_all(amount: int, count: int, rng: RandomSource) -> list[int]:
    """Every grab of a pot in order, as :func:`split_double_mean` would hand them out."""
    validate_pot(amount, count)
    grabs: list[int] = []
    remaining = amount
    for left in range(count, 0, -1):
        grab = split_double_mean(remaining, left, rng)
        grabs.append(grab)
        remaining -= grab
    return grabs


def _distinct_sample(population: int, k: int, rng: RandomSource) -> set[int]:
    """``k`` distinct integers from ``range(population)``, every subset equally likely.

    Robert Floyd's algorithm: ``k`` calls of ``randrange``, memory ``O(k)``, whatever the size of
    the population (a 10-million-cent pot costs no more than a 10-cent one).
    """
    chosen: set[int] = set()
    for high in range(population - k, population):
        pick = rng.randrange(0, high + 1)
        chosen.add(high if pick in chosen else pick)
    return chosen


def pre_split(amount: int, count: int, rng: RandomSource) -> list[int]:
    """The whole pot cut up front: ``count`` amounts, each >= 1, summing to ``amount``.

    Picks ``count - 1`` distinct cut points among the ``amount - 1`` gaps between the minor
    units of the pot and returns the pieces, so every composition of ``amount`` into ``count``
    positive parts is equally likely. That makes the amounts exchangeable: each one has mean
    ``amount / count`` and the same distribution, whatever its position.
    """
    validate_pot(amount, count)
    cuts = sorted(cut + 1 for cut in _distinct_sample(amount - 1, count - 1, rng))
    edges = [0, *cuts, amount]
    return [right - left for left, right in pairwise(edges)]


def best_luck(grabs: Sequence[Grab]) -> Grab | None:
    """The luckiest grab ("best luck" badge): the largest amount, the earliest on a tie."""
    if not grabs:
        return None
    return min(grabs, key=lambda grab: (-grab.amount_minor, grab.seq))
