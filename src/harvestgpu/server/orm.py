"""SQLAlchemy 2.0 tables. Services query them with Core statements (``JobRow.__table__``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    company: Mapped[str | None] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(20), default="free")
    created_at: Mapped[datetime]
    # Login tokens (browser sessions included) issued before this are no longer accepted.
    tokens_valid_after: Mapped[datetime | None]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(24))  # "hg_live_" + first 6 chars, for display
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ProviderKeyRow(Base):
    __tablename__ = "provider_keys"
    __table_args__ = (UniqueConstraint("user_id", "provider", name="uq_provider_keys_user_provider"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    label: Mapped[str | None] = mapped_column(String(200))
    key_ciphertext: Mapped[str] = mapped_column(Text)  # AES-GCM, base64(nonce + ciphertext)
    last4: Mapped[str] = mapped_column(String(4))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_tested_at: Mapped[datetime | None]
    last_test_valid: Mapped[bool | None]
    last_test_message: Mapped[str | None] = mapped_column(String(500))
    deleted_at: Mapped[datetime | None]  # kept (encrypted) while jobs placed with it may still run


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_user_status", "user_id", "status"),
        Index("ix_jobs_due", "phase", "next_run_at"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_jobs_user_idempotency"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # queued | running | completed | failed | stopped
    # Engine phase: launch -> boot -> monitor -> terminate -> done (see workers/engine.py);
    # boot -> abandon -> launch when an instance does not start (workers/boot.py).
    phase: Mapped[str] = mapped_column(String(16))
    gpu: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str | None] = mapped_column(String(32))
    gpu_count: Mapped[int] = mapped_column(Integer, default=1)
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_key_id: Mapped[str | None] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(64))
    image: Mapped[str] = mapped_column(String(500))
    command: Mapped[str | None] = mapped_column(Text)
    env_ciphertext: Mapped[str | None] = mapped_column(Text)  # env values may be secrets
    env_keys: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[str] = mapped_column(String(16))
    budget_max_per_hour: Mapped[float | None] = mapped_column(Float)
    max_duration_hours: Mapped[float | None] = mapped_column(Float)
    max_total_cost: Mapped[float | None] = mapped_column(Float)  # USD; the job is stopped when reached
    cost_per_hour: Mapped[float | None] = mapped_column(Float)
    total_cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    exit_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    instance_id: Mapped[str | None] = mapped_column(String(128))
    # Routing trace: ranked candidates (offers as dicts), rejection counts, attempts.
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    rejected: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[list[Any]] = mapped_column(default=list)
    next_candidate: Mapped[int] = mapped_column(Integer, default=0)
    # Index of the candidate whose launch call may have reached the cloud without our record
    # of its answer; on resume the launcher repeats that (name-idempotent) launch.
    launch_inflight: Mapped[int | None] = mapped_column(Integer)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    terminated_at: Mapped[datetime | None]
    retries: Mapped[int] = mapped_column(Integer, default=0)
    log_cursor: Mapped[str | None] = mapped_column(Text)
    log_count: Mapped[int] = mapped_column(Integer, default=0)
    logs_available: Mapped[bool] = mapped_column(Boolean, default=True)
    agent_token_hash: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    next_run_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class JobLogRow(Base):
    __tablename__ = "job_logs"
    __table_args__ = (Index("ix_job_logs_job_seq", "job_id", "seq", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # 0-based line number within the job
    line: Mapped[str] = mapped_column(Text)


users: Table = UserRow.__table__  # type: ignore[assignment]
api_keys: Table = ApiKeyRow.__table__  # type: ignore[assignment]
provider_keys: Table = ProviderKeyRow.__table__  # type: ignore[assignment]
jobs: Table = JobRow.__table__  # type: ignore[assignment]
job_logs: Table = JobLogRow.__table__  # type: ignore[assignment]


class OrphanTerminationRow(Base):
    """An instance the orphan sweep terminated: named hg-… at a user's account, no live job."""

    __tablename__ = "orphan_terminations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    instance_id: Mapped[str] = mapped_column(String(128))
    instance_name: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
    terminated_at: Mapped[datetime]


orphan_terminations: Table = OrphanTerminationRow.__table__  # type: ignore[assignment]


class UsageRecordRow(Base):
    """What one job cost: written in the transaction that ends the job (services/job_events.py)."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_records_user_ended", "user_id", "ended_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # completed | failed | stopped
    provider: Mapped[str] = mapped_column(String(20))
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_count: Mapped[int] = mapped_column(Integer)
    cost_per_hour: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    hours: Mapped[float] = mapped_column(Float)
    cost: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]


class SpendLimitRow(Base):
    """A user's monthly spend limit (USD, calendar month UTC)."""

    __tablename__ = "spend_limits"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    monthly_limit: Mapped[float] = mapped_column(Float)
    # The month ("2026-04") for which budget.exceeded was already sent, so it is sent once.
    alerted_period: Mapped[str | None] = mapped_column(String(7))
    updated_at: Mapped[datetime]


class WebhookRow(Base):
    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]] = mapped_column(default=list)
    secret_ciphertext: Mapped[str] = mapped_column(Text)  # AES-GCM under the master key
    created_at: Mapped[datetime]


class WebhookDeliveryRow(Base):
    """The webhook outbox: one row per (event, webhook), claimed by the delivery worker with a lease."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))  # the same for every webhook and re-send of an event
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is sent and signed
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    response_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None]


usage_records: Table = UsageRecordRow.__table__  # type: ignore[assignment]
spend_limits: Table = SpendLimitRow.__table__  # type: ignore[assignment]
webhooks: Table = WebhookRow.__table__  # type: ignore[assignment]
webhook_deliveries: Table = WebhookDeliveryRow.__table__  # type: ignore[assignment]
