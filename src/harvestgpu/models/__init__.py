"""Wire models shared by the server, the SDK and the CLI (pydantic; no ORM here)."""

from harvestgpu.models.common import Envelope, ErrorEnvelope
from harvestgpu.models.jobs import (
    JOB_STATUSES,
    TERMINAL_STATUSES,
    AttemptOut,
    CandidateOut,
    JobList,
    JobLogs,
    JobOut,
    JobStatus,
    Priority,
)
from harvestgpu.models.pricing import PriceEntry, PricingOut, ProviderGpus, ProviderOut, ProviderStatus

__all__ = [
    "JOB_STATUSES",
    "TERMINAL_STATUSES",
    "AttemptOut",
    "CandidateOut",
    "Envelope",
    "ErrorEnvelope",
    "JobList",
    "JobLogs",
    "JobOut",
    "JobStatus",
    "PriceEntry",
    "PricingOut",
    "Priority",
    "ProviderGpus",
    "ProviderOut",
    "ProviderStatus",
]
