"""Flash sales: the stock gate (in-process and Redis), the single group-commit writer, the buy
fast lane, the waitlist."""
