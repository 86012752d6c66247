"""The room WebSocket: ``/ws/rooms/{session_id}`` (protocol: docs/protocol.md).

An idle connection is cheap (docs/performance.md): the endpoint coroutine reads the client's
messages in the connection's own ASGI task, the hub writes frames straight to the socket and
starts a writer task only while frames wait (``realtime/hub.py``), and when the hub closes the
connection (too slow, banned, shutdown) it wakes the endpoint by cancelling its pending read.
The route is a plain ASGI route (no FastAPI dependency machinery per connection). Close codes:

- 4001 the token is unknown, expired or revoked
- 4003 banned from this anchor's rooms (also sent when a ban lands while connected)
- 4004 no such live session
- 4008 too slow: the connection fell too far behind; reconnect with ``last_seq``
- 4009 protocol error: no valid ``hello`` within 10 s
- 4029 flooding: it kept sending over the message rate after ``protocol.rate_limited`` errors
- 1009 a client message over 4 KB (refused by the WebSocket protocol itself, before it is
  buffered: ``realtime/ws_protocol.py``; checked here too for any other server)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, WebSocket
from starlette.routing import WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect, WebSocketState

from liveshop.auth.service import Principal
from liveshop.deps import Runtime, principal_for
from liveshop.ids import new_id
from liveshop.inputs import control_character
from liveshop.live.rooms import LiveRooms
from liveshop.realtime.flood import MessageBudget
from liveshop.realtime.hub import CLOSE_TOO_SLOW, Connection, counters_event
from liveshop.realtime.ws_protocol import MAX_CLIENT_MESSAGE_BYTES

log = structlog.get_logger(__name__)
router = APIRouter()

CLOSE_BAD_TOKEN = 4001
CLOSE_BANNED = 4003
CLOSE_NO_SESSION = 4004
CLOSE_PROTOCOL = 4009
CLOSE_TOO_BIG = 1009
CLOSE_FLOODING = 4029
HELLO_TIMEOUT = 10.0
MAX_MESSAGE_BYTES = MAX_CLIENT_MESSAGE_BYTES
_CLOSE_REASONS = {
    CLOSE_TOO_SLOW: "too slow: resync",
    CLOSE_TOO_BIG: "message too big",
    CLOSE_FLOODING: "too many messages",
}
TOKEN_COOKIE = "liveshop_token"
_GUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def error_event(code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail, **extra}


async def _close(ws: WebSocket, code: int, reason: str = "") -> None:
    if ws.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await ws.close(code=code, reason=reason[:120])


def _parse(raw: str) -> dict[str, Any] | None:
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


async def _receive_text(ws: WebSocket) -> str | None:
    """The next text message; None when the client sent binary (answered as bad input)."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        data = message.get("bytes") or b""
        try:
            return str(data.decode())
        except UnicodeDecodeError:
            return None
    return str(text)


class _Reading:
    """``Connection.wake`` for the endpoint: cancels the endpoint's read when the hub closes
    the connection (or a write fails) while the endpoint waits for the client."""

    __slots__ = ("cancelled", "reading", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.reading = False  # the endpoint waits in ``receive``
        self.cancelled = False  # this cancelled the task (the endpoint uncancels it)

    def __call__(self) -> None:
        if self.reading and not self.cancelled:
            self.cancelled = True
            self.task.cancel()


async def room_socket(ws: WebSocket, session_id: str) -> None:
    runtime: Runtime = ws.app.state.runtime
    rooms: LiveRooms = runtime.rooms
    await ws.accept()
    try:
        raw = await asyncio.wait_for(_receive_text(ws), timeout=HELLO_TIMEOUT)
    except TimeoutError:
        await _close(ws, CLOSE_PROTOCOL, "send hello first")
        return
    except WebSocketDisconnect:
        return
    hello = _parse(raw) if raw is not None and len(raw) <= MAX_MESSAGE_BYTES else None
    if hello is None or hello.get("type") != "hello":
        await _close(ws, CLOSE_PROTOCOL, "the first message must be a hello")
        return
    token = hello.get("token") or ws.cookies.get(TOKEN_COOKIE)
    principal: Principal | None = None
    if token:
        if not isinstance(token, str):
            await _close(ws, CLOSE_BAD_TOKEN, "bad token")
            return
        principal = await principal_for(runtime, token)
        if principal is None:
            await _close(ws, CLOSE_BAD_TOKEN, "the token is unknown, expired or revoked")
            return
    guest_id: str | None = None
    if principal is None:
        given = hello.get("guest_id")
        guest_id = given if isinstance(given, str) and _GUEST_ID.match(given) else new_id()

    state, _ = await rooms.state(session_id)
    if state is None:
        await _close(ws, CLOSE_NO_SESSION, "no such live session")
        return
    if principal is not None and await rooms.is_banned(session_id, principal.account_id, state):
        await _close(ws, CLOSE_BANNED, "banned from this room")
        return

    # The console watches the room as one of its own people: not an online or unique viewer.
    staff = (
        hello.get("staff") is True
        and principal is not None
        and await rooms.may_moderate(session_id, principal, state)
    )
    viewer = principal.account_id if principal else f"g:{guest_id}"
    conn = runtime.rooms.hub.connection(
        viewer=viewer,
        account_id=principal.account_id if principal else None,
        send=ws.send_text,
        staff=staff,
    )
    await rooms.hub.join(session_id, conn)
    joined = time.monotonic()
    account_id = principal.account_id if principal else None
    if not staff:
        rooms.log(session_id, "join", account_id=account_id, guest_id=guest_id)
    task = asyncio.current_task()
    assert task is not None
    reading = _Reading(task)
    try:
        if not staff:
            await rooms.broker.add_viewer(session_id, viewer)
        first, seq = await _first_message(rooms, session_id, hello, principal, guest_id)
        await ws.send_text(first)
        # this frame lives as long as the connection: drop what only the join needed (the
        # snapshot text alone is a few KB per idle viewer)
        del first, raw, hello, state
        conn.start(seq)
        conn.wake = reading
        try:
            await _read(ws, runtime, session_id, conn, principal, reading)
        except asyncio.CancelledError:
            if not reading.cancelled or task.uncancel() > 0:
                raise  # not (only) the hub's wake-up: shutting down
        except WebSocketDisconnect:
            pass
        except Exception as failure:
            log.error("room_reader_failed", session_id=session_id, error=repr(failure))
            conn.close(1011)
        conn.wake = None
        await conn.stop()  # a writer stuck on a slow socket
        code = conn.close_code
        if code is not None:
            if code == CLOSE_TOO_SLOW:
                runtime.metrics.room_slow_closed.inc()
            # a stuck socket may not take the close frame: don't wait for it forever
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_close(ws, code, _CLOSE_REASONS.get(code, "")), 2.0)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("room_socket_failed", session_id=session_id)
        await _close(ws, 1011)
    finally:
        conn.wake = None
        if conn.writer is not None:
            conn.writer.cancel()
        await rooms.hub.leave(session_id, conn)
        rooms.forget(session_id)
        if not staff:
            rooms.log(
                session_id,
                "leave",
                account_id=account_id,
                guest_id=guest_id,
                payload={"seconds": round(time.monotonic() - joined, 3)},
            )


async def _first_message(
    rooms: LiveRooms,
    session_id: str,
    hello: dict[str, Any],
    principal: Principal | None,
    guest_id: str | None,
) -> tuple[str, int]:
    """A resume (the priority events missed since ``last_seq``) or a full snapshot, and the
    seq it is current at."""
    counters = counters_event(await rooms.counters(session_id))
    you = {
        "account_id": principal.account_id if principal else None,
        "name": principal.display_name if principal else None,
        "guest_id": guest_id,
    }
    last_seq = hello.get("last_seq")
    if isinstance(last_seq, int) and not isinstance(last_seq, bool) and last_seq >= 0:
        missed = await rooms.broker.since(session_id, last_seq)
        if missed is not None:
            seq = missed[-1]["seq"] if missed else last_seq
            resume = {"type": "resume", "seq": seq, "events": missed, "counters": counters}
            return _dumps({**resume, "you": you}), seq
    state, seq = await rooms.state(session_id)
    snapshot = {
        **(state or {}),
        "chat": await rooms.broker.recent_chat(session_id),
        "counters": counters,
        "promotions": await rooms.promotions(session_id),
    }
    return _dumps({"type": "snapshot", "seq": seq, "snapshot": snapshot, "you": you}), seq


class _RoomSocket:
    """The route's ASGI app: ``room_socket`` without FastAPI's per-connection dependency
    machinery (exit stacks, solved dependencies), which an idle connection would carry."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await room_socket(WebSocket(scope, receive, send), scope["path_params"]["session_id"])


router.routes.append(WebSocketRoute("/ws/rooms/{session_id}", _RoomSocket(), name="room_socket"))

ROOM_PATH = re.compile(r"/ws/rooms/([^/]+)")


def room_session_id(scope: Scope) -> str | None:
    """The session id when ``scope`` is a room WebSocket (``/ws/rooms/{session_id}``)."""
    if scope["type"] != "websocket":
        return None
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    match = ROOM_PATH.fullmatch(path)
    return match[1] if match else None


async def room_lane(scope: Scope, receive: Receive, send: Send, session_id: str) -> None:
    """A room WebSocket straight from the server, past the middleware stack and the router.

    An idle viewer's connection lives as long as the show; every ASGI layer it passes through
    keeps a suspended frame (and some an exit stack) for that long. Nothing those layers do
    applies to a room socket: the request id, access log and request metrics are for HTTP, and
    the endpoint closes with its own codes. The route above stays for the router (and
    anything that resolves it by name); both call the same ``room_socket``."""
    scope["path_params"] = {"session_id": session_id}
    await room_socket(WebSocket(scope, receive, send), session_id)


async def _read(
    ws: WebSocket,
    runtime: Runtime,
    session_id: str,
    conn: Connection,
    principal: Principal | None,
    reading: _Reading,
) -> None:
    """The client's messages, until it leaves or the connection ends (``reading`` lets the
    hub interrupt the wait). Every message spends from the connection's ``MessageBudget``."""
    settings = runtime.settings
    monotonic = runtime.rooms.monotonic
    budget: MessageBudget | None = None  # made on the first message: idle viewers send none
    while not conn.ended:
        reading.reading = True
        try:
            raw = await _receive_text(ws)
        finally:
            reading.reading = False
        if raw is not None and len(raw.encode()) > MAX_MESSAGE_BYTES:
            conn.close(CLOSE_TOO_BIG)
            return
        now = monotonic()
        if budget is None:
            budget = MessageBudget(burst=settings.ws_message_burst, now=now)
        verdict = budget.take(
            rate=settings.ws_message_rate_per_second,
            burst=settings.ws_message_burst,
            strikes=settings.ws_abuse_strikes,
            now=now,
        )
        if verdict == "abusive":
            runtime.metrics.room_flood_closed.inc()
            conn.close(CLOSE_FLOODING)
            return
        if verdict == "refused":
            rate = settings.ws_message_rate_per_second
            retry = round(max(0.0, 1.0 - budget.tokens) / rate, 3)
            conn.direct(
                _dumps(
                    error_event(
                        "protocol.rate_limited",
                        f"too many messages: at most {rate:g} a second",
                        retry_after=retry,
                    )
                )
            )
            continue
        message = _parse(raw) if raw is not None else None
        if message is None:
            conn.direct(_dumps(error_event("protocol.bad_json", "send one JSON object")))
            continue
        kind = message.get("type")
        if kind == "ping":
            conn.direct(_dumps({"type": "pong", "at": runtime.clock.now().isoformat()}))
        elif kind == "chat":
            reply = await _chat(runtime, session_id, principal, message.get("text"))
            if reply is not None:
                conn.direct(_dumps(reply))
        elif kind == "like":
            reply = _like(runtime, session_id, principal, message.get("count", 1))
            if reply is not None:
                conn.direct(_dumps(reply))
        elif kind == "hello":
            conn.direct(_dumps(error_event("protocol.duplicate_hello", "already joined")))
        else:
            conn.direct(
                _dumps(error_event("protocol.unknown_type", "unknown message type", got=kind))
            )


async def _chat(
    runtime: Runtime, session_id: str, principal: Principal | None, text: Any
) -> dict[str, Any] | None:
    rooms = runtime.rooms
    if principal is None:
        return error_event("chat.sign_in_required", "sign in to chat")
    if not isinstance(text, str):
        return error_event("chat.bad_text", "text must be a string")
    if control_character(text) is not None:
        return error_event("chat.bad_text", "text may not hold control characters")
    state, _ = await rooms.state(session_id)
    if state is None or state["session"]["status"] != "live":
        return error_event("chat.not_live", "the session is not live")
    verdict = await rooms.check_chat(session_id, principal.account_id, text, state)
    if not verdict.ok:
        extra: dict[str, Any] = {}
        if verdict.retry_after is not None:
            extra["retry_after"] = round(verdict.retry_after, 3)
        return error_event(verdict.code, verdict.detail, **extra)
    message = {
        "type": "chat",
        "id": new_id(),
        "text": verdict.text,
        "user": {"id": principal.account_id, "name": principal.display_name},
        "at": runtime.clock.now().isoformat(),
    }
    await rooms.publish_chat(session_id, message)
    rooms.log(
        session_id,
        "chat",
        account_id=principal.account_id,
        payload={"id": message["id"], "text": verdict.text},
    )
    return None


def _like(
    runtime: Runtime, session_id: str, principal: Principal | None, count: Any
) -> dict[str, Any] | None:
    if principal is None:
        return error_event("like.sign_in_required", "sign in to like")
    cap = runtime.settings.like_max_per_message
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= cap:
        return error_event("like.bad_count", f"count must be an integer from 1 to {cap}")
    runtime.rooms.like(session_id, principal.account_id, count)
    return None
