"""One engine step per job phase. Provider calls happen here, outside any transaction."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from harvestgpu.providers import registry
from harvestgpu.providers.base import Provider, instance_name
from harvestgpu.providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderTransientError,
    QuotaError,
)
from harvestgpu.providers.types import AgentConfig, Instance, InstanceState, LaunchSpec, Offer
from harvestgpu.server.context import AppContext
from harvestgpu.server.services import budgets, provider_keys
from harvestgpu.server.services.job_views import billed_hours
from harvestgpu.server.ssh_keys import load_or_create_public_key
from harvestgpu.server.workers import boot, lease

log = logging.getLogger("harvestgpu.engine")
MAX_LAUNCH_RETRIES = 2  # transient failures of one candidate before moving to the next
MAX_MONITOR_ERRORS = 30  # consecutive provider errors before giving up on an instance


def _now() -> datetime:
    return datetime.now(UTC)


def offer_from_candidate(c: Mapping[Any, Any]) -> Offer:
    return Offer(
        provider=c["provider"],
        offer_id=c["offer_id"],
        gpu_model=c["gpu_model"],
        gpu_count=c["gpu_count"],
        vram_gb=c["vram_gb"],
        price_per_hour=c["price_per_hour"],
        region=c["region"],
        availability=c.get("availability", 1.0),
        interruptible=c.get("interruptible", False),
        observed_at=datetime.fromisoformat(c["observed_at"]),
        provider_gpu_name=c.get("provider_gpu_name", ""),
        extra=c.get("extra") or {},
    )


class JobSteps:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._ssh_public_key: str | None = None

    async def run(self, job: Mapping[Any, Any]) -> None:
        phase = job["phase"]
        if phase == "launch":
            await self.launch(job)
        elif phase in ("boot", "monitor"):
            await self.monitor(job)
        elif phase == "abandon":
            await self.abandon(job)
        elif phase == "terminate":
            await self.terminate(job)

    async def _adapter(
        self, job: Mapping[Any, Any], provider: str, key_id: str | None, *, include_deleted: bool = True
    ) -> Provider | None:
        if provider == registry.MOCK:
            return provider_keys.make_adapter(self.ctx, provider)
        if key_id is None:
            return None
        account = await provider_keys.account_by_id(
            self.ctx, job["user_id"], key_id, include_deleted=include_deleted
        )
        if account is None:
            return None
        return provider_keys.make_adapter(self.ctx, provider, account.api_key)

    def _apply(self, job: Mapping[Any, Any], values: dict[str, Any], **kw: Any) -> Any:
        return lease.apply(self.ctx.db, job["id"], job["lease_token"], values, **kw)

    # -- launch ------------------------------------------------------------------------------

    async def launch(self, job: Mapping[Any, Any]) -> None:
        candidates: list[dict[str, Any]] = job["candidates"] or []
        attempts: list[dict[str, Any]] = list(job["attempts"] or [])
        idx = job["launch_inflight"] if job["launch_inflight"] is not None else job["next_candidate"]
        skip = {a["provider"] for a in attempts if a["outcome"] in ("quota", "auth")}
        while (
            idx < len(candidates) and candidates[idx]["provider"] in skip and job["launch_inflight"] is None
        ):
            idx += 1
        if idx >= len(candidates):
            await self._fail_placement(job, attempts)
            return
        cand = candidates[idx]
        # Written before the call: if we crash after the cloud accepted, the resumed step repeats
        # this same (name-idempotent) launch instead of trying the next candidate.
        if not await self._apply(job, {"launch_inflight": idx}, release=False):
            return
        # A removed key places nothing new; a launch already sent with it is resumed (adopted
        # by its name) so that instance is tracked and can be stopped.
        adapter = await self._adapter(
            job, cand["provider"], cand.get("key_id"), include_deleted=job["launch_inflight"] is not None
        )
        if adapter is None:
            attempts.append(self._attempt(attempts, cand, "auth", "the provider key was removed"))
            await self._apply(
                job,
                {
                    "attempts": attempts,
                    "next_candidate": idx + 1,
                    "launch_inflight": None,
                    "retries": 0,
                    "next_run_at": _now(),
                },
            )
            return
        try:
            instance = await adapter.launch(self._spec(job, cand, adapter))
        except ProviderTransientError as exc:
            await self._inventory_changed(cand)
            if job["retries"] < MAX_LAUNCH_RETRIES:
                wait = exc.retry_after if exc.retry_after is not None else 2.0 * (job["retries"] + 1)
                await self._apply(
                    job,
                    {"retries": job["retries"] + 1, "next_run_at": _now() + timedelta(seconds=min(wait, 30))},
                )
                return
            attempts.append(self._attempt(attempts, cand, exc.error_class, exc.message))
            await self._next_candidate(job, attempts, idx)
            return
        except ProviderError as exc:
            await self._inventory_changed(cand)
            attempts.append(self._attempt(attempts, cand, exc.error_class, exc.message))
            await self._next_candidate(job, attempts, idx)
            return
        await self._inventory_changed(cand)
        attempts.append(self._attempt(attempts, cand, "launched", None))
        now = _now()
        info = registry.provider_info(cand["provider"])
        await self._apply(
            job,
            {
                "phase": "boot",
                "instance_id": instance.instance_id,
                "provider": cand["provider"],
                "provider_key_id": cand.get("key_id"),
                "region": cand["region"],
                "gpu_type": cand["gpu_model"],
                "cost_per_hour": cand["price_per_hour"],
                "attempts": attempts,
                "next_candidate": idx,
                "launch_inflight": None,
                "retries": 0,
                "logs_available": info.logs_via_api or bool(self.ctx.settings.public_url),
                "next_run_at": now + timedelta(seconds=min(1.0, self.ctx.settings.monitor_interval_s)),
            },
        )

    async def _inventory_changed(self, cand: Mapping[Any, Any]) -> None:
        """A launch at a cloud consumed or revealed gone capacity: its cached offers are stale.

        On marketplaces an offer is one machine (Vast.ai): once rented, it must not be the next
        job's first candidate. The next submit for this account fetches fresh offers, in every
        API process when Redis is configured (server/cache_sync.py).
        """
        if cand.get("key_id"):
            await self.ctx.cache_sync.forget_offers(cand["key_id"])

    def _spec(self, job: Mapping[Any, Any], cand: Mapping[Any, Any], adapter: Provider) -> LaunchSpec:
        env: dict[str, str] = {}
        if job["env_ciphertext"]:
            env = json.loads(self.ctx.master.decrypt(job["env_ciphertext"], context=job["id"]))
        env["HARVESTGPU_JOB_ID"] = job["id"]
        agent = None
        if adapter.info.needs_agent and self.ctx.settings.public_url:
            agent = AgentConfig(self.ctx.settings.public_url, self.ctx.master.agent_token(job["id"]))
        if adapter.info.needs_agent and self._ssh_public_key is None:
            self._ssh_public_key = load_or_create_public_key(self.ctx.settings.data_dir)
        return LaunchSpec(
            job_id=job["id"],
            name=instance_name(job["id"]),
            offer=offer_from_candidate(cand),
            image=job["image"],
            command=job["command"],
            env=env,
            gpu_count=job["gpu_count"],
            agent=agent,
            ssh_public_key=self._ssh_public_key if adapter.info.needs_agent else None,
        )

    def _attempt(
        self, attempts: list[dict[str, Any]], cand: Mapping[Any, Any], outcome: str, error: str | None
    ) -> dict[str, Any]:
        self.ctx.metrics.launch_attempts.labels(cand["provider"], outcome).inc()
        return {
            "n": len(attempts) + 1,
            "provider": cand["provider"],
            "offer_id": cand["offer_id"],
            "gpu_model": cand["gpu_model"],
            "region": cand["region"],
            "price_per_hour": cand["price_per_hour"],
            "outcome": outcome,
            "error": error,
            "at": _now().isoformat(),
        }

    async def _next_candidate(self, job: Mapping[Any, Any], attempts: list[dict[str, Any]], idx: int) -> None:
        await self._apply(
            job,
            {
                "attempts": attempts,
                "next_candidate": idx + 1,
                "launch_inflight": None,
                "retries": 0,
                "next_run_at": _now(),
            },
        )

    async def _fail_placement(self, job: Mapping[Any, Any], attempts: list[dict[str, Any]]) -> None:
        now = _now()
        await self._apply(
            job,
            {
                "status": "failed",
                "phase": "done",
                "error": boot.placement_error(attempts),
                "ended_at": now,
                "launch_inflight": None,
                "next_run_at": None,
            },
        )

    # -- boot / monitor ----------------------------------------------------------------------

    async def monitor(self, job: Mapping[Any, Any]) -> None:
        s = self.ctx.settings
        now = _now()
        adapter = await self._adapter(job, job["provider"], job["provider_key_id"])
        if adapter is None:
            await self._finish(
                job,
                "failed",
                "The provider key for this job is gone; the instance cannot be "
                "watched. Check your provider console.",
                None,
                now,
            )
            return
        new_lines: list[str] = []
        cursor = job["log_cursor"]
        exit_code: int | None = None
        try:
            inst = await adapter.get_instance(job["instance_id"])
            if adapter.info.logs_via_api and inst.state != InstanceState.PENDING:
                chunk = await adapter.logs(job["instance_id"], job["log_cursor"])
                new_lines, cursor, exit_code = chunk.lines, chunk.cursor, chunk.exit_code
        except ProviderError as exc:
            await self._monitor_error(job, exc, now)
            return
        exit_code = exit_code if exit_code is not None else inst.exit_code
        values: dict[str, Any] = {"log_cursor": cursor, "retries": 0}
        started = job["started_at"]
        if inst.state == InstanceState.RUNNING and job["status"] == "queued":
            started = now
            values.update(status="running", started_at=now, phase="monitor")
        if exit_code is not None:
            values.update(
                self._ended(
                    job,
                    started,
                    now,
                    "completed" if exit_code == 0 else "failed",
                    None if exit_code == 0 else f"Command exited with code {exit_code}",
                    exit_code,
                )
            )
        elif started is None and (failed := boot.boot_failure(job, inst, new_lines, now, s.boot_timeout_s)):
            self.ctx.metrics.boot_failures.labels(job["provider"], failed[0]).inc()
            values.update(boot.give_up(job, *failed, now))
        elif inst.state in boot.ENDED:
            values.update(self._ended(job, started, now, "failed", self._lost_text(job, inst), None))
        elif budget_stop := await budgets.stop_reason(self.ctx, job, started, now):
            values.update(self._ended(job, started, now, "failed", budget_stop, None))
        elif self._over_duration(job, started, now):
            hours = job["max_duration_hours"]
            values.update(
                self._ended(
                    job,
                    started,
                    now,
                    "failed",
                    f"Reached max_duration_hours ({hours:g} h); the instance was terminated",
                    None,
                )
            )
        else:
            values["next_run_at"] = now + timedelta(
                seconds=s.monitor_interval_s if started else min(1.0, s.monitor_interval_s)
            )
            cap_at = budgets.cap_reached_at(job, started)
            if cap_at is not None:  # look again the moment max_total_cost is reached
                values["next_run_at"] = max(now, min(values["next_run_at"], cap_at))
        await self._apply(job, values, log_lines=new_lines)

    @staticmethod
    def _lost_text(job: Mapping[Any, Any], inst: Instance) -> str:
        detail = f": {inst.message}" if inst.message else ""
        return f"The instance ended unexpectedly at {job['provider']} ({inst.state.value}{detail})"

    @staticmethod
    def _over_duration(job: Mapping[Any, Any], started: datetime | None, now: datetime) -> bool:
        limit = job["max_duration_hours"]
        return bool(limit and started and now - started >= timedelta(hours=limit))

    @staticmethod
    def _ended(
        job: Mapping[Any, Any],
        started: datetime | None,
        now: datetime,
        status: str,
        error: str | None,
        exit_code: int | None,
    ) -> dict[str, Any]:
        total = round((job["cost_per_hour"] or 0.0) * billed_hours(started, now), 6)
        return {
            "status": status,
            "error": error,
            "exit_code": exit_code,
            "ended_at": now,
            "total_cost": total,
            "phase": "terminate",
            "next_run_at": now,
        }

    async def _finish(
        self, job: Mapping[Any, Any], status: str, error: str, code: int | None, now: datetime
    ) -> None:
        await self._apply(
            job, self._ended(job, job["started_at"], now, status, error, code) | {"phase": "done"}
        )

    async def _monitor_error(self, job: Mapping[Any, Any], exc: ProviderError, now: datetime) -> None:
        retries = job["retries"] + 1
        if isinstance(exc, ProviderAuthError | QuotaError) and retries >= MAX_MONITOR_ERRORS:
            await self._finish(
                job,
                "failed",
                f"Lost access to the {job['provider']} account ({exc.message}); "
                "the instance may still be running there",
                None,
                now,
            )
            return
        wait = min(60.0, self.ctx.settings.monitor_interval_s * retries)
        if isinstance(exc, ProviderTransientError) and exc.retry_after:
            wait = max(wait, exc.retry_after)
        log.warning("job %s: %s (%s), retrying in %.0fs", job["id"], exc.error_class, exc.message, wait)
        await self._apply(job, {"retries": retries, "next_run_at": now + timedelta(seconds=wait)})

    # -- terminate ---------------------------------------------------------------------------

    async def terminate(self, job: Mapping[Any, Any]) -> None:
        """Until the cloud confirms the instance is gone: nothing may keep billing."""
        now = _now()
        provider = job["provider"]
        instance_id = job["instance_id"]
        if provider is None and job["launch_inflight"] is not None:
            cand = (job["candidates"] or [])[job["launch_inflight"]]
            provider, key_id = cand["provider"], cand.get("key_id")
        else:
            key_id = job["provider_key_id"]
        if provider is None:
            await self._apply(job, {"phase": "done", "next_run_at": None})
            return
        adapter = await self._adapter(job, provider, key_id)
        if adapter is None:
            await self._apply(job, {"phase": "done", "next_run_at": None})
            return
        try:
            instance_id = await boot.end_instance(adapter, job["id"], instance_id)
        except ProviderError as exc:
            await self._apply(job, boot.terminate_later(job, exc, now))
            return
        await self._apply(
            job,
            {
                "phase": "done",
                "terminated_at": now,
                "instance_id": instance_id,
                "launch_inflight": None,
                "retries": 0,
                "next_run_at": None,
            },
        )

    async def abandon(self, job: Mapping[Any, Any]) -> None:
        """A boot failed: end its instance, confirmed, then launch the next candidate (boot.py)."""
        adapter = await self._adapter(job, job["provider"], job["provider_key_id"])
        await self._apply(job, await boot.abandon(job, adapter, _now()))
