"""GET /metrics: what an operator scrapes. Series carry route templates, providers and outcomes,
never a user, a job id or a key; the gauges show the shared backlog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Api
from tests.fakes.clouds import FAKE_CLOUDS
from tests.fakes.http_server import serve_app
from tests.support import data, error

JOB = {"gpu": "H100", "image": "pytorch/pytorch:latest", "command": "python train.py"}


def samples(response: httpx.Response) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template_without_ids_or_users(api: Api) -> None:
    user = await api.register()
    job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=JOB), 201)
    for _ in range(3):
        data(await api.client.get(f"/api/v1/jobs/{job['id']}", headers=user["headers"]))
    error(await api.client.get("/api/v1/jobs/nope", headers=user["headers"]), 404)
    error(await api.client.get(f"/wp-admin/{job['id']}.php"), 404)
    assert (await api.client.get("/static/app.css")).status_code == 200

    response = await api.client.get("/metrics")
    found = samples(response)
    job_route = "/api/v1/jobs/{job_id}"
    assert value(found, "harvestgpu_http_requests_total", method="GET", route=job_route, status="200") == 3
    assert value(found, "harvestgpu_http_requests_total", method="GET", route=job_route, status="404") == 1
    assert (
        value(found, "harvestgpu_http_requests_total", method="POST", route="/api/v1/jobs", status="201") == 1
    )
    assert value(found, "harvestgpu_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(found, "harvestgpu_http_requests_total", method="GET", route="/static", status="200") == 1
    assert value(found, "harvestgpu_http_request_duration_seconds_count", method="GET", route=job_route) == 4
    for secret in (job["id"], user["email"], user["api_key"], user["user_id"]):
        assert secret not in response.text


async def test_gauges_show_the_engine_backlog_until_workers_catch_up(api_factory: Any) -> None:
    async with api_factory() as api:
        user = await api.register()
        jobs = [
            data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=JOB), 201) for _ in "ab"
        ]
        found = samples(await api.client.get("/metrics"))
        assert value(found, "harvestgpu_active_jobs", status="queued", phase="launch") == 2
        assert value(found, "harvestgpu_engine_due_jobs") == 2
        assert value(found, "harvestgpu_engine_lag_seconds") >= 0
        assert value(found, "harvestgpu_webhook_pending_deliveries") == 0

    # A second process on the same database (its gauges are read afresh) runs both jobs.
    async with api_factory() as api:
        for job in jobs:
            await api.run_until(user, job["id"], "completed", phase="done")
        found = samples(await api.client.get("/metrics"))
        assert value(found, "harvestgpu_engine_due_jobs") == 0
        assert not any(name == "harvestgpu_active_jobs" for name, _ in found)
        assert value(found, "harvestgpu_launch_attempts_total", provider="mock", outcome="launched") == 2


async def test_a_metrics_token_is_required_when_set(api_factory: Any) -> None:
    async with api_factory(metrics_token="scrape-me-9") as api:
        assert error(await api.client.get("/metrics"), 401)
        wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-8"})
        assert "HARVESTGPU_METRICS_TOKEN" in error(wrong, 401)
        right = await api.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-9"})
        assert "harvestgpu_engine_due_jobs" in right.text


@pytest.fixture
def clouds() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    fakes = {slug: cls() for slug, cls in FAKE_CLOUDS.items() if slug in ("runpod", "vastai")}
    with ExitStack() as stack:
        urls = {f"{slug}_api_url": stack.enter_context(serve_app(f.app())) for slug, f in fakes.items()}
        yield fakes, urls


async def test_cloud_calls_are_counted_per_provider_and_status(api_factory: Any, clouds: Any) -> None:
    fakes, urls = clouds
    async with api_factory(**urls) as api:
        user = await api.register()
        for slug, fake in fakes.items():
            body = {"provider": slug, "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
        fakes["runpod"].fail_next("offers", "server_error", times=10)
        data(await api.client.get("/api/v1/pricing", headers=user["headers"]))

        response = await api.client.get("/metrics")
        found = samples(response)
        runpod_errors = sum(
            v
            for (name, labels), v in found.items()
            if name == "harvestgpu_provider_http_requests_total"
            and dict(labels).get("provider") == "runpod"
            and dict(labels)["status"].startswith("5")
        )
        assert runpod_errors >= 1
        vast_ok = sum(
            v
            for (name, labels), v in found.items()
            if name == "harvestgpu_provider_http_requests_total"
            and dict(labels).get("provider") == "vastai"
            and dict(labels)["status"] == "200"
        )
        assert vast_ok >= 1
        assert value(found, "harvestgpu_provider_http_request_duration_seconds_count", provider="vastai") >= 1
        for fake in fakes.values():
            assert fake.api_key not in response.text
