"""Settings: every knob is a ``LIVESHOP_*`` environment variable (see docs/configuration.md)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """The configuration cannot run (e.g. production without a secret key)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVESHOP_", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    var_dir: Path = Path("var")
    database_url: str = "sqlite+aiosqlite:///var/liveshop.db"
    redis_url: str | None = None
    secret_key: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True

    # accounts
    token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    auth_cache_seconds: float = Field(default=10.0, ge=0, le=300)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=8)
    # sign-in attempts are counted before the password check (auth/ratelimit.py)
    signin_max_attempts_per_account_ip: int = Field(default=5, ge=1)
    signin_account_ip_window_seconds: int = Field(default=900, ge=1)
    signin_max_attempts_per_ip: int = Field(default=30, ge=1)
    signin_ip_window_seconds: int = Field(default=60, ge=1)

    # orders and payments
    payment_window_seconds: int = Field(default=900, ge=10)
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    sandbox_webhook_secret: str | None = None
    sandbox_webhook_url: str | None = None
    # The sandbox approves any payment from its unsigned pay page: production refuses to start
    # with it unless this is set on purpose (a staging site that takes no real money).
    sandbox_in_production: bool = False
    default_currency: str = "CNY"

    # live rooms (see docs/protocol.md)
    hub_mode: Literal["batched", "naive"] = "batched"
    hub_tick_ms: int = Field(default=150, ge=10, le=2000)
    hub_queue_soft: int = Field(default=8, ge=1)
    hub_queue_hard: int = Field(default=64, ge=2)
    hub_ring_size: int = Field(default=512, ge=16)
    chat_max_length: int = Field(default=200, ge=1, le=2000)
    chat_rate_per_second: float = Field(default=1.0, gt=0)
    chat_burst: int = Field(default=3, ge=1)
    chat_duplicate_window_seconds: int = Field(default=30, ge=0)
    like_max_per_message: int = Field(default=50, ge=1)
    # likes counted per viewer per second (per node); the rest of a burst is not counted
    like_max_per_second: int = Field(default=20, ge=1)
    # the room socket's flood limits (docs/protocol.md): client messages per connection per
    # second and at once; refused messages (strikes, fading at one a second) before a 4029 close
    ws_message_rate_per_second: float = Field(default=10.0, gt=0)
    ws_message_burst: int = Field(default=20, ge=1)
    ws_abuse_strikes: int = Field(default=30, ge=1)
    eventlog_flush_ms: int = Field(default=500, ge=10)
    # permessage-deflate on WebSockets (uvicorn's ``ws_per_message_deflate``). Off: per-socket
    # zlib state costs ~46 KB and CPU per connection, and defeats encoding a frame once for
    # the whole room; the frames are small JSON (docs/configuration.md)
    ws_compression: bool = False

    # flash sales (docs/flash-sales.md); "naive" is the benchmark baseline: one database
    # transaction per buy with a row lock on the sale
    flash_mode: Literal["gate", "naive"] = "gate"
    flash_batch_max: int = Field(default=2000, ge=1, le=5000)
    # several nodes: units a node took in the shared gate and never wrote (it died) are given
    # back after this long; a node refuses (503) to write a buy older than half of it
    flash_orphan_grace_seconds: float = Field(default=30.0, gt=0, le=3600)

    # live video (docs/streaming.md): nginx-rtmp ingest, HLS playback, recordings -> replays
    rtmp_port: int = Field(default=1935, ge=1, le=65535)
    hls_port: int = Field(default=8088, ge=1, le=65535)
    rtmp_public_url: str | None = None  # what encoders push to; default rtmp://<host>:<port>/live
    hls_public_url: str | None = None  # where players fetch HLS (a CDN in production)
    video_api_url: str | None = None  # where nginx calls the hooks; default http://host:port
    video_hook_secret: str | None = None  # in the hook URLs; default derived from the secret key
    video_grace_seconds: int = Field(default=60, ge=0, le=3600)
    hls_fragment_seconds: float = Field(default=1.0, ge=0.5, le=10)
    hls_playlist_seconds: float = Field(default=6.0, ge=2, le=60)
    video_record: bool = True  # keep each publish as a recording (replays)
    # the address nginx listens on for RTMP and HLS (0.0.0.0: encoders on other machines)
    video_listen: str = "127.0.0.1"
    # adaptive bitrate: nginx runs ffmpeg on each publish to transcode it into 720p/480p/240p
    # renditions, and the playback URL serves their master playlist (docs/streaming.md)
    video_abr: bool = False

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.env == "production":
            if not self.secret_key:
                raise ConfigError("LIVESHOP_SECRET_KEY is required when LIVESHOP_ENV=production")
            if self.database_url.startswith("sqlite") and self.redis_url:
                raise ConfigError("a Redis-backed deployment needs PostgreSQL, not SQLite")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def resolved_secret_key(self) -> str:
        """The secret key; for the embedded default it is generated once into ``var/``."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key + "\n")
        path.chmod(0o600)
        return key

    @property
    def webhook_secret(self) -> str:
        """Secret shared with the sandbox payment provider for webhook signatures."""
        return self.sandbox_webhook_secret or f"whsec-{self.resolved_secret_key[:32]}"

    @property
    def hook_secret(self) -> str:
        """The shared secret in nginx-rtmp's callback URLs (``/video/hooks/{secret}/...``)."""
        if self.video_hook_secret:
            return self.video_hook_secret
        digest = hmac.new(self.resolved_secret_key.encode(), b"video-hooks", hashlib.sha256)
        return digest.hexdigest()[:40]

    @property
    def video_dir(self) -> Path:
        return self.var_dir / "video"

    @property
    def rtmp_url(self) -> str:
        """The server URL an encoder (OBS: Settings > Stream > Server) pushes to."""
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return self.rtmp_public_url or f"rtmp://{host}:{self.rtmp_port}/live"

    @property
    def hls_url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return (self.hls_public_url or f"http://{host}:{self.hls_port}").rstrip("/")

    @property
    def hooks_base_url(self) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return (self.video_api_url or f"http://{host}:{self.port}").rstrip("/")

    @property
    def webhook_url(self) -> str:
        return (
            self.sandbox_webhook_url or f"{self.public_url.rstrip('/')}/payments/webhooks/sandbox"
        )
