"""A fake RunPod speaking the REST v2 wire format (see shared/providers/runpod-vastai.md §1, §4).

Serve it with ``serve_app(fake.app())``. All state lives on the FakeRunPodCloud object, so a
test (or a server subprocess talking to it over HTTP) can script faults, capacity, prices and
the workload's end. Handlers run on the server thread; a lock guards the state.

Emulated: bearer auth with the documented 401 body, ``GET/POST /v2/pods``,
``GET/PATCH/DELETE /v2/pods/{id}``, ``POST /v2/pods/{id}/action``, the SSE log stream,
``GET /v2/catalog/gpus[/{id}]`` (with the include/product rules) and
``GET /v2/catalog/datacenters``; problem+json errors, RateLimit headers, Retry-After on 429,
201/204 codes, 409 on an invalid action, 422 on unknown body fields, and the container
auto-restart of a pod whose command is not wrapped (a wrapped one idles after the sentinel).
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harvestgpu.providers.wrap import EXIT_SENTINEL

FAULTS = {"no_capacity", "auth", "balance", "rate_limit", "server_error", "slow", "create_then_fail"}
OPS = {"validate", "offers", "launch", "get", "terminate", "logs", "list"}

NO_CAPACITY_DETAIL = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
_FAULT_ERRORS = {
    "auth": (401, "Unauthorized", "invalid bearer token"),
    "balance": (402, "Payment Required", "insufficient balance"),
    "no_capacity": (400, "Bad Request", NO_CAPACITY_DETAIL),
    "server_error": (500, "Internal Server Error", "internal server error"),
    "create_then_fail": (500, "Internal Server Error", "internal server error"),
}
_RATE_LIMIT_HEADERS = {
    "RateLimit": '"minute";r=59;t=60, "hour";r=2999;t=3600, "day";r=49999;t=86400',
    "RateLimit-Policy": '"minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400',
}
_ACTIONS = {
    "PROVISIONING": ["stop", "terminate"],
    "STARTING": ["stop", "terminate"],
    "RUNNING": ["stop", "restart", "terminate"],
    "EXITED": ["start", "terminate"],
    "ERROR": ["start", "terminate"],
}
_CREATE_FIELDS = {
    "name", "image", "args", "env", "disk", "ports", "gpu", "cpu", "cloud", "dataCenterIds",
    "mounts", "registry", "templateId", "startSsh", "startJupyter", "globalNetworking",
}  # fmt: skip
_GPU_FIELDS = {"id", "count", "allowedCudaVersions", "minCudaVersion"}
_PATCH_FIELDS = {"name", "image", "args", "env", "disk", "ports", "registry", "mounts", "globalNetworking"}
_LOG_STREAM_MAX_S = 15.0  # a real stream tails forever; bound it so a server can always stop


@dataclass
class _Gpu:
    key: str  # canonical catalog key
    gpu_id: str
    name: str
    pool: str | None
    memory: int
    secure_price: float  # per GPU, like the real catalog
    max_count: int
    data_centers: dict[str, str]  # data centre id -> availability level
    in_stock: bool = True
    manufacturer: str = "NVIDIA"


def _default_gpus() -> list[_Gpu]:
    return [
        _Gpu("H100-SXM", "NVIDIA H100 80GB HBM3", "H100 SXM", "H100", 80, 2.99, 8,
             {"US-KS-2": "HIGH", "CA-MTL-1": "LOW"}),
        _Gpu("H100-PCIE", "NVIDIA H100 PCIe", "H100 PCIe", "ADA_80_PRO", 80, 2.39, 8, {"US-TX-3": "MEDIUM"}),
        _Gpu("H200", "NVIDIA H200", "H200 SXM", "H200", 141, 3.99, 8, {"US-KS-2": "MEDIUM"}),
        _Gpu("A100-80GB-SXM", "NVIDIA A100-SXM4-80GB", "A100 SXM", "AMPERE_80", 80, 1.89, 8,
             {"EU-RO-1": "HIGH"}),
        _Gpu("L40S", "NVIDIA L40S", "L40S", "ADA_48_PRO", 48, 0.86, 8, {"US-TX-3": "HIGH"}),
        _Gpu("RTX-4090", "NVIDIA GeForce RTX 4090", "RTX 4090", "ADA_24", 24, 0.69, 8,
             {"US-TX-3": "HIGH", "EU-RO-1": "MEDIUM"}),
        _Gpu("RTX-A6000", "NVIDIA RTX A6000", "RTX A6000", "AMPERE_48", 48, 0.49, 8, {"CA-MTL-1": "HIGH"}),
        _Gpu("RTX-A5000", "NVIDIA RTX A5000", "RTX A5000", "AMPERE_24", 24, 0.27, 8, {"EU-RO-1": "HIGH"}),
        _Gpu("MI300X", "AMD Instinct MI300X OAM", "MI300X", None, 192, 2.49, 8, {"US-TX-3": "LOW"},
             manufacturer="AMD"),
    ]  # fmt: skip


_DATA_CENTERS = {
    "US-KS-2": ("US Kansas 2", "NORTH_AMERICA", "US"),
    "US-TX-3": ("US Texas 3", "NORTH_AMERICA", "US"),
    "CA-MTL-1": ("CA Montreal 1", "NORTH_AMERICA", "CA"),
    "EU-RO-1": ("EU Romania 1", "EUROPE", "RO"),
}


@dataclass
class _Fault:
    kind: str
    delay_s: float


@dataclass
class _Pod:
    record: dict[str, Any]
    reads_before_running: int = 1
    events: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, ts, source, line
    seq: int = 0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def problem(status: int, title: str, detail: str, errors: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=dict(_RATE_LIMIT_HEADERS)
    )


class FakeRunPodCloud:
    slug: str = "runpod"

    def __init__(self, api_key: str = "rpa_FAKEKEY0123456789abcd") -> None:
        self.api_key = api_key
        self.launch_bodies: list[dict[str, Any]] = []
        self.requests_seen: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._gpus = {gpu.key: gpu for gpu in _default_gpus()}
        self._pods: dict[str, _Pod] = {}
        self._deleted: set[str] = set()
        self._faults: dict[str, list[_Fault]] = {op: [] for op in OPS}
        self._app: Starlette | None = None

    # ---- scripting interface ---------------------------------------------------------------

    def app(self) -> Any:
        if self._app is None:
            self._app = self._build_app()
        return self._app

    def fail_next(self, op: str, fault: str, times: int = 1, delay_s: float = 2.0) -> None:
        if op not in OPS or fault not in FAULTS:
            raise ValueError(f"unknown op {op!r} or fault {fault!r}")
        with self._lock:
            self._faults[op].extend(_Fault(fault, delay_s) for _ in range(times))

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            self._gpus[gpu_key].in_stock = available

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            self._gpus[gpu_key].secure_price = price_per_hour

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            pod = self._pods[instance_id]
            for line in lines:
                self._log(pod, "container", line)
            if EXIT_SENTINEL in str(pod.record.get("args") or ""):
                self._log(pod, "container", f"{EXIT_SENTINEL}{exit_code}")
                return
            # Unwrapped command: RunPod restarts the container (runpodctl #149).
            self._log(pod, "system", f"container exited with code {exit_code}; restarting")
            self._set_status(pod, "STARTING")

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._pods.pop(instance_id)

    def plant(self, name: str, gpu_key: str = "H100-SXM") -> str:
        with self._lock:
            gpu = self._gpus[gpu_key]
            body = {"name": name, "image": "runpod/base:0.6.2", "args": "", "env": {}, "disk": 20}
            pod = self._new_pod(body, gpu, 1, "SECURE", next(iter(gpu.data_centers)))
            self._set_status(pod, "RUNNING")
            return str(pod.record["id"])

    def instances(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {pod_id: copy.deepcopy(pod.record) for pod_id, pod in self._pods.items()}

    def deleted_ids(self) -> set[str]:
        with self._lock:
            return set(self._deleted)

    def set_status(self, instance_id: str, status: str) -> None:
        """Extra: force a PodStatus (e.g. ERROR, EXITED) as if the cloud changed it."""
        with self._lock:
            self._set_status(self._pods[instance_id], status)

    # ---- state helpers (call with the lock held) -------------------------------------------

    def _new_pod(self, body: dict[str, Any], gpu: _Gpu, count: int, cloud: str, dc: str) -> _Pod:
        pod_id = secrets.token_hex(7)
        record: dict[str, Any] = {
            "id": pod_id,
            "name": body["name"],
            "image": body.get("image", ""),
            "args": body.get("args", ""),
            "disk": body.get("disk", 50),
            "ports": body.get("ports", []),
            "env": dict(body.get("env") or {}),
            "registry": body.get("registry"),
            "status": "PROVISIONING",
            "actions": list(_ACTIONS["PROVISIONING"]),
            "mounts": body.get("mounts", {}),
            "gpu": {"id": gpu.gpu_id, "count": count},
            "cloud": cloud,
            "dataCenterId": dc,
            "cudaVersion": "12.8",
            "ssh": {
                "proxy": {
                    "host": "ssh.runpod.io",
                    "port": 22,
                    "username": f"{pod_id}-64411f3a",
                    "command": f"ssh {pod_id}-64411f3a@ssh.runpod.io",
                },
                "direct": None,
            },
            "template": None,
            "cost": round(gpu.secure_price * count * (1.0 if cloud == "SECURE" else 0.8), 4),
            "locked": False,
            "globalNetworking": {"enabled": False},
            "runtime": None,
            "createdAt": _now(),
            "startedAt": None,
        }
        pod = _Pod(record)
        self._pods[pod_id] = pod
        self._log(pod, "system", f"Pulling image {record['image']}")
        return pod

    def _set_status(self, pod: _Pod, status: str) -> None:
        record = pod.record
        if status in ("PROVISIONING", "STARTING"):
            pod.reads_before_running = 1
        record["status"] = status
        record["actions"] = list(_ACTIONS.get(status, []))
        running = status == "RUNNING"
        record["runtime"] = (
            {"uptime": 0, "gpus": [{"util": 0, "memoryUtil": 0}], "ports": []} if running else None
        )
        if running:
            record["startedAt"] = record["startedAt"] or _now()
            self._log(pod, "system", "Container started")
        if status in ("EXITED", "TERMINATED"):
            record["cost"] = 0.0
        elif record["cost"] == 0.0:
            record["cost"] = self._pod_price(record)

    def _pod_price(self, record: dict[str, Any]) -> float:
        gpu = next(g for g in self._gpus.values() if g.gpu_id == record["gpu"]["id"])
        return round(gpu.secure_price * int(record["gpu"]["count"]), 4)

    def _log(self, pod: _Pod, source: str, line: str) -> None:
        pod.seq += 1
        ts = _now()
        pod.events.append((f"{ts}/{pod.seq:012d}", ts, source, line))

    def _take_fault(self, *ops: str) -> _Fault | None:
        with self._lock:
            for op in ops:
                if self._faults[op]:
                    return self._faults[op].pop(0)
        return None

    # ---- HTTP ------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        def endpoint(
            handler: Callable[..., Awaitable[Response]], *ops: str
        ) -> Callable[[Request], Awaitable[Response]]:
            async def wrapped(request: Request) -> Response:
                self.requests_seen.append((request.method, request.url.path, dict(request.headers)))
                auth = request.headers.get("authorization", "")
                if not auth.startswith("Bearer ") or not auth[7:].strip():
                    return problem(401, "Unauthorized", "missing bearer token")
                if auth[7:].strip() != self.api_key:
                    return problem(401, "Unauthorized", "invalid bearer token")
                body: Any = None
                if request.method in ("POST", "PATCH"):
                    try:
                        body = json.loads(await request.body() or b"null")
                    except ValueError:
                        return problem(400, "Bad Request", "request body is not valid JSON")
                    if handler == self._create_pod and isinstance(body, dict):
                        self.launch_bodies.append(body)
                fault = self._take_fault(*ops)
                if fault is not None and fault.kind == "slow":
                    await asyncio.sleep(fault.delay_s)
                elif fault is not None and fault.kind == "rate_limit":
                    limited = problem(429, "Too Many Requests", "rate limit exceeded for the minute window")
                    limited.headers["Retry-After"] = str(max(1, math.ceil(fault.delay_s)))
                    return limited
                elif fault is not None and fault.kind != "create_then_fail":
                    return problem(*_FAULT_ERRORS[fault.kind])
                created_then_fail = fault is not None and fault.kind == "create_then_fail"
                if request.method in ("POST", "PATCH"):
                    response = await handler(request, body)
                else:
                    response = await handler(request)
                if created_then_fail:
                    return problem(*_FAULT_ERRORS["create_then_fail"])
                response.headers.update(_RATE_LIMIT_HEADERS)
                return response

            return wrapped

        routes = [
            Route("/v2/pods", endpoint(self._list_pods, "validate", "list"), methods=["GET"]),
            Route("/v2/pods", endpoint(self._create_pod, "launch"), methods=["POST"]),
            Route("/v2/pods/{pod_id}", endpoint(self._get_pod, "get"), methods=["GET"]),
            Route("/v2/pods/{pod_id}", endpoint(self._patch_pod), methods=["PATCH"]),
            Route("/v2/pods/{pod_id}", endpoint(self._delete_pod, "terminate"), methods=["DELETE"]),
            Route("/v2/pods/{pod_id}/action", endpoint(self._pod_action), methods=["POST"]),
            Route("/v2/pods/{pod_id}/logs", endpoint(self._pod_logs, "logs"), methods=["GET"]),
            Route("/v2/catalog/gpus", endpoint(self._list_gpus, "offers"), methods=["GET"]),
            Route("/v2/catalog/gpus/{gpu_id:path}", endpoint(self._get_gpu), methods=["GET"]),
            Route("/v2/catalog/datacenters", endpoint(self._list_data_centers), methods=["GET"]),
        ]

        async def http_error(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 500
            titles = {
                404: ("Not Found", "resource not found"),
                405: ("Method Not Allowed", "The requested method is not allowed for this path."),
            }
            title, detail = titles.get(status, ("Internal Server Error", "internal server error"))
            return problem(status, title, detail)

        return Starlette(routes=routes, exception_handlers={HTTPException: http_error})

    # ---- pods ------------------------------------------------------------------------------

    async def _list_pods(self, request: Request) -> Response:
        with self._lock:
            pods = [copy.deepcopy(pod.record) for pod in self._pods.values()]
        return JSONResponse({"pods": pods})

    async def _get_pod(self, request: Request) -> Response:
        with self._lock:
            pod = self._pods.get(request.path_params["pod_id"])
            if pod is None:
                return problem(404, "Not Found", "pod not found")
            if pod.record["status"] in ("PROVISIONING", "STARTING"):
                if pod.reads_before_running > 0:
                    pod.reads_before_running -= 1
                else:
                    self._set_status(pod, "RUNNING")
            return JSONResponse(copy.deepcopy(pod.record))

    async def _create_pod(self, request: Request, body: Any) -> Response:
        invalid = _validate_create(body)
        if invalid is not None:
            return invalid
        gpu_req = body["gpu"]
        count = int(gpu_req.get("count", 1))
        cloud = body.get("cloud", "SECURE")
        with self._lock:
            gpu = next((g for g in self._gpus.values() if g.gpu_id == gpu_req["id"]), None)
            if gpu is None:
                return problem(400, "Bad Request", f"unknown GPU type {gpu_req['id']!r}")
            wanted = body.get("dataCenterIds") or list(gpu.data_centers)
            places = [dc for dc in wanted if gpu.data_centers.get(dc, "NONE") != "NONE"]
            if not gpu.in_stock or count > gpu.max_count or not places:
                return problem(400, "Bad Request", NO_CAPACITY_DETAIL)
            pod = self._new_pod(body, gpu, count, cloud, places[0])
            return JSONResponse(copy.deepcopy(pod.record), status_code=201)

    async def _patch_pod(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            return problem(422, "Unprocessable Entity", "Request validation failed.", ["$: expected object"])
        unknown = sorted(set(body) - _PATCH_FIELDS)
        if unknown:
            errors = [f"$: additional properties '{name}' not allowed" for name in unknown]
            return problem(422, "Unprocessable Entity", "Request validation failed.", errors)
        with self._lock:
            pod = self._pods.get(request.path_params["pod_id"])
            if pod is None:
                return problem(404, "Not Found", "pod not found")
            pod.record.update(copy.deepcopy(body))
            return JSONResponse(copy.deepcopy(pod.record))

    async def _delete_pod(self, request: Request) -> Response:
        with self._lock:
            pod_id = request.path_params["pod_id"]
            if self._pods.pop(pod_id, None) is None:
                return problem(404, "Not Found", "pod not found")
            self._deleted.add(pod_id)
        return Response(status_code=204)

    async def _pod_action(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict) or set(body) != {"action"}:
            return problem(
                422,
                "Unprocessable Entity",
                "Request validation failed.",
                ["$: must have exactly the property 'action'"],
            )
        action = body["action"]
        if action not in ("start", "stop", "restart", "terminate"):
            return problem(
                422,
                "Unprocessable Entity",
                "Request validation failed.",
                ["$.action: value must be one of 'start', 'stop', 'restart', 'terminate'"],
            )
        pod_id = request.path_params["pod_id"]
        with self._lock:
            pod = self._pods.get(pod_id)
            if pod is None:
                return problem(404, "Not Found", "pod not found")
            status = pod.record["status"]
            if action not in pod.record["actions"]:
                return problem(409, "Conflict", f"action {action} is not valid for pod status {status}")
            if action == "terminate":
                del self._pods[pod_id]
                self._deleted.add(pod_id)
                return Response(status_code=204)
            new_status = {"stop": "EXITED", "start": "PROVISIONING", "restart": "STARTING"}[action]
            self._set_status(pod, new_status)
            return JSONResponse(copy.deepcopy(pod.record))

    async def _pod_logs(self, request: Request) -> Response:
        pod_id = request.path_params["pod_id"]
        source = request.query_params.get("source")
        if source not in (None, "container", "system"):
            return problem(
                422,
                "Unprocessable Entity",
                "Request validation failed.",
                ["source: value must be one of 'container', 'system'"],
            )
        try:
            tail = int(request.query_params.get("tail", "100"))
        except ValueError:
            tail = -1
        if not 0 <= tail <= 5000:
            return problem(
                422,
                "Unprocessable Entity",
                "Request validation failed.",
                ["tail: must be an integer between 0 and 5000"],
            )
        resume = request.headers.get("last-event-id") or request.query_params.get("since")
        with self._lock:
            pod = self._pods.get(pod_id)
            if pod is None:
                return problem(404, "Not Found", "pod not found")
            start = _resume_index(pod.events, resume) if resume else max(0, len(pod.events) - tail)

        async def stream() -> AsyncIterator[str]:
            sent = start
            deadline = time.monotonic() + _LOG_STREAM_MAX_S
            while time.monotonic() < deadline:
                with self._lock:
                    live = self._pods.get(pod_id)
                    events = list(live.events[sent:]) if live is not None else None
                if events is None:
                    return  # the pod was deleted: the stream ends
                sent += len(events)
                for event_id, ts, event_source, line in events:
                    if source is None or source == event_source:
                        data = json.dumps({"ts": ts, "source": event_source, "line": line})
                        yield f"id: {event_id}\ndata: {data}\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.05)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    # ---- catalog ---------------------------------------------------------------------------

    async def _list_gpus(self, request: Request) -> Response:
        query = request.query_params
        wants_availability, error = _catalog_params(query)
        if error is not None:
            return error
        count = int(query.get("count", "1"))
        countries = {c for c in query.get("countryCodes", "").split(",") if c}
        if any(not re.fullmatch(r"[A-Z]{2}", c) for c in countries):
            return problem(
                422,
                "Unprocessable Entity",
                "Request validation failed.",
                ["countryCodes: each entry must be an uppercase ISO 3166-1 alpha-2 code"],
            )
        with self._lock:
            gpus = []
            for gpu in self._gpus.values():
                if countries and not any(_DATA_CENTERS[dc][2] in countries for dc in gpu.data_centers):
                    continue
                gpus.append(self._gpu_json(gpu, wants_availability, count, countries))
        return JSONResponse({"gpus": gpus})

    async def _get_gpu(self, request: Request) -> Response:
        wants_availability, error = _catalog_params(request.query_params)
        if error is not None:
            return error
        count = int(request.query_params.get("count", "1"))
        with self._lock:
            gpu = next((g for g in self._gpus.values() if g.gpu_id == request.path_params["gpu_id"]), None)
            if gpu is None:
                return problem(404, "Not Found", "gpu type not found")
            return JSONResponse(self._gpu_json(gpu, wants_availability, count, set()))

    async def _list_data_centers(self, request: Request) -> Response:
        include = request.query_params.get("include")
        if include not in (None, "GPU_AVAILABILITY"):
            return problem(400, "Bad Request", f"unsupported include value {include!r}")
        regions = {r for r in request.query_params.get("regions", "").split(",") if r}
        result = []
        with self._lock:
            for dc_id, (name, region, _country) in _DATA_CENTERS.items():
                if regions and region not in regions:
                    continue
                entry: dict[str, Any] = {
                    "id": dc_id,
                    "name": name,
                    "region": region,
                    "globalNetwork": True,
                    "networkVolumeTypes": ["STANDARD"],
                    "compliance": ["SOC_2_TYPE_2"],
                }
                if include:
                    entry["gpuAvailability"] = [
                        {"id": g.gpu_id, "name": g.name, "availability": g.data_centers[dc_id]}
                        for g in self._gpus.values()
                        if g.in_stock and dc_id in g.data_centers
                    ]
                result.append(entry)
        return JSONResponse({"dataCenters": result})

    def _gpu_json(
        self, gpu: _Gpu, wants_availability: bool, count: int, countries: set[str]
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": gpu.gpu_id,
            "name": gpu.name,
            "pool": gpu.pool,
            "manufacturer": gpu.manufacturer,
            "memory": gpu.memory,
            "secure": True,
            "community": True,
            "price": {"secure": gpu.secure_price, "community": round(gpu.secure_price * 0.8, 2)},
            "maxCount": {"secure": gpu.max_count, "community": gpu.max_count // 2},
        }
        if not wants_availability:
            return data
        levels = {
            dc: level
            for dc, level in gpu.data_centers.items()
            if gpu.in_stock
            and count <= gpu.max_count
            and level != "NONE"
            and (not countries or _DATA_CENTERS[dc][2] in countries)
        }
        order = ["NONE", "LOW", "MEDIUM", "HIGH"]
        data["availability"] = max(levels.values(), key=order.index, default="NONE")
        if levels:
            data["dataCenters"] = [
                {"id": dc, "name": _DATA_CENTERS[dc][0], "availability": level}
                for dc, level in levels.items()
            ]
        if gpu.manufacturer == "NVIDIA":
            data["cudaVersions"] = [{"version": "12.8", "available": bool(levels)}]
        return data


def _catalog_params(query: Any) -> tuple[bool, Response | None]:
    include = query.get("include")
    product = query.get("product")
    if include is not None and include != "AVAILABILITY":
        return False, problem(400, "Bad Request", f"unsupported include value {include!r}")
    if include and not product:
        return False, problem(400, "Bad Request", "product is required with include=AVAILABILITY")
    if not include:
        only_with_availability = [
            p for p in ("product", "count", "cloud", "cudaVersions", "minCudaVersion") if p in query
        ]
        if only_with_availability:
            names = ", ".join(only_with_availability)
            return False, problem(400, "Bad Request", f"{names} is valid only with include=AVAILABILITY")
        return False, None
    if any(p not in ("POD", "CLUSTER", "SERVERLESS") for p in product.split(",")):
        return True, problem(400, "Bad Request", f"unsupported product {product!r}")
    if query.get("cloud", "SECURE") not in ("SECURE", "COMMUNITY"):
        return True, problem(400, "Bad Request", "cloud must be SECURE or COMMUNITY")
    if "cudaVersions" in query and "minCudaVersion" in query:
        return True, problem(400, "Bad Request", "cudaVersions and minCudaVersion are mutually exclusive")
    count = query.get("count", "1")
    if not count.isdigit() or int(count) < 1:
        return True, problem(400, "Bad Request", "count must be a positive integer")
    return True, None


def _validate_create(body: Any) -> Response | None:
    def invalid(*errors: str) -> Response:
        return problem(422, "Unprocessable Entity", "Request validation failed.", list(errors))

    if not isinstance(body, dict):
        return invalid("$: expected object")
    unknown = sorted(set(body) - _CREATE_FIELDS)
    if unknown:
        return invalid(*(f"$: additional properties '{name}' not allowed" for name in unknown))
    if not isinstance(body.get("name"), str) or not body["name"]:
        return invalid("$.name: string with minLength 1 is required")
    for key, kind in (("image", str), ("args", str), ("disk", int), ("env", dict), ("dataCenterIds", list)):
        if key in body and not isinstance(body[key], kind):
            return invalid(f"$.{key}: wrong type")
    if "disk" in body and body["disk"] < 1:
        return invalid("$.disk: must be >= 1")
    if any(not isinstance(v, str) for v in (body.get("env") or {}).values()):
        return invalid("$.env: values must be strings")
    if body.get("cloud", "SECURE") not in ("SECURE", "COMMUNITY"):
        return invalid("$.cloud: value must be one of 'SECURE', 'COMMUNITY'")
    gpu = body.get("gpu")
    if isinstance(gpu, dict):
        extra = sorted(set(gpu) - _GPU_FIELDS)
        if extra:
            return invalid(*(f"$.gpu: additional properties '{name}' not allowed" for name in extra))
        if (
            not isinstance(gpu.get("id"), str)
            or not isinstance(gpu.get("count", 1), int)
            or gpu.get("count", 1) < 1
        ):
            return invalid("$.gpu: id (string) and count (integer >= 1) required")
    if ("gpu" in body) == ("cpu" in body):
        return problem(400, "Bad Request", "exactly one of gpu or cpu must be set")
    if "cpu" in body:
        return problem(400, "Bad Request", "CPU pods are not offered by this fake")
    if "image" not in body and "templateId" not in body:
        return problem(400, "Bad Request", "image is required unless templateId is set")
    return None


def _resume_index(events: list[tuple[str, str, str, str]], resume: str) -> int:
    """Index after the event named by Last-Event-ID (or after a ``since`` timestamp)."""
    for index, (event_id, _ts, _source, _line) in enumerate(events):
        if event_id == resume:
            return index + 1
    return next((i for i, event in enumerate(events) if event[1] > resume), len(events))
