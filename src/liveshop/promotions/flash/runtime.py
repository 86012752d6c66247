"""Flash sales at run time: the gate decides, a single writer makes orders in batches, a
ticker opens, closes, settles and publishes stock.

The buy path never locks a database row: the gate (in-process, or one Redis Lua script per
decision) takes the units, then the buy joins the writer's queue; the writer commits up to
``batch_max`` buys in one transaction (group commit) and only then are their HTTP replies
sent. A crash before the commit loses only buys nobody was told about; on restart the gate
is rebuilt from the database (``flash_service.gate_state``), so nothing is oversold.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from liveshop.clock import Clock
from liveshop.db import is_retryable
from liveshop.errors import Problem
from liveshop.idempotency import fingerprint
from liveshop.orders import service as orders
from liveshop.orders.schemas import AddressIn
from liveshop.promotions.flash import service as flash
from liveshop.promotions.flash.gate import GateError, StockGate, UnknownSale, WaitlistRefused
from liveshop.promotions.flash.models import FlashReservation, FlashSale
from liveshop.promotions.flash.schemas import BuyIn
from liveshop.promotions.flash.writer import WriterThread

if TYPE_CHECKING:
    from liveshop.live.rooms import LiveRooms

log = structlog.get_logger(__name__)

ORPHAN_GRACE_SECONDS = 30.0  # LIVESHOP_FLASH_ORPHAN_GRACE_SECONDS
ORPHAN_CHECK_SECONDS = 1.0  # how often the ticker looks for them

OUTCOME_CODES = {
    "sold_out": "flash.sold_out",
    "limit_reached": "flash.limit_reached",
    "not_open": "flash.not_open",
    "closed": "flash.closed",
    "unknown_sale": "flash.not_found",
}


@dataclass
class _Sale:
    """What the buy path needs of a sale, cached per process (its timing never changes)."""

    row: FlashSale
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)
    sold_out_sent: bool = False
    published_left: int | None = None


class FlashSales:
    def __init__(
        self,
        *,
        gate: StockGate,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Clock,
        rooms: LiveRooms,
        shared_gate: bool = False,
        batch_max: int = 256,
        naive: bool = False,
        writer_url: str | None = None,
        orphan_grace_seconds: float = ORPHAN_GRACE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gate = gate
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._rooms = rooms
        self._shared = shared_gate  # Redis: other nodes use the same gate
        self._batch_max = batch_max
        self._naive = naive  # benchmark baseline: no gate, a locked transaction per buy
        self._sales: dict[str, _Sale] = {}
        self._queue: asyncio.Queue[tuple[flash.Accepted, asyncio.Future[FlashReservation]]] = (
            asyncio.Queue()
        )
        self._writer: asyncio.Task[None] | None = None
        self._writer_url = writer_url  # set: batches are written on a thread of their own
        self._writer_thread: WriterThread | None = None
        self.batches = 0  # group commits done (tests, metrics)
        # A buy the gate accepted and this node did not write within half the grace is
        # refused (503, units released) rather than written late: after the grace another
        # node may give its units to someone else (``release_orphans``).
        self._orphan_grace = orphan_grace_seconds
        self._write_deadline = orphan_grace_seconds / 2
        self._monotonic = monotonic
        self._orphans_checked_at = -float("inf")
        self.orphans_released = 0  # reservations another node accepted and never wrote
        self._writing: set[str] = set()  # accepted here, not written yet: never orphans
        rooms.promotion_sources.append(self.room_promotions)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild the gate of every running sale from the database; start the writer."""
        async with self._sessionmaker() as session:
            for row in await flash.running_sales(session):
                await self._load(session, row)
        if self._writer_url is not None and self._writer_thread is None:
            self._writer_thread = WriterThread(self._writer_url)
            self._writer_thread.start()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop(), name="flash-writer")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self._writer_thread is not None:
            await self._writer_thread.stop()
            self._writer_thread = None

    async def _load(self, session: AsyncSession, row: FlashSale, *, force: bool = False) -> _Sale:
        if self._shared and not force:
            try:
                await self.gate.stock_left(row.id)
            except UnknownSale:
                force = True
        else:
            force = True
        if force:
            state = await flash.gate_state(session, sale=row)
            await self.gate.load(row.id, **dataclasses.asdict(state))
        entry = self._sales.get(row.id)
        if entry is None:
            entry = self._sales[row.id] = _Sale(row)
        else:
            entry.row = row
        return entry

    async def _sale(self, sale_id: str) -> _Sale:
        entry = self._sales.get(sale_id)
        if entry is not None:
            return entry
        async with self._sessionmaker() as session:
            row = await flash.get_or_raise(session, sale_id=sale_id)
            return await self._load(session, row)

    # -- commands ---------------------------------------------------------------------------

    async def created(self, row: FlashSale) -> dict[str, Any]:
        """A sale was committed: load its gate and announce the countdown."""
        async with self._sessionmaker() as session:
            entry = await self._load(session, row, force=True)
        sale_view = flash.view(row, row.quantity)
        entry.published_left = row.quantity
        await self._rooms.publish_priority(
            row.session_id, {"type": "flash.countdown", "sale": sale_view}, actor_id=row.created_by
        )
        return sale_view

    async def room_promotions(self, session_id: str) -> list[dict[str, Any]]:
        """The room's running sales (countdown or open) for its snapshot."""
        async with self._sessionmaker() as session:
            rows = await flash.sales_of_session(session, session_id=session_id)
        return [await self.view(r.id) for r in rows if r.status != "closed"]

    async def view(self, sale_id: str) -> dict[str, Any]:
        entry = await self._sale(sale_id)
        await self._advance(entry)
        return flash.view(entry.row, await self._left(entry))

    async def _left(self, entry: _Sale) -> int:
        try:
            return await self.gate.stock_left(entry.row.id)
        except UnknownSale:
            return 0

    async def buy(self, *, sale_id: str, user_id: str, key: str, body: BuyIn) -> FlashReservation:
        """Decide in the gate, then wait until the order is durable; 409 with a flash code
        when refused."""
        entry = await self._sale(sale_id)
        await self._advance(entry)
        rid = flash.reservation_id(user_id, key)
        # What the writer would refuse for sure is refused before the gate takes a unit.
        orders.destination_of(body.shipping_address)
        if self._naive:
            digest = _digest(sale_id, body)
            return await self._buy_naive(entry, user_id=user_id, rid=rid, body=body, digest=digest)
        decision = await self.gate.reserve(
            sale_id, user_id=user_id, qty=body.quantity, reservation_id=rid
        )
        if not decision.accepted:
            if decision.outcome == "limit_reached":  # maybe a retry of a finished buy
                async with self._sessionmaker() as session:
                    done = await session.get(FlashReservation, rid)
                if done is not None:
                    return _checked(done, _digest(sale_id, body))
            raise Problem(
                409,
                OUTCOME_CODES[decision.outcome],
                _REFUSALS[decision.outcome],
                stock_left=decision.stock_left,
            )
        if decision.stock_left == 0 and not entry.sold_out_sent:
            entry.sold_out_sent = True
            await self._rooms.publish_priority(
                entry.row.session_id, {"type": "flash.sold_out", "sale_id": sale_id}
            )
        digest = _digest(sale_id, body)  # not before: a refusal (most taps) needs none
        accepted = flash.Accepted(
            reservation_id=rid,
            sale_id=sale_id,
            user_id=user_id,
            quantity=body.quantity,
            address=body.shipping_address,
            fingerprint=digest,
            accepted_at=self._monotonic(),
        )
        return _checked(await self._write(accepted), digest)

    async def _buy_naive(
        self, entry: _Sale, *, user_id: str, rid: str, body: BuyIn, digest: str
    ) -> FlashReservation:
        """The baseline the benchmark compares with: decide and write in one transaction
        holding a lock on the sale's row (SQLite: the database write lock)."""
        now = self._clock.now()
        async with self._sessionmaker() as session:
            sale = await flash.get_or_raise(session, sale_id=entry.row.id, lock=True)
            done = await session.get(FlashReservation, rid)
            if done is not None:
                return _checked(done, digest)
            outcome = flash.naive_outcome(
                sale,
                now=now,
                held=await flash.held_units(session, sale_id=sale.id),
                mine=await flash.held_units(session, sale_id=sale.id, user_id=user_id),
                qty=body.quantity,
            )
            if outcome is not None:
                raise Problem(409, OUTCOME_CODES[outcome], _REFUSALS[outcome])
            accepted = flash.Accepted(
                reservation_id=rid,
                sale_id=sale.id,
                user_id=user_id,
                quantity=body.quantity,
                address=body.shipping_address,
                fingerprint=digest,
            )
            [row] = await flash.write_batch(session, buys=[accepted], now=now)
            await session.commit()
        return row

    async def join_waitlist(self, *, sale_id: str, user_id: str, body: BuyIn) -> int:
        entry = await self._sale(sale_id)
        await self._advance(entry)
        orders.destination_of(body.shipping_address)  # its order is written from this address
        try:
            position = await self.gate.join_waitlist(sale_id, user_id)
        except WaitlistRefused as exc:
            raise Problem(
                409, f"flash.waitlist_{exc.reason}", _WAITLIST_REFUSALS[exc.reason]
            ) from exc
        async with self._sessionmaker() as session:
            await flash.add_to_waitlist(
                session,
                sale=entry.row,
                user_id=user_id,
                position=position,
                address=body.shipping_address,
                now=self._clock.now(),
            )
            await session.commit()
        return position

    async def close_sale(self, sale_id: str) -> None:
        entry = await self._sale(sale_id)
        await self._close(entry)

    # -- time: open, close ------------------------------------------------------------------

    async def _advance(self, entry: _Sale) -> None:
        now = self._clock.now()
        if entry.row.status == "countdown" and now >= entry.row.opens_at:
            await self._open(entry)
        if entry.row.status == "open" and now >= entry.row.closes_at:
            await self._close(entry)

    async def _open(self, entry: _Sale) -> None:
        async with entry.lock:
            if entry.row.status != "countdown":
                return
            await self.gate.open(entry.row.id)
            async with self._sessionmaker() as session:
                row = await flash.get_or_raise(session, sale_id=entry.row.id, lock=True)
                won = row.status == "countdown"
                if won:
                    row.status = "open"
                    await session.commit()
                entry.row = row
            if won:
                sale_view = flash.view(entry.row, await self._left(entry))
                await self._rooms.publish_priority(
                    entry.row.session_id, {"type": "flash.open", "sale": sale_view}
                )

    async def _close(self, entry: _Sale) -> None:
        async with entry.lock:
            if entry.row.status == "closed":
                return
            await self.gate.close(entry.row.id)
            await self._drain_writer()
            async with self._sessionmaker() as session:
                row = await flash.get_or_raise(session, sale_id=entry.row.id, lock=True)
                sold = None
                if row.status != "closed":
                    sold = await flash.close_sale(session, sale=row, now=self._clock.now())
                    await session.commit()
                entry.row = row
            if sold is not None:
                await self._rooms.publish_priority(
                    row.session_id, {"type": "flash.closed", "sale_id": row.id, "sold": sold}
                )

    # -- the single writer (group commit) ---------------------------------------------------

    async def _write(self, accepted: flash.Accepted) -> FlashReservation:
        future: asyncio.Future[FlashReservation] = asyncio.get_running_loop().create_future()
        self._writing.add(accepted.reservation_id)
        try:
            await self._queue.put((accepted, future))
            if self._writer is None:  # not started (tests without a lifespan): write inline
                await self._write_batch([self._queue.get_nowait()])
                self._queue.task_done()
            return await future
        finally:
            self._writing.discard(accepted.reservation_id)

    async def _drain_writer(self) -> None:
        """Wait until every accepted buy queued so far is written."""
        await self._queue.join()

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # let the buys of this moment join the batch
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write_batch(batch)
            except Exception:  # never let the writer die
                log.exception("flash_writer_failed", size=len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write_batch(
        self, batch: list[tuple[flash.Accepted, asyncio.Future[FlashReservation]]]
    ) -> None:
        now = self._monotonic()
        late = [
            (a, f) for a, f in batch if a.accepted_at and now - a.accepted_at > self._write_deadline
        ]
        if late:
            for accepted, future in late:
                log.warning("flash_buy_too_late", reservation_id=accepted.reservation_id)
                await self._undo(accepted)
                if not future.done():
                    future.set_exception(
                        Problem(503, "flash.unavailable", "the buy could not be saved; try again")
                    )
            gone = {id(future) for _, future in late}
            batch = [(a, f) for a, f in batch if id(f) not in gone]
            if not batch:
                return
        try:
            results = await self._commit_retrying([a for a, _ in batch])
        except Exception:
            if len(batch) == 1:
                accepted, future = batch[0]
                log.exception("flash_buy_write_failed", reservation_id=accepted.reservation_id)
                await self._undo(accepted)
                if not future.done():
                    future.set_exception(
                        Problem(503, "flash.unavailable", "the buy could not be saved; try again")
                    )
                return
            log.warning("flash_batch_failed_splitting", size=len(batch), exc_info=True)
            half = len(batch) // 2  # isolate the one that fails in log2(n) rounds
            await self._write_batch(batch[:half])
            await self._write_batch(batch[half:])
            return
        self.batches += 1
        for (_, future), row in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(row)

    async def _commit_retrying(self, buys: list[flash.Accepted]) -> list[FlashReservation]:
        """A batch whose transaction lost a race (another node's writer moved the same
        allocation's units first, a deadlock, a serialization failure) is written again in a
        fresh transaction, which reads the allocation anew."""
        for attempt in range(1, COMMIT_ATTEMPTS):
            try:
                return await self._commit(buys)
            except Exception as exc:
                lost_race = is_retryable(exc) or (
                    isinstance(exc, Problem) and exc.code == "stock.contention"
                )
                if not lost_race:
                    raise
                log.info("flash_batch_retried", size=len(buys), attempt=attempt)
                await asyncio.sleep(0.005 * attempt)
        return await self._commit(buys)  # the last attempt: what it raises is the answer

    async def _commit(self, buys: list[flash.Accepted]) -> list[FlashReservation]:
        now = self._clock.now()

        async def write(
            sessionmaker: async_sessionmaker[AsyncSession],
        ) -> tuple[list[FlashReservation], dict[str, FlashReservation]]:
            return await _write_db(sessionmaker, buys, now)

        if self._writer_thread is not None:
            written, found = await self._writer_thread.run(write)
        else:
            written, found = await write(self._sessionmaker)
        rows = {row.id: row for row in written}
        for rid, row in found.items():
            rows[rid] = row
            if row.status != "live":  # a retry after a restart took units again: give back
                await self.gate.release(row.sale_id, rid)
        by_sale: dict[str, list[str]] = {}
        for row in rows.values():
            if row.status == "live":
                by_sale.setdefault(row.sale_id, []).append(row.id)
        for sale_id, ids in by_sale.items():
            with contextlib.suppress(Exception):  # the sweep finds them written anyway
                await self.gate.written(sale_id, ids)
        return [rows[b.reservation_id] for b in buys]

    async def _undo(self, accepted: flash.Accepted) -> None:
        with contextlib.suppress(Exception):
            await self.gate.release(accepted.sale_id, accepted.reservation_id)

    # -- the ticker -------------------------------------------------------------------------

    async def tick(self) -> None:
        """Open and close sales on time, settle paid and overdue buys (released units go to
        the waitlist first), publish stock totals that changed."""
        async with self._sessionmaker() as session:
            for row in await flash.running_sales(session):
                if row.id not in self._sales:
                    await self._load(session, row)
        for entry in list(self._sales.values()):
            await self._advance(entry)
        await self._settle_due()
        if self._monotonic() - self._orphans_checked_at >= ORPHAN_CHECK_SECONDS:
            self._orphans_checked_at = self._monotonic()
            await self.release_orphans()
        for entry in list(self._sales.values()):
            if entry.row.status == "closed":
                continue
            left = await self._left(entry)
            if left != entry.published_left:
                entry.published_left = left
                if left > 0:
                    entry.sold_out_sent = False
                await self._rooms.hub.publish(
                    entry.row.session_id,
                    {"type": "flash.stock", "sale_id": entry.row.id, "left": left},
                )

    async def _settle_due(self) -> None:
        now = self._clock.now()
        async with self._sessionmaker() as session:
            due = [(r.id, r.sale_id) for r in await flash.due(session, now=now)]
        for rid, sale_id in due:
            entry = await self._sale(sale_id)
            async with self._sessionmaker() as session:
                row = await session.get(FlashReservation, rid, with_for_update=True)
                if row is None or row.status != "live":
                    continue
                status = await flash.settle(session, reservation=row, sale=entry.row, now=now)
                await session.commit()
            try:
                if status == "paid" or status == "cancelled":
                    await self.gate.confirm(sale_id, rid)
                elif status == "released":
                    released = await self.gate.release(sale_id, rid)
                    await self._grant(entry, released.granted)
            except GateError:
                log.exception("flash_settle_gate_failed", reservation_id=rid)

    async def release_orphans(self) -> int:
        """Give back the units of buys a node accepted in the shared gate and never wrote (it
        died in between): live reservations older than the grace with no row in the
        database are released — to the waitlist first, then to stock. Safe on every node at
        once: a release is idempotent and a grant is written by the node that got it."""
        released = 0
        for entry in list(self._sales.values()):
            if entry.row.status != "open":
                continue
            sale_id = entry.row.id
            try:
                ids = await self.gate.unwritten(sale_id, older_than_seconds=self._orphan_grace)
            except UnknownSale:
                continue
            if not ids:
                continue
            async with self._sessionmaker() as session:
                found = await flash.existing(session, ids)
            await self.gate.written(sale_id, list(found))
            for rid in ids:
                if rid in found or rid in self._writing:  # this node's writer decides those
                    continue
                result = await self.gate.release(sale_id, rid)
                if result.outcome != "released":
                    continue
                released += 1
                log.warning(
                    "flash_orphan_released", sale_id=sale_id, reservation_id=rid, units=result.units
                )
                await self._grant(entry, result.granted)
        self.orphans_released += released
        return released

    async def _grant(self, entry: _Sale, granted: list[tuple[str, str]]) -> None:
        """Released units went to waiting users: write their orders and tell them."""
        for user_id, rid in granted:
            async with self._sessionmaker() as session:
                waiting = await flash.my_waitlist(session, sale_id=entry.row.id, user_id=user_id)
            if waiting is None:
                await self.gate.release(entry.row.id, rid)
                continue
            accepted = flash.Accepted(
                reservation_id=rid,
                sale_id=entry.row.id,
                user_id=user_id,
                quantity=1,
                address=AddressIn.model_validate(waiting.shipping_address),
                fingerprint="waitlist",
                from_waitlist=True,
                accepted_at=self._monotonic(),
            )
            try:
                row = await self._write(accepted)
            except Problem:
                continue
            async with self._sessionmaker() as session:
                await flash.mark_granted(
                    session, sale_id=entry.row.id, user_id=user_id, reservation_id=rid
                )
                await session.commit()
            await self._rooms.notify(
                entry.row.session_id,
                user_id,
                {
                    "type": "flash.notice",
                    "sale_id": entry.row.id,
                    "code": "waitlist.granted",
                    "order_id": row.order_id,
                    "reservation_id": rid,
                },
            )


async def _write_db(
    sessionmaker: async_sessionmaker[AsyncSession], buys: list[flash.Accepted], now: datetime
) -> tuple[list[FlashReservation], dict[str, FlashReservation]]:
    """One group commit: the buys not written yet (a retry after a restart may be), and
    those found already written."""
    async with sessionmaker() as session:
        found = await flash.existing(session, [b.reservation_id for b in buys])
        fresh = []
        seen: set[str] = set()
        for buy in buys:
            if buy.reservation_id not in found and buy.reservation_id not in seen:
                fresh.append(buy)
                seen.add(buy.reservation_id)
        written = await flash.write_batch(session, buys=fresh, now=now)
        await session.commit()
    return written, found


COMMIT_ATTEMPTS = 5


def _digest(sale_id: str, body: BuyIn) -> str:
    return fingerprint("flash.buy", {"sale": sale_id, **body.model_dump(mode="json")})


def _checked(row: FlashReservation, digest: str) -> FlashReservation:
    if row.fingerprint not in (digest, "waitlist"):
        raise Problem(
            409, "idempotency.key_reused", "this Idempotency-Key was used with a different request"
        )
    return row


_REFUSALS = {
    "sold_out": "sold out: join the waitlist to get released units",
    "limit_reached": "you have bought as many as this sale allows",
    "not_open": "the sale has not opened yet",
    "closed": "the sale is over",
    "unknown_sale": "no such flash sale",
}
_WAITLIST_REFUSALS = {
    "not_open": "the sale has not opened yet",
    "closed": "the sale is over",
    "not_sold_out": "there is stock left: buy instead",
    "limit_reached": "you have bought as many as this sale allows",
}
