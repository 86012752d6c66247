"""Coupons: templates, drops in the room, claims, the discount math and redemption at checkout."""
