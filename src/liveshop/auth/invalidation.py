"""Dropping cached principals when an account's powers change, on every node.

Each node keeps signed-in principals (token -> account and roles) in its ``TokenCache`` for
``LIVESHOP_AUTH_CACHE_SECONDS``. When an account's roles change, when it is deactivated or
reactivated, and when a token is signed out, the node that made the change drops the entries
at once and, when Redis is configured, publishes the change on one pub/sub channel; every
node listens on it and drops the same entries as soon as the message arrives (milliseconds).

Pub/sub delivers at most once: a node whose subscription broke may have missed a message,
so when it reconnects it empties its whole cache; and whatever is missed is still bounded
by the cache's lifetime. Without Redis there is one node, and dropping locally is enough.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from liveshop.auth.token_cache import TokenCache

log = structlog.get_logger(__name__)

CHANNEL = "liveshop:auth:invalidate"
RETRY_SECONDS = 0.5


class AuthInvalidation:
    def __init__(
        self, cache: TokenCache | None, redis: Redis | None, *, channel: str = CHANNEL
    ) -> None:
        self._cache = cache
        self._redis = redis
        self._channel = channel
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.received = 0  # messages applied from the channel (tests read it)

    async def start(self) -> None:
        """Listen on the channel (Redis and a cache only); returns once subscribed."""
        if self._redis is None or self._cache is None:
            return
        self._reader = asyncio.create_task(self._read(), name="auth-invalidation")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=5)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def account_changed(self, account_id: str) -> None:
        """The account's roles or active flag changed: every token of it is read again."""
        if self._cache is not None:
            self._cache.forget_account(account_id)
        await self._publish({"a": account_id})

    async def token_revoked(self, token_hash: str) -> None:
        """The token was signed out."""
        if self._cache is not None:
            self._cache.forget_token(token_hash)
        await self._publish({"t": token_hash})

    async def _publish(self, message: dict[str, str]) -> None:
        if self._redis is None or self._cache is None:
            return
        try:
            await self._redis.publish(self._channel, orjson.dumps(message))
        except Exception:  # the change is committed; other nodes catch up within the lifetime
            log.exception("auth_invalidation_publish_failed")

    def _apply(self, data: bytes) -> None:
        assert self._cache is not None
        message = orjson.loads(data)
        if isinstance(account_id := message.get("a"), str):
            self._cache.forget_account(account_id)
        if isinstance(token_hash := message.get("t"), str):
            self._cache.forget_token(token_hash)
        self.received += 1

    async def _read(self) -> None:
        assert self._redis is not None and self._cache is not None
        first = True
        while True:
            pubsub: PubSub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if not first:  # messages may have been lost while we were away
                    self._cache.clear()
                first = False
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        try:
                            self._apply(message["data"])
                        except Exception:
                            log.exception("auth_invalidation_bad_message")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("auth_invalidation_read_failed")
                self._cache.clear()
                first = False
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
