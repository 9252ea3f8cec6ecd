"""A fake TensorDock v2 cloud speaking the wire format of providers/lambda-tensordock.md.

Bearer auth, the 100 requests/minute limit (switch: ``requests_per_minute``), ``/locations``
and ``/hostnodes`` with the documented (mixed-case) field names, ``POST /instances`` with the
documented validation, GET-one and list shapes selectable (``get_shape``, ``list_shape``),
and both error styles: non-2xx text/JSON and HTTP 200 ``{"error": "...", "status": 400}``.
Where the reference leaves something unconfirmed (error wording, 401/429 bodies, Retry-After,
pagination) the fake picks one plausible form; ``page_size`` switches on JSON:API
``links.next`` paging.

State lives in the object and is guarded by a lock: tests script it from their own thread
while uvicorn serves it from another (see tests/fakes/http_server.py).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harvestgpu.providers.agent_script import parse_agent_vars
from harvestgpu.providers.tensordock.adapter import ResourcePricing, vm_size

OPS = frozenset({"validate", "offers", "launch", "get", "terminate", "logs", "list"})
FAULTS = frozenset(
    {"no_capacity", "auth", "balance", "rate_limit", "server_error", "slow", "create_then_fail"}
)
IMAGES = frozenset(
    {"ubuntu2404", "ubuntu2204", "ubuntu2404_ml_everything", "ubuntu2404_ml_pytorch",
     "ubuntu2404_ml_tensorflow", "windows10"}
)  # fmt: skip
DEFAULT_MAX_COUNT = 8


def _error(message: str, status: int, *, http_status: int | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=http_status or status)


@dataclass
class _Stock:
    gpu_key: str  # catalog key, e.g. "H100-SXM" (None-like "" for GPUs outside the catalog)
    v0_name: str
    display_name: str
    price_per_hr: float
    max_count: int = DEFAULT_MAX_COUNT


@dataclass
class _Location:
    id: str
    hostnode_id: str
    city: str
    stateprovince: str
    country: str
    tier: int
    pricing: ResourcePricing  # per_gpu unused: each GPU has its own price
    max_vcpus: int
    max_ram_gb: int
    max_storage_gb: int
    ports: list[int]
    gpus: list[_Stock] = field(default_factory=list)

    def pricing_json(self) -> dict[str, float]:
        p = self.pricing
        return {
            "per_vcpu_hr": p.per_vcpu,
            "per_gb_ram_hr": p.per_gb_ram,
            "per_gb_storage_hr": p.per_gb_storage,
        }

    def whole_price_to_gpu_price(self, whole: float) -> float:
        share = ResourcePricing(
            0.0, self.pricing.per_vcpu, self.pricing.per_gb_ram, self.pricing.per_gb_storage
        )
        return round(whole - share.hourly(1, vm_size(1)), 6)


@dataclass
class _Vm:
    record: dict[str, Any]  # what GET /instances/{id} shows
    location_id: str
    v0_name: str
    gpu_count: int
    script: str = ""


@dataclass
class _Fault:
    kind: str
    remaining: int
    delay_s: float


def _default_locations() -> list[_Location]:
    idaho = _Location(
        "6c0f1f8e-2b7c-4f3a-9a51-3e0d2b7c9f11", "3b1d9a2e-7c44-4e0b-8f6e-1a2b3c4d5e6f",
        "Chubbuck", "Idaho", "United States", 3, ResourcePricing(0.0, 0.003, 0.002, 0.00005),
        128, 512, 4000, [20012, 20013, 20014, 20015],
    )  # fmt: skip
    virginia = _Location(
        "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "4c2e0b3f-8d55-4f1c-9a7b-2b3c4d5e6f70",
        "Manassas", "Virginia", "United States", 2, ResourcePricing(0.0, 0.0025, 0.0015, 0.00004),
        64, 256, 2000, [30001, 30002, 30003],
    )  # fmt: skip
    whole_prices = {
        idaho.id: [
            ("H100-SXM", "h100-sxm5-80gb", "H100 SXM5 80GB", 2.39),
            ("A100-80GB-SXM", "a100-sxm4-80gb", "A100 SXM4 80GB", 1.49),
            ("L40S", "l40s-pcie-48gb", "L40S PCIe 48GB", 1.09),
            ("", "rtxa4000-pcie-16gb", "NVIDIA RTX A4000 PCIe 16GB", 0.21),
        ],
        virginia.id: [
            ("H100-PCIE", "h100-pcie-80gb", "H100 PCIe 80GB", 2.09),
            ("RTX-A6000", "rtxa6000-pcie-48gb", "NVIDIA RTX A6000 PCIe 48GB", 0.55),
            ("RTX-4090", "geforcertx4090-pcie-24gb", "NVIDIA GeForce RTX 4090 PCIe 24GB", 0.44),
            ("V100-16GB", "v100-pcie-16gb", "Tesla V100 PCIe 16GB", 0.29),
        ],
    }
    for loc in (idaho, virginia):
        for key, v0, display, whole in whole_prices[loc.id]:
            loc.gpus.append(_Stock(key, v0, display, loc.whole_price_to_gpu_price(whole)))
    return [idaho, virginia]


class FakeTensorDockCloud:
    slug: str = "tensordock"

    def __init__(
        self,
        *,
        api_key: str = "td_FAKEKEY0123456789abcdef",
        get_shape: str = "flat",  # "flat" (documented) | "data" | "attributes"
        list_shape: str = "c",  # "a" | "b" (documented) | "c" (observed by a live client)
        page_size: int | None = None,
        # TensorDock allows 100/min per organisation; off by default so tests that poll hard
        # (monitor loops) are not throttled. Set 100 to emulate the real limit.
        requests_per_minute: int | None = None,
        retry_after_s: int | None = 1,  # Retry-After on 429 (None: no header)
    ) -> None:
        self.api_key = api_key
        self.get_shape = get_shape
        self.list_shape = list_shape
        self.page_size = page_size
        self.requests_per_minute = requests_per_minute
        self.retry_after_s = retry_after_s
        self.launch_bodies: list[dict[str, Any]] = []
        self.requests_seen: list[tuple[str, str, dict[str, str]]] = []
        self.agent_posts: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._locations = _default_locations()
        self._vms: dict[str, _Vm] = {}
        self._deleted: set[str] = set()
        self._faults: dict[str, deque[_Fault]] = {op: deque() for op in OPS}
        self._recent: deque[float] = deque()
        self._ip_suffix = itertools.count(10)

    # ---- scripting interface -------------------------------------------------------------

    def fail_next(self, op: str, fault: str, times: int = 1, delay_s: float = 2.0) -> None:
        if op not in OPS or fault not in FAULTS:
            raise ValueError(f"unknown op/fault {op!r}/{fault!r}")
        with self._lock:
            self._faults[op].append(_Fault(fault, times, delay_s))

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            for _, stock in self._stocks(gpu_key):
                stock.max_count = DEFAULT_MAX_COUNT if available else 0

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            for loc, stock in self._stocks(gpu_key):
                stock.price_per_hr = loc.whole_price_to_gpu_price(price_per_hour)

    def set_status(self, instance_id: str, status: str) -> None:
        """Inject a status, e.g. ``StoppedDisassociated`` when a host reclaims its GPU."""
        with self._lock:
            self._vms[instance_id].record["status"] = status

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            script = self._vms[instance_id].script
        agent = parse_agent_vars(script)
        url, token, job_id = (
            agent.get("HG_AGENT_URL", ""),
            agent.get("HG_AGENT_TOKEN", ""),
            agent.get("HG_JOB_ID"),
        )
        if not url:
            return
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(timeout=10) as client:
            for suffix, body in (("logs", {"lines": lines}), ("exit", {"exit_code": exit_code})):
                path = f"/api/v1/agent/jobs/{job_id}/{suffix}"
                response = client.post(url.rstrip("/") + path, json=body, headers=headers)
                self.agent_posts.append((path, response.status_code))

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._release(self._vms.pop(instance_id))

    def plant(self, name: str, gpu_key: str = "H100-SXM") -> str:
        with self._lock:
            loc, stock = self._stocks(gpu_key)[0]
            attrs = {"name": name, "resources": {"vcpu_count": 8, "ram_gb": 32, "storage_gb": 100}}
            vm = self._create(loc, stock, 1, attrs)
            vm.record["status"] = "running"
            return str(vm.record["id"])

    def instances(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {vm_id: copy.deepcopy(vm.record) for vm_id, vm in self._vms.items()}

    def deleted_ids(self) -> set[str]:
        with self._lock:
            return set(self._deleted)

    # ---- the HTTP app --------------------------------------------------------------------

    def app(self) -> Any:
        return Starlette(
            routes=[
                Route("/api/v2/locations", self._locations_route, methods=["GET"]),
                Route("/api/v2/hostnodes", self._hostnodes_route, methods=["GET"]),
                Route("/api/v2/hostnodes/{hostnode_id}", self._hostnodes_route, methods=["GET"]),
                Route("/api/v2/instances", self._list_route, methods=["GET"]),
                Route("/api/v2/instances", self._create_route, methods=["POST"]),
                Route("/api/v2/instances/{instance_id}", self._get_route, methods=["GET"]),
                Route("/api/v2/instances/{instance_id}", self._delete_route, methods=["DELETE"]),
                Route("/api/v2/instances/{instance_id}/{action}", self._power_route, methods=["POST"]),
            ]
        )

    async def _guard(self, request: Request, ops: tuple[str, ...]) -> tuple[Response | None, _Fault | None]:
        """Auth, rate limit and scripted faults; (response to send instead, fault to apply later)."""
        with self._lock:
            self.requests_seen.append((request.method, request.url.path, dict(request.headers)))
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error("Unauthorized: invalid or missing API token", 401), None
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 60:
                self._recent.popleft()
            if self.requests_per_minute is not None and len(self._recent) >= self.requests_per_minute:
                return self._rate_limited(int(60 - (now - self._recent[0])) + 1), None
            self._recent.append(now)
            fault = self._take_fault(ops)
        if fault is None:
            return None, None
        if fault.kind == "slow":
            return (None if await self._stall(request, fault.delay_s) else Response(status_code=499)), None
        if fault.kind == "create_then_fail" and "launch" in ops:
            return None, fault  # the create route creates first, then answers 500
        return self._fault_response(fault), None

    def _take_fault(self, ops: tuple[str, ...]) -> _Fault | None:
        for op in ops:
            queue = self._faults[op]
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                return fault
        return None

    def _fault_response(self, fault: _Fault) -> Response:
        if fault.kind == "auth":
            return _error("Unauthorized: invalid or missing API token", 401)
        if fault.kind == "balance":
            return _error("Insufficient balance: you need at least $1.00", 400, http_status=200)
        if fault.kind == "rate_limit":
            return self._rate_limited(self.retry_after_s)
        if fault.kind == "no_capacity":
            return _error("Not enough GPUs available at this location for the requested configuration", 400)
        return PlainTextResponse("Internal Server Error", status_code=500)

    def _rate_limited(self, retry_after: int | None) -> Response:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        response = _error("Too many requests: the limit is 100 requests per minute", 429)
        response.headers.update(headers)
        return response

    @staticmethod
    async def _stall(request: Request, seconds: float) -> bool:
        """Answer late; False if the client gave up meanwhile (the request is then dropped)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return False
            await asyncio.sleep(0.02)
        return True

    async def _locations_route(self, request: Request) -> Response:
        response, _ = await self._guard(request, ("offers",))
        if response is not None:
            return response
        with self._lock:
            return JSONResponse(
                {"data": {"locations": [self._location_json(loc) for loc in self._locations]}}
            )

    async def _hostnodes_route(self, request: Request) -> Response:
        response, _ = await self._guard(request, ("offers",))
        if response is not None:
            return response
        wanted = request.path_params.get("hostnode_id")
        with self._lock:
            nodes = [self._hostnode_json(loc) for loc in self._locations]
        if wanted is None:
            return JSONResponse({"data": {"hostnodes": nodes}})
        node = next((n for n in nodes if n["id"] == wanted), None)
        return JSONResponse({"data": node}) if node else _error("Hostnode not found", 404)

    async def _list_route(self, request: Request) -> Response:
        response, _ = await self._guard(request, ("validate", "list"))
        if response is not None:
            return response
        with self._lock:
            records = [copy.deepcopy(vm.record) for vm in self._vms.values()]
        page = int(request.query_params.get("page", "1"))
        more = False
        if self.page_size:
            start = (page - 1) * self.page_size
            more = len(records) > start + self.page_size
            records = records[start : start + self.page_size]
        body = self._list_json(records)
        if more:
            body["links"] = {"next": f"/api/v2/instances?page={page + 1}"}
        return JSONResponse(body)

    async def _get_route(self, request: Request) -> Response:
        response, _ = await self._guard(request, ("get",))
        if response is not None:
            return response
        with self._lock:
            vm = self._vms.get(request.path_params["instance_id"])
            if vm is None:
                return _error("Instance not found", 404)
            record = copy.deepcopy(vm.record)
            status = str(vm.record["status"])
            vm.record["status"] = {"starting": "running", "stopping": "Stopped"}.get(status, status)
        if self.get_shape == "data":
            return JSONResponse({"data": record})
        if self.get_shape == "attributes":
            attrs = {k: v for k, v in record.items() if k not in ("type", "id")}
            return JSONResponse({"data": {"type": "instance", "id": record["id"], "attributes": attrs}})
        return JSONResponse({**record, "type": "instance"})

    async def _delete_route(self, request: Request) -> Response:
        response, _ = await self._guard(request, ("terminate",))
        if response is not None:
            return response
        with self._lock:
            vm = self._vms.pop(request.path_params["instance_id"], None)
            if vm is None:
                return _error("Instance not found", 404)
            self._deleted.add(str(vm.record["id"]))
            self._release(vm)
        return JSONResponse(
            {"data": {"type": "success", "attributes": {"message": "Instance deleted successfully"}}}
        )

    async def _power_route(self, request: Request) -> Response:
        response, _ = await self._guard(request, ())
        if response is not None:
            return response
        action = request.path_params["action"]
        moves = {"stop": ({"running", "starting"}, "stopping"), "start": ({"stopped"}, "starting")}
        if action not in moves:
            return PlainTextResponse("Not Found", status_code=404)
        with self._lock:
            vm = self._vms.get(request.path_params["instance_id"])
            if vm is None:
                return _error("Instance not found", 404)
            allowed, new_status = moves[action]
            if str(vm.record["status"]).lower() not in allowed:
                return _error(f"Instance cannot {action} from status {vm.record['status']}", 409)
            vm.record["status"] = new_status
            return JSONResponse(
                {"data": {"type": "instance", "id": vm.record["id"], "attributes": {"status": new_status}}}
            )

    async def _create_route(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        response, fault = await self._guard(request, ("launch",))
        if isinstance(body, dict) and request.headers.get("authorization") == f"Bearer {self.api_key}":
            with self._lock:
                self.launch_bodies.append(copy.deepcopy(body))
        if response is not None:
            return response
        if not isinstance(body, dict):
            return _error("Request body must be JSON", 400)
        with self._lock:
            created = self._validate_and_create(body)
        if isinstance(created, Response):
            return created
        if fault is not None and fault.kind == "create_then_fail":
            return PlainTextResponse("Internal Server Error", status_code=500)
        rec = created.record
        return JSONResponse(
            {
                "data": {
                    "type": "virtualmachine",
                    "id": rec["id"],
                    "name": rec["name"],
                    "status": rec["status"],
                }
            }
        )

    # ---- helpers (called with the lock held) ---------------------------------------------

    def _validate_and_create(self, body: dict[str, Any]) -> _Vm | Response:
        data = body.get("data")
        attrs = data.get("attributes") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("type") != "virtualmachine" or not isinstance(attrs, dict):
            return _error("Body must be {data: {type: 'virtualmachine', attributes: {...}}}", 400)
        if not isinstance(attrs.get("name"), str) or not attrs["name"]:
            return _error("name is required", 400)
        if attrs.get("image") not in IMAGES:
            return _error(f"Invalid image: {attrs.get('image')}", 400)
        if ("location_id" in attrs) == ("hostnode_id" in attrs):
            return _error("Specify exactly one of location_id or hostnode_id", 400)
        if ("ssh_key" in attrs) == ("ssh_key_id" in attrs):
            return _error("Provide exactly one of ssh_key or ssh_key_id (providing both is not allowed)", 400)
        if "cloud_init" in attrs and not isinstance(attrs["cloud_init"], dict):
            return _error("cloud_init must be an object", 400)
        raw_res = attrs.get("resources")
        res: dict[str, Any] = raw_res if isinstance(raw_res, dict) else {}
        gpus: dict[str, Any] = res["gpus"] if isinstance(res.get("gpus"), dict) else {}
        sizes = [res.get(k, 0) for k in ("vcpu_count", "ram_gb", "storage_gb")]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes):
            return _error("vcpu_count, ram_gb and storage_gb must be integers", 400)
        if res.get("storage_gb", 0) < 100:
            return _error("Minimum storage: 100GB", 400)
        if "location_id" in attrs:
            loc = next((x for x in self._locations if x.id == attrs["location_id"]), None)
            if loc is None:
                return _error("Location not found", 404)
        else:
            loc = next((x for x in self._locations if x.hostnode_id == attrs["hostnode_id"]), None)
            if loc is None:
                return _error("Hostnode not found", 404)
            for forward in attrs.get("port_forwards") or []:
                if forward.get("external_port") not in loc.ports:
                    return _error(
                        f"Port {forward.get('external_port')} is not available on this hostnode", 400
                    )
        if len(gpus) != 1:
            return _error("Exactly one GPU model is required for location-based deployment", 400)
        v0_name, spec = next(iter(gpus.items()))
        stock = next((s for s in loc.gpus if s.v0_name == v0_name), None)
        if stock is None:
            return _error(f"Unknown GPU model for this location: {v0_name}", 400)
        count = int(spec.get("count", 0)) if isinstance(spec, dict) else 0
        if count < 1 or count > stock.max_count:
            return _error(f"Not enough GPUs available: requested {count}, {stock.max_count} available", 400)
        if int(res.get("vcpu_count", 0)) > loc.max_vcpus or int(res.get("ram_gb", 0)) > loc.max_ram_gb:
            return _error("Requested resources exceed the maximum for this location", 400)
        if int(res["storage_gb"]) > loc.max_storage_gb:
            return _error("Requested resources exceed the maximum for this location", 400)
        return self._create(loc, stock, count, attrs)

    def _create(self, loc: _Location, stock: _Stock, count: int, attrs: dict[str, Any]) -> _Vm:
        res = attrs.get("resources", {})
        vcpus, ram, storage = (
            int(res.get("vcpu_count", 8)),
            int(res.get("ram_gb", 32)),
            int(res["storage_gb"]),
        )
        p = loc.pricing
        rate = (
            count * stock.price_per_hr + vcpus * p.per_vcpu + ram * p.per_gb_ram + storage * p.per_gb_storage
        )
        vm_id = str(uuid.uuid4())
        forwards = [
            {"internal_port": f.get("internal_port"), "external_port": f.get("external_port")}
            for f in attrs.get("port_forwards") or []
        ]
        record = {
            "type": "virtualmachine", "id": vm_id, "name": attrs["name"], "status": "starting",
            "ipAddress": f"203.0.113.{next(self._ip_suffix) % 250}", "portForwards": forwards,
            "resources": {"vcpu_count": vcpus, "ram_gb": ram, "storage_gb": storage,
                          "gpus": {stock.v0_name: {"count": count, "v0Name": stock.v0_name}}},
            "rateHourly": round(rate, 4),
        }  # fmt: skip
        cloud_init = attrs.get("cloud_init") or {}
        texts = [str(f.get("content", "")) for f in cloud_init.get("write_files") or []]
        texts += [str(c) for c in cloud_init.get("runcmd") or []]
        script = next((t for t in texts if "HG_AGENT_URL=" in t), "")
        stock.max_count -= count
        vm = _Vm(record=record, location_id=loc.id, v0_name=stock.v0_name, gpu_count=count, script=script)
        self._vms[vm_id] = vm
        return vm

    def _release(self, vm: _Vm) -> None:
        for stock in self._stocks_at(vm.location_id, vm.v0_name):
            stock.max_count = min(DEFAULT_MAX_COUNT, stock.max_count + vm.gpu_count)

    def _stocks(self, gpu_key: str) -> list[tuple[_Location, _Stock]]:
        found = [(loc, s) for loc in self._locations for s in loc.gpus if s.gpu_key == gpu_key]
        if not found:
            raise KeyError(f"the fake TensorDock cloud does not stock {gpu_key}")
        return found

    def _stocks_at(self, location_id: str, v0_name: str) -> list[_Stock]:
        return [
            s for loc in self._locations if loc.id == location_id for s in loc.gpus if s.v0_name == v0_name
        ]

    def _location_json(self, loc: _Location) -> dict[str, Any]:
        return {
            "id": loc.id, "city": loc.city, "stateprovince": loc.stateprovince, "country": loc.country,
            "tier": loc.tier,
            "gpus": [
                {
                    "v0Name": s.v0_name, "displayName": s.display_name, "max_count": s.max_count,
                    "price_per_hr": s.price_per_hr,
                    "resources": {"max_vcpus": loc.max_vcpus, "max_ram_gb": loc.max_ram_gb,
                                  "max_storage_gb": loc.max_storage_gb},
                    "pricing": loc.pricing_json(),
                    "network_features": {"dedicated_ip_available": loc.tier >= 3,
                                         "port_forwarding_available": True,
                                         "network_storage_available": False},
                }
                for s in loc.gpus
            ],
        }  # fmt: skip

    def _hostnode_json(self, loc: _Location) -> dict[str, Any]:
        return {
            "id": loc.hostnode_id, "location_id": loc.id, "engine": "kvm", "uptime_percentage": 99.7,
            "available_resources": {
                "gpus": [{"v0Name": s.v0_name, "availableCount": s.max_count, "price_per_hr": s.price_per_hr}
                         for s in loc.gpus],
                "max_vcpus_per_gpu": 16, "max_ram_per_gpu": 64, "max_vcpus": loc.max_vcpus,
                "max_ram_gb": loc.max_ram_gb, "max_storage_gb": loc.max_storage_gb,
                "available_ports": list(loc.ports), "has_public_ip_available": loc.tier >= 3,
            },
            "pricing": loc.pricing_json(),
            "location": {"uuid": loc.id, "city": loc.city, "stateprovince": loc.stateprovince,
                         "country": loc.country, "tier": loc.tier},
        }  # fmt: skip

    def _list_json(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        if self.list_shape == "c":
            return {"data": records}
        items = [
            {"type": "VM" if self.list_shape == "a" else "instance", "id": r["id"],
             "attributes": {"name": r["name"], "status": r["status"]}}
            for r in records
        ]  # fmt: skip
        if self.list_shape == "a":
            return {"data": {"instances": items}}
        return {"data": {"type": "list", "id": "instances", "attributes": {"instances": items}}}
