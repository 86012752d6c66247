"""Orders: buy-now checkout, price snapshots, the order state machine, expiry."""
