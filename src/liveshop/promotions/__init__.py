"""Promotions: the room's commerce mechanics, one sub-package each, in the domain shape.

- :mod:`.flash`: flash sales (stock gate, group-commit writer, fast lane, waitlist);
- :mod:`.coupons`: coupon templates, drops, claims, discount math, redemption at checkout;
- :mod:`.envelopes`: red envelopes funded from the anchor's wallet;
- :mod:`.raffles`: provably fair raffles;
- :mod:`.gates`: what the in-memory / Redis gates of flash sales and red envelopes share.
"""
