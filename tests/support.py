"""Test helpers shared by the suite: databases per test, an in-process app, waiting on conditions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import psycopg

T = TypeVar("T")

PG_URL_ENV = "HARVESTGPU_TEST_DATABASE_URL"
REDIS_URL_ENV = "HARVESTGPU_TEST_REDIS_URL"


def pg_base_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


def _admin_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


_template: str | None = None


def fresh_pg_database() -> str:
    """A new, migrated PostgreSQL database for one test (cloned from a template made once)."""
    global _template
    base = pg_base_url()
    assert base, PG_URL_ENV + " is not set"
    root, _, _db = base.rpartition("/")
    from harvestgpu.server.db import run_migrations

    with psycopg.connect(_admin_dsn(base), autocommit=True) as conn:
        if _template is None:
            name = f"hg_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            conn.execute(f'CREATE DATABASE "{name}"')
            run_migrations(f"{root}/{name}")
            _template = name
        db = f"hg_t_{uuid.uuid4().hex[:12]}"
        conn.execute(f'CREATE DATABASE "{db}" TEMPLATE "{_template}"')
    return f"{root}/{db}"


def drop_pg_database(url: str) -> None:
    base = pg_base_url()
    assert base
    name = url.rpartition("/")[2]
    with psycopg.connect(_admin_dsn(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def wait_for(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_for_sync(
    check: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def data(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text}"
    body = resp.json()
    assert body["status"] == "ok", body
    return body["data"]


def error(resp: httpx.Response, status: int) -> str:
    assert resp.status_code == status, f"expected {status}, got {resp.status_code}: {resp.text}"
    body = resp.json()
    assert body["status"] == "error" and isinstance(body["error"], str) and body["error"], body
    assert set(body) == {"status", "error"}, body
    return str(body["error"])


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if it is still there after ``grace_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
