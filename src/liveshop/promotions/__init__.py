"""Promotions: flash sales and other campaign mechanics."""
