"""The flash-sale buy's fast lane: ``POST /flash-sales/{id}/buy`` without the framework.

When the link goes up, tens of thousands of taps arrive in seconds and most are turned away
(sold out). Through FastAPI a request costs its routing and dependency resolution, several
times the gate's own work. This ASGI middleware answers the common case itself:

- a JSON request with a valid bearer token (from the token cache, or read once and cached),
  an ``Idempotency-Key`` and a valid body goes straight to ``FlashSales.buy`` (the same call
  the route makes), and its answer (201 or a problem) is written here;
- anything else (no or unknown token, no key, a bad body, another content type, flash sales
  not running) passes to the regular route untouched — the body is replayed to it — so its
  errors and the OpenAPI description stay in one place.

The answers are the route's, byte for byte in their JSON fields (tested side by side).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import structlog
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liveshop.auth import service as auth_service
from liveshop.deps import principal_for
from liveshop.errors import Problem, ProblemResponse
from liveshop.idempotency import key_ok
from liveshop.promotions.flash.schemas import BuyIn

if TYPE_CHECKING:
    from liveshop.deps import Runtime
    from liveshop.promotions.flash.runtime import FlashSales

log = structlog.get_logger(__name__)
PATH = re.compile(r"/flash-sales/([A-Za-z0-9_-]{1,64})/buy")
MAX_BODY = 16 * 1024


class _Route:
    """What the access log and the metrics read of a matched route (its path template)."""

    path = "/flash-sales/{sale_id}/buy"


ROUTE = _Route()


class FlashBuyFastLane:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        token = key = None
        json_body = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                token = rest.strip() if scheme.lower() == "bearer" else None
            elif name == b"idempotency-key":
                key = value.decode("latin-1").strip()
            elif name == b"content-type":
                json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
        runtime: Runtime = scope["app"].state.runtime
        sales: FlashSales | None = runtime.extras.get("flash")
        cache = runtime.token_cache
        if (
            not token
            or not key
            or not key_ok(key)
            or not json_body
            or sales is None
            or cache is None
            or not auth_service.token_shape_ok(token)
        ):
            await self.app(scope, receive, send)
            return
        principal = await principal_for(runtime, token)
        if principal is None:  # unknown, expired or revoked: the route says which
            await self.app(scope, receive, send)
            return
        chunks, complete = await _read_body(receive)
        body_in: BuyIn | None = None
        if complete:
            try:
                body_in = BuyIn.model_validate_json(b"".join(chunks))
            except ValidationError:
                body_in = None
        if body_in is None:
            await self.app(scope, _replay(chunks, complete, receive), send)
            return
        sale_id = match.group(1)
        scope["route"] = ROUTE
        response: Response
        try:
            row = await sales.buy(
                sale_id=sale_id, user_id=principal.account_id, key=key, body=body_in
            )
            sale = await sales.view(sale_id)
        except Problem as problem:
            response = ProblemResponse(
                problem.body(scope["path"]), status_code=problem.status, headers=problem.headers
            )
        except Exception:  # as the app's handler of the unexpected: logged, problem+json
            log.exception("unhandled_error", path=scope["path"])
            unexpected = Problem(
                500, "internal", "an unexpected error occurred; it has been logged"
            )
            response = ProblemResponse(unexpected.body(scope["path"]), status_code=500)
        else:
            from liveshop.promotions.flash.api import buy_out

            out = buy_out(row, sale["price_minor"] * row.quantity, sale["currency"])
            response = Response(out.model_dump_json(), 201, media_type="application/json")
        runtime.metrics.flash_fastlane.inc()
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[list[bytes], bool]:
    """The request body's chunks, and whether they are all of it (False past ``MAX_BODY`` or
    on a disconnect: the route then gets what was read, and the rest, as it comes)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return chunks, True
        if size > MAX_BODY:
            return chunks, False


def _replay(chunks: list[bytes], complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that gives the chunks already read again, then the real channel."""
    pending = list(chunks)

    async def replay() -> Message:
        if pending:
            chunk = pending.pop(0)
            more = bool(pending) or not complete
            return {"type": "http.request", "body": chunk, "more_body": more}
        return await receive()

    return replay
