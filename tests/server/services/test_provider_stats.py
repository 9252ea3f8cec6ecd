"""Launch history feeds routing: a cloud that keeps refusing capacity drops in the
`availability` ranking, while `cost` still ranks by price alone. Along the way each job lands on
a fresh Vast.ai machine: a rented offer leaves the account's cached offers after the launch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.fakes.clouds import FAKE_CLOUDS
from tests.fakes.http_server import serve_app
from tests.support import data


@pytest.fixture
def clouds() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    fakes = {slug: FAKE_CLOUDS[slug]() for slug in ("runpod", "vastai")}
    with ExitStack() as stack:
        yield fakes, {f"{s}_api_url": stack.enter_context(serve_app(f.app())) for s, f in fakes.items()}


async def test_refusals_lower_a_clouds_availability_rank(api_factory: Any, clouds: Any) -> None:
    fakes, urls = clouds
    fakes["runpod"].set_price("L40S", 0.60)
    fakes["vastai"].set_price("L40S", 0.90)
    fakes["runpod"].fail_next("launch", "no_capacity", times=100)
    async with api_factory(**urls) as api:
        user = await api.register()
        for slug, fake in fakes.items():
            body = {"provider": slug, "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
        for _ in range(3):  # provider_stats needs 3 attempts before it holds an opinion
            job = data(
                await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "L40S"}), 201
            )
            running = await api.run_until(user, job["id"], "running")
            assert running["provider"] == "vastai"
            assert running["routing"]["attempts"][0]["outcome"] == "no_capacity"

        body = {"gpu": "L40S", "priority": "availability"}
        by_availability = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
        assert by_availability["routing"]["candidates"][0]["provider"] == "vastai"
        by_cost = data(
            await api.client.post("/api/v1/jobs", headers=user["headers"], json={"gpu": "L40S"}), 201
        )
        assert by_cost["routing"]["candidates"][0]["provider"] == "runpod"
