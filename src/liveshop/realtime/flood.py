"""Flood limits of the room socket (docs/protocol.md, "Limits"): pure rules, time passed in.

- ``MessageBudget``: one per connection, made on its first client message. A token bucket
  (``rate`` messages a second, ``burst`` at once) decides whether a message is handled; a
  refused message adds a *strike*, strikes fade at one a second, and a connection whose
  strikes reach ``strikes`` is abusive (the endpoint closes it with 4029). A client a little
  over the rate only gets errors; one that keeps flooding is cut off within seconds.
- ``LikeCap``: likes counted per viewer (account) per second, on this node. A viewer's likes
  beyond ``per_second`` in the current one-second window are not counted (the message is
  still accepted: likes are taps, a client animates them locally).
"""

from __future__ import annotations

from typing import Literal

Verdict = Literal["ok", "refused", "abusive"]


class MessageBudget:
    __slots__ = ("strikes", "struck", "tokens", "updated")

    def __init__(self, *, burst: int, now: float) -> None:
        self.tokens = float(burst)
        self.updated = now
        self.strikes = 0.0
        self.struck = now

    def take(self, *, rate: float, burst: int, strikes: int, now: float) -> Verdict:
        """One client message at ``now`` (monotonic seconds)."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(burst), self.tokens + elapsed * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return "ok"
        self.strikes = max(0.0, self.strikes - max(0.0, now - self.struck)) + 1.0
        self.struck = now
        return "abusive" if self.strikes >= strikes else "refused"


class LikeCap:
    """Per (room, viewer) like counts of the current one-second window; the whole table is
    dropped when the window moves on, so it holds at most one second of likers."""

    __slots__ = ("_used", "_window")

    def __init__(self) -> None:
        self._window = -1
        self._used: dict[tuple[str, str], int] = {}

    def take(self, room: str, viewer: str, count: int, *, per_second: int, now: float) -> int:
        """How many of ``count`` likes sent at ``now`` (seconds) are counted."""
        window = int(now)
        if window != self._window:
            self._window = window
            self._used = {}
        key = (room, viewer)
        used = self._used.get(key, 0)
        counted = max(0, min(count, per_second - used))
        if counted:
            self._used[key] = used + counted
        return counted
