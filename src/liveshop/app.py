"""create_app(): routers, middleware, and the lifespan that owns every long-lived resource."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import httpx
import orjson
import structlog
from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from liveshop import __version__, errors
from liveshop.auth.api import router as auth_router
from liveshop.auth.invalidation import AuthInvalidation
from liveshop.auth.passwords import Passwords
from liveshop.auth.token_cache import TokenCache
from liveshop.auth.token_loader import TokenLoader
from liveshop.catalog.api import router as catalog_router
from liveshop.clock import Clock, SystemClock
from liveshop.config import ConfigError, Settings
from liveshop.db import create_engine, create_sessionmaker, is_private_memory_database
from liveshop.deals.api import router as deals_router
from liveshop.deps import Runtime
from liveshop.fans.api import router as fans_router
from liveshop.ids import new_id
from liveshop.inputs import TextGuard
from liveshop.inventory.api import router as inventory_router
from liveshop.live.api import router as live_router
from liveshop.live.eventlog import EventLogWriter
from liveshop.live.moderation_api import router as moderation_router
from liveshop.live.rooms import LiveRooms
from liveshop.live.ws import room_lane, room_session_id
from liveshop.live.ws import router as ws_router
from liveshop.observability import Metrics, RequestContextMiddleware, configure_logging
from liveshop.orders.api import router as orders_router
from liveshop.orders.scheduled import sweep_once as sweep_orders
from liveshop.payments.api import router as payments_router
from liveshop.payments.sandbox import SandboxProvider
from liveshop.payments.sandbox_api import router as sandbox_router
from liveshop.periodic import every
from liveshop.promotions.coupons.api import router as coupon_router
from liveshop.promotions.coupons.flows import end_due as end_due_drops
from liveshop.promotions.coupons.flows import room_promotions as coupon_promotions
from liveshop.promotions.envelopes.api import router as envelope_router
from liveshop.promotions.envelopes.flows import GATE as ENVELOPE_GATE
from liveshop.promotions.envelopes.flows import expire_due as expire_due_envelopes
from liveshop.promotions.envelopes.flows import room_promotions as envelope_promotions
from liveshop.promotions.envelopes.gate import EnvelopeGate, MemoryEnvelopeGate
from liveshop.promotions.envelopes.gate_redis import RedisEnvelopeGate
from liveshop.promotions.flash.api import router as flash_router
from liveshop.promotions.flash.fastlane import PATH as FLASH_BUY_PATH
from liveshop.promotions.flash.fastlane import FlashBuyFastLane
from liveshop.promotions.flash.gate import MemoryGate, StockGate
from liveshop.promotions.flash.gate_redis import RedisGate
from liveshop.promotions.flash.runtime import FlashSales
from liveshop.promotions.raffles.api import router as raffle_router
from liveshop.promotions.raffles.flows import room_promotions as raffle_promotions
from liveshop.promotions.raffles.flows import sweep_once as close_due_raffles
from liveshop.realtime.broker import Broker, MemoryBroker, RedisBroker
from liveshop.realtime.counters import Counters, MemoryCounters, RedisCounters
from liveshop.realtime.hub import Hub
from liveshop.video.api import router as video_router
from liveshop.video.flows import end_stale as end_stale_streams
from liveshop.video.replay import build_due as build_due_replays
from liveshop.video.replay import media as replay_media
from liveshop.wallet.api import router as wallet_router
from liveshop.web.api import router as web_router
from liveshop.web.backoffice import router as backoffice_router
from liveshop.web.templating import STATIC_DIR

log = structlog.get_logger(__name__)

FLASH_TICK_SECONDS = 0.25  # countdowns open and sales close on time to a quarter second
PROMOTIONS_SWEEP_SECONDS = 1.0  # raffles close and coupon drops end within a second


class LiveShopApp(FastAPI):
    """FastAPI, with two lanes past its middleware stack for the hottest paths:

    - room WebSockets go straight to their endpoint (``live/ws.room_lane``): thousands of
      idle viewers each keep a connection for the length of a show, and the stack would keep
      a suspended frame per layer for each of them;
    - ``POST /flash-sales/{id}/buy`` goes to the flash fast lane inside only the request
      context (request id, access log, metrics): the tens of thousands of taps of a sale's
      opening skip the framework's layers. What the lane does not take goes on through the
      whole stack to the route (the request context is not applied twice).
    """

    flash_lane: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if (
                self.flash_lane is not None
                and scope["method"] == "POST"
                and FLASH_BUY_PATH.fullmatch(scope["path"])
            ):
                scope["app"] = self
                await self.flash_lane(scope, receive, send)
                return
            await super().__call__(scope, receive, send)
            return
        session_id = room_session_id(scope)
        if session_id is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await room_lane(scope, receive, send, session_id)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    background: bool = True,
    webhook_transport: Callable[[FastAPI], httpx.AsyncBaseTransport] | None = None,
) -> FastAPI:
    """Build the app. ``background=False`` skips the sweepers (tests drive them by hand);
    ``webhook_transport`` lets tests deliver sandbox webhooks in-process."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    payments = _payment_provider(settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        redis: Redis | None = None
        counters: Counters
        broker: Broker
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url)
            counters = RedisCounters(redis)
            broker = RedisBroker(redis, ring_size=settings.hub_ring_size)
        else:
            counters = MemoryCounters(clock)
            broker = MemoryBroker(ring_size=settings.hub_ring_size)
        sessionmaker = create_sessionmaker(engine)
        eventlog = EventLogWriter(
            sessionmaker, clock=clock, metrics=metrics, flush_ms=settings.eventlog_flush_ms
        )
        hub = Hub(
            broker,
            node=f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}",
            metrics=metrics,
            mode=settings.hub_mode,
            tick_ms=settings.hub_tick_ms,
            soft=settings.hub_queue_soft,
            hard=settings.hub_queue_hard,
        )
        rooms = LiveRooms(
            hub=hub,
            broker=broker,
            eventlog=eventlog,
            sessionmaker=sessionmaker,
            clock=clock,
            settings=settings,
        )
        token_cache = (
            TokenCache(settings.auth_cache_seconds) if settings.auth_cache_seconds else None
        )
        transport = webhook_transport(app) if webhook_transport else None
        http = httpx.AsyncClient(transport=transport, timeout=10.0)
        runtime = Runtime(
            settings=settings,
            clock=clock,
            engine=engine,
            sessionmaker=sessionmaker,
            counters=counters,
            passwords=Passwords(
                time_cost=settings.argon2_time_cost,
                memory_cost_kib=settings.argon2_memory_cost_kib,
            ),
            metrics=metrics,
            payments=payments,
            rooms=rooms,
            redis=redis,
            token_cache=token_cache,
            invalidation=AuthInvalidation(token_cache, redis),
            token_loader=TokenLoader(sessionmaker),
        )
        await runtime.invalidation.start()
        runtime.extras["http"] = http
        gate: StockGate = RedisGate(redis) if redis is not None else MemoryGate()
        flash_sales = FlashSales(
            gate=gate,
            sessionmaker=sessionmaker,
            clock=clock,
            rooms=rooms,
            shared_gate=redis is not None,
            batch_max=settings.flash_batch_max,
            orphan_grace_seconds=settings.flash_orphan_grace_seconds,
            naive=settings.flash_mode == "naive",
            writer_url=(
                None if is_private_memory_database(settings.database_url) else settings.database_url
            ),
        )
        runtime.extras["flash"] = flash_sales
        rooms.promotion_sources.append(raffle_promotions(sessionmaker))
        envelope_gate: EnvelopeGate = (
            RedisEnvelopeGate(redis) if redis is not None else MemoryEnvelopeGate()
        )
        runtime.extras[ENVELOPE_GATE] = envelope_gate
        rooms.promotion_sources.append(envelope_promotions(sessionmaker))
        rooms.promotion_sources.append(coupon_promotions(sessionmaker))
        await flash_sales.start()
        app.state.runtime = runtime
        tasks: list[asyncio.Task[Any]] = []
        if background:
            sweep = runtime.settings.sweep_interval_seconds
            promotions_sweep = min(PROMOTIONS_SWEEP_SECONDS, sweep)
            eventlog.start()
            for seconds, step, name in (
                (sweep, partial(sweep_orders, runtime), "order_sweep"),
                (FLASH_TICK_SECONDS, flash_sales.tick, "flash_tick"),
                (promotions_sweep, partial(close_due_raffles, runtime), "raffle_sweep"),
                (sweep, partial(expire_due_envelopes, runtime), "envelope_sweep"),
                (promotions_sweep, partial(end_due_drops, runtime), "coupon_sweep"),
                (promotions_sweep, partial(end_stale_streams, runtime), "stream_grace"),
            ):
                tasks.append(asyncio.create_task(every(seconds, step, name=name), name=name))
            media = replay_media()
            if media is not None:
                build = partial(build_due_replays, runtime, media)
                tasks.append(asyncio.create_task(every(sweep, build, name="replays")))
        log.info(
            "started",
            database=engine.url.render_as_string(hide_password=True),
            redis=bool(redis),
            version=__version__,
        )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await flash_sales.close()
            await runtime.invalidation.close()
            await rooms.close()
            await broker.close()
            await runtime.payments.aclose()
            await http.aclose()
            await counters.close()
            await engine.dispose()

    metrics = Metrics()
    app = LiveShopApp(
        title="liveshop",
        version=__version__,
        description="Self-hosted live-streaming commerce platform. Errors are problem+json.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(TextGuard)  # inside the request context: logged, counted
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.flash_lane = RequestContextMiddleware(
        TextGuard(FlashBuyFastLane(partial(FastAPI.__call__, app))), metrics=metrics
    )

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        """Readiness: the database and, when configured, Redis answer."""
        runtime: Runtime = app.state.runtime
        checks: dict[str, str] = {}
        try:
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if runtime.redis is not None:
            try:
                await runtime.redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return Response(
            orjson.dumps({"status": "ok" if ok else "unavailable", "checks": checks}),
            status_code=200 if ok else 503,
            media_type="application/json",
        )

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics_endpoint() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (
        auth_router,
        catalog_router,
        inventory_router,
        orders_router,
        payments_router,
        sandbox_router,
        live_router,
        flash_router,
        raffle_router,
        envelope_router,
        coupon_router,
        deals_router,
        wallet_router,
        fans_router,
        ws_router,
        moderation_router,
        video_router,
        backoffice_router,
        web_router,  # last: its /live/{session_id} page must not shadow /live/sessions
    ):
        app.include_router(router)
    return app


def _payment_provider(settings: Settings, clock: Clock) -> SandboxProvider:
    """The payment provider. The sandbox approves any payment from its unsigned pay page, so
    production refuses to start with it unless LIVESHOP_SANDBOX_IN_PRODUCTION says so (a
    staging site that takes no real money)."""
    if settings.env == "production" and not settings.sandbox_in_production:
        raise ConfigError(
            "LIVESHOP_ENV=production refuses the sandbox payment provider (anyone with a "
            "pay_url approves it): set LIVESHOP_SANDBOX_IN_PRODUCTION=1 only for a site that "
            "takes no real money"
        )
    return SandboxProvider(settings=settings, clock=clock)


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory liveshop.app:create_app_from_env``."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
