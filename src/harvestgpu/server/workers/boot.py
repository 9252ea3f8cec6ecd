"""Boots that fail: abandon that instance and fail over to the next candidate.

An instance that is not running ``boot_timeout_s`` after its launch (timed from that launch, so
every candidate gets the whole time), or that ends before it ever ran, is a placement failure of
its offer, like no capacity. The monitor marks the launch's attempt ``boot_timeout`` or
``boot_failed`` and moves the job to the ``abandon`` phase; that step deletes the instance, waits
until the cloud confirms it is gone (two instances of a job never bill at once), then sends the
job back to ``launch`` with the next candidate. The job stays ``queued`` throughout. The
``MAX_ABANDONED_BOOTS``-th failed boot fails the job instead: a broken image fails on every
candidate, and each would cost a boot.

Also here, because ``terminate`` and ``abandon`` share it: ending an instance, confirmed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from harvestgpu.providers.base import Provider, instance_name
from harvestgpu.providers.errors import ProviderError, ProviderTransientError
from harvestgpu.providers.types import Instance, InstanceState

log = logging.getLogger("harvestgpu.engine")
MAX_ABANDONED_BOOTS = 3
BOOT_FAILURES = frozenset({"boot_timeout", "boot_failed"})
ENDED = frozenset({InstanceState.TERMINATED, InstanceState.EXITED, InstanceState.FAILED})
# Placement fields of an abandoned instance, cleared before the next launch.
_PLACEMENT_RESET = ("instance_id", "provider", "provider_key_id", "region", "gpu_type", "cost_per_hour")


def boot_started_at(job: Mapping[Any, Any]) -> datetime:
    """When the current instance was launched (the last ``launched`` attempt)."""
    for attempt in reversed(job["attempts"] or []):
        if attempt["outcome"] == "launched":
            return datetime.fromisoformat(attempt["at"])
    started: datetime = job["created_at"]
    return started


def boot_failure(
    job: Mapping[Any, Any], inst: Instance, new_lines: Sequence[str], now: datetime, timeout_s: float
) -> tuple[str, str] | None:
    """(outcome, reason) when a job that never ran should give up its instance, else None.

    An instance that ended after printing anything may have run the command: it is not
    relaunched, since running the command twice could repeat its side effects.
    """
    if inst.state in ENDED:
        if new_lines or job["log_count"]:
            return None
        detail = f": {inst.message}" if inst.message else ""
        return "boot_failed", f"the instance ended before it started ({inst.state.value}{detail})"
    if inst.state != InstanceState.RUNNING and now - boot_started_at(job) > timedelta(seconds=timeout_s):
        return "boot_timeout", f"the instance did not start within {_duration(timeout_s)}"
    return None


def failed_boots(attempts: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for a in attempts if a["outcome"] in BOOT_FAILURES)


def give_up(job: Mapping[Any, Any], outcome: str, reason: str, now: datetime) -> dict[str, Any]:
    """Values abandoning the instance for the next candidate, or failing the job at the cap.

    The attempt that launched the instance takes the boot's outcome: one entry per offer tried.
    """
    attempts = [dict(a) for a in job["attempts"] or []]
    for attempt in reversed(attempts):
        if attempt["outcome"] == "launched":
            attempt.update(outcome=outcome, error=reason)
            break
    log.warning("job %s: %s at %s (%s)", job["id"], outcome, job["provider"], reason)
    if failed_boots(attempts) < MAX_ABANDONED_BOOTS:
        return {"phase": "abandon", "attempts": attempts, "next_run_at": now}
    note = f" (gave up after {MAX_ABANDONED_BOOTS} instances that did not start)"
    # Never running, it cost nothing; the terminate phase ends the instance.
    return {
        "status": "failed",
        "error": placement_error(attempts, note),
        "exit_code": None,
        "ended_at": now,
        "total_cost": 0.0,
        "attempts": attempts,
        "phase": "terminate",
        "next_run_at": now,
    }


def placement_error(attempts: Sequence[Mapping[str, Any]], note: str = "") -> str:
    """Why no offer ended up running the job, listing the last attempts."""
    if not attempts:
        return "No offer could be launched"
    tried = "; ".join(
        f"{a['provider']} {a['gpu_model']} {a['region']} ${a['price_per_hour']:.2f}/h: {a['outcome']}"
        + (f" ({a['error']})" if a["error"] else "")
        for a in attempts[-8:]
    )
    return f"No offer could be launched after {len(attempts)} attempt(s){note}: {tried}"[:2000]


def relaunch_values(job: Mapping[Any, Any], now: datetime) -> dict[str, Any]:
    """Back to ``launch`` with the next candidate, as after a no-capacity failure."""
    return {
        **dict.fromkeys(_PLACEMENT_RESET),
        "phase": "launch",
        "log_cursor": None,
        "next_candidate": job["next_candidate"] + 1,
        "launch_inflight": None,
        "retries": 0,
        "next_run_at": now,
    }


async def abandon(job: Mapping[Any, Any], adapter: Provider | None, now: datetime) -> dict[str, Any]:
    """The ``abandon`` step; returns what to write. Re-runnable: every call starts over."""
    if adapter is None:
        return {
            "status": "failed",
            "error": "The provider key for this job is gone; its instance, which never started, "
            "cannot be terminated. Check your provider console.",
            "ended_at": now,
            "total_cost": 0.0,
            "phase": "done",
            "next_run_at": None,
        }
    try:
        await end_instance(adapter, job["id"], job["instance_id"])
        await ensure_unlisted(adapter, job["id"])
    except ProviderError as exc:
        return terminate_later(job, exc, now)
    return relaunch_values(job, now)


def terminate_later(job: Mapping[Any, Any], exc: ProviderError, now: datetime) -> dict[str, Any]:
    retries = job["retries"] + 1
    wait = min(300.0, 2.0**retries)
    retry_after = getattr(exc, "retry_after", None)  # a rate-limited cloud says when to come back
    if retry_after is not None:
        wait = min(300.0, max(wait, retry_after))
    log.warning(
        "job %s: terminate at %s failed (%s); retry in %.0fs", job["id"], exc.provider, exc.message, wait
    )
    return {"retries": retries, "next_run_at": now + timedelta(seconds=wait)}


async def end_instance(adapter: Provider, job_id: str, instance_id: str | None) -> str | None:
    """Delete the job's instance and confirm it is gone; raises ProviderError until confirmed.

    Without a recorded id (the launch's answer was never written) it is looked up by name.
    Returns the id of the instance ended, or None when there was none.
    """
    if instance_id is None:
        found = await adapter.find_instance_by_name(instance_name(job_id))
        instance_id = found.instance_id if found else None
    if instance_id is not None:
        await adapter.terminate(instance_id)
        inst = await adapter.get_instance(instance_id)
        if inst.state != InstanceState.TERMINATED:
            raise ProviderTransientError(adapter.slug, f"instance still {inst.state.value} after delete")
    return instance_id


async def ensure_unlisted(adapter: Provider, job_id: str) -> None:
    """Raise (to retry later) while this account still lists a live instance of the job's name.

    The next candidate may be on the same account, and a launch first adopts any live instance
    of its name: it must not adopt the abandoned one because the cloud's list lags its delete.
    """
    lingering = await adapter.find_instance_by_name(instance_name(job_id))
    if lingering is not None and lingering.state != InstanceState.TERMINATED:
        await end_instance(adapter, job_id, lingering.instance_id)
        raise ProviderTransientError(adapter.slug, f"{lingering.instance_id} still listed after delete")


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
