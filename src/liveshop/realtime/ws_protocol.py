"""uvicorn's WebSocket protocol (``websockets-sansio``), trimmed for many idle connections.

A live room keeps thousands of viewers connected for the length of a show, nearly all idle.
uvicorn's protocol object gives each one an ``asyncio.Queue`` (three deques and an event)
for the messages the application has not read, an ``asyncio.Event`` for write backpressure,
and keeps the handshake request's headers for the life of the connection. Each deque costs
about 0.7 KB, so these alone are close to 7 KB per connection (measured in
docs/performance.md). This subclass keeps uvicorn's protocol (handshake, framing, close,
keepalive, backpressure: all unchanged) and replaces only:

- the receive queue with ``Inbox``: the same ``put_nowait`` / ``get`` / ``empty``, a plain
  list that is dropped whenever it is empty, and a future only while the application waits;
- the write gate with ``Gate``: ``set`` / ``clear`` / ``wait``, where ``wait`` on an open
  gate returns without suspending (as ``Event.wait`` does) and a future exists only while
  a writer waits on a paused transport;
- the handshake request and response, released once the handshake is answered (the ASGI
  scope already holds what the application reads of them);
- the largest incoming message: ``MAX_CLIENT_MESSAGE_BYTES`` (4 KB) instead of uvicorn's
  16 MB ``ws_max_size``. The frame parser refuses a longer message as its header arrives and
  closes with 1009, so a client cannot make the server buffer megabytes per socket.

Selected with ``uvicorn --ws liveshop.realtime.ws_protocol:LeanWebSocketProtocol``
(``WS_PROTOCOL``); ``liveshop serve``, the benchmarks and the WebSocket tests all use it.
Pinned to the uvicorn version in ``pyproject.toml``: the subclass touches only the
attributes named above.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

WS_PROTOCOL = "liveshop.realtime.ws_protocol:LeanWebSocketProtocol"
# No client message of the room protocol comes near this (docs/protocol.md, "Limits").
MAX_CLIENT_MESSAGE_BYTES = 4096


class Inbox:
    """What the client sent and the application has not read yet: FIFO, one reader at a time
    in practice (ASGI ``receive``), several tolerated (each waits its turn)."""

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._waiters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        waiters = self._waiters
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
                    break

    async def get(self) -> Any:
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # cancelled: pass a wake-up this reader took on to the next one
                if waiter.done() and not waiter.cancelled() and self._items:
                    self._wake_next(waiter)
                raise
            finally:
                self._forget(waiter)
        items = self._items
        item = items.pop(0)
        if not items:
            self._items = None
        return item

    def _wake_next(self, taken: asyncio.Future[None]) -> None:
        for waiter in self._waiters or ():
            if waiter is not taken and not waiter.done():
                waiter.set_result(None)
                return

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        waiters = self._waiters
        if waiters is not None:
            waiters.remove(waiter)
            if not waiters:
                self._waiters = None


class Gate:
    """Write backpressure: open unless the transport paused writing. ``wait`` on an open
    gate returns at once without suspending; every waiter is released when it opens."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """``websockets-sansio`` with the per-connection state above made lean."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Gate()  # type: ignore[assignment]
        limit = self.conn.max_message_size
        if limit is None or limit > MAX_CLIENT_MESSAGE_BYTES:
            self.conn.max_message_size = MAX_CLIENT_MESSAGE_BYTES

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "request", None) is not None:
            # the handshake is answered: its request and response are not read again
            self.request.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
