"""Payments: the PaymentProvider protocol, the sandbox provider, webhooks, refunds."""
