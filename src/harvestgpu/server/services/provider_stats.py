"""Our own launch history per provider, for the `speed` and `availability` priorities.

Launch success rate: of the launch attempts recorded on recent jobs, the share that launched
(no-capacity, quota and transient failures count against the provider). Median start: from
the launch that succeeded to the job running. Computed over the most recent jobs of the last
week across all users (capacity is the cloud's, not the user's) and cached briefly, so a
submit costs one cheap query at most once per TTL per process.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from harvestgpu.routing import ProviderStats
from harvestgpu.server import orm
from harvestgpu.server.context import AppContext

WINDOW = timedelta(days=7)
MAX_JOBS = 2000
TTL_S = 60.0
MIN_ATTEMPTS = 3  # fewer recorded attempts than this: no opinion (neutral success rate)
J = orm.jobs.c


async def provider_stats(ctx: AppContext) -> dict[str, ProviderStats]:
    hit = ctx.provider_stats_cache
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    since = datetime.now(UTC) - WINDOW
    rows = await ctx.db.fetch_all(
        select(J.attempts, J.started_at)
        .where(J.created_at >= since, J.provider_key_id.is_not(None) | (J.provider == "mock"))
        .order_by(J.created_at.desc())
        .limit(MAX_JOBS)
    )
    stats = compute(rows)
    ctx.provider_stats_cache = (time.monotonic() + TTL_S, stats)
    return stats


def compute(rows: Sequence[Mapping[Any, Any]]) -> dict[str, ProviderStats]:
    launched: dict[str, int] = defaultdict(int)
    tried: dict[str, int] = defaultdict(int)
    starts: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        attempts = row["attempts"] or []
        for attempt in attempts:
            if attempt["outcome"] in ("auth", "bad_request"):
                continue  # our or the user's problem, not the cloud's capacity
            tried[attempt["provider"]] += 1
            if attempt["outcome"] == "launched":
                launched[attempt["provider"]] += 1
                started = row["started_at"]
                if started is not None:
                    at = datetime.fromisoformat(attempt["at"])
                    starts[attempt["provider"]].append(max(0.0, (started - at).total_seconds()))
    out: dict[str, ProviderStats] = {}
    for provider, n in tried.items():
        rate = launched[provider] / n if n >= MIN_ATTEMPTS else 1.0
        median = statistics.median(starts[provider]) if starts[provider] else None
        out[provider] = ProviderStats(launch_success_rate=rate, median_start_s=median)
    return out
