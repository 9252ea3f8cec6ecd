"""Server settings, read from HARVESTGPU_* environment variables (see README "Settings")."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from harvestgpu.providers.registry import REAL_PROVIDERS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HARVESTGPU_", extra="ignore")

    # Where the SQLite database, the generated master key and the mock cloud live.
    data_dir: Path = Path("./data")
    # Empty = SQLite file in data_dir. PostgreSQL: postgresql+psycopg://user:pw@host/db
    database_url: str = ""
    # Master key for provider-key encryption and JWT signing; empty = generated key file in data_dir.
    secret_key: str = ""
    # Where GPU instances on VM clouds reach this server (agent callbacks); empty = no agent.
    public_url: str = ""
    redis_url: str = ""
    host: str = "0.0.0.0"
    port: int = 5000
    log_level: str = "info"
    jwt_ttl_hours: float = 24.0
    max_body_bytes: int = 1_000_000
    # When set, GET /metrics needs "Authorization: Bearer <token>"; empty = open (no user data).
    metrics_token: str = ""
    # `harvestgpu worker` serves its own /metrics on this port; 0 = none.
    worker_metrics_port: int = 0

    # Workers
    run_workers: bool = True
    worker_concurrency: int = 64  # jobs processed at once per worker process
    # Longest idle wait between looks for due jobs. Jobs submitted in this process wake the
    # engine at once; a separate `harvestgpu worker` sees new jobs within this time.
    launch_interval_s: float = 1.0
    monitor_interval_s: float = 2.0  # how often a running job's instance and logs are read
    # An instance not running this long after its launch is abandoned for the next candidate.
    boot_timeout_s: float = 1200.0
    lease_seconds: float = 60.0
    orphan_sweep_interval_s: float = 300.0
    # An instance named like ours whose job this server does not know is left this long (from
    # its creation, or from its first sighting where the cloud gives no time): its launch's
    # row may still be being written.
    orphan_grace_s: float = 600.0
    price_ttl_s: float = 60.0
    provider_timeout_s: float = 20.0
    # Per-cloud bound on the engine's calls ("slug=seconds,..."); TensorDock's creates and
    # deletes often take longer than 20 s (providers reference: use >= 60 s there).
    provider_timeouts: str = "tensordock=60"

    # Mock provider
    mock_mode: Literal["auto", "always", "never"] = "auto"
    mock_job_seconds: float = 120.0
    mock_boot_seconds: float = 2.0
    mock_no_capacity: str = ""  # comma-separated GPU names the mock refuses, e.g. "H100-PCIE,A100"
    mock_stuck_boot: str = ""  # comma-separated GPU names whose mock instances never leave booting
    mock_latency_ms: int = 0  # delay on every mock call, to test slow providers

    # Cloud base URLs: scheme + host only; paths stay as in each cloud's reference.
    runpod_api_url: str = "https://api.runpod.io"
    lambda_api_url: str = "https://cloud.lambda.ai"
    vastai_api_url: str = "https://console.vast.ai"
    tensordock_api_url: str = "https://dashboard.tensordock.com"

    # Rate limits (per plan, SPEC "Rate Limits"); counters live in Redis when redis_url is set.
    rate_limit_enabled: bool = True
    redis_key_prefix: str = "harvestgpu"
    # Per client address, in the `limits` library's notation ("10/minute;100/hour").
    login_rate_limit: str = "10/minute;100/hour"
    register_rate_limit: str = "10/minute;50/hour"

    # Webhooks
    webhook_allow_private: bool = False  # allow loopback/private/link-local targets (local testing)
    webhook_timeout_s: float = 10.0
    webhook_concurrency: int = 16  # deliveries in flight per worker process
    webhook_per_endpoint: int = 4  # of which at most this many to one webhook
    webhook_retry_base_s: float = 30.0  # first retry delay; doubles per attempt, with jitter
    webhook_retry_max_s: float = 3600.0
    webhook_max_age_hours: float = 24.0  # retried for this long, then marked failed
    webhook_poll_interval_s: float = 1.0

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "harvestgpu.sqlite3"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{self.sqlite_path.resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @field_validator("provider_timeouts")
    @classmethod
    def _check_provider_timeouts(cls, value: str) -> str:
        parse_provider_timeouts(value)
        return value

    def timeout_for(self, slug: str) -> float:
        """Bound on one call by the job engine to this cloud (pricing uses provider_timeout_s)."""
        return parse_provider_timeouts(self.provider_timeouts).get(slug, self.provider_timeout_s)

    def provider_base_url(self, slug: str) -> str | None:
        return {
            "runpod": self.runpod_api_url,
            "lambda": self.lambda_api_url,
            "vastai": self.vastai_api_url,
            "tensordock": self.tensordock_api_url,
        }.get(slug)


def parse_provider_timeouts(spec: str) -> dict[str, float]:
    """ "tensordock=60,lambda=30" -> {"tensordock": 60.0, "lambda": 30.0}; a clear error if malformed."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        slug, sep, seconds = part.partition("=")
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        slug = slug.strip()
        if not sep or not value > 0:
            raise ValueError(
                f"HARVESTGPU_PROVIDER_TIMEOUTS: '{part}' is not provider=seconds (e.g. tensordock=60)"
            )
        if slug not in REAL_PROVIDERS:
            raise ValueError(
                f"HARVESTGPU_PROVIDER_TIMEOUTS: unknown provider '{slug}' (use {', '.join(REAL_PROVIDERS)})"
            )
        out[slug] = value
    return out
