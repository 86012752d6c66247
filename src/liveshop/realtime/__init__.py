"""Real-time plumbing shared by domains: counters (and, later, the broker and room hub)."""
