"""The red-envelope gate: one protocol, an in-process and a Redis implementation.

The same machinery as the flash-sale stock gate (:mod:`liveshop.promotions.gates`): a hot pot
is not decided by its database row but in memory, atomically, in one step per grab: has this
user grabbed already, is a share left, and how much is it. Double mean draws the amount from
the pot's remaining amount and count and updates both in that same step; pre-split pops the
next piece cut at creation. The service then writes the grab durably (grab row + wallet
credit, behind a guarded UPDATE of the pot row) before it answers. When the gate lacks a pot
(a restart, a flushed Redis) the service rebuilds it from the database with ``load(...,
replace=False)``.

- :class:`MemoryEnvelopeGate` (embedded, one process): atomic because a decision is plain
  Python with no ``await`` between reading the pot and writing it;
- :class:`~liveshop.promotions.envelopes.gate_redis.RedisEnvelopeGate` (several nodes): each
  decision is one Lua script.

Randomness: double mean is :func:`~liveshop.promotions.envelopes.split.split_double_mean`. So that
the Lua port draws exactly the same amounts, both gates feed it :data:`WORDS_PER_GRAB` random
48-bit words taken from the gate's ``rng`` through :class:`WordRandom` (rejection sampling,
so every draw is exactly uniform). Given the same seeded ``rng`` both gates hand out the same
amounts; the tests check it. Production uses :data:`~.split.SYSTEM_RANDOM`.

Idempotency: the gate remembers every user's grab. A second grab by the same user gets
``already`` with the same amount, seq and piece: that is how a decision that was taken but
never written (a crash, a database error) is honoured when the user retries.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from liveshop.promotions.envelopes.split import SYSTEM_RANDOM, RandomSource, split_double_mean

Mode = Literal["double_mean", "pre_split"]
GrabOutcome = Literal["granted", "already", "empty", "closed", "unknown"]
MODES: tuple[Mode, ...] = ("double_mean", "pre_split")

WORD_BITS = 48
WORD_LIMIT = 1 << WORD_BITS
WORDS_PER_GRAB = 4
"""Random words per double-mean grab: two draws, each rejected with probability below
``n / 2**48``; when all four are rejected (practically never) the grab draws four more."""


class UnknownEnvelope(LookupError):
    """The gate holds no pot of this id (never loaded, or forgotten)."""

    def __init__(self, envelope_id: str) -> None:
        super().__init__(f"the gate holds no envelope {envelope_id!r}; load it first")
        self.envelope_id = envelope_id


class WordsExhausted(Exception):
    """Every word was rejected; draw new ones."""


class WordRandom:
    """A :class:`~.split.RandomSource` over a fixed list of uniform 48-bit words.

    ``randrange(start, stop)`` takes the next word ``w``; if ``w`` is below the largest
    multiple of ``n = stop - start`` under ``2**48`` it returns ``start + w % n`` (exactly
    uniform), otherwise it rejects ``w`` and tries the next. The Lua script does the same.
    """

    def __init__(self, words: Sequence[int]) -> None:
        self._words = list(words)
        self._next = 0

    def randrange(self, start: int, stop: int, /) -> int:
        n = stop - start
        if not 0 < n <= WORD_LIMIT:
            raise ValueError(f"range of {n} values is outside 1..2**{WORD_BITS}")
        limit = WORD_LIMIT - WORD_LIMIT % n
        while self._next < len(self._words):
            word = self._words[self._next]
            self._next += 1
            if word < limit:
                return start + word % n
        raise WordsExhausted


def draw_words(rng: RandomSource) -> list[int]:
    return [rng.randrange(0, WORD_LIMIT) for _ in range(WORDS_PER_GRAB)]


def double_mean_from_words(remaining_minor: int, remaining_count: int, words: Sequence[int]) -> int:
    """The next double-mean grab drawn with ``words``; raises :class:`WordsExhausted`."""
    return split_double_mean(remaining_minor, remaining_count, WordRandom(words))


@dataclass(frozen=True, slots=True)
class Held:
    """One user's grab as the gate remembers it (``piece``: index into the pre-split)."""

    amount_minor: int
    seq: int
    piece: int | None = None


@dataclass(frozen=True, slots=True)
class GrabDecision:
    """The answer to one ``grab``; ``remaining_*`` describe the pot right after it."""

    outcome: GrabOutcome
    amount_minor: int = 0
    seq: int = 0
    piece: int | None = None
    remaining_count: int = 0
    remaining_minor: int = 0

    @property
    def holds(self) -> bool:
        """The user holds a share (granted now, or before)."""
        return self.outcome in ("granted", "already")


@dataclass(frozen=True, slots=True)
class PotSnapshot:
    """A pot's whole state; the fields are ``load``'s arguments."""

    mode: Mode
    remaining_minor: int
    remaining_count: int
    pieces: list[tuple[int, int]]  # pre-split: (index, amount) not handed out yet, in order
    grabbed: dict[str, Held]
    next_seq: int
    closed: bool


class EnvelopeGate(Protocol):
    async def load(
        self,
        envelope_id: str,
        *,
        mode: Mode,
        remaining_minor: int,
        remaining_count: int,
        pieces: Sequence[tuple[int, int]],
        grabbed: Mapping[str, Held],
        next_seq: int,
        closed: bool = False,
        replace: bool = True,
    ) -> bool:
        """Set the pot's state; with ``replace=False`` only when the gate lacks the pot.
        Returns whether it was set. Raises ValueError on inconsistent input."""
        ...

    async def grab(self, envelope_id: str, *, user_id: str) -> GrabDecision:
        """Decide one grab atomically: ``already`` (the user's earlier share), ``closed``,
        ``empty``, or ``granted`` with the amount; ``unknown`` when the pot is not loaded."""
        ...

    async def close(self, envelope_id: str) -> bool:
        """No more grabs (expiry); False when the pot is not loaded."""
        ...

    async def forget(self, envelope_id: str) -> None:
        """Drop the pot (finished or expired: the database answers from now on)."""
        ...

    async def snapshot(self, envelope_id: str) -> PotSnapshot:
        """The pot's state; raises :class:`UnknownEnvelope`."""
        ...


def checked_load(
    *,
    mode: str,
    remaining_minor: int,
    remaining_count: int,
    pieces: Sequence[tuple[int, int]],
    grabbed: Mapping[str, Held],
    next_seq: int,
) -> None:
    """Validate ``load``'s arguments (ValueError when they cannot describe a pot)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if remaining_count < 0 or remaining_minor < remaining_count:
        raise ValueError(
            f"{remaining_minor} minor units cannot give {remaining_count} people 1 each"
        )
    if mode == "pre_split":
        if len(pieces) != remaining_count or sum(a for _, a in pieces) != remaining_minor:
            raise ValueError("the pieces must match the remaining count and amount")
        if any(amount < 1 for _, amount in pieces):
            raise ValueError("every piece is at least 1 minor unit")
    elif pieces:
        raise ValueError("a double-mean pot has no pieces")
    seqs = [held.seq for held in grabbed.values()]
    if next_seq < 1 or any(not 1 <= seq < next_seq for seq in seqs) or len(set(seqs)) != len(seqs):
        raise ValueError("grab seqs must be distinct and below next_seq")
    if any(held.amount_minor < 1 for held in grabbed.values()):
        raise ValueError("every grab is at least 1 minor unit")


@dataclass
class _Pot:
    mode: Mode
    remaining_minor: int
    remaining_count: int
    pieces: deque[tuple[int, int]]
    grabbed: dict[str, Held]
    next_seq: int
    closed: bool = False


class MemoryEnvelopeGate:
    """The gate of the embedded deployment: the pots live in this process."""

    def __init__(self, rng: RandomSource = SYSTEM_RANDOM) -> None:
        self._rng = rng
        self._pots: dict[str, _Pot] = {}

    async def load(
        self,
        envelope_id: str,
        *,
        mode: Mode,
        remaining_minor: int,
        remaining_count: int,
        pieces: Sequence[tuple[int, int]],
        grabbed: Mapping[str, Held],
        next_seq: int,
        closed: bool = False,
        replace: bool = True,
    ) -> bool:
        checked_load(
            mode=mode,
            remaining_minor=remaining_minor,
            remaining_count=remaining_count,
            pieces=pieces,
            grabbed=grabbed,
            next_seq=next_seq,
        )
        if not replace and envelope_id in self._pots:
            return False
        self._pots[envelope_id] = _Pot(
            mode=mode,
            remaining_minor=remaining_minor,
            remaining_count=remaining_count,
            pieces=deque(pieces),
            grabbed=dict(grabbed),
            next_seq=next_seq,
            closed=closed,
        )
        return True

    async def grab(self, envelope_id: str, *, user_id: str) -> GrabDecision:
        pot = self._pots.get(envelope_id)
        if pot is None:
            return GrabDecision("unknown")
        held = pot.grabbed.get(user_id)
        if held is not None:
            return GrabDecision(
                "already",
                held.amount_minor,
                held.seq,
                held.piece,
                pot.remaining_count,
                pot.remaining_minor,
            )
        if pot.closed:
            return GrabDecision("closed", remaining_count=pot.remaining_count)
        if pot.remaining_count == 0:
            return GrabDecision("empty")
        piece: int | None = None
        if pot.mode == "pre_split":
            piece, amount = pot.pieces.popleft()
        else:
            amount = self._draw(pot.remaining_minor, pot.remaining_count)
        held = Held(amount, pot.next_seq, piece)
        pot.grabbed[user_id] = held
        pot.next_seq += 1
        pot.remaining_count -= 1
        pot.remaining_minor -= amount
        return GrabDecision(
            "granted", amount, held.seq, piece, pot.remaining_count, pot.remaining_minor
        )

    def _draw(self, remaining_minor: int, remaining_count: int) -> int:
        while True:
            try:
                return double_mean_from_words(
                    remaining_minor, remaining_count, draw_words(self._rng)
                )
            except WordsExhausted:
                continue

    async def close(self, envelope_id: str) -> bool:
        pot = self._pots.get(envelope_id)
        if pot is None:
            return False
        pot.closed = True
        return True

    async def forget(self, envelope_id: str) -> None:
        self._pots.pop(envelope_id, None)

    async def snapshot(self, envelope_id: str) -> PotSnapshot:
        pot = self._pots.get(envelope_id)
        if pot is None:
            raise UnknownEnvelope(envelope_id)
        return PotSnapshot(
            mode=pot.mode,
            remaining_minor=pot.remaining_minor,
            remaining_count=pot.remaining_count,
            pieces=list(pot.pieces),
            grabbed=dict(pot.grabbed),
            next_seq=pot.next_seq,
            closed=pot.closed,
        )
