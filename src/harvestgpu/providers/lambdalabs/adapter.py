"""Lambda Cloud adapter: Lambda's instance types and VMs mapped to the neutral types.

Lambda launches VMs, not containers, and has no log API: the job's container runs from a
cloud-init boot script (``agent_script``) that posts logs and the exit code back to
HarvestGPU. Instances carry the job's ``hg-`` name, which makes launches idempotent and lets
orphan sweeps find them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from harvestgpu.gpus import GpuModel, resolve
from harvestgpu.providers.agent_script import agent_script
from harvestgpu.providers.base import INSTANCE_NAME_PREFIX, Provider
from harvestgpu.providers.errors import (
    NoCapacityError,
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    RateLimitedError,
)
from harvestgpu.providers.lambdalabs.client import (
    LAUNCH_PATH,
    PROVIDER,
    LambdaClient,
    LambdaDuplicateError,
    LambdaNotFoundError,
)
from harvestgpu.providers.types import (
    Instance,
    InstanceState,
    KeyCheck,
    LaunchSpec,
    LogChunk,
    Offer,
    OfferQuery,
    ProviderInfo,
)

log = logging.getLogger(__name__)

SSH_KEY_NAME = "harvestgpu"
# Set at launch and echoed in Lambda's instance records: the orphan sweep's second marker.
JOB_TAG = "harvestgpu-job-id"
MAX_NAME_LEN = 64
MAX_USER_DATA_BYTES = 1_000_000

_STATES: Mapping[str, InstanceState] = {
    "booting": InstanceState.PENDING,
    "active": InstanceState.RUNNING,
    # Failed health checks: not necessarily fatal; the monitor's own timeouts decide.
    "unhealthy": InstanceState.UNKNOWN,
    # Requested, not confirmed (how long it lasts is UNCONFIRMED): until Lambda says
    # ``terminated`` or forgets the instance, it may bill, so the engine and the orphan sweep
    # must keep retrying it.
    "terminating": InstanceState.UNKNOWN,
    "terminated": InstanceState.TERMINATED,
    "preempted": InstanceState.TERMINATED,
}
_VRAM = re.compile(r"(\d+)\s*GB", re.IGNORECASE)
# NVIDIA "superchips" are arm64 VMs; a job image built for amd64 would not start there.
_ARM_FAMILIES = re.compile(r"\bG[HB]\d{3}\b", re.IGNORECASE)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    return None


def gpu_model_for(instance_type: Mapping[str, Any]) -> tuple[GpuModel, int] | None:
    """Catalog model and per-GPU VRAM of an instance type; None for CPU types and unknown GPUs.

    Lambda's ``gpu_description`` ("H100 (80 GB SXM5)") is the most precise spelling; the
    ``description`` ("1x H100 (80 GB SXM5)") and the type name ("gpu_1x_h100_sxm5") back it up.
    """
    spellings = [_text(instance_type.get(k)) for k in ("gpu_description", "description", "name")]
    vram: int | None = None
    for spelling in spellings[:2]:
        match = _VRAM.search(spelling)
        if match:
            vram = int(match.group(1))
            break
    for spelling in spellings:
        if not spelling:
            continue
        model = resolve(spelling, vram)
        if model is not None:
            return model, vram or model.vram_gb
    return None


def _is_arm(instance_type: Mapping[str, Any]) -> bool:
    specs = instance_type.get("specs")
    arch = _text(specs.get("architecture")) if isinstance(specs, dict) else ""
    if arch.lower() in ("arm64", "aarch64"):
        return True
    return bool(_ARM_FAMILIES.search(_text(instance_type.get("gpu_description"))))


def offers_from_instance_types(data: Any, query: OfferQuery) -> list[Offer]:
    """One offer per (instance type, region with capacity); a sold-out type gives one unavailable offer."""
    if not isinstance(data, dict):
        return []
    offers: list[Offer] = []
    for item in data.values():
        instance_type = item.get("instance_type") if isinstance(item, dict) else None
        if not isinstance(instance_type, dict) or _is_arm(instance_type):
            continue
        specs = instance_type.get("specs")
        gpu_count = _int(specs.get("gpus")) if isinstance(specs, dict) else None
        cents = _int(instance_type.get("price_cents_per_hour"))
        type_name = _text(instance_type.get("name"))
        mapped = gpu_model_for(instance_type)
        if not gpu_count or cents is None or not type_name or mapped is None:
            log.debug("skipping Lambda instance type %r: no GPU from the catalog", type_name)
            continue
        model, vram_gb = mapped
        price = cents / 100  # integer cents for the whole instance, all GPUs included
        if query.gpu_models is not None and model.key not in query.gpu_models:
            continue
        if gpu_count < query.gpu_count:
            continue
        if query.max_price_per_hour is not None and price > query.max_price_per_hour:
            continue
        raw_regions = item.get("regions_with_capacity_available")
        regions = [
            _text(r.get("name"))
            for r in (raw_regions if isinstance(raw_regions, list) else [])
            if isinstance(r, dict) and _text(r.get("name"))
        ]
        for region in regions or [""]:
            offers.append(
                Offer(
                    provider=PROVIDER,
                    offer_id=f"{type_name}@{region}" if region else type_name,
                    gpu_model=model.key,
                    gpu_count=gpu_count,
                    vram_gb=vram_gb,
                    price_per_hour=price,
                    region=region,
                    available=bool(region),
                    availability=1.0 if region else 0.0,
                    provider_gpu_name=_text(instance_type.get("gpu_description")) or type_name,
                    extra={"instance_type": type_name, "region": region},
                )
            )
    return offers


def _job_marker(tags: Any) -> str | None:
    """The ``harvestgpu-job-id`` tag's value; None when the record has no such tag."""
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("key") == JOB_TAG:
            return _text(tag.get("value")) or None
    return None


def instance_from_record(record: Mapping[str, Any]) -> Instance:
    status = _text(record.get("status"))
    instance_type = record.get("instance_type")
    cents = _int(instance_type.get("price_cents_per_hour")) if isinstance(instance_type, dict) else None
    region = record.get("region")
    return Instance(
        instance_id=_text(record.get("id")),
        name=_text(record.get("name")),
        state=_STATES.get(status, InstanceState.UNKNOWN),
        message=status or None,
        price_per_hour=cents / 100 if cents is not None else None,
        region=(_text(region.get("name")) or None) if isinstance(region, dict) else None,
        job_marker=_job_marker(record.get("tags")),
    )


def _terminating(instance: Instance) -> bool:
    return instance.message == "terminating"


class LambdaProvider(Provider):
    info = ProviderInfo(
        slug="lambda",
        name="Lambda",
        key_url="https://cloud.lambdalabs.com/api-keys",
        logs_via_api=False,
        needs_agent=True,
    )
    default_base_url = "https://cloud.lambda.ai"

    def __init__(
        self,
        *,
        api_key: str,
        http: httpx.AsyncClient,
        base_url: str | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        super().__init__(api_key=api_key, http=http, base_url=base_url, timeout_s=timeout_s)
        self.client = LambdaClient(api_key=api_key, http=http, base_url=self.base_url)

    async def _get(self, path: str) -> Any:
        return await self.client.get(path, timeout_s=self.timeout_s)

    async def _post(self, path: str, body: Mapping[str, Any], *, retry_rate_limit: bool) -> Any:
        return await self.client.post(path, body, timeout_s=self.timeout_s, retry_rate_limit=retry_rate_limit)

    async def validate_key(self) -> KeyCheck:
        data = await self._get("/instance-types")
        count = len(data) if isinstance(data, dict) else 0
        # Lambda bills a card after the fact: the API exposes no balance.
        return KeyCheck(valid=True, message=f"Lambda key accepted ({count} instance types visible)")

    async def list_offers(self, query: OfferQuery) -> list[Offer]:
        return offers_from_instance_types(await self._get("/instance-types"), query)

    async def launch(self, spec: LaunchSpec) -> Instance:
        instance_type = spec.offer.extra.get("instance_type", "")
        region = spec.offer.extra.get("region", "")
        if spec.offer.provider != self.slug or not instance_type:
            raise ProviderBadRequestError(PROVIDER, f"offer {spec.offer.offer_id!r} is not a Lambda offer")
        if not region:
            raise NoCapacityError(PROVIDER, f"{instance_type} has no capacity in any region")
        if len(spec.name) > MAX_NAME_LEN:
            raise ProviderBadRequestError(PROVIDER, f"instance name longer than {MAX_NAME_LEN} characters")
        existing = await self._find_live(spec.name)
        if existing is not None:
            return existing
        user_data = agent_script(spec)
        if self._api_key and self._api_key in user_data:
            raise ProviderBadRequestError(
                PROVIDER, "refusing to launch: the job's environment contains the Lambda API key"
            )
        if len(user_data.encode()) > MAX_USER_DATA_BYTES:
            raise ProviderBadRequestError(
                PROVIDER, "the boot script is larger than Lambda's 1 MB user_data limit"
            )
        body = {
            "region_name": region,
            "instance_type_name": instance_type,
            "ssh_key_names": [await self._ensure_ssh_key(spec.ssh_public_key)],
            "name": spec.name,
            "tags": [{"key": JOB_TAG, "value": spec.job_id}],
            "user_data": user_data,
        }
        try:
            data = await self._post(LAUNCH_PATH, body, retry_rate_limit=False)
        except RateLimitedError:
            raise  # rejected before anything was created
        except ProviderTransientError:
            # A 5xx or timeout leaves it open whether Lambda created the VM: look before failing.
            created = await self._lookup_after_ambiguous_failure(spec.name)
            if created is not None:
                return created
            raise
        ids = data.get("instance_ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not ids or not isinstance(ids[0], str):
            created = await self._lookup_after_ambiguous_failure(spec.name)
            if created is not None:
                return created
            raise NoCapacityError(
                PROVIDER, f"Lambda accepted the launch of {instance_type} but started nothing"
            )
        return Instance(
            instance_id=ids[0],
            name=spec.name,
            state=InstanceState.PENDING,
            message="booting",
            price_per_hour=spec.offer.price_per_hour,
            region=region,
        )

    async def _ensure_ssh_key(self, public_key: str | None) -> str:
        """Lambda requires exactly one registered SSH key name at launch; ours is ``harvestgpu``."""
        keys = await self._get("/ssh-keys")
        if isinstance(keys, list) and any(
            isinstance(k, dict) and k.get("name") == SSH_KEY_NAME for k in keys
        ):
            return SSH_KEY_NAME
        body: dict[str, str] = {"name": SSH_KEY_NAME}
        if public_key:
            body["public_key"] = public_key
        try:
            # Without a public key Lambda generates a pair and returns the private half once:
            # the response is dropped unread so that private key is never kept or logged.
            await self._post("/ssh-keys", body, retry_rate_limit=True)
        except LambdaDuplicateError:
            pass  # a concurrent launch registered it first
        return SSH_KEY_NAME

    async def _find_live(self, name: str) -> Instance | None:
        """The instance a launch of ``name`` may adopt: one on its way out is not."""
        for instance in await self.list_instances():
            if instance.name == name and not _terminating(instance):
                return instance
        return None

    async def _lookup_after_ambiguous_failure(self, name: str) -> Instance | None:
        try:
            return await self._find_live(name)
        except ProviderError:
            return None  # the caller raises the original, more telling error

    async def get_instance(self, instance_id: str) -> Instance:
        try:
            record = await self._get(f"/instances/{instance_id}")
        except LambdaNotFoundError:
            record = None
        if not isinstance(record, dict):
            return Instance(
                instance_id=instance_id, name="", state=InstanceState.TERMINATED, message="unknown to Lambda"
            )
        return instance_from_record(record)

    async def terminate(self, instance_id: str) -> None:
        try:
            data = await self._post(
                "/instance-operations/terminate", {"instance_ids": [instance_id]}, retry_rate_limit=True
            )
        except LambdaNotFoundError:
            return
        except ProviderBadRequestError:
            # Lambda may reject terminating an instance that is already on its way out.
            if await self._terminate_underway(instance_id):
                return
            raise
        confirmed = data.get("terminated_instances") if isinstance(data, dict) else None
        if isinstance(confirmed, list) and any(
            isinstance(i, dict) and i.get("id") == instance_id for i in confirmed
        ):
            return
        # The confirmation "might not contain all instances requested": check before trusting it.
        if not await self._terminate_underway(instance_id):
            raise ProviderTransientError(PROVIDER, f"Lambda did not confirm terminating {instance_id}")

    async def _terminate_underway(self, instance_id: str) -> bool:
        """Gone or going; callers still confirm TERMINATED with ``get_instance``."""
        instance = await self.get_instance(instance_id)
        return instance.state is InstanceState.TERMINATED or _terminating(instance)

    async def logs(self, instance_id: str, since: str | None = None) -> LogChunk:
        return LogChunk(lines=[], cursor=since, available=False)

    async def list_instances(self) -> list[Instance]:
        """Our instances not yet confirmed gone (``terminating`` ones included, so orphan sweeps
        retry them). Lambda's list is unpaginated: one call returns all of them."""
        data = await self._get("/instances")
        records = data if isinstance(data, list) else []
        found: list[Instance] = []
        for record in records:
            if not isinstance(record, dict) or not _text(record.get("name")).startswith(INSTANCE_NAME_PREFIX):
                continue
            instance = instance_from_record(record)
            if instance.state is not InstanceState.TERMINATED:
                found.append(instance)
        return found
