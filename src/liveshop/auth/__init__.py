"""Accounts, roles, bearer tokens, operator assignments and sign-in rate limits."""
