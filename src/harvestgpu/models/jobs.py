"""Job wire shapes (SPEC appendix "Job fields")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

JobStatus = Literal["queued", "running", "completed", "failed", "stopped"]
Priority = Literal["cost", "speed", "availability"]
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "completed", "failed", "stopped")
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "stopped"})

# Bounds of a submit and of the monthly spend limit: the server validates with them and the
# CLI checks them before sending (each value must also be above 0).
MAX_BUDGET_PER_HOUR = 10_000.0
MAX_DURATION_HOURS = 720.0
MAX_TOTAL_COST = 1_000_000.0
MAX_GPU_COUNT = 16
MAX_MONTHLY_LIMIT = 10_000_000.0


class CandidateOut(BaseModel):
    rank: int
    provider: str
    offer_id: str
    gpu_model: str
    gpu_count: int
    price_per_hour: float
    region: str
    reason: str


class AttemptOut(BaseModel):
    n: int
    provider: str
    offer_id: str
    gpu_model: str
    region: str
    price_per_hour: float
    # "launched" | "no_capacity" | "quota" | "auth" | "transient" | "bad_request" | ..., or, for an
    # instance that launched but never ran, "boot_timeout" | "boot_failed"
    outcome: str
    error: str | None = None
    at: datetime


class JobOut(BaseModel):
    id: str
    status: JobStatus
    gpu: str  # as requested
    gpu_type: str | None = None  # the catalog model it runs on
    gpu_count: int = 1
    provider: str | None = None
    region: str | None = None
    image: str
    command: str | None = None
    priority: Priority = "cost"
    budget_max_per_hour: float | None = None
    max_duration_hours: float | None = None
    max_total_cost: float | None = None
    cost_per_hour: float | None = None
    total_cost: float = 0.0
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    error: str | None = None
    env_keys: list[str] = Field(default_factory=list)  # names only: values may be secrets
    instance_id: str | None = None
    routing: RoutingTraceOut | None = None


class RoutingTraceOut(BaseModel):
    requested: str
    matched_models: list[str]
    chosen: CandidateOut | None = None
    candidates: list[CandidateOut]
    rejected: dict[str, int]  # rejection code -> count of offers
    attempts: list[AttemptOut]


JobOut.model_rebuild()


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int
    limit: int
    offset: int


class JobLogs(BaseModel):
    job_id: str
    status: JobStatus
    lines: list[str]
    next_offset: int  # pass back as ?offset= to get only newer lines
    available: bool = True  # False when the cloud gives no logs for this job
    exit_code: int | None = None
