"""Vast.ai records (offers, instances) as neutral types: units, prices, names and states."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from harvestgpu import gpus
from harvestgpu.providers.types import Instance, InstanceState, Offer
from harvestgpu.providers.vastai.client import PROVIDER

# Set in every instance's env at launch; Vast echoes it back in ``extra_env``.
JOB_MARKER_ENV = "HARVESTGPU_JOB_ID"
HOURS_PER_MONTH = 720  # storage_cost is $/GB/month

# Vast spellings resolve() gets wrong: bare "H200" is the SXM part; the 4090D and A100X are
# different products that the catalog does not list.
_NAME_OVERRIDES: dict[str, str | None] = {"H200": "H200", "RTX 4090D": None, "A100X": None}
# Canonical key -> Vast gpu_name values, to narrow the search server-side.
VAST_NAMES: dict[str, tuple[str, ...]] = {
    "B200": ("B200",),
    "H200": ("H200",),
    "H200-NVL": ("H200 NVL",),
    "H100-SXM": ("H100 SXM",),
    "H100-NVL": ("H100 NVL",),
    "H100-PCIE": ("H100 PCIE",),
    "A100-80GB-SXM": ("A100 SXM4", "A100 SXM"),
    "A100-40GB-SXM": ("A100 SXM4", "A100 SXM"),
    "A100-80GB-PCIE": ("A100 PCIE",),
    "A100-40GB-PCIE": ("A100 PCIE",),
    "L40S": ("L40S",),
    "L40": ("L40",),
    "L4": ("L4",),
    "A40": ("A40",),
    "A10": ("A10",),
    "RTX-A6000": ("RTX A6000",),
    "RTX-6000-ADA": ("RTX 6000Ada",),
    "RTX-5090": ("RTX 5090",),
    "RTX-4090": ("RTX 4090",),
    "RTX-3090": ("RTX 3090",),
    "V100-32GB": ("Tesla V100",),
    "V100-16GB": ("Tesla V100",),
    "T4": ("Tesla T4",),
}
_PENDING = frozenset({None, "created", "loading", "rebooting", "restarting", "scheduling"})
_FAILED = frozenset({"stopped", "frozen", "unknown", "offline"})
# A container that never started stays "created" with the Docker error in status_msg, e.g.
# "...: OCI runtime create failed: runc create failed: ...".
_START_FAILURE_MARKERS = ("oci runtime create failed", "error")


def catalog_model(gpu_name: str, vram_gb: float | None) -> gpus.GpuModel | None:
    if gpu_name in _NAME_OVERRIDES:
        key = _NAME_OVERRIDES[gpu_name]
        return gpus.get(key) if key else None
    return gpus.resolve(gpu_name, vram_gb)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def whole_instance_price(dph_base: float, storage_cost: float, disk_gb: float) -> float:
    """Compute price of the whole offer plus its disk, USD/hour."""
    return round(dph_base + disk_gb * storage_cost / HOURS_PER_MONTH, 6)


def offer_from_raw(raw: Mapping[str, Any], disk_gb: int) -> Offer | None:
    """A neutral Offer, or None for GPUs outside the catalog or records missing a price."""
    name = raw.get("gpu_name")
    count = number(raw.get("num_gpus"))
    if not isinstance(name, str) or not count or count < 1 or raw.get("cpu_cores") is None:
        return None
    gpu_ram_mb = number(raw.get("gpu_ram"))
    model = catalog_model(name, gpu_ram_mb / 1024 if gpu_ram_mb else None)
    dph_base = number(raw.get("dph_base"))
    storage_cost = number(raw.get("storage_cost")) or 0.0
    price: float | None
    if dph_base is not None:
        price = whole_instance_price(dph_base, storage_cost, disk_gb)
    else:  # dph_total was computed for allocated_storage == disk_gb, which we sent
        price = number(raw.get("dph_total"))
    if model is None or price is None or raw.get("id") is None:
        return None
    reliability = number(raw.get("reliability2")) or number(raw.get("reliability"))
    extra = {"ask_id": str(raw["id"]), "disk_gb": str(disk_gb), "storage_cost": str(storage_cost)}
    for field in ("machine_id", "host_id", "dph_base"):
        if raw.get(field) is not None:
            extra[field] = str(raw[field])
    return Offer(
        provider=PROVIDER,
        offer_id=str(raw["id"]),
        gpu_model=model.key,
        gpu_count=int(count),
        vram_gb=round(gpu_ram_mb / 1024) if gpu_ram_mb else model.vram_gb,
        price_per_hour=price,
        region=str(raw.get("geolocation") or "unknown"),
        available=raw.get("rentable", True) is not False and raw.get("rented") is not True,
        availability=min(1.0, max(0.0, reliability)) if reliability is not None else 1.0,
        provider_gpu_name=name,
        extra=extra,
    )


def instance_state(record: Mapping[str, Any]) -> InstanceState:
    """The state table of the reference (section 3.1), on one Vast instance record."""
    status = record.get("actual_status")
    if record.get("cur_state") == "unloaded":
        return InstanceState.TERMINATED
    status_msg = str(record.get("status_msg") or "").lower()
    if status == "created" and any(marker in status_msg for marker in _START_FAILURE_MARKERS):
        return InstanceState.FAILED
    if status in _PENDING:
        return InstanceState.PENDING
    if status == "running":
        return InstanceState.RUNNING
    if status == "exited":
        return InstanceState.EXITED
    if status in _FAILED:
        return InstanceState.FAILED
    return InstanceState.UNKNOWN


def env_value(extra_env: Any, name: str) -> str | None:
    """One variable of an instance's echoed env: ``extra_env`` is a list of [key, value] pairs
    (the CLI turns it into a dict, so accept that too)."""
    pairs: Any = extra_env.items() if isinstance(extra_env, Mapping) else extra_env
    if not isinstance(pairs, Iterable) or isinstance(pairs, str):
        return None
    for pair in pairs:
        if isinstance(pair, list | tuple) and len(pair) == 2 and pair[0] == name:
            return str(pair[1]) if pair[1] not in (None, "") else None
    return None


def instance_from_record(record: Mapping[str, Any]) -> Instance:
    started = number(record.get("start_date"))
    return Instance(
        instance_id=str(record.get("id")),
        name=str(record.get("label") or ""),
        state=instance_state(record),
        message=str(record["status_msg"]) if record.get("status_msg") else None,
        price_per_hour=number(record.get("dph_total")),
        region=str(record["geolocation"]) if record.get("geolocation") else None,
        created_at=datetime.fromtimestamp(started, UTC) if started else None,
        job_marker=env_value(record.get("extra_env"), JOB_MARKER_ENV),
    )
