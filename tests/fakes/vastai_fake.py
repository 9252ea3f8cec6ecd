"""A fake Vast.ai cloud speaking its documented wire format (providers/runpod-vastai.md, §2 and §4).

Serve it with ``serve_app(fake.app())``. All state lives on the object, guarded by a lock because
the server runs in another thread, so tests script it directly.

Pricing model: every GPU type is listed as machines with 1, 2, 4 and 8 GPUs. Offer prices are per
whole machine: ``dph_base`` for the GPUs plus ``allocated_storage * storage_cost / 720`` for disk.
``set_price(key, p)`` makes the 1-GPU machine cost exactly ``p`` per hour with the 50 GB disk
HarvestGPU prices offers at. A rented offer disappears (its id then answers 410/404) and a fresh
identical machine is listed in its place, so capacity only ends through ``set_capacity``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

STANDARD_DISK_GB = 50
STORAGE_COST = 0.15  # $/GB/month
OPS = frozenset({"validate", "offers", "launch", "get", "terminate", "logs", "list"})
FAULTS = frozenset(
    {"no_capacity", "auth", "balance", "rate_limit", "server_error", "slow", "create_then_fail"}
)
_LAUNCH_ONLY_FAULTS = frozenset({"no_capacity", "create_then_fail"})
GPU_COUNTS = (1, 2, 4, 8)
AUTH_BODY = {"success": False, "error": "auth_error", "msg": "Invalid user key"}
SERVER_ERROR_BODY = {"success": False, "error": "server_error", "msg": "Internal Server Error"}
CREDIT_BODY = {"success": False, "msg": "Insufficient credit"}
S3_NO_SUCH_KEY = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>"
# The 429 bodies each endpoint documents; the others answer plain text.
_RATE_LIMIT_JSON: dict[str, dict[str, Any]] = {
    "launch": {"detail": "API requests too frequent endpoint threshold=4.5"},
    "get": {"detail": "API requests too frequent endpoint threshold=2.0"},
    "list": {"detail": "API requests too frequent endpoint threshold=1.0"},
    "terminate": {
        "success": False,
        "error": "rate_limit_exceeded",
        "msg": "API requests too frequent endpoint threshold=3.0",
    },
}
_COMPUTED_COLUMNS = frozenset({"dph_total", "num_gpus", "dph_base", "search", "instance"})
_OFFER_KEYS = frozenset({"type", "order", "limit", "allocated_storage", "disable_bundling"})


@dataclass(frozen=True)
class GpuType:
    key: str | None  # catalog key, None for GPUs HarvestGPU does not know
    vast_name: str
    gpu_ram_mb: int
    price: float  # 1-GPU machine with a 50 GB disk, $/h
    geolocation: str
    reliability: float


GPU_TYPES = (
    GpuType("H200", "H200", 143771, 3.20, "Utah, US", 0.997),
    GpuType("H100-SXM", "H100 SXM", 81559, 2.35, "Texas, US", 0.995),
    GpuType("H100-PCIE", "H100 PCIE", 81559, 1.95, "Quebec, CA", 0.991),
    GpuType("A100-80GB-SXM", "A100 SXM4", 81920, 1.25, "Oregon, US", 0.993),
    GpuType("A100-40GB-SXM", "A100 SXM4", 40960, 0.85, "Nevada, US", 0.982),
    GpuType("L40S", "L40S", 46068, 0.82, "Virginia, US", 0.989),
    GpuType("RTX-A6000", "RTX A6000", 49140, 0.55, "Ontario, CA", 0.987),
    GpuType("RTX-4090", "RTX 4090", 24564, 0.42, "Bavaria, DE", 0.984),
    GpuType(None, "RTX 4090D", 24564, 0.33, "Guangdong, CN", 0.97),
    GpuType(None, "RTX 4080S", 16376, 0.21, "Texas, US", 0.96),
)


class _Answer(Exception):
    """Raised inside a handler to answer with this status and body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.response: Response = (
            PlainTextResponse(body, status) if isinstance(body, str) else JSONResponse(body, status)
        )


def _storage_per_hour(disk_gb: float) -> float:
    return disk_gb * STORAGE_COST / 720


def _matches(value: Any, ops: Any) -> bool:
    if not isinstance(ops, dict):
        ops = {"eq": ops}
    for op, target in ops.items():
        if op in ("in", "notin") and not isinstance(target, list):
            raise _Answer(400, {"error": "invalid_request", "msg": f"'{op}' needs a list"})
        if op == "eq":
            ok = value == target
        elif op == "neq":
            ok = value != target
        elif op == "in":
            ok = value in target
        elif op == "notin":
            ok = value not in target
        elif op in ("gt", "gte", "lt", "lte"):
            if value is None:
                return False
            ok = {"gt": value > target, "gte": value >= target, "lt": value < target, "lte": value <= target}[
                op
            ]
        else:
            raise _Answer(400, {"error": "invalid_request", "msg": f"unknown operator {op}"})
        if not ok:
            return False
    return True


def _spaces(value: Any) -> Any:
    """The CLI's query language writes RTX_4090; the API compares RTX 4090."""
    if isinstance(value, str):
        return value.replace("_", " ")
    if isinstance(value, list):
        return [_spaces(v) for v in value]
    if isinstance(value, dict):
        return {k: _spaces(v) for k, v in value.items()}
    return value


class FakeVastAICloud:
    slug: str = "vastai"

    def __init__(self, api_key: str = "vast_FAKEKEY0123456789abcdef") -> None:
        self.api_key = api_key
        self.launch_bodies: list[dict[str, Any]] = []
        self.requests_seen: list[tuple[str, str, dict[str, str]]] = []
        # Knobs for behaviour the docs leave open; defaults are the documented shape.
        self.credit = 42.17
        self.log_upload_polls = 2  # 404s a result_url gives before the upload "lands"
        self.rate_limit_retry_after: str | None = None  # Vast sends no Retry-After
        self.unknown_instance_status = 200  # GET of an unknown instance: 200 {"instances": null}
        self._lock = threading.Lock()
        self._faults: dict[str, list[tuple[str, float]]] = {op: [] for op in OPS}
        self._prices = {t.vast_name if t.key is None else t.key: t.price for t in GPU_TYPES}
        self._capacity = dict.fromkeys(self._prices, True)
        self._next_id = 21744398
        self._asks: dict[int, tuple[GpuType, int]] = {}  # listed offer id -> (type, gpu count)
        self._retired_asks: set[int] = set()
        for gpu_type in GPU_TYPES:
            for count in GPU_COUNTS:
                self._asks[self._new_id()] = (gpu_type, count)
        self._instances: dict[int, dict[str, Any]] = {}
        self._status_reads: Counter[int] = Counter()
        self._logs: dict[int, list[str]] = {}
        self._deleted: set[str] = set()
        self._log_uploads: dict[str, list[Any]] = {}  # token -> [text, 404s left]

    # ----- scripting interface -----------------------------------------------------------

    def fail_next(self, op: str, fault: str, times: int = 1, delay_s: float = 2.0) -> None:
        if op not in OPS or fault not in FAULTS or (fault in _LAUNCH_ONLY_FAULTS and op != "launch"):
            raise ValueError(f"unsupported fault {fault!r} for op {op!r}")
        with self._lock:
            self._faults[op].extend([(fault, delay_s)] * times)

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            self._known_key(gpu_key)
            self._capacity[gpu_key] = available

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            self._known_key(gpu_key)
            self._prices[gpu_key] = price_per_hour

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            self._logs.setdefault(int(instance_id), []).extend([*lines, f"HARVESTGPU_EXIT={exit_code}"])

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._instances.pop(int(instance_id), None)

    def plant(self, name: str, gpu_key: str = "H100-SXM") -> str:
        gpu_type = next(t for t in GPU_TYPES if t.key == gpu_key)
        with self._lock:
            record = self._new_instance(gpu_type, 1, {"image": "ubuntu:22.04", "label": name})
            record.update(self._running_fields(record))
        return str(record["id"])

    def instances(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {str(i): copy.deepcopy(r) for i, r in self._instances.items()}

    def deleted_ids(self) -> set[str]:
        with self._lock:
            return set(self._deleted)

    def app(self) -> Any:
        routes = [
            Route("/api/v0/users/current/", self._guard("validate", self._show_user), methods=["GET"]),
            Route("/api/v0/bundles/", self._guard("offers", self._search_offers), methods=["POST"]),
            Route("/api/v0/asks/{ask_id}/", self._guard("launch", self._create), methods=["PUT"]),
            Route("/api/v0/instances/", self._guard("list", self._list_v0), methods=["GET"]),
            Route("/api/v1/instances/", self._guard("list", self._list_v1), methods=["GET"]),
            Route("/api/v0/instances/{iid}/", self._guard("get", self._show), methods=["GET"]),
            Route("/api/v0/instances/{iid}/", self._guard("terminate", self._destroy), methods=["DELETE"]),
            Route("/api/v0/instances/{iid}/", self._guard(None, self._manage), methods=["PUT"]),
            Route(
                "/api/v0/instances/request_logs/{iid}/",
                self._guard("logs", self._request_logs),
                methods=["PUT"],
            ),
            Route("/instance_logs/{token}.log", self._download_logs, methods=["GET"]),
        ]
        inner = Starlette(routes=routes)

        async def recording_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                with self._lock:
                    self.requests_seen.append((scope["method"], scope["path"], headers))
            await inner(scope, receive, send)

        return recording_app

    # ----- plumbing ----------------------------------------------------------------------

    def _known_key(self, gpu_key: str) -> None:
        if gpu_key not in self._prices:
            raise KeyError(f"the fake lists no {gpu_key!r}; known: {sorted(self._prices)}")

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _guard(
        self, op: str | None, handler: Callable[[Request], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return JSONResponse(AUTH_BODY, 401)
            with self._lock:
                fault = self._faults[op].pop(0) if op and self._faults[op] else None
            kind, delay = fault or ("", 0.0)
            if kind == "slow":
                await request.body()  # read (and cache) it while the client still waits
                await asyncio.sleep(delay)
            elif kind and kind != "create_then_fail":
                return self._fault_response(op or "", kind, request)
            try:
                body = await handler(request)
            except _Answer as answer:
                return answer.response
            if kind == "create_then_fail":
                return JSONResponse(SERVER_ERROR_BODY, 500)
            return body if isinstance(body, Response) else JSONResponse(body)

        return endpoint

    def _fault_response(self, op: str, kind: str, request: Request) -> Response:
        if kind == "auth":
            return JSONResponse(AUTH_BODY, 401)
        if kind == "balance":
            return JSONResponse(CREDIT_BODY, 411)  # prepay's documented "Insufficient credit"
        if kind == "server_error":
            return JSONResponse(SERVER_ERROR_BODY, 500)
        if kind == "no_capacity":
            ask = str(request.path_params.get("ask_id", ""))
            ask_id = int(ask) if ask.isdigit() else 0
            msg = f"error 404/3603: no_such_ask Instance type by id {ask_id} is not available."
            body = {"success": False, "error": "invalid_args", "msg": msg, "ask_id": ask_id}
            return JSONResponse(body, 404)
        headers = {"Retry-After": self.rate_limit_retry_after} if self.rate_limit_retry_after else None
        if op in _RATE_LIMIT_JSON:
            return JSONResponse(_RATE_LIMIT_JSON[op], 429, headers=headers)
        return PlainTextResponse("API requests too frequent endpoint threshold=1.5", 429, headers=headers)

    async def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _Answer(400, {"error": "invalid_request", "msg": "Invalid json body"})
        return body

    def _instance_or_404(self, iid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        record = self._instances.get(int(iid)) if iid.isdigit() else None
        if record is None:
            raise _Answer(404, dict(body))
        return record

    # ----- account -----------------------------------------------------------------------

    async def _show_user(self, request: Request) -> Any:
        return {
            "id": 412345,
            "key_id": 998877,
            "username": "fakeuser",
            "email": "fakeuser@example.com",
            "credit": self.credit,
            "balance": 0.0,
            "ssh_key": "",
            "sid": "d41d8cd98f00b204e9800998ecf8427e",
        }

    # ----- offers ------------------------------------------------------------------------

    def _offer(
        self, ask_id: int, gpu_type: GpuType, count: int, storage_gb: float, bid: bool
    ) -> dict[str, Any]:
        price_key = gpu_type.key or gpu_type.vast_name
        per_gpu = max(0.001, self._prices[price_key] - _storage_per_hour(STANDARD_DISK_GB))
        dph_base = round(per_gpu * count, 6)
        min_bid = round(dph_base * 0.6, 6)
        storage = round(_storage_per_hour(storage_gb), 6)
        total = round((min_bid if bid else dph_base) + storage, 6)
        machine_id = 30000 + ask_id % 10000
        return {
            "id": ask_id,
            "ask_contract_id": ask_id,
            "bundle_id": ask_id * 37,
            "machine_id": machine_id,
            "host_id": 150000 + machine_id % 97,
            "num_gpus": count,
            "gpu_name": gpu_type.vast_name,
            "gpu_ram": gpu_type.gpu_ram_mb,
            "gpu_total_ram": gpu_type.gpu_ram_mb * count,
            "gpu_frac": 1.0,
            "gpu_arch": "nvidia",
            "compute_cap": 900,
            "cuda_max_good": 12.8,
            "driver_version": "570.124.06",
            "cpu_name": "AMD EPYC 9554 64-Core Processor",
            "cpu_arch": "amd64",
            "cpu_cores": 128,
            "cpu_cores_effective": 16.0 * count,
            "cpu_ram": 257000,
            "disk_space": 1023.4,
            "inet_up": 8213.5,
            "inet_down": 9140.2,
            "inet_up_cost": 0.005,
            "inet_down_cost": 0.005,
            "direct_port_count": 99,
            "dph_base": dph_base,
            "dph_total": total,
            "min_bid": min_bid,
            "storage_cost": STORAGE_COST,
            "storage_total_cost": storage,
            "search": {"gpuCostPerHour": dph_base, "diskHour": storage, "totalHour": total},
            "instance": {"gpuCostPerHour": 0, "diskHour": storage, "totalHour": storage},
            "reliability": gpu_type.reliability,
            "reliability2": gpu_type.reliability,
            "verification": "verified",
            "rentable": self._capacity[price_key],
            "rented": False,
            "is_bid": bid,
            "external": False,
            "hosting_type": 1,
            "geolocation": gpu_type.geolocation,
            "public_ipaddr": f"203.0.113.{ask_id % 250}",
            "static_ip": True,
            "duration": 2592000.0,
            "score": round(200 / (dph_base or 1), 2),
        }

    @staticmethod
    def _filter_value(offer: Mapping[str, Any], field: str) -> Any:
        if field == "verified":
            return offer["verification"] == "verified"
        if field == "datacenter":
            return offer["hosting_type"] >= 1
        if field == "geolocation":
            return str(offer["geolocation"]).rsplit(", ", 1)[-1]
        if field not in offer:
            raise _Answer(400, {"error": "invalid_request", "msg": f"{field} is not a valid search key"})
        return offer[field]

    async def _search_offers(self, request: Request) -> Any:
        query = await self._json_body(request)
        if "gpu_name" in query:
            query["gpu_name"] = _spaces(query["gpu_name"])
        kind = query.get("type", "on-demand")
        if kind not in ("on-demand", "ondemand", "bid", "reserved"):
            raise _Answer(400, {"error": "invalid_request", "msg": f"invalid type {kind}"})
        filters = {"verified": {"eq": True}, "rentable": {"eq": True}, "rented": {"eq": False}}
        filters.update({k: v for k, v in query.items() if k not in _OFFER_KEYS})
        storage = float(query.get("allocated_storage", 8.0))
        with self._lock:
            offers = [self._offer(i, t, n, storage, kind == "bid") for i, (t, n) in self._asks.items()]
        found = [o for o in offers if all(_matches(self._filter_value(o, f), c) for f, c in filters.items())]
        for field, direction in reversed(query.get("order") or [["score", "desc"]]):
            found.sort(key=lambda o: o.get(field) or 0, reverse=direction == "desc")
        return {"offers": found[: int(query.get("limit", 64))]}

    # ----- instances ---------------------------------------------------------------------

    def _new_instance(self, gpu_type: GpuType, count: int, body: Mapping[str, Any]) -> dict[str, Any]:
        iid = self._new_id()
        disk = float(body.get("disk") or 8)
        offer = self._offer(iid, gpu_type, count, disk, body.get("price") is not None)
        env = body.get("env") or {}
        if isinstance(env, str):  # the OpenAPI's docker-flag string form
            flags = [p.split("=", 1) for p in env.split("-e ")[1:] if "=" in p]
            env = {k.strip(): v.strip() for k, v in flags}
        now = time.time()
        record = {
            key: offer[key]
            for key in (
                "machine_id", "host_id", "bundle_id", "num_gpus", "gpu_name", "gpu_ram", "gpu_arch",
                "dph_base", "dph_total", "min_bid", "storage_cost", "storage_total_cost", "geolocation",
                "public_ipaddr", "reliability2", "verification", "cpu_cores", "cpu_cores_effective",
                "cpu_ram", "direct_port_count", "inet_up", "inet_down", "static_ip", "is_bid",
            )
        }  # fmt: skip
        record.update(
            id=iid,
            label=body.get("label"),
            actual_status="loading",
            intended_status=body.get("target_state") or "running",
            cur_state="running",
            next_state="running",
            status_msg=f"Pulling image {body.get('image')}",
            image_uuid=body.get("image"),
            image_runtype=body.get("runtype") or ("args" if body.get("args") else "ssh"),
            image_args=list(body.get("args") or []),
            onstart=body.get("onstart"),
            extra_env=[[str(k), str(v)] for k, v in dict(env).items()],
            gpu_totalram=gpu_type.gpu_ram_mb * count,
            disk_space=disk,
            ports=None,
            ssh_host="ssh5.vast.ai",
            ssh_port=30000 + iid % 20000,
            start_date=now,
            end_date=now + 2592000.0,
            duration=2592000.0,
            uptime_mins=None,
            template_id=None,
            template_hash_id=None,
        )
        self._instances[iid] = record
        return record

    @staticmethod
    def _running_fields(record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "actual_status": "running",
            "status_msg": f"success, running {record['image_uuid']}/{record['image_runtype']}",
            "ports": {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(record["ssh_port"])}]},
        }

    async def _create(self, request: Request) -> Any:
        body = await self._json_body(request)
        with self._lock:
            self.launch_bodies.append(copy.deepcopy(body))
        ask_param = request.path_params["ask_id"]
        ask_id = int(ask_param) if ask_param.isdigit() else 0
        if not isinstance(body.get("image"), str) or not body["image"]:
            msg = "error 400/3467: Invalid args: 'image' is required"
            raise _Answer(400, {"success": False, "error": "invalid_args", "msg": msg, "ask_id": ask_id})
        with self._lock:
            listed = self._asks.get(ask_id)
            gpu_type, count = listed or (None, 0)
            if gpu_type is None or not self._capacity[gpu_type.key or gpu_type.vast_name]:
                if body.get("cancel_unavail", True) and (listed or ask_id in self._retired_asks):
                    msg = f"error 410/3907: no_such_ask Instance type {ask_id} is no longer available."
                    answer = {"success": False, "error": "no_such_ask", "msg": msg, "ask_id": ask_id}
                    raise _Answer(410, answer)
                msg = f"error 404/3603: no_such_ask Instance type by id {ask_id} is not available."
                raise _Answer(404, {"success": False, "error": "invalid_args", "msg": msg, "ask_id": ask_id})
            # The machine is now rented: its ask is gone and an identical machine is listed.
            del self._asks[ask_id]
            self._retired_asks.add(ask_id)
            self._asks[self._new_id()] = (gpu_type, count)
            record = self._new_instance(gpu_type, count, body)
        return {"success": True, "new_contract": record["id"], "instance_api_key": secrets.token_hex(16)}

    async def _show(self, request: Request) -> Any:
        iid = request.path_params["iid"]
        with self._lock:
            record = self._instances.get(int(iid)) if iid.isdigit() else None
            if record is None:
                if self.unknown_instance_status == 404:
                    raise _Answer(404, {"success": False, "error": "not_found", "msg": "Instance not found"})
                return {"instances": None}
            shown = copy.deepcopy(record)
            self._status_reads[record["id"]] += 1
            if record["actual_status"] == "loading":  # provisioning on the first read only
                record.update(self._running_fields(record))
        return {"instances": shown}

    async def _destroy(self, request: Request) -> Any:
        with self._lock:
            record = self._instance_or_404(
                request.path_params["iid"],
                {"success": False, "error": "not_found", "msg": "Instance not found"},
            )
            del self._instances[record["id"]]
            self._deleted.add(str(record["id"]))
        return {"success": True, "msg": "Instance destroyed successfully"}

    async def _manage(self, request: Request) -> Any:
        body = await self._json_body(request)
        with self._lock:
            record = self._instance_or_404(
                request.path_params["iid"],
                {"success": False, "error": "not_found", "msg": "Instance not found"},
            )
            if "label" in body:
                record["label"] = body["label"]
            if body.get("state") == "stopped":
                record.update(actual_status="stopped", intended_status="stopped", cur_state="stopped")
                record.update(next_state="stopped", ports=None)
            elif body.get("state") == "running":
                record.update(intended_status="running", cur_state="running", next_state="running")
                record.update(self._running_fields(record))
        return {"success": True}

    async def _list_v0(self, request: Request) -> Any:
        with self._lock:
            records = [copy.deepcopy(r) for _, r in sorted(self._instances.items())]
        return {"instances_found": len(records), "instances": records}

    async def _list_v1(self, request: Request) -> Any:
        params = request.query_params
        try:
            limit = int(params.get("limit", "25"))
            filters = json.loads(params.get("select_filters", "{}"))
            order = json.loads(params.get("order_by", "[]"))
        except ValueError:
            raise _Answer(400, {"error": "invalid_request", "msg": "Error in query parameters"}) from None
        limit = 5 if limit <= 0 else min(limit, 25)
        if any(d.get("col") != "id" for d in order):
            raise _Answer(400, {"error": "invalid_request", "msg": "the fake orders by id only"})
        descending = bool(order) and order[0].get("dir") == "desc"
        after = self._decode_token(params.get("after_token"))
        with self._lock:
            records = [copy.deepcopy(r) for _, r in sorted(self._instances.items(), reverse=descending)]
        for column in filters:
            if column in _COMPUTED_COLUMNS or (records and column not in records[0]):
                msg = f"Error in query parameters: {column} is not a valid search key"
                raise _Answer(400, {"error": "invalid_request", "msg": msg})
        matching = [r for r in records if all(_matches(r.get(c), ops) for c, ops in filters.items())]
        if after is not None:
            matching_after = [r for r in matching if (r["id"] < after if descending else r["id"] > after)]
        else:
            matching_after = matching
        page = matching_after[:limit]
        more = len(matching_after) > limit
        return {
            "success": True,
            "instances_found": len(page),
            "total_instances": len(matching),
            "label_counts": dict(Counter(r.get("label") or "" for r in matching)),
            "next_token": self._encode_token(page[-1]["id"]) if more else None,
            "instances": page,
        }

    @staticmethod
    def _encode_token(last_id: int) -> str:
        return base64.b64encode(json.dumps({"values": {"id": last_id}}).encode()).decode()

    @staticmethod
    def _decode_token(token: str | None) -> int | None:
        if not token:
            return None
        try:
            return int(json.loads(base64.b64decode(token, validate=True))["values"]["id"])
        except (ValueError, KeyError, TypeError):
            raise _Answer(400, {"error": "invalid_token", "msg": "Invalid after_token"}) from None

    # ----- logs --------------------------------------------------------------------------

    async def _request_logs(self, request: Request) -> Any:
        body = await self._json_body(request)
        tail = int(str(body.get("tail") or "1000"))
        with self._lock:
            record = self._instance_or_404(
                request.path_params["iid"], {"error": "invalid_id", "msg": "Invalid instance id."}
            )
            lines = self._logs.get(record["id"], [])[-tail:] if tail > 0 else []
            token = secrets.token_hex(16)
            self._log_uploads[token] = ["".join(f"{line}\n" for line in lines), self.log_upload_polls]
        url = f"{str(request.base_url).rstrip('/')}/instance_logs/{token}.log"
        return {"success": True, "result_url": url, "msg": "Logs upload started"}

    async def _download_logs(self, request: Request) -> Response:
        with self._lock:
            upload = self._log_uploads.get(request.path_params["token"])
            if upload is None or upload[1] > 0:
                if upload is not None:
                    upload[1] -= 1
                return Response(S3_NO_SUCH_KEY, 404, media_type="application/xml")
            text = upload[0]
        return PlainTextResponse(text)
