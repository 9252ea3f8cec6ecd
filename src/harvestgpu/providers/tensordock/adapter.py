"""TensorDock adapter: v2 marketplace VMs mapped to and from the neutral provider types.

TensorDock sells VMs composed per resource (GPU, vCPU, RAM, storage), so an offer is a
location + GPU model + count at HarvestGPU's standard VM size (see :func:`vm_size`), priced
as the whole VM. The job runs inside the VM from a cloud-init boot script
(providers.agent_script) that reports logs and the exit code to our agent endpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from harvestgpu import gpus
from harvestgpu.providers.agent_script import agent_script
from harvestgpu.providers.base import INSTANCE_NAME_PREFIX, Provider
from harvestgpu.providers.errors import (
    NoCapacityError,
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    RateLimitedError,
)
from harvestgpu.providers.tensordock.client import (
    SLUG,
    TensorDockClient,
    instance_records,
    unwrap_object,
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

# HarvestGPU's fixed VM size per GPU: enough CPU and memory to feed one GPU's data loader,
# small enough to fit the per-location maximums of consumer-card hosts (e.g. 32 vCPU / 128 GB
# for four RTX 4090s). Storage is TensorDock's 100 GB minimum unless the job asks for more.
VCPUS_PER_GPU = 8
RAM_GB_PER_GPU = 32
MIN_STORAGE_GB = 100
STORAGE_STEP_GB = 50
# An `_ml_` image, because whether plain ubuntu2404 carries docker and the NVIDIA container
# runtime is unconfirmed; the boot script still installs docker if it is missing.
OS_IMAGE = "ubuntu2404_ml_everything"
SCRIPT_PATH = "/opt/harvestgpu/run.sh"

_VRAM_SUFFIX = re.compile(r"(\d+)\s*gb\s*$", re.IGNORECASE)

# Case-insensitive, separators removed. Only running/starting/stopping/stopped/
# stoppeddisassociated are documented; the rest are spellings third-party clients guard against.
_STATES: dict[str, InstanceState] = {
    "running": InstanceState.RUNNING,
    "starting": InstanceState.PENDING,
    "pending": InstanceState.PENDING,
    "provisioning": InstanceState.PENDING,
    "creating": InstanceState.PENDING,
    "deploying": InstanceState.PENDING,
    "queued": InstanceState.PENDING,
    # We never stop a VM, so a stopped one means the job cannot be running any more.
    "stopping": InstanceState.FAILED,
    "stopped": InstanceState.FAILED,
    "stoppeddisassociated": InstanceState.FAILED,
    "error": InstanceState.FAILED,
    "failed": InstanceState.FAILED,
    "deleted": InstanceState.TERMINATED,
    "terminated": InstanceState.TERMINATED,
    "destroyed": InstanceState.TERMINATED,
}
_STATE_NOTES: dict[str, str] = {
    "stoppeddisassociated": "the host reclaimed the GPU (StoppedDisassociated)",
    "stopped": "the VM was stopped outside HarvestGPU; storage still bills until it is deleted",
    "stopping": "the VM is being stopped outside HarvestGPU",
}


@dataclass(frozen=True, slots=True)
class VmSize:
    vcpus: int
    ram_gb: int
    storage_gb: int


@dataclass(frozen=True, slots=True)
class ResourcePricing:
    """USD/hour: per GPU (``price_per_hr``) and per unit of the other resources."""

    per_gpu: float
    per_vcpu: float
    per_gb_ram: float
    per_gb_storage: float

    def hourly(self, gpu_count: int, size: VmSize) -> float:
        return (
            gpu_count * self.per_gpu
            + size.vcpus * self.per_vcpu
            + size.ram_gb * self.per_gb_ram
            + size.storage_gb * self.per_gb_storage
        )


def vm_size(gpu_count: int, disk_gb: int = 0, *, max_vcpus: int = 0, max_ram_gb: int = 0) -> VmSize:
    """The VM HarvestGPU requests for ``gpu_count`` GPUs, clipped to the location's maximums."""
    vcpus = VCPUS_PER_GPU * gpu_count
    if max_vcpus > 0:
        vcpus = min(vcpus, max_vcpus)
    vcpus = max(2, vcpus - vcpus % 2)
    ram = RAM_GB_PER_GPU * gpu_count
    if max_ram_gb > 0:
        ram = min(ram, max_ram_gb)
    ram = max(8, ram - ram % 8)
    storage = max(MIN_STORAGE_GB, disk_gb)
    storage += -storage % STORAGE_STEP_GB
    return VmSize(vcpus=vcpus, ram_gb=ram, storage_gb=storage)


def catalog_model(v0_name: str, display_name: str = "") -> gpus.GpuModel | None:
    """The catalog model for a TensorDock GPU key such as ``h100-sxm5-80gb``; None if unknown."""
    match = _VRAM_SUFFIX.search(v0_name) or _VRAM_SUFFIX.search(display_name)
    vram = int(match.group(1)) if match else None
    model = gpus.resolve(v0_name, vram) or (gpus.resolve(display_name, vram) if display_name else None)
    # The VRAM suffix is authoritative: a size the model never has means the name was misread.
    if model is None or (vram is not None and abs(model.vram_gb - vram) > 2):
        return None
    return model


def _num(value: Any, default: float = 0.0) -> float:
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _availability(max_count: int, wanted: int, tier: int) -> float:
    if max_count < wanted:
        return 0.0
    spare = min(1.0, max_count / (2 * wanted))
    # Tier-0 (residential) hosts are known to reclaim GPUs mid-job.
    return spare * (0.6 if tier == 0 else 1.0)


def _region(location: dict[str, Any]) -> str:
    parts = [location.get(k) for k in ("city", "stateprovince", "country")]
    text = ", ".join(str(p) for p in parts if p)
    return text or str(location.get("id", ""))


def _location_offers(location: dict[str, Any], query: OfferQuery) -> list[Offer]:
    location_id = str(location.get("id") or location.get("uuid") or "")
    tier = int(_num(location.get("tier"), 1))
    offers: list[Offer] = []
    for gpu in location.get("gpus") or []:
        if not isinstance(gpu, dict) or not location_id:
            continue
        v0_name = str(gpu.get("v0Name") or "")
        model = catalog_model(v0_name, str(gpu.get("displayName") or ""))
        if model is None or (query.gpu_models is not None and model.key not in query.gpu_models):
            continue
        pricing_raw = _dict(gpu.get("pricing"))
        limits = _dict(gpu.get("resources"))
        pricing = ResourcePricing(
            per_gpu=_num(gpu.get("price_per_hr")),
            per_vcpu=_num(pricing_raw.get("per_vcpu_hr")),
            per_gb_ram=_num(pricing_raw.get("per_gb_ram_hr")),
            per_gb_storage=_num(pricing_raw.get("per_gb_storage_hr")),
        )
        max_vcpus = int(_num(limits.get("max_vcpus")))
        max_ram_gb = int(_num(limits.get("max_ram_gb")))
        size = vm_size(query.gpu_count, max_vcpus=max_vcpus, max_ram_gb=max_ram_gb)
        price = round(pricing.hourly(query.gpu_count, size), 6)
        if query.max_price_per_hour is not None and price > query.max_price_per_hour:
            continue
        max_count = int(_num(gpu.get("max_count")))
        availability = _availability(max_count, query.gpu_count, tier)
        match = _VRAM_SUFFIX.search(v0_name)
        offers.append(
            Offer(
                provider=SLUG,
                offer_id=f"{location_id}:{v0_name}:{query.gpu_count}",
                gpu_model=model.key,
                gpu_count=query.gpu_count,
                vram_gb=int(match.group(1)) if match else model.vram_gb,
                price_per_hour=price,
                region=_region(location),
                available=availability > 0,
                availability=availability,
                provider_gpu_name=v0_name,
                extra={
                    "location_id": location_id,
                    "gpu_v0_name": v0_name,
                    "price_per_gpu_hr": repr(pricing.per_gpu),
                    "per_vcpu_hr": repr(pricing.per_vcpu),
                    "per_gb_ram_hr": repr(pricing.per_gb_ram),
                    "per_gb_storage_hr": repr(pricing.per_gb_storage),
                    "max_vcpus": str(max_vcpus),
                    "max_ram_gb": str(max_ram_gb),
                    "max_storage_gb": str(int(_num(limits.get("max_storage_gb")))),
                },
            )
        )
    return offers


def _instance_path(instance_id: str) -> str:
    return f"/instances/{quote(instance_id, safe='')}"


def to_instance(record: dict[str, Any], *, fallback_id: str = "") -> Instance:
    raw_status = str(record.get("status") or "")
    normalised = re.sub(r"[^a-z]", "", raw_status.lower())
    state = _STATES.get(normalised, InstanceState.UNKNOWN)
    note = _STATE_NOTES.get(normalised)
    rate = record.get("rateHourly")
    return Instance(
        instance_id=str(record.get("id") or fallback_id),
        name=str(record.get("name") or ""),
        state=state,
        message=f"{raw_status}: {note}" if note else (raw_status or None),
        price_per_hour=_num(rate) if rate is not None else None,
    )


class TensorDockProvider(Provider):
    info: ClassVar[ProviderInfo] = ProviderInfo(
        slug=SLUG,
        name="TensorDock",
        key_url="https://marketplace.tensordock.com/api",
        logs_via_api=False,
        needs_agent=True,
    )
    default_base_url: ClassVar[str] = "https://dashboard.tensordock.com"

    @property
    def _client(self) -> TensorDockClient:
        # Built per call (a few attributes, no I/O) so a changed self.timeout_s always applies.
        return TensorDockClient(
            api_key=self._api_key, http=self._http, base_url=self.base_url, timeout_s=self.timeout_s
        )

    async def validate_key(self) -> KeyCheck:
        # v2 documents no balance endpoint, so the check reports what it can: the VM count.
        response = await self._client.get("/instances")
        count = len(instance_records(response.body))
        return KeyCheck(
            valid=True, message=f"TensorDock API token accepted ({count} instance(s) on the account)"
        )

    async def list_offers(self, query: OfferQuery) -> list[Offer]:
        response = await self._client.get("/locations")
        data = _dict(response.body).get("data", response.body)
        locations = data.get("locations") if isinstance(data, dict) else data
        offers: list[Offer] = []
        for location in locations if isinstance(locations, list) else []:
            if isinstance(location, dict):
                offers.extend(_location_offers(location, query))
        return offers

    async def launch(self, spec: LaunchSpec) -> Instance:
        if not spec.ssh_public_key:
            raise ProviderBadRequestError(
                SLUG,
                "TensorDock requires an SSH public key for every VM; none was configured for this launch",
            )
        existing = await self.find_instance_by_name(spec.name)
        if existing is not None:
            return existing
        body, price = self._create_body(spec)
        try:
            response = await self._client.post("/instances", body)
        except RateLimitedError:
            raise  # refused before anything was created
        except ProviderTransientError:
            # A 5xx or a timeout leaves it open whether the VM exists: look before failing.
            created = await self._find_quietly(spec.name)
            if created is not None:
                return created
            raise
        if response.not_found:
            raise NoCapacityError(
                SLUG, "the TensorDock location or GPU of this offer no longer exists", status=404
            )
        record = unwrap_object(response.body) or {}
        if not record.get("id"):
            created = await self.find_instance_by_name(spec.name)
            if created is None:
                raise ProviderBadRequestError(
                    SLUG, "TensorDock accepted the create but returned no instance id"
                )
            return created
        instance = to_instance(record)
        return Instance(
            instance_id=instance.instance_id,
            name=instance.name or spec.name,
            state=instance.state if instance.state is not InstanceState.UNKNOWN else InstanceState.PENDING,
            message=instance.message,
            price_per_hour=price,
            region=spec.offer.region,
        )

    def _create_body(self, spec: LaunchSpec) -> tuple[dict[str, Any], float]:
        extra = spec.offer.extra
        try:
            location_id = extra["location_id"]
            v0_name = extra["gpu_v0_name"]
            pricing = ResourcePricing(
                per_gpu=float(extra["price_per_gpu_hr"]),
                per_vcpu=float(extra["per_vcpu_hr"]),
                per_gb_ram=float(extra["per_gb_ram_hr"]),
                per_gb_storage=float(extra["per_gb_storage_hr"]),
            )
            max_vcpus, max_ram_gb = int(extra["max_vcpus"]), int(extra["max_ram_gb"])
            max_storage_gb = int(extra["max_storage_gb"])
        except (KeyError, ValueError):
            raise ProviderBadRequestError(
                SLUG, "this offer was not listed by the TensorDock adapter"
            ) from None
        gpu_count = spec.gpu_count
        size = vm_size(gpu_count, spec.disk_gb, max_vcpus=max_vcpus, max_ram_gb=max_ram_gb)
        if 0 < max_storage_gb < size.storage_gb:
            raise NoCapacityError(SLUG, f"this location offers at most {max_storage_gb} GB of disk")
        script = agent_script(spec)
        attributes: dict[str, Any] = {
            "name": spec.name,
            "type": "virtualmachine",
            "image": OS_IMAGE,
            "resources": {
                "vcpu_count": size.vcpus,
                "ram_gb": size.ram_gb,
                "storage_gb": size.storage_gb,
                "gpus": {v0_name: {"count": gpu_count}},
            },
            "location_id": location_id,
            # The job needs no inbound traffic: the agent calls out to HarvestGPU.
            "useDedicatedIp": False,
            "ssh_key": spec.ssh_public_key,
            "cloud_init": {
                "write_files": [{"path": SCRIPT_PATH, "content": script, "permissions": "0755"}],
                # `bash <file>` works whether or not write_files honours `permissions`.
                "runcmd": [f"nohup bash {SCRIPT_PATH} >/var/log/harvestgpu-agent.log 2>&1 &"],
            },
        }
        body = {"data": {"type": "virtualmachine", "attributes": attributes}}
        key = self._api_key.strip()
        if len(key) >= 8 and key in json.dumps(body):
            raise ProviderBadRequestError(
                SLUG, "refusing to launch: the job spec contains the provider API key"
            )
        return body, round(pricing.hourly(gpu_count, size), 6)

    async def get_instance(self, instance_id: str) -> Instance:
        response = await self._client.get(_instance_path(instance_id))
        if response.not_found:
            return Instance(
                instance_id=instance_id, name="", state=InstanceState.TERMINATED, message="not found"
            )
        record = unwrap_object(response.body)
        if record is None:
            # Only a 404 means gone; an empty or shapeless success must make the caller retry.
            raise ProviderTransientError(
                SLUG, "TensorDock answered the instance lookup without an instance", status=response.status
            )
        return to_instance(record, fallback_id=instance_id)

    async def terminate(self, instance_id: str) -> None:
        # DELETE is the only call that ends all billing (stop keeps storage, maybe the GPU).
        try:
            await self._client.delete(_instance_path(instance_id))
        except ProviderBadRequestError as exc:
            # v0 said "already terminated" with a 4xx; the v2 wording is unconfirmed.
            if not any(word in exc.message.lower() for word in ("not found", "already")):
                raise

    async def logs(self, instance_id: str, since: str | None = None) -> LogChunk:
        # No log API at TensorDock: lines and the exit code arrive through the agent endpoint.
        return LogChunk(lines=[], cursor=since, available=False)

    async def list_instances(self) -> list[Instance]:
        return [i for i in await self._all_instances() if i.name.startswith(INSTANCE_NAME_PREFIX)]

    async def find_instance_by_name(self, name: str) -> Instance | None:
        for instance in await self._all_instances():
            if instance.name == name and instance.state is not InstanceState.TERMINATED:
                return instance
        return None

    async def _find_quietly(self, name: str) -> Instance | None:
        try:
            return await self.find_instance_by_name(name)
        except ProviderError:
            return None  # the caller raises the error that made it look

    async def _all_instances(self) -> list[Instance]:
        found: list[Instance] = []
        async for page in self._client.get_pages("/instances"):
            found.extend(to_instance(record) for record in instance_records(page))
        return found
