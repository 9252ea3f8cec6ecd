"""Vast.ai's error bodies and query language (providers/runpod-vastai.md §2).

Handlers raise ``Answer`` to reply with an error body; the routes turn it into the response.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

AUTH_BODY = {"success": False, "error": "auth_error", "msg": "Invalid user key"}
# searchOffers documents its own answer to a bad key: 404 with only the message.
OFFERS_AUTH_BODY = {"msg": "Invalid user key"}
LOGS_DENIED_BODY = {"error": "not_authorized", "msg": "Not authorized to view logs for this instance"}
# What Docker reports when the container cannot start; Vast shows it while still "created".
OCI_FAILURE_MSG = (
    "failed to create task for container: failed to create shim task: OCI runtime create failed: "
    'runc create failed: unable to start container process: exec: "sh": '
    "executable file not found in $PATH: unknown"
)
SERVER_ERROR_BODY = {"success": False, "error": "server_error", "msg": "Internal Server Error"}
CREDIT_BODY = {"success": False, "msg": "Insufficient credit"}
S3_NO_SUCH_KEY = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code></Error>"
# The 429 bodies each endpoint documents; the others answer plain text.
RATE_LIMIT_JSON: dict[str, dict[str, Any]] = {
    "launch": {"detail": "API requests too frequent endpoint threshold=4.5"},
    "get": {"detail": "API requests too frequent endpoint threshold=2.0"},
    "list": {"detail": "API requests too frequent endpoint threshold=1.0"},
    "terminate": {
        "success": False,
        "error": "rate_limit_exceeded",
        "msg": "API requests too frequent endpoint threshold=3.0",
    },
}
COMPUTED_COLUMNS = frozenset({"dph_total", "num_gpus", "dph_base", "search", "instance"})
OFFER_KEYS = frozenset({"type", "order", "limit", "allocated_storage", "disable_bundling"})


class Answer(Exception):
    """Raised inside a handler to answer with this status and body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.response: Response = (
            PlainTextResponse(body, status) if isinstance(body, str) else JSONResponse(body, status)
        )


def matches(value: Any, ops: Any) -> bool:
    if not isinstance(ops, dict):
        ops = {"eq": ops}
    for op, target in ops.items():
        if op in ("in", "notin") and not isinstance(target, list):
            raise Answer(400, {"error": "invalid_request", "msg": f"'{op}' needs a list"})
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
            raise Answer(400, {"error": "invalid_request", "msg": f"unknown operator {op}"})
        if not ok:
            return False
    return True


def spaces(value: Any) -> Any:
    """The CLI's query language writes RTX_4090; the API compares RTX 4090."""
    if isinstance(value, str):
        return value.replace("_", " ")
    if isinstance(value, list):
        return [spaces(v) for v in value]
    if isinstance(value, dict):
        return {k: spaces(v) for k, v in value.items()}
    return value


def filter_value(offer: Mapping[str, Any], field: str) -> Any:
    if field == "verified":
        return offer["verification"] == "verified"
    if field == "datacenter":
        return offer["hosting_type"] >= 1
    if field == "geolocation":
        return str(offer["geolocation"]).rsplit(", ", 1)[-1]
    if field not in offer:
        raise Answer(400, {"error": "invalid_request", "msg": f"{field} is not a valid search key"})
    return offer[field]


def encode_token(last_id: int) -> str:
    return base64.b64encode(json.dumps({"values": {"id": last_id}}).encode()).decode()


def decode_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        return int(json.loads(base64.b64decode(token, validate=True))["values"]["id"])
    except (ValueError, KeyError, TypeError):
        raise Answer(400, {"error": "invalid_token", "msg": "Invalid after_token"}) from None
