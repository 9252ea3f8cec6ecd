"""The fake RunPod's HTTP face: REST v2 routes over ``RunPodState``."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.runpod.state import DATA_CENTERS, Gpu, RunPodState, resume_index
from tests.fakes.runpod.wire import (
    FAULT_ERRORS,
    NO_CAPACITY_DETAIL,
    RATE_LIMIT_HEADERS,
    catalog_params,
    invalid,
    not_runpod,
    problem,
    validate_create,
    validate_patch,
)

_LOG_STREAM_MAX_S = 15.0  # a real stream tails forever; bound it so a server can always stop


class FakeRunPodCloud(RunPodState):
    def _build_app(self) -> Starlette:
        def endpoint(
            handler: Callable[..., Awaitable[Response]], *ops: str
        ) -> Callable[[Request], Awaitable[Response]]:
            async def wrapped(request: Request) -> Response:
                self._record(request)
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
                        self._keep_launch_body(body)
                with self._lock:
                    body_fault = self.body_faults.take(*ops)
                if body_fault is not None:
                    return not_runpod(body_fault)
                fault = self._faults.take(*ops)
                if fault is not None and fault.kind == "slow":
                    await asyncio.sleep(fault.delay_s)
                elif fault is not None and fault.kind == "rate_limit":
                    limited = problem(429, "Too Many Requests", "rate limit exceeded for the minute window")
                    limited.headers["Retry-After"] = str(max(1, math.ceil(fault.delay_s)))
                    return limited
                elif fault is not None and fault.kind != "create_then_fail":
                    return problem(*FAULT_ERRORS[fault.kind])
                created_then_fail = fault is not None and fault.kind == "create_then_fail"
                if request.method in ("POST", "PATCH"):
                    response = await handler(request, body)
                else:
                    response = await handler(request)
                if created_then_fail:
                    return problem(*FAULT_ERRORS["create_then_fail"])
                response.headers.update(RATE_LIMIT_HEADERS)
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
        rejected = validate_create(body)
        if rejected is not None:
            return rejected
        gpu_req = body["gpu"]
        count = int(gpu_req.get("count", 1))
        cloud = body.get("cloud", "SECURE")
        with self._lock:
            gpu = self._gpu_by_id(gpu_req["id"])
            if gpu is None:
                return problem(400, "Bad Request", f"unknown GPU type {gpu_req['id']!r}")
            wanted = body.get("dataCenterIds") or list(gpu.data_centers)
            places = [dc for dc in wanted if gpu.data_centers.get(dc, "NONE") != "NONE"]
            if not gpu.in_stock or count > gpu.max_count or not places:
                return problem(400, "Bad Request", NO_CAPACITY_DETAIL)
            pod = self._new_pod(body, gpu, count, cloud, places[0])
            return JSONResponse(copy.deepcopy(pod.record), status_code=201)

    async def _patch_pod(self, request: Request, body: Any) -> Response:
        rejected = validate_patch(body)
        if rejected is not None:
            return rejected
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
            return invalid("$: must have exactly the property 'action'")
        action = body["action"]
        if action not in ("start", "stop", "restart", "terminate"):
            return invalid("$.action: value must be one of 'start', 'stop', 'restart', 'terminate'")
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
            return invalid("source: value must be one of 'container', 'system'")
        try:
            tail = int(request.query_params.get("tail", "100"))
        except ValueError:
            tail = -1
        if not 0 <= tail <= 5000:
            return invalid("tail: must be an integer between 0 and 5000")
        resume = request.headers.get("last-event-id") or request.query_params.get("since")
        with self._lock:
            pod = self._pods.get(pod_id)
            if pod is None:
                return problem(404, "Not Found", "pod not found")
            start = resume_index(pod.events, resume) if resume else max(0, len(pod.events) - tail)

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
        wants_availability, error = catalog_params(query)
        if error is not None:
            return error
        count = int(query.get("count", "1"))
        countries = {c for c in query.get("countryCodes", "").split(",") if c}
        if any(not re.fullmatch(r"[A-Z]{2}", c) for c in countries):
            return invalid("countryCodes: each entry must be an uppercase ISO 3166-1 alpha-2 code")
        with self._lock:
            gpus = []
            for gpu in self._gpus.values():
                if countries and not any(DATA_CENTERS[dc][2] in countries for dc in gpu.data_centers):
                    continue
                gpus.append(self._gpu_json(gpu, wants_availability, count, countries))
        return JSONResponse({"gpus": gpus})

    async def _get_gpu(self, request: Request) -> Response:
        wants_availability, error = catalog_params(request.query_params)
        if error is not None:
            return error
        count = int(request.query_params.get("count", "1"))
        with self._lock:
            gpu = self._gpu_by_id(request.path_params["gpu_id"])
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
            for dc_id, (name, region, _country) in DATA_CENTERS.items():
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
        self, gpu: Gpu, wants_availability: bool, count: int, countries: set[str]
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
            and (not countries or DATA_CENTERS[dc][2] in countries)
        }
        order = ["NONE", "LOW", "MEDIUM", "HIGH"]
        data["availability"] = max(levels.values(), key=order.index, default="NONE")
        if levels:
            data["dataCenters"] = [
                {"id": dc, "name": DATA_CENTERS[dc][0], "availability": level} for dc, level in levels.items()
            ]
        if gpu.manufacturer == "NVIDIA":
            data["cudaVersions"] = [{"version": "12.8", "available": bool(levels)}]
        return data
