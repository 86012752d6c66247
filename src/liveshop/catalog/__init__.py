"""Merchants (brands, factories) and their members, categories, products, SKUs."""
