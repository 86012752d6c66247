"""The concurrency suite: every money or stock command raced on SQLite and PostgreSQL (and
the in-process and Redis gates where a gate decides), each with exact expected counts.

- refunds: 50 concurrent refunds of 30 on a paid order of 1,000 → 33 accepted, 17×409
  ``refund.exceeds_captured``; order, payment, provider intent and refund rows all say 990;
  20 refunds with one key → one refund, 19 replays; 20 cancels of a paid order → 1 + 19×409.
- payments: 20 starts → one payment; 20 pay-page approvals → 1 + 19×409; 20 distinct success
  events → paid once; one event ×20 → 1 + 19×409 ``webhook.replayed``; another amount → 422.
- stock and wallet: 20 first receipts of 5 → on hand 100; 20 adjustments of −1 on 10 → 10 +
  10×409; 20 checkouts spending 100 of a 1,000 wallet → 10 + 10×409; 20 same-key checkouts →
  one order.
- promotions: coupon claims over the quota, one coupon in many checkouts, red-envelope grabs,
  flash buys over the cap and over the per-buyer limit (``test_promotions.py``).
"""
