"""Problem details (RFC 9457) with stable, machine-readable codes.

Domains raise :class:`Problem` (or a helper below); the app turns it into
``application/problem+json``. Clients branch on ``code``, never on ``title`` or ``detail``.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from liveshop.observability import loggable_path

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class Problem(Exception):
    """An error a client can act on: HTTP status, stable code, human message."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or code.replace(".", " ").replace("_", " ").capitalize()
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://liveshop.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def not_found(code: str, detail: str = "not found") -> Problem:
    return Problem(404, code, detail)


def conflict(code: str, detail: str, **extra: Any) -> Problem:
    return Problem(409, code, detail, **extra)


def forbidden(detail: str = "you may not do this", code: str = "auth.forbidden") -> Problem:
    return Problem(403, code, detail)


def invalid(code: str, detail: str, field: str | None = None) -> Problem:
    """422 for input that parsed but breaks a business rule."""
    extra: dict[str, Any] = {}
    if field:
        extra["errors"] = [{"field": field, "message": detail}]
    return Problem(422, code, detail, **extra)


def problem_response(problem: Problem, request: Request | None = None) -> ProblemResponse:
    return ProblemResponse(
        problem.body(loggable_path(request.url.path) if request else None),
        status_code=problem.status,
        headers=problem.headers,
    )


_HTTP_CODES = {
    400: "request.bad",
    401: "auth.required",
    403: "auth.forbidden",
    404: "http.not_found",
    405: "http.method_not_allowed",
    406: "http.not_acceptable",
    413: "request.too_large",
    415: "request.unsupported_media_type",
}


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        if len(parts) == 1:
            return parts[0]
        return ".".join(parts[1:]) if parts[0] == "body" else f"{parts[0]}.{'.'.join(parts[1:])}"
    return ".".join(parts)


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> ProblemResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> ProblemResponse:
        errors = []
        for err in exc.errors():
            errors.append(
                {
                    "field": _field_name(tuple(err.get("loc", ()))),
                    "message": str(err.get("msg", "invalid")),
                    "type": str(err.get("type", "")),
                }
            )
        names = ", ".join(e["field"] for e in errors) or "request"
        # A field with a stable code of its own (liveshop.inputs.Bounded) fails with that code
        # as its error type (dotted, unlike pydantic's own types); one such code names the
        # problem, anything else is request.invalid.
        types = {e["type"] for e in errors}
        code = types.pop() if len(types) == 1 and "." in next(iter(types)) else "request.invalid"
        problem = Problem(422, code, f"invalid input: {names}", errors=errors)
        return problem_response(problem, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> ProblemResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        problem = Problem(exc.status_code, code, detail, headers=dict(exc.headers or {}))
        return problem_response(problem, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
        log.exception("unhandled_error", path=loggable_path(request.url.path))
        problem = Problem(500, "internal", "an unexpected error occurred; it has been logged")
        return problem_response(problem, request)
