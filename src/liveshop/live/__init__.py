"""Live sessions: the rundown, pins, announcements, moderation, the room WebSocket and its
events (docs/protocol.md), the room state reducer and the event log."""
