"""The fake TensorDock's HTTP face: the v2 routes over ``TensorDockState``."""

from __future__ import annotations

import copy
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.base import bearer_matches
from tests.fakes.faults import Fault, stall
from tests.fakes.tensordock.state import Location, TensorDockState, Vm

MAINTENANCE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>TensorDock is under maintenance</title></head>"
    "<body><h1>We&rsquo;ll be back shortly.</h1></body></html>\n"
)
IMAGES = frozenset(
    {"ubuntu2404", "ubuntu2204", "ubuntu2404_ml_everything", "ubuntu2404_ml_pytorch",
     "ubuntu2404_ml_tensorflow", "windows10"}
)  # fmt: skip


def _error(message: str, status: int, *, http_status: int | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=http_status or status)


def _not_tensordock(kind: str) -> Response:
    """A 200 from something in front of the API: an empty body or an HTML page."""
    if kind == "empty_200":
        return Response(b"", status_code=200, media_type="application/json")
    return HTMLResponse(MAINTENANCE_PAGE)


class FakeTensorDockCloud(TensorDockState):
    def _build_app(self) -> Starlette:
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

    async def _guard(self, request: Request, ops: tuple[str, ...]) -> tuple[Response | None, Fault | None]:
        """Auth, rate limit and scripted faults; (response to send instead, fault to apply later)."""
        self._record(request)
        with self._lock:
            if not bearer_matches(request, self.api_key):
                return _error("Unauthorized: invalid or missing API token", 401), None
            now = time.monotonic()
            while self._recent and now - self._recent[0] >= 60:
                self._recent.popleft()
            if self.requests_per_minute is not None and len(self._recent) >= self.requests_per_minute:
                return self._rate_limited(int(60 - (now - self._recent[0])) + 1), None
            self._recent.append(now)
            body_fault = self.body_faults.take(*ops)
        if body_fault is not None:
            return _not_tensordock(body_fault), None
        fault = self._faults.take(*ops)
        if fault is None:
            return None, None
        if fault.kind == "slow":
            return (None if await stall(request, fault.delay_s) else Response(status_code=499)), None
        if fault.kind == "create_then_fail" and "launch" in ops:
            return None, fault  # the create route creates first, then answers 500
        return self._fault_response(fault), None

    def _fault_response(self, fault: Fault) -> Response:
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
        if isinstance(body, dict) and bearer_matches(request, self.api_key):
            self._keep_launch_body(body)
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

    def _validate_and_create(self, body: dict[str, Any]) -> Vm | Response:
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

    def _location_json(self, loc: Location) -> dict[str, Any]:
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

    def _hostnode_json(self, loc: Location) -> dict[str, Any]:
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
