"""Wallets: per account and currency, an append-only ledger and a balance that never goes
negative. Other domains call :func:`liveshop.wallet.service.credit` / ``debit``."""
