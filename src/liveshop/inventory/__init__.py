"""Warehouses, stock per SKU and warehouse, the stock ledger, reservations, allocation."""
