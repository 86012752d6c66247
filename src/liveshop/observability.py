"""Structured logs, a request id on every response and log line, Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Route stdlib and structlog records through one structured renderer."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class Metrics:
    """The app's own registry (no process-global state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "liveshop_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "liveshop_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.orders_created = Counter(
            "liveshop_orders_created_total", "Orders created", registry=self.registry
        )
        self.payments_succeeded = Counter(
            "liveshop_payments_succeeded_total", "Payments applied", registry=self.registry
        )
        self.room_connections = Gauge(
            "liveshop_room_connections", "Open room WebSockets", registry=self.registry
        )
        self.room_frames = Counter(
            "liveshop_room_frames_total", "Room frames built", registry=self.registry
        )
        self.room_deliveries = Counter(
            "liveshop_room_deliveries_total",
            "Room events offered to connections (events x connections)",
            registry=self.registry,
        )
        self.room_slow_closed = Counter(
            "liveshop_room_slow_closed_total",
            "Connections closed as too slow (4008)",
            registry=self.registry,
        )
        self.room_flood_closed = Counter(
            "liveshop_room_flood_closed_total",
            "Connections closed for flooding (4029)",
            registry=self.registry,
        )
        self.flash_fastlane = Counter(
            "liveshop_flash_fastlane_total",
            "Flash-sale buys answered by the fast lane (not the framework route)",
            registry=self.registry,
        )
        self.eventlog_rows = Counter(
            "liveshop_eventlog_rows_total", "Room event log rows written", registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


CONTEXT_KEY = "liveshop.request_context"  # set in a scope once its context is applied


def loggable_path(path: str) -> str:
    """The path for the access log: the secret in nginx-rtmp's hook URLs is not logged."""
    if path.startswith("/video/hooks/"):
        return "/video/hooks/***/" + path.rsplit("/", 1)[-1]
    return path


class RequestContextMiddleware:
    """Assigns a request id, binds it to the log context, records metrics and an access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = structlog.get_logger("liveshop.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or CONTEXT_KEY in scope:
            await self.app(scope, receive, send)  # not a request, or already in its context
            return
        scope[CONTEXT_KEY] = True
        incoming = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if scope["type"] == "http":
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                method = scope.get("method", "")
                self.metrics.requests.labels(method, template, str(status)).inc()
                self.metrics.latency.labels(method, template).observe(elapsed)
                self.log.info(
                    "request",
                    method=method,
                    path=loggable_path(scope.get("path", "")),
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")
