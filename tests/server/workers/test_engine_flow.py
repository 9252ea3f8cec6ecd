from __future__ import annotations

from tests.conftest import Api
from tests.support import data


async def test_quick_start_flow(api: Api) -> None:
    user = await api.register()
    job = data(
        await api.client.post(
            "/api/v1/jobs",
            headers=user["headers"],
            json={
                "gpu": "H100",
                "image": "pytorch/pytorch:latest",
                "command": "python train.py",
                "priority": "cost",
            },
        ),
        201,
    )
    assert job["status"] == "queued"
    got = await api.run_until(user, job["id"], "running")
    assert got["provider"] == "mock" and got["gpu_type"] == "H100-PCIE"
    done = await api.run_until(user, job["id"], "completed", phase="done")
    assert done["total_cost"] > 0 and done["exit_code"] == 0
    logs = data(await api.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=user["headers"]))
    assert any("step 10/10" in line for line in logs["lines"]), logs
