"""The fake Lambda Cloud's HTTP face: the v1 routes over ``LambdaState``."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import Fault
from tests.fakes.lambdalabs.state import LambdaState, region_json
from tests.fakes.lambdalabs.wire import (
    INSTANCE_NOT_FOUND,
    INTERNAL_ERROR,
    INVALID_KEY,
    NO_CAPACITY,
    error,
    fault_response,
    generated_private_key,
    invalid,
)

_UNPARSABLE = object()


@dataclass(frozen=True)
class _Gated:
    response: Response | None  # send this instead of the normal answer
    fault: Fault | None  # a fault the handler itself must still act on (create_then_fail)
    body: Any  # the parsed JSON body, None when empty, _UNPARSABLE when not JSON


class FakeLambdaCloud(LambdaState):
    def _build_app(self) -> Starlette:
        prefix = "/api/v1"
        return Starlette(
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
        self._record(request)
        if not self._authorized(request):
            return _Gated(JSONResponse(INVALID_KEY, status_code=401), None, body)
        if "launch" in ops and isinstance(body, dict):
            self._keep_launch_body(body)
        fault = self._faults.take(*ops)
        if fault is None or fault.kind == "create_then_fail":
            return _Gated(None, fault, body)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_s)
            return _Gated(None, None, body)
        return _Gated(fault_response(fault.kind, self.rate_limit_retry_after_s), None, body)

    async def _instance_types(self, request: Request) -> Response:
        gated = await self._gate(request, "validate", "offers")
        if gated.response is not None:
            return gated.response
        with self._lock:
            data = {
                name: {
                    "instance_type": copy.deepcopy(instance_type),
                    "regions_with_capacity_available": [region_json(r) for r in self._capacity[name]],
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
            # Each status read moves the lifecycle one step: booting -> active, terminating
            # (for ``terminating_reads`` reads) -> terminated -> gone (404).
            if record["status"] == "booting":
                self._activate(record)
            elif record["status"] == "terminating":
                left = self._terminating_reads_left.pop(instance_id, 0)
                if left > 0:
                    self._terminating_reads_left[instance_id] = left - 1
                else:  # this read is the one that shows "terminated"
                    shown["status"] = "terminated"
                    del self._instances[instance_id]
            elif record["status"] == "terminated":
                del self._instances[instance_id]
        return JSONResponse({"data": shown})

    async def _launch(self, request: Request) -> Response:
        gated = await self._gate(request, "launch")
        if gated.response is not None:
            return gated.response
        body = gated.body
        if not isinstance(body, dict):
            return invalid("body", "Request body must be a JSON object.")
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
            return invalid("instance_type_name", f"Unknown instance type: {type_name}")
        region = body.get("region_name")
        if not isinstance(region, str) or not region:
            return invalid("region_name", "A region name is required.")
        keys = body.get("ssh_key_names")
        if not isinstance(keys, list) or len(keys) != 1:
            return invalid("ssh_key_names", "Exactly one SSH key must be specified.")
        if keys[0] not in {k["name"] for k in self._ssh_keys}:
            return JSONResponse(
                error("global/object-does-not-exist", f"SSH key '{keys[0]}' not found.", "Check the name."),
                status_code=404,
            )
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > 64):
            return invalid("name", "Name must be a string of at most 64 characters.")
        user_data = body.get("user_data")
        if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > 1_000_000):
            return invalid("user_data", "user_data must be plain text of at most 1 MB.")
        if body.get("quantity", 1) != 1:
            return invalid("quantity", "quantity must be 1.")
        return None

    async def _terminate(self, request: Request) -> Response:
        gated = await self._gate(request, "terminate")
        if gated.response is not None:
            return gated.response
        body = gated.body
        ids = body.get("instance_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            return invalid("instance_ids", "At least one instance id is required.")
        with self._lock:
            if any(iid not in self._instances for iid in ids):
                return JSONResponse(INSTANCE_NOT_FOUND, status_code=404)
            terminated = []
            for iid in ids:
                record = self._instances[iid]
                if record["status"] not in ("terminating", "terminated"):
                    record["status"] = "terminating"
                    self._terminating_reads_left[iid] = self.terminating_reads
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
            return invalid("name", "Name must be 1 to 64 characters.")
        public_key = body.get("public_key")
        with self._lock:
            if any(k["name"] == name for k in self._ssh_keys):
                return JSONResponse(
                    error("global/duplicate", f"SSH key '{name}' already exists."), status_code=409
                )
            key = {"id": secrets.token_hex(16), "name": name}
            private_key = None
            if not isinstance(public_key, str) or not public_key:
                private_key = generated_private_key()
                public_key = f"ssh-rsa AAAAB3NzaC1yc2E{secrets.token_hex(24)} generated"
            key["public_key"] = public_key
            self._ssh_keys.append(key)
        data: dict[str, str] = dict(key)
        if private_key is not None:
            data["private_key"] = private_key
        return JSONResponse({"data": data})
