"""The fake Vast.ai's HTTP face: the v0/v1 routes over ``VastState``."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.base import bearer_matches
from tests.fakes.vastai.state import VastState
from tests.fakes.vastai.wire import (
    AUTH_BODY,
    COMPUTED_COLUMNS,
    CREDIT_BODY,
    LOGS_DENIED_BODY,
    OFFER_KEYS,
    OFFERS_AUTH_BODY,
    RATE_LIMIT_JSON,
    S3_NO_SUCH_KEY,
    SERVER_ERROR_BODY,
    Answer,
    decode_token,
    encode_token,
    filter_value,
    matches,
    spaces,
)


class FakeVastAICloud(VastState):
    def _build_app(self) -> Any:
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
                self._record_request(scope["method"], scope["path"], headers)
            await inner(scope, receive, send)

        return recording_app

    # ----- plumbing ----------------------------------------------------------------------

    def _guard(
        self, op: str | None, handler: Callable[[Request], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            # Offer search also answers without any key (gpuhunt relies on it), not a wrong one.
            anonymous_search = op == "offers" and "authorization" not in request.headers
            if not bearer_matches(request, self.api_key) and not anonymous_search:
                return self._auth_failure(op)
            fault = self._faults.take(op) if op else None
            kind = fault.kind if fault else ""
            if fault and kind == "slow":
                await request.body()  # read (and cache) it while the client still waits
                await asyncio.sleep(fault.delay_s)
            elif kind and kind != "create_then_fail":
                return self._fault_response(op or "", kind, request)
            try:
                body = await handler(request)
            except Answer as answer:
                return answer.response
            if kind == "create_then_fail":
                return JSONResponse(SERVER_ERROR_BODY, 500)
            return body if isinstance(body, Response) else JSONResponse(body)

        return endpoint

    @staticmethod
    def _auth_failure(op: str | None) -> Response:
        if op == "offers":
            return JSONResponse(OFFERS_AUTH_BODY, 404)
        return JSONResponse(AUTH_BODY, 401)

    def _fault_response(self, op: str, kind: str, request: Request) -> Response:
        if kind == "auth":
            return self._auth_failure(op)
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
        if op in RATE_LIMIT_JSON:
            return JSONResponse(RATE_LIMIT_JSON[op], 429, headers=headers)
        return PlainTextResponse("API requests too frequent endpoint threshold=1.5", 429, headers=headers)

    async def _json_body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise Answer(400, {"error": "invalid_request", "msg": "Invalid json body"})
        return body

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

    async def _search_offers(self, request: Request) -> Any:
        query = await self._json_body(request)
        if "gpu_name" in query:
            query["gpu_name"] = spaces(query["gpu_name"])
        kind = query.get("type", "on-demand")
        if kind not in ("on-demand", "ondemand", "bid", "reserved"):
            raise Answer(400, {"error": "invalid_request", "msg": f"invalid type {kind}"})
        filters = {"verified": {"eq": True}, "rentable": {"eq": True}, "rented": {"eq": False}}
        filters.update({k: v for k, v in query.items() if k not in OFFER_KEYS})
        storage = float(query.get("allocated_storage", 8.0))
        with self._lock:
            offers = [self._offer(i, t, n, storage, kind == "bid") for i, (t, n) in self._asks.items()]
        found = [o for o in offers if all(matches(filter_value(o, f), c) for f, c in filters.items())]
        for field, direction in reversed(query.get("order") or [["score", "desc"]]):
            found.sort(key=lambda o: o.get(field) or 0, reverse=direction == "desc")
        return {"offers": found[: int(query.get("limit", 64))]}

    # ----- instances ---------------------------------------------------------------------

    async def _create(self, request: Request) -> Any:
        body = await self._json_body(request)
        self._keep_launch_body(body)
        ask_param = request.path_params["ask_id"]
        ask_id = int(ask_param) if ask_param.isdigit() else 0
        if not isinstance(body.get("image"), str) or not body["image"]:
            msg = "error 400/3467: Invalid args: 'image' is required"
            raise Answer(400, {"success": False, "error": "invalid_args", "msg": msg, "ask_id": ask_id})
        with self._lock:
            listed = self._asks.get(ask_id)
            gpu_type, count = listed or (None, 0)
            if gpu_type is None or not self._capacity[gpu_type.key or gpu_type.vast_name]:
                if body.get("cancel_unavail", True) and (listed or ask_id in self._retired_asks):
                    msg = f"error 410/3907: no_such_ask Instance type {ask_id} is no longer available."
                    answer = {"success": False, "error": "no_such_ask", "msg": msg, "ask_id": ask_id}
                    raise Answer(410, answer)
                msg = f"error 404/3603: no_such_ask Instance type by id {ask_id} is not available."
                raise Answer(404, {"success": False, "error": "invalid_args", "msg": msg, "ask_id": ask_id})
            # The machine is now rented: its ask is gone and an identical machine is listed.
            del self._asks[ask_id]
            self._retired_asks.add(ask_id)
            self._asks[self._new_id()] = (gpu_type, count)
            record = self._new_instance(gpu_type, count, body)
            leftover = self._stopped_creates.popleft() if self._stopped_creates else None
            if leftover is not None:
                status, answer = leftover
                record.update(self._stopped_fields())
                raise Answer(status, {**answer, "ask_id": ask_id, "new_contract": record["id"]})
        return {"success": True, "new_contract": record["id"], "instance_api_key": secrets.token_hex(16)}

    async def _show(self, request: Request) -> Any:
        iid = request.path_params["iid"]
        with self._lock:
            record = self._instances.get(int(iid)) if iid.isdigit() else None
            if record is None:
                if self.unknown_instance_status == 404:
                    raise Answer(404, {"success": False, "error": "not_found", "msg": "Instance not found"})
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
                record.update(self._stopped_fields())
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
            raise Answer(400, {"error": "invalid_request", "msg": "Error in query parameters"}) from None
        limit = 5 if limit <= 0 else min(limit, 25)
        if any(d.get("col") != "id" for d in order):
            raise Answer(400, {"error": "invalid_request", "msg": "the fake orders by id only"})
        descending = bool(order) and order[0].get("dir") == "desc"
        after = decode_token(params.get("after_token"))
        with self._lock:
            records = [copy.deepcopy(r) for _, r in sorted(self._instances.items(), reverse=descending)]
        for column in filters:
            if column in COMPUTED_COLUMNS or (records and column not in records[0]):
                msg = f"Error in query parameters: {column} is not a valid search key"
                raise Answer(400, {"error": "invalid_request", "msg": msg})
        matching = [r for r in records if all(matches(r.get(c), ops) for c, ops in filters.items())]
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
            "next_token": encode_token(page[-1]["id"]) if more else None,
            "instances": page,
        }

    # ----- logs --------------------------------------------------------------------------

    async def _request_logs(self, request: Request) -> Any:
        body = await self._json_body(request)
        tail = int(str(body.get("tail") or "1000"))
        with self._lock:
            record = self._instance_or_404(
                request.path_params["iid"], {"error": "invalid_id", "msg": "Invalid instance id."}
            )
            if record["id"] in self._logs_denied:
                raise Answer(403, LOGS_DENIED_BODY)
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
