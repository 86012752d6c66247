"""Chat moderation rules, decided in memory on the hot path (no database round trip).

The room keeps one ``ChatGate`` per process. It applies, in order: length, banned words
(reject or mask), mute/ban, slow mode, the per-user rate limit (token bucket) and duplicate
flood control. Sanctions and word lists come from the database and are reloaded when they
change (see ``live/moderation_service.py``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

WordAction = Literal["reject", "mask"]


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    text: str = ""
    code: str = ""
    detail: str = ""
    retry_after: float | None = None


def normalize(text: str) -> str:
    """Case- and width-folded form used for matching (full-width letters count)."""
    return unicodedata.normalize("NFKC", text).casefold()


class BannedWords:
    """Substring matching (works for Chinese, which has no word boundaries)."""

    def __init__(self, words: Iterable[str] = ()) -> None:
        cleaned = sorted({normalize(w.strip()) for w in words if w.strip()}, key=len, reverse=True)
        self.words = cleaned
        self._pattern = re.compile("|".join(re.escape(w) for w in cleaned)) if cleaned else None

    def find(self, text: str) -> list[str]:
        if self._pattern is None:
            return []
        return sorted(set(self._pattern.findall(normalize(text))))

    def mask(self, text: str) -> str:
        """Replace every banned word with asterisks of the same length.

        Matching runs on the normalized text; NFKC can change lengths, so positions are
        mapped back through a per-segment normalization. A segment is a character plus the
        ones that compose with it (combining accents, Hangul jamo): normalizing characters
        one by one would miss "cafe" + U+0301 that ``find`` sees as "café".
        """
        if self._pattern is None:
            return text
        segments: list[tuple[int, int]] = []  # [start, end) in the original text
        for index, ch in enumerate(text):
            if segments:
                start, _ = segments[-1]
                segment = text[start:index]
                if normalize(segment + ch) != normalize(segment) + normalize(ch):
                    segments[-1] = (start, index + 1)
                    continue
            segments.append((index, index + 1))
        owners: list[int] = []  # folded offset -> segment number
        folded_parts = []
        for number, (start, end) in enumerate(segments):
            part = normalize(text[start:end])
            folded_parts.append(part)
            owners.extend([number] * len(part))
        hidden = [False] * len(segments)
        for match in self._pattern.finditer("".join(folded_parts)):
            for offset in range(match.start(), match.end()):
                hidden[owners[offset]] = True
        return "".join(
            "*" * (end - start) if hide else text[start:end]
            for (start, end), hide in zip(segments, hidden, strict=True)
        )


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Sanctions:
    """Active mutes and bans of one anchor's rooms: account id -> until (None = forever)."""

    mutes: dict[str, datetime | None] = field(default_factory=dict)
    bans: dict[str, datetime | None] = field(default_factory=dict)

    @staticmethod
    def _active(table: dict[str, datetime | None], account_id: str, now: datetime) -> bool:
        if account_id not in table:
            return False
        until = table[account_id]
        return until is None or until > now

    def is_banned(self, account_id: str, now: datetime) -> bool:
        return self._active(self.bans, account_id, now)

    def is_muted(self, account_id: str, now: datetime) -> bool:
        return self._active(self.mutes, account_id, now)


@dataclass
class ChatRules:
    max_length: int = 200
    rate_per_second: float = 1.0
    burst: int = 3
    duplicate_window_seconds: float = 30.0
    slow_mode_seconds: int = 0
    word_action: WordAction = "reject"


class ChatGate:
    """Per-room, per-process chat checks. ``now`` is seconds (monotonic or epoch)."""

    def __init__(self, rules: ChatRules, words: BannedWords, sanctions: Sanctions) -> None:
        self.rules = rules
        self.words = words
        self.sanctions = sanctions
        self._buckets: dict[str, _Bucket] = {}
        self._last_text: dict[str, tuple[str, float]] = {}
        self._last_sent: dict[str, float] = {}

    def check(self, account_id: str, text: str, *, now: float, wall: datetime) -> Verdict:
        text = text.strip()
        if not text:
            return Verdict(False, code="chat.empty", detail="the message is empty")
        if len(text) > self.rules.max_length:
            return Verdict(
                False,
                code="chat.too_long",
                detail=f"at most {self.rules.max_length} characters",
            )
        if self.sanctions.is_banned(account_id, wall):
            return Verdict(False, code="chat.banned", detail="you are banned from this room")
        if self.sanctions.is_muted(account_id, wall):
            until = self.sanctions.mutes.get(account_id)
            retry = (until - wall).total_seconds() if until else None
            return Verdict(False, code="chat.muted", detail="you are muted", retry_after=retry)
        found = self.words.find(text)
        if found:
            if self.rules.word_action == "reject":
                return Verdict(
                    False, code="chat.banned_word", detail="the message contains a banned word"
                )
            text = self.words.mask(text)
        slow = self.rules.slow_mode_seconds
        if slow > 0:
            last = self._last_sent.get(account_id)
            if last is not None and now - last < slow:
                return Verdict(
                    False,
                    code="chat.slow_mode",
                    detail=f"slow mode: one message every {slow} s",
                    retry_after=slow - (now - last),
                )
        key = normalize(text)
        previous = self._last_text.get(account_id)
        window = self.rules.duplicate_window_seconds
        if previous and previous[0] == key and now - previous[1] < window:
            return Verdict(False, code="chat.duplicate", detail="you just sent this message")
        bucket = self._buckets.get(account_id)
        if bucket is None:
            bucket = _Bucket(tokens=float(self.rules.burst), updated=now)
            self._buckets[account_id] = bucket
        bucket.tokens = min(
            float(self.rules.burst),
            bucket.tokens + (now - bucket.updated) * self.rules.rate_per_second,
        )
        bucket.updated = now
        if bucket.tokens < 1.0:
            return Verdict(
                False,
                code="chat.rate_limited",
                detail="too many messages",
                retry_after=(1.0 - bucket.tokens) / self.rules.rate_per_second,
            )
        bucket.tokens -= 1.0
        self._last_text[account_id] = (key, now)
        self._last_sent[account_id] = now
        if len(self._buckets) > 50_000:
            self._forget(now)
        return Verdict(True, text=text)

    def _forget(self, now: float) -> None:
        horizon = max(self.rules.duplicate_window_seconds, self.rules.slow_mode_seconds, 60)
        for account_id, bucket in list(self._buckets.items()):
            if now - bucket.updated > horizon:
                self._buckets.pop(account_id, None)
                self._last_text.pop(account_id, None)
                self._last_sent.pop(account_id, None)
