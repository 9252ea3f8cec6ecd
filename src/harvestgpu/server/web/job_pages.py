"""/dashboard (live jobs table, submit form) and /jobs/{id} (details, routing trace, live logs, stop)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from harvestgpu import gpus
from harvestgpu.models.jobs import JOB_STATUSES
from harvestgpu.providers import registry
from harvestgpu.server.errors import ApiError, BadRequest
from harvestgpu.server.ratelimit import limiter_of
from harvestgpu.server.schemas import JobSubmitRequest
from harvestgpu.server.services import jobs as job_service
from harvestgpu.server.services import provider_keys, usage
from harvestgpu.server.services.accounts import AuthUser
from harvestgpu.server.web.forms import (
    FORM_ERROR,
    optional_int,
    optional_number,
    optional_text,
    read_form,
    validate,
)
from harvestgpu.server.web.rendering import WebRoute, redirect, render
from harvestgpu.server.web.session import ctx_of, require_user

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 25
LOG_PAGE_LINES = 2000
# Free text, not a Literal: the filter form sends "" for "all statuses".
StatusFilter = Annotated[str | None, Query(max_length=16)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
SUBMIT_DEFAULTS = {"image": "pytorch/pytorch:latest", "priority": "cost", "gpu_count": "1"}


async def _jobs_table(request: Request, user: AuthUser, status: str | None, offset: int) -> dict[str, Any]:
    status = status if status in JOB_STATUSES else None
    page = await job_service.list_jobs(
        ctx_of(request), user, status=status, gpu=None, provider=None, limit=PAGE_SIZE, offset=offset
    )
    return {
        "jobs": page["jobs"],
        "total": page["total"],
        "offset": offset,
        "page_size": PAGE_SIZE,
        "status_filter": status or "",
        "statuses": JOB_STATUSES,
    }


async def _dashboard(
    request: Request,
    user: AuthUser,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status: str | None = None,
    offset: int = 0,
    status_code: int = 200,
) -> Response:
    ctx = ctx_of(request)
    connected = [k["provider"] for k in await provider_keys.list_public(ctx, user) if k["active"]]
    context = {
        **await _jobs_table(request, user, status, offset),
        "usage": await usage.current_usage(ctx, user.id),
        "values": {**SUBMIT_DEFAULTS, **values},
        "errors": errors,
        "gpu_names": gpus.known_names(),
        "provider_choices": [registry.MOCK, *connected],
        # A fresh Idempotency-Key per rendered form: a double-click submits one job, not two.
        "submit_token": secrets.token_urlsafe(16),
    }
    return await render(request, "dashboard.html", context, status_code=status_code)


@router.get("/dashboard")
async def dashboard(request: Request, status: StatusFilter = None, offset: Offset = 0) -> Response:
    user = await require_user(request)
    return await _dashboard(request, user, values={}, errors={}, status=status, offset=offset)


@router.get("/dashboard/jobs")
async def jobs_table(request: Request, status: StatusFilter = None, offset: Offset = 0) -> Response:
    user = await require_user(request)
    return await render(request, "_jobs_table.html", await _jobs_table(request, user, status, offset))


def _parse_env(text: str | None) -> tuple[dict[str, str] | None, str | None]:
    env: dict[str, str] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            return None, f"Line {number}: write one NAME=value per line."
        env[name.strip()] = value
    return (env or None), None


def _service_error_field(exc: ApiError, form: JobSubmitRequest) -> str:
    if isinstance(exc, BadRequest) and gpus.parse(form.gpu) is None:
        return "gpu"
    if isinstance(exc, BadRequest) and form.provider and form.provider in exc.message:
        return "provider"
    return FORM_ERROR


async def _submit_within_plan(
    request: Request, user: AuthUser, form: JobSubmitRequest, submit_token: str | None
) -> dict[str, Any]:
    """Submit exactly as the API does (the plan's jobs per hour included)."""
    job, _created = await job_service.submit_within_plan(
        ctx_of(request), limiter_of(request), user, form, submit_token
    )
    return job


@router.post("/dashboard/jobs")
async def submit_job(request: Request) -> Response:
    user = await require_user(request)
    fields = await read_form(request)
    env, env_error = _parse_env(fields.get("env"))
    values: dict[str, Any] = {
        "gpu": (fields.get("gpu") or "").strip(),
        # A cleared image field is refused as the API refuses an empty image, not silently replaced.
        "image": (fields.get("image") or "").strip() if "image" in fields else None,
        "command": optional_text(fields.get("command")),
        "budget_max_per_hour": optional_number(fields.get("budget_max_per_hour")),
        "max_duration_hours": optional_number(fields.get("max_duration_hours")),
        "max_total_cost": optional_number(fields.get("max_total_cost")),
        "priority": optional_text(fields.get("priority")),
        "gpu_count": optional_int(fields.get("gpu_count")),
        "provider": optional_text(fields.get("provider")),
        "env": env,
    }
    form, errors = validate(JobSubmitRequest, values)
    if env_error:
        errors["env"] = env_error
    if errors and values["gpu"] and "gpu" not in errors and gpus.parse(values["gpu"]) is None:
        # The service would say this once the other fields are fixed; say it now, with the others.
        errors["gpu"] = f"Unknown GPU '{values['gpu']}'. Known GPUs: {', '.join(gpus.known_names())}"
    if form is not None and not errors:
        try:
            job = await _submit_within_plan(request, user, form, optional_text(fields.get("submit_token")))
        except ApiError as exc:
            if exc.status not in (400, 409, 429, 503):
                raise
            errors = {_service_error_field(exc, form): exc.message}
        else:
            return redirect(f"/jobs/{job['id']}?notice=submitted")
    shown = {k: v for k, v in fields.items() if k != "submit_token"}
    return await _dashboard(request, user, values=shown, errors=errors, status_code=400)


async def _job_context(request: Request, user: AuthUser, job_id: str) -> dict[str, Any]:
    job = await job_service.get(ctx_of(request), user, job_id)
    return {"job": job, "routing": job["routing"]}


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    user = await require_user(request)
    context = await _job_context(request, user, job_id)
    logs = await job_service.logs(ctx_of(request), user, job_id, 0, LOG_PAGE_LINES)
    return await render(request, "job.html", {**context, "logs": logs})


@router.get("/jobs/{job_id}/summary")
async def job_summary(request: Request, job_id: str) -> Response:
    user = await require_user(request)
    return await render(request, "_job_summary.html", await _job_context(request, user, job_id))


@router.get("/jobs/{job_id}/routing")
async def job_routing(request: Request, job_id: str) -> Response:
    user = await require_user(request)
    return await render(request, "_job_routing.html", await _job_context(request, user, job_id))


@router.get("/jobs/{job_id}/logs")
async def job_logs(request: Request, job_id: str, offset: Offset = 0) -> Response:
    user = await require_user(request)
    logs = await job_service.logs(ctx_of(request), user, job_id, offset, LOG_PAGE_LINES)
    return await render(request, "_job_logs.html", {"job": {"id": job_id}, "logs": logs})


@router.post("/jobs/{job_id}/stop")
async def stop_job(request: Request, job_id: str) -> Response:
    user = await require_user(request)
    await read_form(request)
    try:
        await job_service.stop(ctx_of(request), user, job_id)
    except BadRequest:
        return redirect(f"/jobs/{job_id}?notice=already-ended")
    return redirect(f"/jobs/{job_id}?notice=stopped")
