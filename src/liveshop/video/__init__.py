"""Live video: the control plane around nginx-rtmp and ffmpeg (docs/streaming.md)."""
