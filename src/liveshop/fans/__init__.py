"""Fans: followers of anchors and the anchors' fan groups (the anchor's private domain)."""
