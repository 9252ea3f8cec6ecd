"""Baseline for bench_api: a bare FastAPI endpoint returning a constant JSON document."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()
BODY = {"status": "ok", "data": {"id": "0123456789abcdef", "status": "running", "gpu": "H100"}}


@app.get("/const")
async def const() -> JSONResponse:
    return JSONResponse(BODY)
