"""The orphan sweep against a real adapter and its fake cloud."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select

from harvestgpu.server import orm
from harvestgpu.server.workers import orphans
from tests.conftest import Api
from tests.fakes.http_server import serve_app
from tests.fakes.lambdalabs import FakeLambdaCloud
from tests.fakes.runpod import FakeRunPodCloud
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.support import data, wait_for


@asynccontextmanager
async def tensordock_account(
    api_factory: Any, grace_s: float
) -> AsyncIterator[tuple[Api, FakeTensorDockCloud]]:
    """An app whose one user has connected a fake TensorDock account (which lists no creation times)."""
    fake = FakeTensorDockCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(tensordock_api_url=url, orphan_grace_s=grace_s) as api:
            user = await api.register()
            body = {"provider": "tensordock", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            yield api, fake


async def test_sweep_leaves_instances_the_cloud_reports_terminated(api_factory: Any) -> None:
    """A deleted instance the cloud still lists (an abandoned boot, say) bills nothing: not an orphan."""
    async with tensordock_account(api_factory, grace_s=0) as (api, fake):
        orphan = fake.plant("hg-00000000deadbeef")
        deleted = fake.plant("hg-00000000feedface")
        fake.set_status(deleted, "Deleted")
        swept = await orphans.sweep_once(api.ctx)
        assert [(r["provider"], r["instance_id"]) for r in swept] == [("tensordock", orphan)]
        assert fake.deleted_ids() == {orphan}


async def test_sweep_never_touches_the_users_own_machines(api_factory: Any) -> None:
    """Users run their own instances under the same keys; only our exact names are candidates."""
    async with tensordock_account(api_factory, grace_s=0) as (api, fake):
        for name in ("hg-test", "hg-my-training-box", "hg-00000000DEADBEEF", "hg-00000000deadbeef0"):
            fake.plant(name)
        assert await orphans.sweep_once(api.ctx) == []
        assert fake.deleted_ids() == set()


async def test_unknown_instance_without_a_creation_time_gets_its_grace_from_first_sighting(
    api_factory: Any,
) -> None:
    """TensorDock lists no creation time: the instance may be a launch whose row is being written."""
    async with tensordock_account(api_factory, grace_s=1) as (api, fake):
        orphan = fake.plant("hg-00000000deadbeef")
        assert await orphans.sweep_once(api.ctx) == []  # first sighting: within the grace
        assert fake.deleted_ids() == set()

        async def swept() -> bool:
            return bool(await orphans.sweep_once(api.ctx))

        await wait_for(swept, timeout=20, interval=0.2, what="orphan swept after its grace")
        assert fake.deleted_ids() == {orphan}


async def test_an_instance_whose_marker_names_another_job_is_not_ours(api_factory: Any) -> None:
    """RunPod echoes the HARVESTGPU_JOB_ID env set at launch: a name alone is not enough."""
    fake = FakeRunPodCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(runpod_api_url=url, orphan_grace_s=0) as api:
            user = await api.register()
            body = {"provider": "runpod", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            theirs = fake.plant("hg-00000000deadbeef", env={"HARVESTGPU_JOB_ID": "00000000cafecafe"})
            ours = fake.plant("hg-00000000feedface", env={"HARVESTGPU_JOB_ID": "00000000feedface"})
            swept = await orphans.sweep_once(api.ctx)
            assert [r["instance_id"] for r in swept] == [ours]
            assert theirs not in fake.deleted_ids()


async def test_an_orphan_still_going_away_is_terminated_again_but_recorded_once(api_factory: Any) -> None:
    """Lambda lists a terminated instance as 'terminating' for a while: not yet confirmed gone."""
    fake = FakeLambdaCloud()
    fake.terminating_reads = 100
    with serve_app(fake.app()) as url:
        async with api_factory(lambda_api_url=url, orphan_grace_s=0) as api:
            user = await api.register()
            body = {"provider": "lambda", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            orphan = fake.plant("hg-00000000deadbeef")
            first = await orphans.sweep_once(api.ctx)
            assert [r["instance_id"] for r in first] == [orphan]
            assert await orphans.sweep_once(api.ctx) == []  # retried, not reported twice
            rows = await api.ctx.db.fetch_all(select(orm.orphan_terminations))
            assert [r["instance_id"] for r in rows] == [orphan]
