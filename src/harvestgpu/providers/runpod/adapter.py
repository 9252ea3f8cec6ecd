"""The RunPod adapter: REST v2 secure-cloud pods mapped to HarvestGPU's neutral types.

RunPod sells GPU *types*, not machines, so an offer is synthesised per (GPU type, data
centre) from ``GET /v2/catalog/gpus``: the per-GPU list price times the GPU count, with the
data centre's availability level. A pod runs the user's command under the exit-sentinel
wrapper, because RunPod restarts a container whose command exits and reports no exit code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from harvestgpu import gpus
from harvestgpu.providers.base import INSTANCE_NAME_PREFIX, Provider
from harvestgpu.providers.errors import (
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    RateLimitedError,
)
from harvestgpu.providers.runpod.client import PROVIDER, LogEvent, Op, RunPodClient
from harvestgpu.providers.types import (
    Instance,
    InstanceState,
    KeyCheck,
    LaunchSpec,
    LogChunk,
    Offer,
    OfferQuery,
    ProviderInfo,
    utcnow,
)
from harvestgpu.providers.wrap import split_sentinel, wrap_command_string

log = logging.getLogger(__name__)

CLOUD = "SECURE"
JOB_ID_ENV = "HARVESTGPU_JOB_ID"

# Catalog availability levels as a launch-success likelihood. A missing level (the field is
# only present with include=AVAILABILITY) means "unknown", not "none".
AVAILABILITY_SCORES = {"HIGH": 1.0, "MEDIUM": 0.6, "LOW": 0.25, "NONE": 0.0}
UNKNOWN_AVAILABILITY = 0.5

POD_STATES = {
    "PROVISIONING": InstanceState.PENDING,
    "STARTING": InstanceState.PENDING,
    "RUNNING": InstanceState.RUNNING,
    "EXITED": InstanceState.EXITED,
    "ERROR": InstanceState.FAILED,
    "TERMINATED": InstanceState.TERMINATED,
}


class RunPodProvider(Provider):
    info = ProviderInfo(
        slug="runpod",
        name="RunPod",
        key_url="https://www.runpod.io/console/user/settings",
        logs_via_api=True,
        needs_agent=False,
    )
    default_base_url = "https://api.runpod.io"

    # Bounded snapshot of the live SSE log stream (runpod-mcp reads 5 s / 256 KiB).
    log_idle_s = 0.5
    log_max_read_s = 5.0
    log_max_bytes = 256 * 1024
    log_backfill_lines = 5000  # the API's maximum ``tail``

    def __init__(
        self,
        *,
        api_key: str,
        http: httpx.AsyncClient,
        base_url: str | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        super().__init__(api_key=api_key, http=http, base_url=base_url, timeout_s=timeout_s)
        self._client = RunPodClient(api_key=api_key, http=http, base_url=self.base_url, timeout_s=timeout_s)

    @property
    def _api(self) -> RunPodClient:
        self._client.timeout_s = self.timeout_s  # honour a timeout changed after construction
        return self._client

    async def validate_key(self) -> KeyCheck:
        # RunPod v2 has no balance endpoint; listing pods proves the key and the scope we need.
        pods = await self._api.list_pods(Op.VALIDATE)
        ours = sum(1 for pod in pods if str(pod.get("name") or "").startswith(INSTANCE_NAME_PREFIX))
        return KeyCheck(valid=True, message=f"RunPod key works ({len(pods)} pods, {ours} from HarvestGPU)")

    async def list_offers(self, query: OfferQuery) -> list[Offer]:
        count = max(1, query.gpu_count)
        gpu_types = await self._api.list_gpu_types(gpu_count=count, cloud=CLOUD)
        observed_at = utcnow()
        offers: list[Offer] = []
        for gpu_type in gpu_types:
            offers.extend(_offers_for(gpu_type, count, query, observed_at))
        return offers

    async def launch(self, spec: LaunchSpec) -> Instance:
        gpu_type_id = spec.offer.extra.get("gpu_type_id")
        if spec.offer.provider != PROVIDER or not gpu_type_id:
            raise ProviderBadRequestError(PROVIDER, f"offer {spec.offer.offer_id!r} is not a RunPod offer")
        body = self._create_body(spec, gpu_type_id)
        existing = await self.find_instance_by_name(spec.name)
        if existing is not None:
            return existing
        return await self._create(spec.name, body)

    async def get_instance(self, instance_id: str) -> Instance:
        pod = await self._api.get_pod(instance_id)
        if pod is None:
            return Instance(
                instance_id=instance_id,
                name="",
                state=InstanceState.TERMINATED,
                message="the pod no longer exists at RunPod",
            )
        return _instance(pod)

    async def terminate(self, instance_id: str) -> None:
        # DELETE, not the "stop" action: a stopped pod keeps billing for its disk.
        await self._api.delete_pod(instance_id)

    async def logs(self, instance_id: str, since: str | None = None) -> LogChunk:
        cursor = LogCursor.decode(since)
        events = await self._api.pod_log_events(
            instance_id,
            last_event_id=cursor.last_event_id,
            tail=self.log_backfill_lines,
            idle_s=self.log_idle_s,
            max_s=min(self.log_max_read_s, self.timeout_s),
            max_bytes=self.log_max_bytes,
        )
        if events is None:  # the pod is gone; its logs with it
            return LogChunk(lines=[], cursor=since, exit_code=cursor.exit_code, available=False)
        raw_lines, cursor = cursor.advance(events)
        lines, exit_code = split_sentinel(raw_lines)
        if exit_code is not None:
            cursor = cursor.with_exit_code(exit_code)
        return LogChunk(lines=lines, cursor=cursor.encode(), exit_code=cursor.exit_code)

    async def list_instances(self) -> list[Instance]:
        # GET /v2/pods has no pagination: one call returns every pod of the account.
        pods = await self._api.list_pods()
        return [_instance(pod) for pod in pods if _is_ours(pod) and not _is_terminated(pod)]

    async def find_instance_by_name(self, name: str) -> Instance | None:
        for pod in await self._api.list_pods():
            if pod.get("name") == name and not _is_terminated(pod):
                return _instance(pod)
        return None

    # ---- launch helpers --------------------------------------------------------------------

    def _create_body(self, spec: LaunchSpec, gpu_type_id: str) -> dict[str, Any]:
        env = {str(k): str(v) for k, v in spec.env.items()}
        env[JOB_ID_ENV] = spec.job_id
        args = wrap_command_string(spec.command)
        shipped = [spec.image, args, *env.keys(), *env.values()]
        key = self._api_key.strip()
        if len(key) >= 8 and any(key in text for text in shipped):
            raise ProviderBadRequestError(PROVIDER, "refusing to put the RunPod API key on the pod")
        body: dict[str, Any] = {
            "name": spec.name,
            "image": spec.image,
            "args": args,
            "env": env,
            "disk": max(1, spec.disk_gb),
            # The offer's count: its price and availability were quoted for exactly that many.
            "gpu": {"id": gpu_type_id, "count": spec.offer.gpu_count},
            "cloud": spec.offer.extra.get("cloud") or CLOUD,
        }
        data_center = spec.offer.extra.get("data_center_id")
        if data_center:
            body["dataCenterIds"] = [data_center]
        return body

    async def _create(self, name: str, body: Mapping[str, Any]) -> Instance:
        """POST once; after a 429 wait and look up by name before trying again; after a 5xx
        or timeout look up by name (RunPod may have created the pod anyway) and never retry."""
        waited = 0.0
        attempt = 0
        while True:
            try:
                return _instance(await self._api.create_pod(body))
            except RateLimitedError as exc:
                delay = exc.retry_after if exc.retry_after is not None else 1.0
                budget = self._client.rate_limit_budget_s
                if attempt >= self._client.max_rate_limit_retries or waited + delay > budget:
                    raise
                log.info("runpod create pod rate limited; retrying in %.1f s", delay)
                await asyncio.sleep(delay)
                waited += delay
                attempt += 1
                found = await self.find_instance_by_name(name)
                if found is not None:
                    return found
            except ProviderTransientError:
                found = await self._lookup_after_failure(name)
                if found is not None:
                    return found
                raise

    async def _lookup_after_failure(self, name: str) -> Instance | None:
        try:
            return await self.find_instance_by_name(name)
        except ProviderError:
            return None  # the original failure is the one worth reporting


@dataclass(frozen=True, slots=True)
class LogCursor:
    """Resume point in a pod's log stream, encoded as ``<seen>|<exit code>|<event id>``.

    RunPod event ids are opaque (documented as the timestamp, shown as ``<ts>/<seq>``) and
    whether resuming is inclusive is unconfirmed, so the cursor remembers how many events
    carried the last id and skips that many on resume. The exit code rides along so every
    later chunk still reports it.
    """

    last_event_id: str | None = None
    seen_with_last_id: int = 0
    exit_code: int | None = None

    @classmethod
    def decode(cls, text: str | None) -> LogCursor:
        if not text:
            return cls()
        seen, _, rest = text.partition("|")
        code, _, event_id = rest.partition("|")
        try:
            return cls(event_id or None, int(seen), int(code) if code else None)
        except ValueError:
            return cls()  # not one of ours: start from the backfill

    def encode(self) -> str:
        code = "" if self.exit_code is None else str(self.exit_code)
        return f"{self.seen_with_last_id}|{code}|{self.last_event_id or ''}"

    def with_exit_code(self, exit_code: int) -> LogCursor:
        return LogCursor(self.last_event_id, self.seen_with_last_id, exit_code)

    def advance(self, events: list[LogEvent]) -> tuple[list[str], LogCursor]:
        """The container lines not seen before, and the cursor after them."""
        to_skip = self.seen_with_last_id if self.last_event_id else 0
        last_id, seen = self.last_event_id, self.seen_with_last_id
        lines: list[str] = []
        for event in events:
            if to_skip and event.event_id == self.last_event_id:
                to_skip -= 1
                continue
            to_skip = 0
            if event.event_id == last_id:
                seen += 1
            else:
                last_id, seen = event.event_id, 1
            if event.source in (None, "container"):
                lines.append(event.line)
        return lines, LogCursor(last_id, seen if last_id else 0, self.exit_code)


# ---- mapping helpers -----------------------------------------------------------------------


def catalog_model(gpu_type_id: str, display_name: str, memory_gb: float | None) -> gpus.GpuModel | None:
    """RunPod's id first (``NVIDIA H100 80GB HBM3``), then its display name, which settles
    ids the catalog cannot (``NVIDIA H200`` is SXM or NVL by memory alone; ``H200 SXM`` is not)."""
    for spelling in (gpu_type_id, display_name):
        if spelling:
            model = gpus.resolve(spelling, memory_gb)
            if model is not None:
                return model
    return None


def availability_score(level: object) -> float:
    if not isinstance(level, str):
        return UNKNOWN_AVAILABILITY
    return AVAILABILITY_SCORES.get(level.upper(), UNKNOWN_AVAILABILITY)


def _offers_for(
    gpu_type: Mapping[str, Any], count: int, query: OfferQuery, observed_at: datetime
) -> list[Offer]:
    gpu_type_id = str(gpu_type.get("id") or "")
    if not gpu_type_id or gpu_type.get("secure") is False:
        return []
    memory = _number(gpu_type.get("memory"))
    model = catalog_model(gpu_type_id, str(gpu_type.get("name") or ""), memory)
    if model is None or (query.gpu_models and model.key not in query.gpu_models):
        return []
    max_count = _number(_field(gpu_type.get("maxCount"), CLOUD.lower()))
    per_gpu = _number(_field(gpu_type.get("price"), CLOUD.lower()))
    if per_gpu is None or per_gpu <= 0 or (max_count is not None and count > max_count):
        return []
    price = round(per_gpu * count, 4)
    if query.max_price_per_hour is not None and price > query.max_price_per_hour:
        return []
    places = [
        (str(dc["id"]), dc.get("availability"))
        for dc in gpu_type.get("dataCenters") or []
        if isinstance(dc, dict) and dc.get("id")
    ]
    if not places:  # omitted when unavailable everywhere: one offer that shows the shortage
        places = [("", gpu_type.get("availability"))]
    offers = []
    for data_center, level in places:
        score = availability_score(level)
        offers.append(
            Offer(
                provider=PROVIDER,
                offer_id=f"{CLOUD}:{data_center or 'any'}:{count}x{gpu_type_id}",
                gpu_model=model.key,
                gpu_count=count,
                vram_gb=int(memory) if memory else model.vram_gb,
                price_per_hour=price,
                region=data_center or "any",
                available=score > 0,
                availability=score,
                interruptible=False,
                observed_at=observed_at,
                provider_gpu_name=gpu_type_id,
                extra={"gpu_type_id": gpu_type_id, "cloud": CLOUD, "data_center_id": data_center},
            )
        )
    return offers


def _instance(pod: Mapping[str, Any]) -> Instance:
    status = str(pod.get("status") or "").upper()
    region = pod.get("dataCenterId")
    return Instance(
        instance_id=str(pod.get("id") or ""),
        name=str(pod.get("name") or ""),
        state=POD_STATES.get(status, InstanceState.UNKNOWN),
        message=f"RunPod status {status}" if status else None,
        price_per_hour=_number(pod.get("cost")),
        region=str(region) if region else None,
        created_at=_parse_time(pod.get("createdAt")),
        job_marker=_job_marker(pod.get("env")),
    )


def _job_marker(env: object) -> str | None:
    """The job id set in the pod's env at launch; RunPod echoes ``env`` on get and list."""
    value = env.get(JOB_ID_ENV) if isinstance(env, dict) else None
    # Any value present is a marker: one that is not our job id must never read as "ours".
    return None if value is None else str(value)


def _is_ours(pod: Mapping[str, Any]) -> bool:
    return str(pod.get("name") or "").startswith(INSTANCE_NAME_PREFIX)


def _is_terminated(pod: Mapping[str, Any]) -> bool:
    return str(pod.get("status") or "").upper() == "TERMINATED"


def _field(value: object, key: str) -> object:
    return value.get(key) if isinstance(value, dict) else None


def _number(value: object) -> float | None:
    # v1 sent money as strings ("0.74"); accept both.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
