"""Endpoints the boot script on VM-cloud instances calls (not for users; per-job token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from harvestgpu.server.api.deps import Ctx, ok
from harvestgpu.server.services import agent

router = APIRouter(prefix="/api/v1/agent/jobs", tags=["agent"], include_in_schema=True)


class AgentLogsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[Annotated[str, Field(max_length=100_000)]] = Field(max_length=10_000)


class AgentExitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    exit_code: int = Field(ge=-255, le=255)


def _bearer(value: str | None) -> str:
    scheme, _, token = (value or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@router.post("/{job_id}/logs", summary="Append log lines (boot script on the instance)")
async def post_logs(
    job_id: str, body: AgentLogsRequest, ctx: Ctx, authorization: Annotated[str | None, Header()] = None
) -> JSONResponse:
    agent.check_token(ctx, job_id, _bearer(authorization))
    return ok(await agent.append_logs(ctx, job_id, body.lines))


@router.post("/{job_id}/exit", summary="Report the container's exit code (boot script on the instance)")
async def post_exit(
    job_id: str, body: AgentExitRequest, ctx: Ctx, authorization: Annotated[str | None, Header()] = None
) -> JSONResponse:
    agent.check_token(ctx, job_id, _bearer(authorization))
    return ok(await agent.report_exit(ctx, job_id, body.exit_code))
