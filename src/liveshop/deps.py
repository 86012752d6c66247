"""What a request can depend on: the runtime built by the app's lifespan, a DB session,
the clock and the signed-in principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from liveshop.auth import service as auth_service
from liveshop.auth.invalidation import AuthInvalidation
from liveshop.auth.passwords import Passwords
from liveshop.auth.service import Principal
from liveshop.auth.token_cache import TokenCache
from liveshop.auth.token_loader import TokenLoader
from liveshop.clock import Clock
from liveshop.config import Settings
from liveshop.errors import Problem
from liveshop.observability import Metrics
from liveshop.realtime.counters import Counters

if TYPE_CHECKING:
    from liveshop.live.rooms import LiveRooms
    from liveshop.payments.provider import PaymentProvider


@dataclass
class Runtime:
    """Everything the app owns for its lifetime (no module-level mutable state)."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    counters: Counters
    passwords: Passwords
    metrics: Metrics
    payments: PaymentProvider
    rooms: LiveRooms
    token_loader: TokenLoader
    redis: Redis | None = None
    token_cache: TokenCache | None = None
    invalidation: AuthInvalidation = field(default_factory=lambda: AuthInvalidation(None, None))
    extras: dict[str, Any] = field(default_factory=dict)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_clock(runtime: RuntimeDep) -> Clock:
    return runtime.clock


ClockDep = Annotated[Clock, Depends(get_clock)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def optional_principal(request: Request, runtime: RuntimeDep) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return None
    principal = await principal_for(runtime, token)
    if principal is None:
        raise Problem(
            401,
            "auth.invalid_token",
            "the token is unknown, expired or revoked",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return principal


async def principal_for(runtime: Runtime, token: str) -> Principal | None:
    """The token's principal, from the runtime's token cache when it is fresh there, else
    read in a read-only session of its own (on SQLite it takes no write lock, and the
    request's own session stays free for the handler), batched with the other misses of the
    same loop turn by the runtime's ``TokenLoader``."""
    if not auth_service.token_shape_ok(token):
        return None
    now = runtime.clock.now()
    token_hash = auth_service.hash_token(token)
    cache = runtime.token_cache
    if cache is not None and (cached := cache.get(token_hash, now=now)) is not None:
        return cached
    found = await runtime.token_loader.load(token_hash, now=now)
    if found is None:
        return None
    principal, expires_at = found
    if cache is not None:
        cache.put(token_hash, principal, token_expires_at=expires_at)
    return principal


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Problem(
            401,
            "auth.required",
            "sign in first: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise Problem(403, "auth.forbidden", "this needs the admin role")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
