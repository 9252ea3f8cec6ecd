"""RunPod's error bodies, headers and request validation (shared/providers/runpod-vastai.md §1).

Errors are problem+json with the RateLimit headers every response carries; schema violations are
422 with an ``errors`` list, semantic ones 400.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

NO_CAPACITY_DETAIL = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
FAULT_ERRORS = {
    "auth": (401, "Unauthorized", "invalid bearer token"),
    "balance": (402, "Payment Required", "insufficient balance"),
    "no_capacity": (400, "Bad Request", NO_CAPACITY_DETAIL),
    "server_error": (500, "Internal Server Error", "internal server error"),
    "create_then_fail": (500, "Internal Server Error", "internal server error"),
}
RATE_LIMIT_HEADERS = {
    "RateLimit": '"minute";r=59;t=60, "hour";r=2999;t=3600, "day";r=49999;t=86400',
    "RateLimit-Policy": '"minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400',
}
_CREATE_FIELDS = {
    "name", "image", "args", "env", "disk", "ports", "gpu", "cpu", "cloud", "dataCenterIds",
    "mounts", "registry", "templateId", "startSsh", "startJupyter", "globalNetworking",
}  # fmt: skip
_GPU_FIELDS = {"id", "count", "allowedCudaVersions", "minCudaVersion"}
_PATCH_FIELDS = {"name", "image", "args", "env", "disk", "ports", "registry", "mounts", "globalNetworking"}


MAINTENANCE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Down for maintenance</title></head>"
    "<body><h1>We&rsquo;ll be back shortly.</h1></body></html>\n"
)


def not_runpod(kind: str) -> Response:
    """A 200 from something in front of the API: an empty body or an HTML page."""
    if kind == "empty_200":
        return Response(b"", status_code=200, media_type="application/json")
    return Response(MAINTENANCE_PAGE, status_code=200, media_type="text/html")


def problem(status: int, title: str, detail: str, errors: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=dict(RATE_LIMIT_HEADERS)
    )


def invalid(*errors: str) -> JSONResponse:
    return problem(422, "Unprocessable Entity", "Request validation failed.", list(errors))


def catalog_params(query: Any) -> tuple[bool, Response | None]:
    """(whether include=AVAILABILITY was asked for, the 400 to send if the query is invalid)."""
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


def validate_create(body: Any) -> Response | None:
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


def validate_patch(body: Any) -> Response | None:
    if not isinstance(body, dict):
        return invalid("$: expected object")
    unknown = sorted(set(body) - _PATCH_FIELDS)
    if unknown:
        return invalid(*(f"$: additional properties '{name}' not allowed" for name in unknown))
    return None
