"""Sign-in throttling: failures per account and attempts per client IP."""

from __future__ import annotations

from liveshop.config import Settings
from liveshop.errors import Problem
from liveshop.realtime.counters import Counters, WindowCount, retry_after


def _account_key(email: str) -> str:
    return f"signin:acct:{email.strip().lower()}"


def _ip_key(ip: str) -> str:
    return f"signin:ip:{ip}"


async def check_signin_allowed(
    counters: Counters, settings: Settings, *, email: str, ip: str
) -> None:
    """Count this attempt against the IP; refuse if the IP or the account is throttled."""
    ip_count = await counters.hit(_ip_key(ip), settings.signin_ip_window_seconds)
    if ip_count.count > settings.signin_max_attempts_per_ip:
        raise _limited("too many sign-in attempts from this address", ip_count)
    acct = await counters.peek(_account_key(email), settings.signin_account_window_seconds)
    if acct.count >= settings.signin_max_failures_per_account:
        raise _limited("too many failed sign-ins for this account", acct)


async def record_failure(counters: Counters, settings: Settings, *, email: str) -> None:
    await counters.hit(_account_key(email), settings.signin_account_window_seconds)


async def record_success(counters: Counters, *, email: str) -> None:
    await counters.reset(_account_key(email))


def _limited(detail: str, count: WindowCount) -> Problem:
    seconds = retry_after(count)
    return Problem(
        429,
        "auth.rate_limited",
        f"{detail}; retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
        retry_after=seconds,
    )
