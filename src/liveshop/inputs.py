"""Bounded request integers: every integer a client sends fits the column it lands in.

PostgreSQL's ``BIGINT`` holds up to 9,223,372,036,854,775,807 and ``INTEGER`` up to
2,147,483,647; a larger Python int reaches the driver and fails there (a 500). So every integer
of a request schema, query or path parameter is one of the types below (or carries bounds of
its own no wider than them); ``tests/test_inputs.py`` walks the OpenAPI and holds every one to
a minimum and a maximum inside ``BIGINT``.

Bounds are checked when the request is parsed: outside them the answer is 422
``request.invalid``, or the field's own stable code where a domain has one
(:class:`Bounded`, e.g. ``wallet.bad_amount``): a validation error whose type is a dotted code
becomes the problem's ``code`` (``errors.install``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl

from annotated_types import Interval
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StrictInt
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liveshop.errors import Problem, problem_response

BIGINT_MAX: Final = 2**63 - 1
"""PostgreSQL ``BIGINT`` (SQLite's INTEGER holds the same)."""
INTEGER_MAX: Final = 2**31 - 1
"""PostgreSQL ``INTEGER``: counts, quantities, seconds."""

MAX_MONEY_MINOR: Final = 10**15
"""The largest amount any request may name: 10,000,000,000,000.00 in a two-decimal currency,
far above every domain's own limit, far below ``BIGINT`` (sums of many stay representable)."""
MAX_COUNT: Final = 10**9
"""The largest count or quantity a request may name (stored as ``INTEGER``)."""
MAX_SECONDS: Final = 10 * 366 * 24 * 3600
"""The longest duration a request may name: ten years (stored as ``INTEGER``)."""


@dataclass(frozen=True, slots=True)
class Bounded:
    """``ge <= value <= le``, refused with the domain's stable ``code`` (HTTP 422).

    Use as ``Annotated[StrictInt, Bounded(1, MAX, code="wallet.bad_amount")]``; ``over``
    is the code for a value above ``le`` when it differs (``envelope.too_large``).
    """

    ge: int
    le: int
    code: str
    over: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(minimum=self.ge, maximum=self.le)
        return json_schema

    def _check(self, value: int) -> int:
        if value < self.ge:
            raise PydanticCustomError(self.code, "must be at least {ge}", {"ge": self.ge})
        if value > self.le:
            code = self.over or self.code
            raise PydanticCustomError(code, "must be at most {le}", {"le": self.le})
        return value


# -- the types (lax: a query string's "12" is 12; Strict*: a JSON body's 12.0 is refused) ---

MONEY: Final = Interval(ge=0, le=MAX_MONEY_MINOR)
POSITIVE_MONEY: Final = Interval(ge=1, le=MAX_MONEY_MINOR)
COUNT: Final = Interval(ge=0, le=MAX_COUNT)
SECONDS: Final = Interval(ge=0, le=MAX_SECONDS)

Money = Annotated[int, MONEY]
"""An amount in integer minor units, 0..:data:`MAX_MONEY_MINOR`."""
StrictMoney = Annotated[StrictInt, MONEY]
PositiveMoney = Annotated[StrictInt, POSITIVE_MONEY]
"""A payment or refund: 1..:data:`MAX_MONEY_MINOR` minor units."""
Count = Annotated[int, COUNT]
"""A count or quantity, 0..:data:`MAX_COUNT`."""
Seconds = Annotated[int, SECONDS]
"""A duration in seconds, 0..:data:`MAX_SECONDS`."""


# -- text --------------------------------------------------------------------------------------

TEXT_CODE: Final = "input.invalid_text"
_CONTROL = re.compile(r"[\x00-\x1f]")
"""C0 controls: never in a path, a query or a form value (single-line by nature)."""
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""C0 controls but tab, line feed and carriage return: never in a JSON body's text."""


def control_character(text: str, *, lines: bool = True) -> str | None:
    """The first C0 control character of ``text`` as ``U+00XX`` (tab, line feed and carriage
    return pass when ``lines``), or None."""
    return _bad_char(text, _CONTROL_BUT_LINES if lines else _CONTROL)


def _bad_char(text: str, pattern: re.Pattern[str]) -> str | None:
    found = pattern.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def _json_text(document: Any) -> tuple[str, str] | None:
    """The first key or string of ``document`` holding a control character (field, char)."""
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            char = _bad_char(value, _CONTROL_BUT_LINES)
            if char:
                return where or "body", char
        elif isinstance(value, dict):
            for key, item in value.items():
                field = f"{where}.{key}" if where else str(key)
                char = _bad_char(str(key), _CONTROL_BUT_LINES)
                if char:
                    return where or "body", char  # the key itself would carry the control
                stack.append((field, item))
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}" if where else str(i), v) for i, v in enumerate(value))
    return None


def _body_text(body: bytes, content_type: str) -> tuple[str, str] | None:
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return None  # the route refuses it
        for name, value in fields:
            char = _bad_char(name, _CONTROL) or _bad_char(value, _CONTROL)
            if char:
                return name, char
        return None
    if b"\\" not in body:
        return None  # JSON text holds control characters only as escapes (raw ones are invalid)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route refuses it or reads it as bytes
    return _json_text(document)


class TextGuard:
    """Refuse, before any route runs, text with C0 control characters (NUL, ESC, ...): in the
    path, in query names and values, in form fields, and in a JSON body's keys and strings
    (which may hold tab, line feed and carriage return: descriptions and notes are
    multi-line). 422 ``input.invalid_text``, ``errors[].field`` names where.

    One place for every route, so no text field can be forgotten; PostgreSQL refuses NUL in
    text (it was a 500 at about ten endpoints).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self._url_text(scope)
        content_type = ""
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                content_type = value.decode("latin-1").lower()
        body = b""
        if found is None and scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            body, receive = await _buffered(receive)
            if body:
                found = _body_text(body, content_type)
        if found is None:
            await self.app(scope, receive, send)
            return
        field, char = found
        detail = f"{field} holds the control character {char}"
        problem = Problem(
            422,
            TEXT_CODE,
            detail,
            errors=[{"field": field, "message": detail, "type": TEXT_CODE}],
        )
        await problem_response(problem, Request(scope))(scope, receive, send)

    @staticmethod
    def _url_text(scope: Scope) -> tuple[str, str] | None:
        char = _bad_char(scope.get("path", ""), _CONTROL)
        if char:
            return "path", char
        query = scope.get("query_string", b"")
        if b"%" not in query and not _CONTROL.search(query.decode("latin-1")):
            return None
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            char = _bad_char(name, _CONTROL) or _bad_char(value, _CONTROL)
            if char:
                return f"query.{name}", char
        return None


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a ``receive`` that gives it again, then the original's."""
    chunks: list[bytes] = []
    pending: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            pending.append(message)  # the client went away: pass its disconnect on
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    if not pending:
        pending.append({"type": "http.request", "body": body, "more_body": False})

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return body, replay
