"""Lambda Cloud's error envelopes (lambda-tensordock.md): ``{"error": {code, message, suggestion}}``."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response

RATE_LIMIT_RETRY_AFTER_S = 1


def error(code: str, message: str, suggestion: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if suggestion:
        body["suggestion"] = suggestion
    return {"error": body}


INVALID_KEY = error(
    "global/invalid-api-key",
    "API key was invalid, expired, or deleted.",
    "Check your API key or create a new one, then try again.",
)
ACCOUNT_INACTIVE = error(
    "global/account-inactive",
    "Your account is inactive.",
    "Make sure you have verified your email address and have a valid payment method. "
    "Contact Support if problems continue.",
)
NO_CAPACITY = error(
    "instance-operations/launch/insufficient-capacity",
    "Not enough capacity to fulfill launch request.",
    "Choose a different region or instance type, or try again later.",
)
INTERNAL_ERROR = error(
    "global/internal-error",
    "An internal server error occurred.",
    "Try again later. Contact Support if the problem persists.",
)
INSTANCE_NOT_FOUND = error("global/object-does-not-exist", "Specified instance does not exist.")


def generated_private_key() -> str:
    return f"-----BEGIN RSA PRIVATE KEY-----\n{secrets.token_hex(48)}\n-----END RSA PRIVATE KEY-----\n"


def invalid(field: str, message: str) -> JSONResponse:
    body = error("global/invalid-parameters", "Invalid request data.")
    body["field_errors"] = {field: {"code": "global/invalid-parameters", "message": message}}
    return JSONResponse(body, status_code=400)


def fault_response(kind: str) -> Response:
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
