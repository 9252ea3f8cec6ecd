"""Provider-neutral types exchanged between adapters, routing and the job engine.

Raw provider JSON never leaves an adapter package: everything an adapter returns is one of
these types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


def utcnow() -> datetime:
    return datetime.now(UTC)


class InstanceState(StrEnum):
    PENDING = "pending"  # accepted by the cloud, provisioning or booting
    RUNNING = "running"
    EXITED = "exited"  # the workload ended (exit code may be known)
    FAILED = "failed"  # the cloud reports an error for the instance
    TERMINATED = "terminated"  # gone at the cloud: nothing bills any more
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Offer:
    """One thing that can be launched: a GPU type/machine at a price, in a region."""

    provider: str  # provider slug: "mock", "runpod", ...
    offer_id: str  # opaque to everyone but the adapter that made it
    gpu_model: str  # canonical catalog key, e.g. "H100-SXM" (see harvestgpu.gpus)
    gpu_count: int
    vram_gb: int  # per GPU
    price_per_hour: float  # USD per hour for the whole instance (all its GPUs)
    region: str
    available: bool = True
    availability: float = 1.0  # 0..1: how likely a launch succeeds now (1 = plenty)
    interruptible: bool = False
    observed_at: datetime = field(default_factory=utcnow)
    provider_gpu_name: str = ""  # the cloud's own spelling, for display and debugging
    # Adapter-private launch data (cloud type, location id, host id...). Strings only so the
    # offer can be stored with the job and handed back to the adapter at launch time.
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OfferQuery:
    """What the caller wants; adapters may use it to narrow their API call."""

    gpu_models: frozenset[str] | None = None  # canonical keys; None = all
    gpu_count: int = 1
    max_price_per_hour: float | None = None


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """How a VM-cloud instance reports logs and its exit code back to us.

    ``base_url`` is HARVESTGPU_PUBLIC_URL; ``token`` is valid for one job only.
    """

    base_url: str
    token: str


@dataclass(frozen=True, slots=True)
class LaunchSpec:
    job_id: str
    name: str  # "hg-<job id>": the idempotency handle at the cloud and the orphan-sweep tag
    offer: Offer
    image: str
    command: str | None
    env: Mapping[str, str] = field(default_factory=dict)
    gpu_count: int = 1
    disk_gb: int = 50
    agent: AgentConfig | None = None
    ssh_public_key: str | None = None  # for clouds that insist on one (Lambda, TensorDock)


@dataclass(frozen=True, slots=True)
class Instance:
    instance_id: str
    name: str
    state: InstanceState
    exit_code: int | None = None
    message: str | None = None  # the cloud's status text, if any
    price_per_hour: float | None = None
    region: str | None = None
    created_at: datetime | None = None
    # The job id the cloud echoes in a second marker set at launch (a tag or an env var), when
    # its listing carries one: an instance whose marker disagrees with its name is not ours.
    job_marker: str | None = None


@dataclass(frozen=True, slots=True)
class LogChunk:
    lines: list[str]
    cursor: str | None = None  # opaque; pass back as ``since`` to get only newer lines
    exit_code: int | None = None  # set once the exit sentinel was seen
    available: bool = True  # False when the cloud has no log API for this instance


@dataclass(frozen=True, slots=True)
class KeyCheck:
    valid: bool
    message: str
    balance: float | None = None


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    slug: str
    name: str
    key_url: str
    logs_via_api: bool  # container clouds with a log API
    needs_agent: bool  # VM clouds: logs/exit code come back through the agent callback
