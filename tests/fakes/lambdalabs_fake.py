"""A fake Lambda Cloud speaking the v1 wire format of /work/shared/providers/lambda-tensordock.md.

Serve it with ``serve_app(fake.app())``. All state lives on the ``FakeLambdaCloud`` object so
tests can script it from their own thread while the app answers on the server's thread.

Emulated: Bearer and Basic(``key:``) auth, ``{"data": ...}`` / ``{"error": {...}}`` envelopes,
``/instance-types`` as a map, launch returning ids only, ``booting`` on the first status read
then ``active`` (with an ip), ``terminating`` -> ``terminated`` -> 404 after terminate, SSH keys
(exactly one at launch, generated pairs when no public key is sent), unpaginated lists.
Lambda has no log API, so faults armed for ``logs`` are never consumed.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from harvestgpu.providers.agent_script import parse_agent_vars

OPS = frozenset({"validate", "offers", "launch", "get", "terminate", "logs", "list"})
FAULTS = frozenset(
    {"no_capacity", "auth", "balance", "rate_limit", "server_error", "slow", "create_then_fail"}
)
_LAUNCH_ONLY_FAULTS = frozenset({"no_capacity", "create_then_fail"})
RATE_LIMIT_RETRY_AFTER_S = 1

REGIONS = {
    "us-east-1": "Virginia, USA",
    "us-west-1": "California, USA",
    "us-west-2": "Arizona, USA",
    "us-west-3": "Utah, USA",
    "us-east-3": "Washington DC, USA",
}


def _error(code: str, message: str, suggestion: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if suggestion:
        body["suggestion"] = suggestion
    return {"error": body}


INVALID_KEY = _error(
    "global/invalid-api-key",
    "API key was invalid, expired, or deleted.",
    "Check your API key or create a new one, then try again.",
)
ACCOUNT_INACTIVE = _error(
    "global/account-inactive",
    "Your account is inactive.",
    "Make sure you have verified your email address and have a valid payment method. "
    "Contact Support if problems continue.",
)
NO_CAPACITY = _error(
    "instance-operations/launch/insufficient-capacity",
    "Not enough capacity to fulfill launch request.",
    "Choose a different region or instance type, or try again later.",
)
INTERNAL_ERROR = _error(
    "global/internal-error",
    "An internal server error occurred.",
    "Try again later. Contact Support if the problem persists.",
)
INSTANCE_NOT_FOUND = _error("global/object-does-not-exist", "Specified instance does not exist.")


@dataclass(frozen=True)
class _TypeSpec:
    gpu_key: str  # catalog key ("" when the catalog has no such GPU)
    name: str
    gpu_description: str
    cents: int
    gpus: int
    vcpus: int
    memory_gib: int
    storage_gib: int
    regions: tuple[str, ...]


# Prices follow Lambda's list prices where Lambda sells the type; the rest are plausible.
# catalog key | type name | gpu_description | cents/hour | gpus | vcpus/memory/storage | regions
_TYPE_TABLE = """
H100-SXM      | gpu_1x_h100_sxm5      | H100 (80 GB SXM5)  |  329 | 1 | 26/225/2816     | us-east-1 us-west-3
H100-SXM      | gpu_8x_h100_sxm5      | H100 (80 GB SXM5)  | 2392 | 8 | 208/1800/22528  | us-west-3
H100-PCIE     | gpu_1x_h100_pcie      | H100 (80 GB PCIe)  |  249 | 1 | 26/200/1024     | us-east-1 us-west-1
A100-80GB-SXM | gpu_1x_a100_80gb_sxm4 | A100 (80 GB SXM4)  |  179 | 1 | 30/225/2048     | us-east-1
A100-40GB-SXM | gpu_1x_a100_sxm4      | A100 (40 GB SXM4)  |  129 | 1 | 30/200/512      | us-west-2
L40S          | gpu_1x_l40s           | L40S (48 GB PCIe)  |  139 | 1 | 24/128/1024     | us-west-1
RTX-A6000     | gpu_1x_a6000          | RTX A6000 (48 GB)  |   80 | 1 | 14/100/512      | us-west-1 us-east-1
RTX-4090      | gpu_1x_rtx4090        | RTX 4090 (24 GB)   |   69 | 1 | 16/64/512       | us-west-2
A10           | gpu_1x_a10            | A10 (24 GB PCIe)   |   75 | 1 | 30/200/1400     | us-west-1 us-east-1
V100-16GB     | gpu_8x_v100           | Tesla V100 (16 GB) |  440 | 8 | 92/448/5836     |
              | gpu_1x_gh200          | GH200 (96 GB)      |  149 | 1 | 64/432/4096     | us-east-3
              | gpu_1x_rtx6000        | RTX 6000 (24 GB)   |   50 | 1 | 14/46/512       | us-east-1
              | cpu_4x_general        |                    |   10 | 0 | 4/16/256        | us-east-1
"""


def _parse_type_table(table: str) -> tuple[_TypeSpec, ...]:
    specs = []
    for row in table.strip().splitlines():
        key, name, gpu_description, cents, gpus, sizes, regions = (cell.strip() for cell in row.split("|"))
        vcpus, memory_gib, storage_gib = (int(n) for n in sizes.split("/"))
        specs.append(
            _TypeSpec(
                key,
                name,
                gpu_description,
                int(cents),
                int(gpus),
                vcpus,
                memory_gib,
                storage_gib,
                tuple(regions.split()),
            )
        )
    return tuple(specs)


_TYPES = _parse_type_table(_TYPE_TABLE)


def _region(name: str) -> dict[str, str]:
    return {"name": name, "description": REGIONS.get(name, name)}


@dataclass
class _Fault:
    kind: str
    remaining: int
    delay_s: float


_UNPARSABLE = object()


@dataclass(frozen=True)
class _Gated:
    response: Response | None  # send this instead of the normal answer
    fault: _Fault | None  # a fault the handler itself must still act on (create_then_fail)
    body: Any  # the parsed JSON body, None when empty, _UNPARSABLE when not JSON


class FakeLambdaCloud:
    slug: str = "lambda"

    def __init__(self, api_key: str = "secret_FAKEKEY0123456789abcdef") -> None:
        self.api_key = api_key
        self.launch_bodies: list[dict[str, Any]] = []
        self.requests_seen: list[tuple[str, str, dict[str, str]]] = []
        self.agent_posts: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._faults: dict[str, deque[_Fault]] = {op: deque() for op in OPS}
        self._types: dict[str, dict[str, Any]] = {}
        self._capacity: dict[str, list[str]] = {}
        for spec in _TYPES:
            self._types[spec.name] = self._instance_type(spec)
            self._capacity[spec.name] = list(spec.regions)
        self._instances: dict[str, dict[str, Any]] = {}
        self._user_data: dict[str, str] = {}
        self._deleted: set[str] = set()
        self._ssh_keys: list[dict[str, str]] = []
        self._app: Starlette | None = None

    # ---- scripting interface -------------------------------------------------------------

    def app(self) -> Any:
        if self._app is None:
            prefix = "/api/v1"
            self._app = Starlette(
                routes=[
                    Route(f"{prefix}/instance-types", self._instance_types, methods=["GET"]),
                    Route(f"{prefix}/instances", self._list_instances, methods=["GET"]),
                    Route(f"{prefix}/instances/{{instance_id}}", self._get_instance, methods=["GET"]),
                    Route(f"{prefix}/instance-operations/launch", self._launch, methods=["POST"]),
                    Route(f"{prefix}/instance-operations/terminate", self._terminate, methods=["POST"]),
                    Route(f"{prefix}/ssh-keys", self._list_ssh_keys, methods=["GET"]),
                    Route(f"{prefix}/ssh-keys", self._add_ssh_key, methods=["POST"]),
                ]
            )
        return self._app

    def fail_next(self, op: str, fault: str, times: int = 1, delay_s: float = 2.0) -> None:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULTS)}")
        if fault in _LAUNCH_ONLY_FAULTS and op != "launch":
            raise ValueError(f"fault {fault!r} only applies to launch")
        with self._lock:
            self._faults[op].append(_Fault(fault, times, delay_s))

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            for spec in self._matching(gpu_key):
                self._capacity[spec.name] = list(spec.regions or ("us-east-1",)) if available else []

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            for spec in self._matching(gpu_key):
                if spec.gpus == 1:
                    self._types[spec.name]["price_cents_per_hour"] = round(price_per_hour * 100)

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            if instance_id not in self._instances:
                raise KeyError(f"no live instance {instance_id}")
            self._activate(self._instances[instance_id])
            agent = parse_agent_vars(self._user_data.get(instance_id, ""))
        url = agent.get("HG_AGENT_URL", "")
        if not url:
            return
        base = f"{url.rstrip('/')}/api/v1/agent/jobs/{agent.get('HG_JOB_ID', '')}"
        headers = {"Authorization": f"Bearer {agent.get('HG_AGENT_TOKEN', '')}"}
        with httpx.Client(timeout=10) as http:
            for suffix, body in (("logs", {"lines": lines}), ("exit", {"exit_code": exit_code})):
                response = http.post(f"{base}/{suffix}", json=body, headers=headers)
                self.agent_posts.append((httpx.URL(f"{base}/{suffix}").path, response.status_code))

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._instances.pop(instance_id, None)

    def plant(self, name: str, gpu_key: str = "H100-SXM") -> str:
        spec = next(s for s in self._matching(gpu_key) if s.gpus == 1)
        with self._lock:
            record = self._new_instance(name, spec.name, spec.regions[0] if spec.regions else "us-east-1", [])
            self._activate(record)
            return str(record["id"])

    def instances(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                iid: copy.deepcopy(rec)
                for iid, rec in self._instances.items()
                if rec["status"] not in ("terminating", "terminated")
            }

    def deleted_ids(self) -> set[str]:
        with self._lock:
            return set(self._deleted)

    # ---- state helpers (call with the lock held) -----------------------------------------

    def _matching(self, gpu_key: str) -> list[_TypeSpec]:
        found = [spec for spec in _TYPES if spec.gpu_key == gpu_key]
        if not found:
            raise KeyError(f"the fake sells no {gpu_key}")
        return found

    @staticmethod
    def _instance_type(spec: _TypeSpec) -> dict[str, Any]:
        description = f"{spec.gpus}x {spec.gpu_description}" if spec.gpus else f"{spec.vcpus}x vCPU general"
        return {
            "name": spec.name,
            "description": description,
            "gpu_description": spec.gpu_description,
            "price_cents_per_hour": spec.cents,
            "specs": {
                "vcpus": spec.vcpus,
                "memory_gib": spec.memory_gib,
                "storage_gib": spec.storage_gib,
                "gpus": spec.gpus,
            },
        }

    def _new_instance(
        self, name: str | None, type_name: str, region: str, ssh_keys: list[str]
    ) -> dict[str, Any]:
        instance_id = secrets.token_hex(16)
        record: dict[str, Any] = {
            "id": instance_id,
            "name": name,
            "ip": None,
            "private_ip": None,
            "status": "booting",
            "ssh_key_names": ssh_keys,
            "file_system_names": [],
            "region": _region(region),
            "instance_type": copy.deepcopy(self._types[type_name]),
            "hostname": None,
            "jupyter_token": secrets.token_hex(16),
            "jupyter_url": None,
            "actions": {
                "migrate": {"available": False, "reason_code": "vm-has-not-launched"},
                "rebuild": {"available": False, "reason_code": "vm-has-not-launched"},
                "restart": {"available": False, "reason_code": "vm-has-not-launched"},
                "cold_reboot": {"available": False, "reason_code": "vm-has-not-launched"},
                "terminate": {"available": True},
            },
            "tags": [],
            "firewall_rulesets": [],
        }
        self._instances[instance_id] = record
        return record

    @staticmethod
    def _activate(record: dict[str, Any]) -> None:
        if record["status"] != "booting":
            return
        octet = int(record["id"][:2], 16)
        record.update(
            status="active",
            ip=f"198.51.100.{octet}",
            private_ip=f"10.19.60.{octet}",
            hostname=f"198-51-100-{octet}.cloud.lambdalabs.com",
        )
        for action in ("rebuild", "restart", "cold_reboot"):
            record["actions"][action] = {"available": True}

    def _take_fault(self, *ops: str) -> _Fault | None:
        with self._lock:
            for op in ops:
                queue = self._faults[op]
                if queue:
                    fault = queue[0]
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.popleft()
                    return fault
        return None

    # ---- HTTP plumbing -------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return secrets.compare_digest(value.strip(), self.api_key)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip()).decode()
            except ValueError:
                return False
            return secrets.compare_digest(decoded, f"{self.api_key}:")
        return False

    async def _gate(self, request: Request, *ops: str) -> _Gated:
        """Record the request, check auth, then apply a fault armed for one of ``ops``.

        The body is read first: a client that gives up during a "slow" fault is gone by the
        time the handler would read it, yet the cloud still acts on what it received.
        """
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = _UNPARSABLE
        with self._lock:
            self.requests_seen.append((request.method, request.url.path, dict(request.headers)))
        if not self._authorized(request):
            return _Gated(JSONResponse(INVALID_KEY, status_code=401), None, body)
        if "launch" in ops and isinstance(body, dict):
            with self._lock:
                self.launch_bodies.append(copy.deepcopy(body))
        fault = self._take_fault(*ops)
        if fault is None or fault.kind == "create_then_fail":
            return _Gated(None, fault, body)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
            return _Gated(None, None, body)
        return _Gated(_fault_response(fault.kind), None, body)

    async def _instance_types(self, request: Request) -> Response:
        gated = await self._gate(request, "validate", "offers")
        if gated.response is not None:
            return gated.response
        with self._lock:
            data = {
                name: {
                    "instance_type": copy.deepcopy(instance_type),
                    "regions_with_capacity_available": [_region(r) for r in self._capacity[name]],
                }
                for name, instance_type in self._types.items()
            }
        return JSONResponse({"data": data})

    async def _list_instances(self, request: Request) -> Response:
        gated = await self._gate(request, "list")
        if gated.response is not None:
            return gated.response
        with self._lock:
            data = [copy.deepcopy(rec) for rec in self._instances.values()]
        return JSONResponse({"data": data})

    async def _get_instance(self, request: Request) -> Response:
        gated = await self._gate(request, "get")
        if gated.response is not None:
            return gated.response
        instance_id = request.path_params["instance_id"]
        with self._lock:
            record = self._instances.get(instance_id)
            if record is None:
                return JSONResponse(INSTANCE_NOT_FOUND, status_code=404)
            shown = copy.deepcopy(record)
            # Each status read moves the lifecycle one step: booting -> active,
            # terminating -> terminated -> gone (404).
            if record["status"] == "booting":
                self._activate(record)
            elif record["status"] == "terminating":
                record["status"] = "terminated"
            elif record["status"] == "terminated":
                del self._instances[instance_id]
        return JSONResponse({"data": shown})

    async def _launch(self, request: Request) -> Response:
        gated = await self._gate(request, "launch")
        if gated.response is not None:
            return gated.response
        body = gated.body
        if not isinstance(body, dict):
            return _invalid("body", "Request body must be a JSON object.")
        with self._lock:
            problem = self._launch_problem(body)
            if problem is not None:
                return problem
            type_name = body["instance_type_name"]
            region = body["region_name"]
            if region not in self._capacity[type_name]:
                return JSONResponse(NO_CAPACITY, status_code=400)
            record = self._new_instance(body.get("name"), type_name, region, list(body["ssh_key_names"]))
            record["tags"] = copy.deepcopy(body.get("tags") or [])
            self._user_data[record["id"]] = body.get("user_data") or ""
        if gated.fault is not None:  # create_then_fail: created above, now the answer is lost
            return JSONResponse(INTERNAL_ERROR, status_code=500)
        return JSONResponse({"data": {"instance_ids": [record["id"]]}})

    def _launch_problem(self, body: dict[str, Any]) -> Response | None:
        type_name = body.get("instance_type_name")
        if not isinstance(type_name, str) or type_name not in self._types:
            return _invalid("instance_type_name", f"Unknown instance type: {type_name}")
        region = body.get("region_name")
        if not isinstance(region, str) or not region:
            return _invalid("region_name", "A region name is required.")
        keys = body.get("ssh_key_names")
        if not isinstance(keys, list) or len(keys) != 1:
            return _invalid("ssh_key_names", "Exactly one SSH key must be specified.")
        if keys[0] not in {k["name"] for k in self._ssh_keys}:
            return JSONResponse(
                _error("global/object-does-not-exist", f"SSH key '{keys[0]}' not found.", "Check the name."),
                status_code=404,
            )
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 64):
            return _invalid("name", "Name must be a string of at most 64 characters.")
        user_data = body.get("user_data")
        if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > 1_000_000):
            return _invalid("user_data", "user_data must be plain text of at most 1 MB.")
        if body.get("quantity", 1) != 1:
            return _invalid("quantity", "quantity must be 1.")
        return None

    async def _terminate(self, request: Request) -> Response:
        gated = await self._gate(request, "terminate")
        if gated.response is not None:
            return gated.response
        body = gated.body
        ids = body.get("instance_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            return _invalid("instance_ids", "At least one instance id is required.")
        with self._lock:
            if any(iid not in self._instances for iid in ids):
                return JSONResponse(INSTANCE_NOT_FOUND, status_code=404)
            terminated = []
            for iid in ids:
                record = self._instances[iid]
                if record["status"] != "terminated":
                    record["status"] = "terminating"
                self._deleted.add(iid)
                terminated.append(copy.deepcopy(record))
        return JSONResponse({"data": {"terminated_instances": terminated}})

    async def _list_ssh_keys(self, request: Request) -> Response:
        gated = await self._gate(request)
        if gated.response is not None:
            return gated.response
        with self._lock:
            return JSONResponse({"data": copy.deepcopy(self._ssh_keys)})

    async def _add_ssh_key(self, request: Request) -> Response:
        gated = await self._gate(request)
        if gated.response is not None:
            return gated.response
        body = gated.body
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name or len(name) > 64:
            return _invalid("name", "Name must be 1 to 64 characters.")
        public_key = body.get("public_key")
        with self._lock:
            if any(k["name"] == name for k in self._ssh_keys):
                return JSONResponse(
                    _error("global/duplicate", f"SSH key '{name}' already exists."), status_code=409
                )
            key = {"id": secrets.token_hex(16), "name": name}
            private_key = None
            if not isinstance(public_key, str) or not public_key:
                private_key = _generated_private_key()
                public_key = f"ssh-rsa AAAAB3NzaC1yc2E{secrets.token_hex(24)} generated"
            key["public_key"] = public_key
            self._ssh_keys.append(key)
        data: dict[str, str] = dict(key)
        if private_key is not None:
            data["private_key"] = private_key
        return JSONResponse({"data": data})


def _generated_private_key() -> str:
    return f"-----BEGIN RSA PRIVATE KEY-----\n{secrets.token_hex(48)}\n-----END RSA PRIVATE KEY-----\n"


def _invalid(field: str, message: str) -> JSONResponse:
    body = _error("global/invalid-parameters", "Invalid request data.")
    body["field_errors"] = {field: {"code": "global/invalid-parameters", "message": message}}
    return JSONResponse(body, status_code=400)


def _fault_response(kind: str) -> Response:
    if kind == "auth":
        return JSONResponse(INVALID_KEY, status_code=401)
    if kind == "balance":
        return JSONResponse(ACCOUNT_INACTIVE, status_code=403)
    if kind == "no_capacity":
        return JSONResponse(NO_CAPACITY, status_code=400)
    if kind == "rate_limit":
        # Lambda's 429 body is undocumented; a plain-text body makes clients cope with non-JSON.
        return PlainTextResponse(
            "429 Too Many Requests", status_code=429, headers={"Retry-After": str(RATE_LIMIT_RETRY_AFTER_S)}
        )
    return JSONResponse(INTERNAL_ERROR, status_code=500)
