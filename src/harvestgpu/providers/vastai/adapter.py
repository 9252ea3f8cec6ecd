"""Vast.ai adapter: a container marketplace of individual machines, priced per whole offer.

Jobs run with ``runtype: "args"``: the shell from :func:`wrap_command` replaces the image
entrypoint (sent as ``onstart``, as the Vast CLI does for ``--entrypoint``), prints the
``HARVESTGPU_EXIT=<rc>`` sentinel and idles until we destroy the instance. Vast has no exit
code field, so the code comes from the container logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from harvestgpu import gpus
from harvestgpu.providers.base import INSTANCE_NAME_PREFIX, Provider
from harvestgpu.providers.errors import (
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    RateLimitedError,
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
from harvestgpu.providers.vastai.client import PROVIDER, InstanceNotFoundError, VastClient
from harvestgpu.providers.wrap import split_sentinel, wrap_command

# Offers are priced with storage for this disk, LaunchSpec's default size (Vast's dph_total
# includes storage, and the disk size is fixed at creation).
OFFER_DISK_GB = 50
OFFER_SEARCH_LIMIT = 200
LIST_PAGE_SIZE = 25  # the documented maximum of /api/v1/instances/
MAX_LIST_PAGES = 400
LOG_TAIL_LINES = 1000
LOG_POLL_DELAYS_S = (0.1, 0.2, 0.3, 0.4, *([0.5] * 11))
LOG_ANCHOR_LINES = 5
HOURS_PER_MONTH = 720  # storage_cost is $/GB/month

# Vast spellings resolve() gets wrong: bare "H200" is the SXM part; the 4090D and A100X are
# different products that the catalog does not list.
_NAME_OVERRIDES: dict[str, str | None] = {"H200": "H200", "RTX 4090D": None, "A100X": None}
# Canonical key -> Vast gpu_name values, to narrow the search server-side.
_VAST_NAMES: dict[str, tuple[str, ...]] = {
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


def catalog_model(gpu_name: str, vram_gb: float | None) -> gpus.GpuModel | None:
    if gpu_name in _NAME_OVERRIDES:
        key = _NAME_OVERRIDES[gpu_name]
        return gpus.get(key) if key else None
    return gpus.resolve(gpu_name, vram_gb)


def _number(value: Any) -> float | None:
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
    count = _number(raw.get("num_gpus"))
    if not isinstance(name, str) or not count or count < 1 or raw.get("cpu_cores") is None:
        return None
    gpu_ram_mb = _number(raw.get("gpu_ram"))
    model = catalog_model(name, gpu_ram_mb / 1024 if gpu_ram_mb else None)
    dph_base = _number(raw.get("dph_base"))
    storage_cost = _number(raw.get("storage_cost")) or 0.0
    price: float | None
    if dph_base is not None:
        price = whole_instance_price(dph_base, storage_cost, disk_gb)
    else:  # dph_total was computed for allocated_storage == disk_gb, which we sent
        price = _number(raw.get("dph_total"))
    if model is None or price is None or raw.get("id") is None:
        return None
    reliability = _number(raw.get("reliability2")) or _number(raw.get("reliability"))
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
    if status == "created" and "error" in str(record.get("status_msg") or "").lower():
        return InstanceState.FAILED  # e.g. ": OCI runtime create failed:" while still "created"
    if status in _PENDING:
        return InstanceState.PENDING
    if status == "running":
        return InstanceState.RUNNING
    if status == "exited":
        return InstanceState.EXITED
    if status in _FAILED:
        return InstanceState.FAILED
    return InstanceState.UNKNOWN


def instance_from_record(record: Mapping[str, Any]) -> Instance:
    started = _number(record.get("start_date"))
    return Instance(
        instance_id=str(record.get("id")),
        name=str(record.get("label") or ""),
        state=instance_state(record),
        message=str(record["status_msg"]) if record.get("status_msg") else None,
        price_per_hour=_number(record.get("dph_total")),
        region=str(record["geolocation"]) if record.get("geolocation") else None,
        created_at=datetime.fromtimestamp(started, UTC) if started else None,
    )


def _fingerprint(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _parse_cursor(cursor: str | None) -> tuple[int, str] | None:
    count, _, digest = (cursor or "").partition(":")
    return (int(count), digest) if count.isdigit() and digest else None


def lines_after(lines: list[str], cursor: str | None, complete: bool) -> list[str]:
    """The lines of a log tail that come after ``cursor`` ("<lines seen>:<fingerprint>").

    While the tail holds the whole log the count is exact; once the log outgrew the tail the
    fingerprint of the last lines seen is searched for instead (best effort: a log that keeps
    repeating the same block can match early and repeat lines, it never drops the newest).
    """
    parsed = _parse_cursor(cursor)
    if parsed is None:
        return lines
    count, digest = parsed
    anchor = min(LOG_ANCHOR_LINES, count)
    if complete and anchor <= count <= len(lines) and _fingerprint(lines[count - anchor : count]) == digest:
        return lines[count:]
    for end in range(len(lines), anchor - 1, -1):
        if _fingerprint(lines[end - anchor : end]) == digest:
            return lines[end:]
    return lines


def next_cursor(lines: list[str], new: list[str], cursor: str | None, complete: bool) -> str:
    parsed = _parse_cursor(cursor)
    count = len(lines) if complete else (parsed[0] if parsed else 0) + len(new)
    anchor = min(LOG_ANCHOR_LINES, count, len(lines))
    return f"{count}:{_fingerprint(lines[len(lines) - anchor :])}"


def _require_numeric_id(instance_id: str) -> str:
    if not instance_id.isdigit():  # also keeps the id from changing the request path
        raise ProviderBadRequestError(PROVIDER, f"not a Vast.ai instance id: {instance_id[:40]!r}")
    return instance_id


class VastAIProvider(Provider):
    info = ProviderInfo(
        slug="vastai",
        name="Vast.ai",
        key_url="https://cloud.vast.ai/account",
        logs_via_api=True,
        needs_agent=False,
    )
    default_base_url = "https://console.vast.ai"

    @property
    def _api(self) -> VastClient:
        return VastClient(
            api_key=self._api_key, http=self._http, base_url=self.base_url, timeout_s=self.timeout_s
        )

    async def validate_key(self) -> KeyCheck:
        body = _object((await self._api.call("validate", "GET", "/api/v0/users/current/")).body)
        # Which of credit/balance is spendable is unconfirmed; the auth docs call credit the balance.
        balance = _number(body.get("credit"))
        if balance is None:
            balance = _number(body.get("balance"))
        who = body.get("username") or body.get("email") or body.get("id") or "this account"
        return KeyCheck(valid=True, message=f"Vast.ai key accepted for {who}", balance=balance)

    async def list_offers(self, query: OfferQuery) -> list[Offer]:
        search: dict[str, Any] = {
            "verified": {"eq": True},
            "external": {"eq": False},
            "rentable": {"eq": True},
            "rented": {"eq": False},
            "num_gpus": {"eq": query.gpu_count},
            "disk_space": {"gte": OFFER_DISK_GB},
            "type": "on-demand",
            "order": [["dph_total", "asc"]],
            "limit": OFFER_SEARCH_LIMIT,
            "allocated_storage": OFFER_DISK_GB,
        }
        wanted = query.gpu_models
        if wanted is not None and all(key in _VAST_NAMES for key in wanted):
            search["gpu_name"] = {"in": sorted({n for key in wanted for n in _VAST_NAMES[key]})}
        if query.max_price_per_hour is not None:
            search["dph_total"] = {"lte": query.max_price_per_hour}
        body = _object((await self._api.call("offers", "POST", "/api/v0/bundles/", json=search)).body)
        offers = []
        for raw in body.get("offers") or []:
            offer = offer_from_raw(raw, OFFER_DISK_GB) if isinstance(raw, dict) else None
            if offer is None or not offer.available or offer.gpu_count != query.gpu_count:
                continue
            if wanted is not None and offer.gpu_model not in wanted:
                continue
            if query.max_price_per_hour is not None and offer.price_per_hour > query.max_price_per_hour:
                continue
            offers.append(offer)
        return offers

    async def launch(self, spec: LaunchSpec) -> Instance:
        existing = await self._live_instance_named(spec.name)
        if existing is not None:
            return existing
        ask_id = spec.offer.extra.get("ask_id", spec.offer.offer_id)
        if not ask_id.isdigit():
            raise ProviderBadRequestError(PROVIDER, f"not a Vast.ai offer id: {ask_id[:40]!r}")
        path = f"/api/v0/asks/{ask_id}/"
        try:
            reply = await self._api.call(
                "launch", "PUT", path, json=self._launch_body(spec), retry_rate_limit=False
            )
        except RateLimitedError:
            raise  # refused before anything was created
        except ProviderTransientError:
            # A 5xx or timeout may come after Vast created the instance: never create twice.
            created = await self._find_quietly(spec.name)
            if created is not None:
                return created
            raise
        contract = _object(reply.body).get("new_contract")
        if contract is None:
            created = await self._find_quietly(spec.name)
            if created is not None:
                return created
            raise ProviderTransientError(PROVIDER, "create answered success without new_contract")
        return Instance(
            instance_id=str(contract),
            name=spec.name,
            state=InstanceState.PENDING,
            price_per_hour=self._launched_price(spec),
            region=spec.offer.region,
            created_at=datetime.now(UTC),
        )

    def _launch_body(self, spec: LaunchSpec) -> dict[str, Any]:
        argv = wrap_command(spec.command)
        key = self._api_key
        if key and (key in (spec.command or "") or any(key in v for v in spec.env.values())):
            raise ProviderBadRequestError(
                PROVIDER, "refusing to launch: the job's command or env contains this Vast.ai API key"
            )
        if any(k.startswith("-") for k in spec.env):  # Vast reads such keys as docker flags
            raise ProviderBadRequestError(PROVIDER, "env names must not start with '-'")
        return {
            "client_id": "me",
            "image": spec.image,
            "runtype": "args",
            "onstart": argv[0],  # with runtype "args", onstart replaces the image entrypoint
            "args": argv[1:],
            "env": {**spec.env, "HARVESTGPU_JOB_ID": spec.job_id},
            "disk": spec.disk_gb,
            "label": spec.name,
            "cancel_unavail": True,
            "target_state": "running",
        }

    def _launched_price(self, spec: LaunchSpec) -> float:
        dph_base = _number(spec.offer.extra.get("dph_base"))
        storage_cost = _number(spec.offer.extra.get("storage_cost"))
        if dph_base is None or storage_cost is None:
            return spec.offer.price_per_hour
        return whole_instance_price(dph_base, storage_cost, spec.disk_gb)

    async def _live_instance_named(self, name: str) -> Instance | None:
        found = await self.find_instance_by_name(name)
        return found if found is not None and found.state is not InstanceState.TERMINATED else None

    async def _find_quietly(self, name: str) -> Instance | None:
        """The lookup after an ambiguous create: its own failure must not hide the create's."""
        try:
            return await self._live_instance_named(name)
        except ProviderError:
            return None

    async def get_instance(self, instance_id: str) -> Instance:
        path = f"/api/v0/instances/{_require_numeric_id(instance_id)}/"
        try:
            reply = await self._api.call("get", "GET", path, params={"owner": "me"})
        except InstanceNotFoundError:
            record = None
        else:
            record = _single_instance(_object(reply.body), instance_id)
        if record is None:  # 404 or {"instances": null}: Vast no longer knows it
            return Instance(instance_id, "", InstanceState.TERMINATED, message="unknown to Vast.ai")
        return instance_from_record(record)

    async def terminate(self, instance_id: str) -> None:
        path = f"/api/v0/instances/{_require_numeric_id(instance_id)}/"
        try:
            await self._api.call("terminate", "DELETE", path)
        except InstanceNotFoundError:
            return

    async def logs(self, instance_id: str, since: str | None = None) -> LogChunk:
        path = f"/api/v0/instances/request_logs/{_require_numeric_id(instance_id)}/"
        try:
            reply = await self._api.call("logs", "PUT", path, json={"tail": str(LOG_TAIL_LINES)})
        except InstanceNotFoundError:
            return LogChunk(lines=[], cursor=since, available=False)
        url = _object(reply.body).get("result_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ProviderTransientError(PROVIDER, "log request answered without a result_url")
        lines = (await self._download(url)).splitlines()
        complete = len(lines) < LOG_TAIL_LINES
        new = lines_after(lines, since, complete)
        visible, _ = split_sentinel(new)
        # The sentinel stays the last line (the wrapper idles), so every later read reports it.
        _, exit_code = split_sentinel(lines)
        return LogChunk(lines=visible, cursor=next_cursor(lines, new, since, complete), exit_code=exit_code)

    async def _download(self, url: str) -> str:
        for delay in LOG_POLL_DELAYS_S:
            text = await self._api.fetch_result_url(url)
            if text is not None:
                return text
            await asyncio.sleep(delay)
        raise ProviderTransientError(PROVIDER, f"logs not uploaded after {len(LOG_POLL_DELAYS_S)} polls")

    async def list_instances(self) -> list[Instance]:
        return [
            instance_from_record(raw)
            async for raw in self._instance_records()
            if str(raw.get("label") or "").startswith(INSTANCE_NAME_PREFIX)
        ]

    async def find_instance_by_name(self, name: str) -> Instance | None:
        found = [
            instance_from_record(raw)
            async for raw in self._instance_records({"label": {"eq": name}})
            if raw.get("label") == name
        ]
        live = [inst for inst in found if inst.state is not InstanceState.TERMINATED]
        return next(iter(live or found), None)

    async def _instance_records(
        self, filters: Mapping[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every instance record, following /api/v1/instances/ keyset pagination."""
        token: str | None = None
        seen_tokens: set[str] = set()
        for _ in range(MAX_LIST_PAGES):
            params = {"limit": str(LIST_PAGE_SIZE), "order_by": json.dumps([{"col": "id", "dir": "asc"}])}
            if filters:
                params["select_filters"] = json.dumps(filters)
            if token:
                params["after_token"] = token
            body = _object((await self._api.call("list", "GET", "/api/v1/instances/", params=params)).body)
            for raw in body.get("instances") or []:
                if isinstance(raw, dict):
                    yield raw
            next_token = body.get("next_token")
            if not isinstance(next_token, str) or not next_token or next_token in seen_tokens:
                return
            seen_tokens.add(next_token)
            token = next_token


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ProviderTransientError(PROVIDER, "unexpected non-JSON answer")
    return body


def _single_instance(body: dict[str, Any], instance_id: str) -> dict[str, Any] | None:
    """GET /instances/{id}/ wraps one object under the plural key "instances" (or a list, in
    older answers); null means Vast no longer knows the instance."""
    value = body.get("instances")
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return next((r for r in value if isinstance(r, dict) and str(r.get("id")) == instance_id), None)
    return None
