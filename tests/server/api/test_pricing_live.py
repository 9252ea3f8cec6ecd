"""Live offers from connected accounts: one slow or failing cloud never blocks the others, and
its error is reported beside their offers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.conftest import Api
from tests.fakes.clouds import FAKE_CLOUDS
from tests.fakes.http_server import serve_app
from tests.support import data


@pytest.fixture
def clouds() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    fakes = {slug: cls() for slug, cls in FAKE_CLOUDS.items()}
    with ExitStack() as stack:
        urls = {f"{slug}_api_url": stack.enter_context(serve_app(f.app())) for slug, f in fakes.items()}
        yield fakes, urls


async def connect_all(api: Api, fakes: dict[str, Any]) -> dict[str, Any]:
    user = await api.register()
    for slug, fake in fakes.items():
        body = {"provider": slug, "api_key": fake.api_key}
        data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
    return user


async def test_pricing_shows_every_connected_cloud_with_age(api_factory: Any, clouds: Any) -> None:
    fakes, urls = clouds
    async with api_factory(**urls) as api:
        user = await connect_all(api, fakes)
        pricing = data(await api.client.get("/api/v1/pricing?gpu=H100-SXM", headers=user["headers"]))
        assert {p["provider"] for p in pricing["pricing"]} >= set(fakes)
        assert all(p["age_s"] >= 0 and p["gpu_model"] == "H100-SXM" for p in pricing["pricing"])
        gpus = data(await api.client.get("/api/v1/providers/vastai/gpus", headers=user["headers"]))
        assert gpus["connected"] is True and {g["provider"] for g in gpus["gpus"]} == {"vastai"}
        providers = data(await api.client.get("/api/v1/providers", headers=user["headers"]))["providers"]
        assert all(p["connected"] for p in providers)


async def test_failing_and_slow_clouds_do_not_block_the_others(api_factory: Any, clouds: Any) -> None:
    fakes, urls = clouds
    async with api_factory(provider_timeout_s=1.0, **urls) as api:
        user = await connect_all(api, fakes)
        fakes["runpod"].fail_next("offers", "server_error", times=10)
        fakes["lambda"].fail_next("offers", "slow", delay_s=3.0)
        pricing = data(await api.client.get("/api/v1/pricing", headers=user["headers"]))
        states = {s["provider"]: s for s in pricing["providers"]}
        assert states["runpod"]["state"] == "error" and states["runpod"]["error"]
        assert states["lambda"]["state"] == "error"
        assert states["vastai"]["state"] == "ok" and states["tensordock"]["state"] == "ok"
        assert {"vastai", "tensordock"} <= {p["provider"] for p in pricing["pricing"]}
        for fake in fakes.values():
            assert fake.api_key not in str(pricing)


async def test_a_job_lands_on_the_cheapest_connected_cloud_not_the_mock(
    api_factory: Any, clouds: Any
) -> None:
    fakes, urls = clouds
    for price, slug in enumerate(("tensordock", "lambda", "runpod", "vastai")):
        fakes[slug].set_price("L40S", 0.70 + price / 10)
    async with api_factory(**urls) as api:
        user = await connect_all(api, fakes)
        body = {"gpu": "L40S", "command": "python train.py"}
        job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
        assert job["routing"]["candidates"][0]["provider"] == "tensordock"
        assert "mock" not in {c["provider"] for c in job["routing"]["candidates"]}
        mock_job = data(
            await api.client.post("/api/v1/jobs", headers=user["headers"], json={**body, "provider": "mock"}),
            201,
        )
        assert {c["provider"] for c in mock_job["routing"]["candidates"]} == {"mock"}
