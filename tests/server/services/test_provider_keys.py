"""Adapters built for a user's account get that cloud's own timeout (HARVESTGPU_PROVIDER_TIMEOUTS)."""

from __future__ import annotations

from typing import Any

from tests.fakes.http_server import serve_app
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.support import data


async def test_a_slow_tensordock_create_is_waited_for_not_retried(api_factory: Any) -> None:
    fake = FakeTensorDockCloud()
    fake.fail_next("launch", "slow", delay_s=1.5)
    with serve_app(fake.app()) as url:
        settings = {
            "tensordock_api_url": url,
            "provider_timeout_s": 0.5,
            "provider_timeouts": "tensordock=10",
        }
        async with api_factory(**settings) as api:
            user = await api.register()
            key = {"provider": "tensordock", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=key))
            body = {"gpu": "L40S", "command": "python train.py", "provider": "tensordock"}
            job = data(await api.client.post("/api/v1/jobs", headers=user["headers"], json=body), 201)
            while (await api.phase(job["id"])) == "launch":
                await api.drive()
            placed = await api.job(user, job["id"])
            assert [a["outcome"] for a in placed["routing"]["attempts"]] == ["launched"]
            assert placed["provider"] == "tensordock"
            assert len(fake.launch_bodies) == 1 and list(fake.instances()) == [placed["instance_id"]]
