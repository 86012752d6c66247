"""Real-time plumbing shared by domains: windowed counters, the broker (in-process and Redis
pub/sub), the room hub (per-room frames, bounded per-socket queues) and the lean WebSocket
protocol."""
