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
- promotions (raced in their own packages, on both databases and, where a gate decides, on
  the in-process and Redis gates): 60 claimers of a coupon quota of 25 → 25 + 35×409
  ``coupon.sold_out`` and a per-user limit of 2 under 6 racing claims → 2 + 4×409
  (tests/promotions/coupons/test_coupons.py); 20 orders against a wallet budget of 5 coupons →
  5 + 15×409 ``coupon.budget_exhausted`` (coupons/test_funding.py); 200 grabbers of 50 shares
  → 50, sum 5,000 (envelopes/test_red_envelopes.py); 60 buyers of 7 flash units → 7
  (flash/test_sales.py); 20 flash sales against a deal's stock share of 7 → 7 + 13×409 and 20
  raffles against 5 prize units → 5 + 15×409 (tests/deals).
"""
