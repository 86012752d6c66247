"""The in-memory chat rules (live/moderation.py): one test or more per rule of ChatGate.

Pure unit tests: explicit ``now`` (seconds) and ``wall`` (datetime), no sleeps, no database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from liveshop.live.moderation import (
    BannedWords,
    ChatGate,
    ChatRules,
    Sanctions,
    Verdict,
    WordAction,
    normalize,
)

WALL = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T0 = 1_000.0


def make_gate(
    *,
    words: tuple[str, ...] = (),
    action: WordAction = "reject",
    sanctions: Sanctions | None = None,
    **rules: Any,
) -> ChatGate:
    return ChatGate(
        ChatRules(word_action=action, **rules),
        BannedWords(words),
        sanctions or Sanctions(),
    )


def send(
    gate: ChatGate, text: str, *, user: str = "u1", now: float = T0, wall: datetime = WALL
) -> Verdict:
    return gate.check(user, text, now=now, wall=wall)


def refused(verdict: Verdict, code: str) -> None:
    assert not verdict.ok, verdict
    assert verdict.code == code, verdict
    assert verdict.detail


# -- normalize and the word list -------------------------------------------------------------


def test_normalize_folds_width_and_case() -> None:
    assert normalize("ＢＡＤ") == "bad"
    assert normalize("Straße") == "strasse"
    assert normalize("傻瓜") == "傻瓜"


def test_banned_words_find_variants() -> None:
    words = BannedWords(["Bad", " 傻瓜 ", "", "   "])
    assert words.words == ["bad", "傻瓜"]
    assert words.find("so BAD") == ["bad"]
    assert words.find("ｂａｄ and 你是傻瓜吗 bad") == ["bad", "傻瓜"]
    assert words.find("good") == []
    assert BannedWords().find("anything") == []


def test_mask_keeps_length_and_other_text() -> None:
    words = BannedWords(["bad", "傻瓜", "café"])
    cases = {
        "so bad": "so ***",
        "so BaD, BAD": "so ***, ***",
        "ｂａｄ day": "*** day",  # full-width letters
        "你是傻瓜吗": "你是**吗",  # Chinese substring, no word boundaries
        "nothing here": "nothing here",
        "CAFÉ": "****",
    }
    for text, masked in cases.items():
        assert words.mask(text) == masked
        assert len(words.mask(text)) == len(text)
    assert BannedWords().mask("bad") == "bad"


def test_mask_hides_composed_sequences() -> None:
    """Regression: ``find`` matches on NFKC of the whole text, so a decomposed "é" (e + U+0301)
    or Hangul written as conjoining jamo is found; ``mask`` used to fold character by
    character and let it through unmasked."""
    words = BannedWords(["café", "하다"])
    decomposed = "my cafe\u0301!"
    assert words.find(decomposed) == ["café"]
    assert words.mask(decomposed) == "my *****!"
    jamo = "\u1112\u1161\u1103\u1161 ok"
    assert words.find(jamo) == ["하다"]
    assert words.mask(jamo) == "**** ok"


# -- ChatGate, rule by rule ------------------------------------------------------------------


def test_ok_message_is_stripped() -> None:
    verdict = send(make_gate(), "  hello  ")
    assert verdict.ok
    assert verdict.text == "hello"
    assert verdict.code == ""


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u3000"])
def test_empty(text: str) -> None:
    refused(send(make_gate(), text), "chat.empty")


def test_too_long_boundary() -> None:
    gate = make_gate(max_length=10)
    assert send(gate, "x" * 10).ok
    refused(send(gate, "y" * 11, now=T0 + 5), "chat.too_long")
    # surrounding whitespace does not count
    assert send(gate, "  " + "z" * 10 + "  ", now=T0 + 10).ok


def test_default_max_length_is_200() -> None:
    gate = make_gate()
    assert send(gate, "好" * 200).ok
    refused(send(gate, "好" * 201, now=T0 + 5), "chat.too_long")


def test_banned_word_reject() -> None:
    gate = make_gate(words=("bad", "傻瓜"))
    refused(send(gate, "this is BAD"), "chat.banned_word")
    refused(send(gate, "ｂａｄ", now=T0 + 2), "chat.banned_word")
    refused(send(gate, "你是傻瓜吗", now=T0 + 4), "chat.banned_word")
    assert send(gate, "this is good", now=T0 + 6).ok


def test_banned_word_mask() -> None:
    gate = make_gate(words=("bad", "傻瓜"), action="mask")
    verdict = send(gate, "so ＢＡＤ")
    assert verdict.ok
    assert verdict.text == "so ***"
    verdict = send(gate, "你是傻瓜吗", now=T0 + 2)
    assert verdict.ok
    assert verdict.text == "你是**吗"
    assert len(verdict.text) == len("你是傻瓜吗")


def test_muted_with_retry_after_until_expiry() -> None:
    until = WALL + timedelta(minutes=10)
    gate = make_gate(sanctions=Sanctions(mutes={"u1": until}))
    verdict = send(gate, "hi")
    refused(verdict, "chat.muted")
    assert verdict.retry_after == pytest.approx(600.0)
    verdict = send(gate, "hi", now=T0 + 540, wall=WALL + timedelta(minutes=9))
    refused(verdict, "chat.muted")
    assert verdict.retry_after == pytest.approx(60.0)
    # the mute ends exactly at ``until``
    assert send(gate, "hi", now=T0 + 600, wall=until).ok
    # another user is not muted
    assert send(gate, "hi", user="u2").ok


def test_permanent_mute_has_no_retry_after() -> None:
    gate = make_gate(sanctions=Sanctions(mutes={"u1": None}))
    verdict = send(gate, "hi", wall=WALL + timedelta(days=3650))
    refused(verdict, "chat.muted")
    assert verdict.retry_after is None


def test_banned_and_expired_ban() -> None:
    sanctions = Sanctions(bans={"u1": None, "u2": WALL + timedelta(hours=1)})
    gate = make_gate(sanctions=sanctions)
    refused(send(gate, "hi"), "chat.banned")
    refused(send(gate, "hi", user="u2"), "chat.banned")
    later = WALL + timedelta(hours=1, seconds=1)
    refused(send(gate, "hi", now=T0 + 3601, wall=later), "chat.banned")
    assert send(gate, "hi", user="u2", now=T0 + 3601, wall=later).ok
    assert sanctions.is_banned("u1", later)
    assert not sanctions.is_banned("u2", later)
    assert not sanctions.is_muted("u1", later)


def test_ban_wins_over_mute() -> None:
    gate = make_gate(sanctions=Sanctions(mutes={"u1": None}, bans={"u1": None}))
    refused(send(gate, "hi"), "chat.banned")


def test_slow_mode_with_retry_after() -> None:
    gate = make_gate(slow_mode_seconds=10)
    assert send(gate, "one").ok
    verdict = send(gate, "two", now=T0 + 3)
    refused(verdict, "chat.slow_mode")
    assert verdict.retry_after == pytest.approx(7.0)
    assert send(gate, "three", now=T0 + 10).ok
    # each user has their own slow-mode clock
    assert send(gate, "four", user="u2", now=T0 + 11).ok


def test_refused_message_does_not_start_slow_mode() -> None:
    gate = make_gate(slow_mode_seconds=10, words=("bad",))
    refused(send(gate, "bad"), "chat.banned_word")
    assert send(gate, "fine", now=T0 + 1).ok


def test_duplicate_within_window_then_allowed() -> None:
    gate = make_gate(duplicate_window_seconds=30)
    assert send(gate, "buy now").ok
    refused(send(gate, "buy now", now=T0 + 5), "chat.duplicate")
    # case, width and surrounding spaces do not make it new
    refused(send(gate, "  ＢＵＹ NOW ", now=T0 + 10), "chat.duplicate")
    assert send(gate, "buy now", now=T0 + 30).ok
    # another user may say the same thing
    assert send(gate, "buy now", user="u2", now=T0 + 31).ok


def test_duplicate_only_compares_with_the_last_message() -> None:
    gate = make_gate()
    assert send(gate, "a").ok
    assert send(gate, "b", now=T0 + 1).ok
    assert send(gate, "a", now=T0 + 2).ok


def test_rate_limit_burst_then_refill() -> None:
    gate = make_gate(rate_per_second=1.0, burst=3)
    for i in range(3):
        assert send(gate, f"m{i}").ok
    verdict = send(gate, "m3")
    refused(verdict, "chat.rate_limited")
    assert verdict.retry_after == pytest.approx(1.0)
    # half a second later: still not a whole token
    verdict = send(gate, "m4", now=T0 + 0.5)
    refused(verdict, "chat.rate_limited")
    assert verdict.retry_after == pytest.approx(0.5)
    assert send(gate, "m5", now=T0 + 1.0).ok
    refused(send(gate, "m6", now=T0 + 1.0), "chat.rate_limited")


def test_rate_limit_refills_up_to_burst_only() -> None:
    gate = make_gate(rate_per_second=1.0, burst=3)
    assert send(gate, "first").ok
    later = T0 + 3600
    for i in range(3):
        assert send(gate, f"m{i}", now=later).ok
    refused(send(gate, "m3", now=later), "chat.rate_limited")


def test_rate_limit_is_per_user() -> None:
    gate = make_gate(rate_per_second=1.0, burst=3)
    for i in range(3):
        assert send(gate, f"m{i}").ok
    refused(send(gate, "m3"), "chat.rate_limited")
    for i in range(3):
        assert send(gate, f"m{i}", user="u2").ok
    refused(send(gate, "m3", user="u2"), "chat.rate_limited")


def test_rules_order_length_before_sanctions() -> None:
    gate = make_gate(max_length=5, sanctions=Sanctions(bans={"u1": None}))
    refused(send(gate, ""), "chat.empty")
    refused(send(gate, "toolong"), "chat.too_long")
    refused(send(gate, "ok"), "chat.banned")


def test_sanctions_and_rules_can_be_swapped() -> None:
    """The room swaps words, sanctions and rules in place when moderation changes."""
    gate = make_gate()
    assert send(gate, "bad one").ok
    gate.words = BannedWords(["bad"])
    refused(send(gate, "bad two", now=T0 + 1), "chat.banned_word")
    gate.rules = ChatRules(word_action="mask")
    verdict = send(gate, "bad three", now=T0 + 2)
    assert verdict.ok
    assert verdict.text == "*** three"
    gate.sanctions = Sanctions(mutes={"u1": None})
    refused(send(gate, "hello", now=T0 + 3), "chat.muted")


def test_forget_drops_idle_users() -> None:
    gate = make_gate()
    assert send(gate, "hi").ok
    gate._forget(T0 + 3600)
    assert gate._buckets == {}
    assert gate._last_text == {}
    assert gate._last_sent == {}
