"""Opaque, URL-safe, time-ordered identifiers (ULID-like, Crockford base32).

The first 48 bits are milliseconds since the epoch, so ids sort by creation time and serve as
pagination cursors; the remaining 80 bits are random, so ids cannot be guessed.
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id() -> str:
    """A new 26-character id."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
