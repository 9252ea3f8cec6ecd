"""Vast.ai adapter: a container marketplace of individual machines, priced per whole offer.

Jobs run with ``runtype: "args"``: the shell from :func:`wrap_command` replaces the image
entrypoint (sent as ``onstart``, as the Vast CLI does for ``--entrypoint``), prints the
``HARVESTGPU_EXIT=<rc>`` sentinel and idles until we destroy the instance. Vast has no exit
code field, so the code comes from the container logs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

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
from harvestgpu.providers.vastai.client import (
    PROVIDER,
    InstanceNotFoundError,
    LogsNotAuthorizedError,
    VastClient,
    VastReply,
)
from harvestgpu.providers.vastai.logtail import lines_after, next_cursor
from harvestgpu.providers.vastai.records import (
    JOB_MARKER_ENV,
    VAST_NAMES,
    instance_from_record,
    number,
    offer_from_raw,
    whole_instance_price,
)
from harvestgpu.providers.wrap import split_sentinel, wrap_command

log = logging.getLogger(__name__)

# Offers are priced with storage for this disk, LaunchSpec's default size (Vast's dph_total
# includes storage, and the disk size is fixed at creation).
OFFER_DISK_GB = 50
OFFER_SEARCH_LIMIT = 200
LIST_PAGE_SIZE = 25  # the documented maximum of /api/v1/instances/
MAX_LIST_PAGES = 400
LOG_TAIL_LINES = 1000
LOG_POLL_DELAYS_S = (0.1, 0.2, 0.3, 0.4, *([0.5] * 11))


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
        balance = number(body.get("credit"))
        if balance is None:
            balance = number(body.get("balance"))
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
        if wanted is not None and all(key in VAST_NAMES for key in wanted):
            search["gpu_name"] = {"in": sorted({n for key in wanted for n in VAST_NAMES[key]})}
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
        try:
            reply = await self._create(f"/api/v0/asks/{ask_id}/", self._launch_body(spec))
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

    async def _create(self, path: str, body: dict[str, Any]) -> VastReply:
        """PUT the create; a failure that names an instance in ``new_contract`` (a bid Vast
        could not schedule leaves a stopped one behind) destroys it before raising."""
        reply = await self._api.exchange("launch", "PUT", path, json=body, retry_rate_limit=False)
        error = self._api.failure("launch", reply)
        if error is None:
            return reply
        left = reply.body.get("new_contract") if isinstance(reply.body, dict) else None
        if left is not None and str(left).isdigit():
            try:
                await self.terminate(str(left))
            except ProviderError as exc:  # the orphan sweep finds it by its label later
                log.warning(
                    "vastai: destroying instance %s left by a failed create failed: %s", left, exc.message
                )
        raise error

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
            "env": {**spec.env, JOB_MARKER_ENV: spec.job_id},
            "disk": spec.disk_gb,
            "label": spec.name,
            "cancel_unavail": True,
            "target_state": "running",
        }

    def _launched_price(self, spec: LaunchSpec) -> float:
        dph_base = number(spec.offer.extra.get("dph_base"))
        storage_cost = number(spec.offer.extra.get("storage_cost"))
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
        except (InstanceNotFoundError, LogsNotAuthorizedError):
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
