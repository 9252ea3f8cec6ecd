"""Lambda Cloud's error envelopes (lambda-tensordock.md): ``{"error": {code, message, suggestion}}``."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response


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


def fault_response(kind: str, retry_after_s: int | None = None) -> Response:
    if kind == "auth":
        return JSONResponse(INVALID_KEY, status_code=401)
    if kind == "balance":
        return JSONResponse(ACCOUNT_INACTIVE, status_code=403)
    if kind == "no_capacity":
        return JSONResponse(NO_CAPACITY, status_code=400)
    if kind == "rate_limit":
        # Lambda's 429 body and headers are undocumented: a plain-text body makes clients cope
        # with non-JSON, and Retry-After is only sent when a test asks for it.
        headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
        return PlainTextResponse("429 Too Many Requests", status_code=429, headers=headers)
    return JSONResponse(INTERNAL_ERROR, status_code=500)
