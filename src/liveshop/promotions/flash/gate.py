"""The flash-sale stock gate: one protocol, an in-process and a Redis implementation.

A hot SKU cannot be sold through its database row (one row lock per buy), so the gate decides
every buy in memory, atomically, in one step: is the sale open, is the user under their limit,
is there stock left; if so the units are taken and the reservation is recorded. Accepted
reservations are written as orders afterwards; one not paid in time is released, and its units
go first to the waitlist, then back to stock. After a restart :meth:`StockGate.load` rebuilds
the gate from the database (see ARCHITECTURE.md, "Flash sale stock gate").

Two implementations pass the same tests:

- :class:`MemoryGate` (embedded, one process): atomic because every decision runs as plain
  Python with no ``await`` between reading the state and writing it, so the event loop cannot
  run another task in the middle of a decision;
- :class:`~liveshop.promotions.flash.gate_redis.RedisGate` (several nodes): each decision is one Lua
  script, and Redis runs a script to the end before it serves any other command.

Vocabulary used throughout:

- ``stock``: units of the sale's allocation still free;
- ``taken[user]``: units the user holds in this sale, paid and unpaid alike (what the
  per-user limit counts);
- a *live* reservation is accepted but not yet paid; ``confirm`` marks it paid (it stays
  taken for good), ``release`` expires it. ``stock + sum(taken)`` never changes, except by
  ``load``.

Idempotency: the gate remembers every accepted reservation id, so a retried ``reserve`` returns
the original decision and a retried ``release`` the original result, without taking or freeing
anything twice. Rejected attempts take nothing and are not remembered: a retry of a rejected
``reserve`` is decided afresh.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Status = Literal["scheduled", "open", "closed"]
Outcome = Literal["accepted", "sold_out", "limit_reached", "not_open", "closed", "unknown_sale"]
ReleaseOutcome = Literal["released", "confirmed", "not_found", "unknown_sale"]
ConfirmOutcome = Literal["confirmed", "expired", "not_found", "unknown_sale"]
RefusalReason = Literal["not_open", "closed", "not_sold_out", "limit_reached"]

STATUSES: tuple[Status, ...] = ("scheduled", "open", "closed")


class GateError(Exception):
    """A call the gate cannot honour; the message says why."""


class UnknownSale(GateError, LookupError):
    """The gate holds no sale of this id (never loaded)."""

    def __init__(self, sale_id: str) -> None:
        super().__init__(f"the gate holds no sale {sale_id!r}; load it first")
        self.sale_id = sale_id


class WaitlistRefused(GateError):
    """``join_waitlist`` refused the user; ``reason`` is machine-readable."""

    def __init__(self, sale_id: str, user_id: str, reason: RefusalReason) -> None:
        super().__init__(f"user {user_id!r} cannot join the waitlist of {sale_id!r}: {reason}")
        self.reason: RefusalReason = reason


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one ``reserve``; ``stock_left`` is the stock right after the decision."""

    outcome: Outcome
    stock_left: int
    reservation_id: str

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


@dataclass(frozen=True, slots=True)
class Released:
    """The answer to one ``release``.

    ``units`` went first to ``granted`` (waiting users, in waitlist order, one unit each, as
    new live reservations) and the rest back to stock. ``outcome`` is ``confirmed`` when the
    reservation was paid (nothing is released) and ``not_found`` for an id the gate never
    accepted.
    """

    outcome: ReleaseOutcome
    reservation_id: str
    units: int = 0
    granted: list[tuple[str, str]] = field(default_factory=list)  # (user_id, reservation_id)
    stock_left: int = 0


@dataclass(frozen=True, slots=True)
class GateSnapshot:
    """A sale's whole state; the fields are ``load``'s arguments, so
    ``load(sale_id, **dataclasses.asdict(snapshot))`` rebuilds it."""

    status: Status
    stock: int
    per_user_limit: int
    taken: dict[str, int]
    reservations: dict[str, tuple[str, int]]  # live ones: reservation_id -> (user_id, qty)
    waitlist: list[str]


class StockGate(Protocol):
    async def load(
        self,
        sale_id: str,
        *,
        stock: int,
        per_user_limit: int,
        taken: Mapping[str, int],
        reservations: Mapping[str, tuple[str, int]],
        waitlist: Sequence[str],
        status: Status,
    ) -> None:
        """Replace the sale's state with this one (rebuild after a restart; idempotent).

        ``stock`` is the allocation's free units; ``taken`` the units each user holds (paid
        and live); ``reservations`` the live, unpaid ones, which ``taken`` includes.
        Raises ValueError on inconsistent input.
        """
        ...

    async def open(self, sale_id: str) -> Status:
        """scheduled -> open (no-op when open); GateError when closed."""
        ...

    async def close(self, sale_id: str) -> Status:
        """scheduled or open -> closed (no-op when closed)."""
        ...

    async def reserve(
        self, sale_id: str, *, user_id: str, qty: int, reservation_id: str
    ) -> Decision:
        """Decide one buy atomically: open, under the limit, stock left; then take it.

        A known ``reservation_id`` gets its original decision back even if the reservation
        was confirmed or released since; ``confirm`` and ``release`` tell its fate.
        Raises ValueError when ``qty`` < 1.
        """
        ...

    async def release(self, sale_id: str, reservation_id: str) -> Released:
        """Expire a live reservation: its units go to the waitlist first, then to stock.

        Waiting users get one unit each in order (``waitlist_reservation_id``); one at their
        limit by now leaves the queue empty-handed. Once the sale is closed everything goes
        back to stock. A second release returns the first result and changes nothing.
        """
        ...

    async def confirm(self, sale_id: str, reservation_id: str) -> ConfirmOutcome:
        """The reservation was paid: it stays taken and can no longer be released.

        ``expired`` means it was released first: the payment must be refunded.
        """
        ...

    async def join_waitlist(self, sale_id: str, user_id: str) -> int:
        """Queue a user for released units; returns the 1-based position.

        Only while open and sold out, and only for a user under their limit (else
        WaitlistRefused); a user already waiting gets their current position.
        """
        ...

    async def written(self, sale_id: str, reservation_ids: Sequence[str]) -> None:
        """These accepted reservations' orders are committed: they are no longer at risk of
        being lost with the node that accepted them (see :meth:`unwritten`)."""
        ...

    async def unwritten(self, sale_id: str, *, older_than_seconds: float) -> list[str]:
        """Live reservations accepted (or granted from the waitlist) at least
        ``older_than_seconds`` ago and not known to be written: a node that died between
        the gate and its commit leaves them here. The caller checks the database and
        releases those that have no row (their units go to the waitlist, then to stock)."""
        ...

    async def stock_left(self, sale_id: str) -> int: ...

    async def snapshot(self, sale_id: str) -> GateSnapshot: ...


def waitlist_reservation_id(released_id: str, n: int) -> str:
    """The id of the ``n``-th (1-based) waitlist grant made from a released reservation."""
    return f"{released_id}:w{n}"


def check_qty(qty: int) -> None:
    if qty < 1:
        raise ValueError(f"qty must be at least 1, got {qty}")


def checked_load(
    *,
    stock: int,
    per_user_limit: int,
    taken: Mapping[str, int],
    reservations: Mapping[str, tuple[str, int]],
    waitlist: Sequence[str],
    status: str,
) -> tuple[dict[str, int], dict[str, tuple[str, int]], list[str]]:
    """Validate ``load``'s arguments; returns them normalised (users holding 0 dropped)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if stock < 0:
        raise ValueError(f"stock must not be negative, got {stock}")
    if per_user_limit < 1:
        raise ValueError(f"per_user_limit must be at least 1, got {per_user_limit}")
    if any(units < 0 for units in taken.values()):
        raise ValueError("taken units must not be negative")
    live: dict[str, int] = {}
    for reservation_id, (user_id, qty) in reservations.items():
        if qty < 1:
            raise ValueError(f"reservation {reservation_id!r} has qty {qty}")
        live[user_id] = live.get(user_id, 0) + qty
    for user_id, units in live.items():
        if units > taken.get(user_id, 0):
            raise ValueError(
                f"user {user_id!r} has {units} units in live reservations but taken says "
                f"{taken.get(user_id, 0)}; taken must include live reservations"
            )
    if len(set(waitlist)) != len(waitlist):
        raise ValueError("a user may wait only once")
    return (
        {user_id: units for user_id, units in taken.items() if units > 0},
        {rid: (user_id, qty) for rid, (user_id, qty) in reservations.items()},
        list(waitlist),
    )


# -- in-process -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Reservation:
    user_id: str
    qty: int
    stock_left: int  # of the accepting decision, returned again to a retry
    state: Literal["live", "confirmed", "released"] = "live"
    released: Released | None = None


@dataclass(slots=True)
class _Sale:
    status: Status
    stock: int
    per_user_limit: int
    taken: dict[str, int]
    reservations: dict[str, _Reservation]  # every accepted id, settled ones included
    waitlist: deque[str]
    waiting: set[str]


def _copy(released: Released) -> Released:
    """A copy the caller may mutate (``granted`` is a list) without changing what we keep."""
    return dataclasses.replace(released, granted=list(released.granted))


class MemoryGate:
    """The embedded gate: the state of every sale lives in this process.

    Atomicity: each method reads and writes the state with no ``await`` in between (the
    ``async`` is only there to share the protocol with Redis), so a decision runs within one
    step of the event loop and no other task can observe or change a half-made decision.
    Keep it that way: an ``await`` inside a decision would let two buyers take the last unit.
    Not thread-safe: call it from the event loop's thread only.
    """

    def __init__(self) -> None:
        self._sales: dict[str, _Sale] = {}

    def _sale(self, sale_id: str) -> _Sale:
        sale = self._sales.get(sale_id)
        if sale is None:
            raise UnknownSale(sale_id)
        return sale

    async def load(
        self,
        sale_id: str,
        *,
        stock: int,
        per_user_limit: int,
        taken: Mapping[str, int],
        reservations: Mapping[str, tuple[str, int]],
        waitlist: Sequence[str],
        status: Status,
    ) -> None:
        held, live, queue = checked_load(
            stock=stock,
            per_user_limit=per_user_limit,
            taken=taken,
            reservations=reservations,
            waitlist=waitlist,
            status=status,
        )
        self._sales[sale_id] = _Sale(
            status=status,
            stock=stock,
            per_user_limit=per_user_limit,
            taken=held,
            reservations={rid: _Reservation(user, qty, stock) for rid, (user, qty) in live.items()},
            waitlist=deque(queue),
            waiting=set(queue),
        )

    async def open(self, sale_id: str) -> Status:
        sale = self._sale(sale_id)
        if sale.status == "closed":
            raise GateError(f"sale {sale_id!r} is closed; it cannot reopen")
        sale.status = "open"
        return sale.status

    async def close(self, sale_id: str) -> Status:
        sale = self._sale(sale_id)
        sale.status = "closed"
        return sale.status

    async def reserve(
        self, sale_id: str, *, user_id: str, qty: int, reservation_id: str
    ) -> Decision:
        check_qty(qty)
        sale = self._sales.get(sale_id)
        if sale is None:
            return Decision("unknown_sale", 0, reservation_id)
        known = sale.reservations.get(reservation_id)
        if known is not None:
            return Decision("accepted", known.stock_left, reservation_id)
        if sale.status != "open":
            outcome: Outcome = "not_open" if sale.status == "scheduled" else "closed"
            return Decision(outcome, sale.stock, reservation_id)
        held = sale.taken.get(user_id, 0)
        if held + qty > sale.per_user_limit:
            return Decision("limit_reached", sale.stock, reservation_id)
        if qty > sale.stock:
            return Decision("sold_out", sale.stock, reservation_id)
        sale.stock -= qty
        sale.taken[user_id] = held + qty
        sale.reservations[reservation_id] = _Reservation(user_id, qty, sale.stock)
        return Decision("accepted", sale.stock, reservation_id)

    async def release(self, sale_id: str, reservation_id: str) -> Released:
        sale = self._sales.get(sale_id)
        if sale is None:
            return Released("unknown_sale", reservation_id)
        reservation = sale.reservations.get(reservation_id)
        if reservation is None:
            return Released("not_found", reservation_id, stock_left=sale.stock)
        if reservation.state == "confirmed":
            return Released("confirmed", reservation_id, stock_left=sale.stock)
        if reservation.released is not None:
            return _copy(reservation.released)
        left = sale.taken[reservation.user_id] - reservation.qty
        if left > 0:
            sale.taken[reservation.user_id] = left
        else:
            del sale.taken[reservation.user_id]
        free = reservation.qty
        granted: list[tuple[str, str]] = []
        n = 1
        while sale.status == "open" and free > 0 and sale.waitlist:
            user_id = sale.waitlist.popleft()
            sale.waiting.discard(user_id)
            held = sale.taken.get(user_id, 0)
            if held + 1 > sale.per_user_limit:
                continue  # at their limit by now: they leave the queue empty-handed
            while (grant_id := waitlist_reservation_id(reservation_id, n)) in sale.reservations:
                n += 1
            n += 1
            sale.taken[user_id] = held + 1
            sale.reservations[grant_id] = _Reservation(user_id, 1, 0)
            granted.append((user_id, grant_id))
            free -= 1
        sale.stock += free
        for _, grant_id in granted:
            sale.reservations[grant_id].stock_left = sale.stock
        reservation.state = "released"
        reservation.released = Released(
            "released", reservation_id, reservation.qty, granted, sale.stock
        )
        return _copy(reservation.released)

    async def confirm(self, sale_id: str, reservation_id: str) -> ConfirmOutcome:
        sale = self._sales.get(sale_id)
        if sale is None:
            return "unknown_sale"
        reservation = sale.reservations.get(reservation_id)
        if reservation is None:
            return "not_found"
        if reservation.state == "released":
            return "expired"
        reservation.state = "confirmed"
        return "confirmed"

    async def join_waitlist(self, sale_id: str, user_id: str) -> int:
        sale = self._sale(sale_id)
        if sale.status != "open":
            reason: RefusalReason = "not_open" if sale.status == "scheduled" else "closed"
            raise WaitlistRefused(sale_id, user_id, reason)
        if user_id in sale.waiting:
            return sale.waitlist.index(user_id) + 1
        if sale.stock > 0:
            raise WaitlistRefused(sale_id, user_id, "not_sold_out")
        if sale.taken.get(user_id, 0) >= sale.per_user_limit:
            raise WaitlistRefused(sale_id, user_id, "limit_reached")
        sale.waitlist.append(user_id)
        sale.waiting.add(user_id)
        return len(sale.waitlist)

    async def written(self, sale_id: str, reservation_ids: Sequence[str]) -> None:
        """Nothing to track: in one process an accepted buy is either in the writer's queue
        or undone, and a restart rebuilds the gate from the database."""

    async def unwritten(self, sale_id: str, *, older_than_seconds: float) -> list[str]:
        return []

    async def stock_left(self, sale_id: str) -> int:
        return self._sale(sale_id).stock

    async def snapshot(self, sale_id: str) -> GateSnapshot:
        sale = self._sale(sale_id)
        return GateSnapshot(
            status=sale.status,
            stock=sale.stock,
            per_user_limit=sale.per_user_limit,
            taken=dict(sale.taken),
            reservations={
                rid: (r.user_id, r.qty) for rid, r in sale.reservations.items() if r.state == "live"
            },
            waitlist=list(sale.waitlist),
        )
