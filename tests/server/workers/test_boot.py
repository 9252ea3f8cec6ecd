"""boot.terminate_later: when a failed terminate at a cloud is tried again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harvestgpu.providers.errors import ProviderTransientError, RateLimitedError
from harvestgpu.server.workers.boot import terminate_later

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_a_rate_limited_cloud_is_asked_again_no_sooner_than_it_said() -> None:
    job = {"id": "00000000deadbeef", "retries": 0}
    later = terminate_later(job, RateLimitedError("lambda", "slow down", status=429, retry_after=12), NOW)
    assert later == {"retries": 1, "next_run_at": NOW + timedelta(seconds=12)}


def test_other_failures_back_off_exponentially_up_to_five_minutes() -> None:
    error = ProviderTransientError("runpod", "HTTP 502")
    assert terminate_later({"id": "j", "retries": 2}, error, NOW)["next_run_at"] == NOW + timedelta(seconds=8)
    assert terminate_later({"id": "j", "retries": 20}, error, NOW)["next_run_at"] == NOW + timedelta(
        seconds=300
    )
