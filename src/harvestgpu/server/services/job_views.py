"""Job rows -> the documented job object (SPEC appendix "Job fields")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from harvestgpu.models.jobs import TERMINAL_STATUSES

# Job columns job_out() reads.
VIEW_FIELDS = (
    *("id", "status", "gpu", "gpu_type", "gpu_count", "provider", "region", "image", "command", "priority"),
    *("budget_max_per_hour", "max_duration_hours", "max_total_cost", "cost_per_hour", "total_cost"),
    *("created_at", "started_at", "ended_at", "exit_code", "error", "env_keys", "instance_id"),
    *("candidates", "attempts", "rejected"),
)
_CANDIDATE_FIELDS = (
    "rank",
    "provider",
    "offer_id",
    "gpu_model",
    "gpu_count",
    "price_per_hour",
    "region",
    "reason",
)


def billed_hours(
    started_at: datetime | None, ended_at: datetime | None, now: datetime | None = None
) -> float:
    if started_at is None:
        return 0.0
    end = ended_at or now or datetime.now(UTC)
    return max(0.0, (end - started_at).total_seconds() / 3600)


def cost_so_far(row: Mapping[Any, Any], now: datetime | None = None) -> float:
    if row["status"] in TERMINAL_STATUSES or row["cost_per_hour"] is None:
        return float(row["total_cost"] or 0.0)
    return round(float(row["cost_per_hour"]) * billed_hours(row["started_at"], None, now), 6)


def candidate_out(c: Mapping[Any, Any]) -> dict[str, Any]:
    return {k: c[k] for k in _CANDIDATE_FIELDS}


def job_out(row: Mapping[Any, Any], *, with_routing: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"],
        "status": row["status"],
        "gpu": row["gpu"],
        "gpu_type": row["gpu_type"],
        "gpu_count": row["gpu_count"],
        "provider": row["provider"],
        "region": row["region"],
        "image": row["image"],
        "command": row["command"],
        "priority": row["priority"],
        "budget_max_per_hour": row["budget_max_per_hour"],
        "max_duration_hours": row["max_duration_hours"],
        "max_total_cost": row["max_total_cost"],
        "cost_per_hour": row["cost_per_hour"],
        "total_cost": round(cost_so_far(row), 6),
        "created_at": _iso(row["created_at"]),
        "started_at": _iso(row["started_at"]),
        "ended_at": _iso(row["ended_at"]),
        "exit_code": row["exit_code"],
        "error": row["error"],
        "env_keys": list(row["env_keys"] or []),
        "instance_id": row["instance_id"],
    }
    if with_routing:
        out["routing"] = routing_out(
            row["gpu"], row["candidates"] or [], row["attempts"] or [], row["rejected"] or {}
        )
    return out


def routing_out(
    requested: str, candidates: list[Any], attempts: list[Any], rejected: Mapping[str, Any]
) -> dict[str, Any]:
    """The routing trace: candidates considered, rejections, attempts and the offer chosen."""
    launched = next((a for a in reversed(attempts) if a["outcome"] == "launched"), None)
    chosen = None
    if launched is not None:
        chosen = next(
            (
                candidate_out(c)
                for c in candidates
                if c["offer_id"] == launched["offer_id"] and c["provider"] == launched["provider"]
            ),
            None,
        )
    return {
        "requested": requested,
        "matched_models": sorted({c["gpu_model"] for c in candidates}),
        "chosen": chosen,
        "candidates": [candidate_out(c) for c in candidates],
        "rejected": dict(rejected),
        "attempts": list(attempts),
    }


def job_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """job_out() for a row whose trace columns were read as JSON text (``ROUTING_TEXT_FIELDS``).

    Clients poll GET /jobs/{id}; the trace changes only when an attempt is made, so it is
    decoded and shaped once per distinct text instead of on every poll (bench/bench_api.py).
    """
    out = job_out(row, with_routing=False)
    out["routing"] = _routing_from_text(
        row["gpu"], row["candidates_json"], row["attempts_json"], row["rejected_json"]
    )
    return out


ROUTING_TEXT_FIELDS = ("candidates", "attempts", "rejected")


# Shared between callers: the returned trace must be treated as read-only.
@lru_cache(maxsize=1024)
def _routing_from_text(
    requested: str, candidates: str | None, attempts: str | None, rejected: str | None
) -> dict[str, Any]:
    return routing_out(
        requested,
        orjson.loads(candidates) if candidates else [],
        orjson.loads(attempts) if attempts else [],
        orjson.loads(rejected) if rejected else {},
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
