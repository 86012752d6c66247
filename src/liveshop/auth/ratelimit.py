"""Sign-in throttling that cannot race, locking the attacker's source and not the account.

Every attempt is counted *before* the password is checked, with one atomic increment per
key (Redis ``INCRBY`` + expiry in one script shared by every node, or the in-process
counter, which has no await between read and write): of any number of concurrent attempts
only those that got a count within the limit reach the password check, the rest are 429
``auth.rate_limited`` at once. Two keys are counted:

- per (account, client IP): ``LIVESHOP_SIGNIN_MAX_ATTEMPTS_PER_ACCOUNT_IP`` attempts per
  ``LIVESHOP_SIGNIN_ACCOUNT_IP_WINDOW_SECONDS``. Guessing one account's password from one
  place stops there; the owner signing in from elsewhere is not locked out. A successful
  sign-in clears its own (account, IP) count.
- per client IP: ``LIVESHOP_SIGNIN_MAX_ATTEMPTS_PER_IP`` attempts per
  ``LIVESHOP_SIGNIN_IP_WINDOW_SECONDS``, over all accounts (spraying many accounts).

The windows are fixed from their first attempt: attempts refused inside a window do not
renew it. The email is counted whether or not an account has it (no enumeration), by a hash
of its normalised form (bounded keys).
"""

from __future__ import annotations

import hashlib

from liveshop.config import Settings
from liveshop.errors import Problem
from liveshop.realtime.counters import Counters, WindowCount, retry_after


def _account_ip_key(email: str, ip: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"signin:acct-ip:{digest}:{ip}"


def _ip_key(ip: str) -> str:
    return f"signin:ip:{ip}"


async def count_attempt(counters: Counters, settings: Settings, *, email: str, ip: str) -> None:
    """Count this attempt; refuse it (429) when its IP or its (account, IP) is over the limit.
    Call before the password check."""
    ip_count = await counters.hit(_ip_key(ip), settings.signin_ip_window_seconds)
    if ip_count.count > settings.signin_max_attempts_per_ip:
        raise _limited("too many sign-in attempts from this address", ip_count)
    pair = await counters.hit(_account_ip_key(email, ip), settings.signin_account_ip_window_seconds)
    if pair.count > settings.signin_max_attempts_per_account_ip:
        raise _limited("too many sign-in attempts for this account from this address", pair)


async def record_success(counters: Counters, *, email: str, ip: str) -> None:
    await counters.reset(_account_ip_key(email, ip))


def _limited(detail: str, count: WindowCount) -> Problem:
    seconds = retry_after(count)
    return Problem(
        429,
        "auth.rate_limited",
        f"{detail}; retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
        retry_after=seconds,
    )
