"""A short-lived, bounded cache of signed-in principals by token hash.

Every authenticated request would otherwise read the token, the account and its roles from
the database. Under a flash sale that read is most of a request's cost (and on SQLite each
read transaction takes the database lock). The cache keeps a principal for
``LIVESHOP_AUTH_CACHE_SECONDS`` (default 10; 0 turns it off):

- on this node, signing out, granting or revoking a role, and deactivating an account take
  effect at once (the entries are dropped, see ``auth/invalidation.py``);
- on other nodes they take effect as soon as the Redis pub/sub message arrives, and within
  the cache's lifetime at most when it is lost;
- a token's own expiry is still checked on every request against the injected clock.

The lifetime is measured on the monotonic clock: it bounds staleness, it is not business time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from liveshop.auth.service import Principal


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    token_expires_at: datetime
    cached_until: float


class TokenCache:
    """LRU of ``token hash -> principal`` with a time to live."""

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1:
            raise ValueError("a token cache needs a positive lifetime and size")
        self._ttl = ttl_seconds
        self._max = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._by_account: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token_hash: str, *, now: datetime) -> Principal | None:
        """The cached principal, or None when absent, stale or the token has expired."""
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry.cached_until <= self._monotonic() or entry.token_expires_at <= now:
            self.forget_token(token_hash)
            return None
        self._entries.move_to_end(token_hash)
        return entry.principal

    def put(self, token_hash: str, principal: Principal, *, token_expires_at: datetime) -> None:
        self.forget_token(token_hash)
        self._entries[token_hash] = _Entry(
            principal, token_expires_at, self._monotonic() + self._ttl
        )
        self._by_account.setdefault(principal.account_id, set()).add(token_hash)
        while len(self._entries) > self._max:
            self.forget_token(next(iter(self._entries)))

    def forget_token(self, token_hash: str) -> None:
        """Drop the entry of one token (signed out)."""
        entry = self._entries.pop(token_hash, None)
        if entry is None:
            return
        hashes = self._by_account.get(entry.principal.account_id)
        if hashes is not None:
            hashes.discard(token_hash)
            if not hashes:
                del self._by_account[entry.principal.account_id]

    def forget_account(self, account_id: str) -> None:
        """Drop every entry of an account (its roles or its active flag changed)."""
        for token_hash in list(self._by_account.get(account_id, ())):
            self.forget_token(token_hash)

    def clear(self) -> None:
        """Drop everything (this node may have missed invalidations)."""
        self._entries.clear()
        self._by_account.clear()
