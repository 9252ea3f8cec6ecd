"""The orphan sweep against a real adapter and its fake cloud."""

from __future__ import annotations

from typing import Any

from harvestgpu.server.workers import orphans
from tests.fakes.http_server import serve_app
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.support import data, wait_for


async def test_sweep_leaves_instances_the_cloud_reports_terminated(api_factory: Any) -> None:
    """A deleted instance the cloud still lists (an abandoned boot, say) bills nothing: not an orphan."""
    fake = FakeTensorDockCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(tensordock_api_url=url, orphan_grace_s=0) as api:
            user = await api.register()
            body = {"provider": "tensordock", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            orphan = fake.plant("hg-00000000deadbeef")
            deleted = fake.plant("hg-00000000feedface")
            fake.set_status(deleted, "Deleted")
            swept = await orphans.sweep_once(api.ctx)
            assert [(r["provider"], r["instance_id"]) for r in swept] == [("tensordock", orphan)]
            assert fake.deleted_ids() == {orphan}


async def test_sweep_never_touches_the_users_own_machines(api_factory: Any) -> None:
    """Users run their own instances under the same keys; only our exact names are candidates."""
    fake = FakeTensorDockCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(tensordock_api_url=url, orphan_grace_s=0) as api:
            user = await api.register()
            body = {"provider": "tensordock", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            for name in ("hg-test", "hg-my-training-box", "hg-00000000DEADBEEF", "hg-00000000deadbeef0"):
                fake.plant(name)
            assert await orphans.sweep_once(api.ctx) == []
            assert fake.deleted_ids() == set()


async def test_unknown_instance_without_a_creation_time_gets_its_grace_from_first_sighting(
    api_factory: Any,
) -> None:
    """TensorDock lists no creation time: the instance may be a launch whose row is being written."""
    fake = FakeTensorDockCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(tensordock_api_url=url, orphan_grace_s=1) as api:
            user = await api.register()
            body = {"provider": "tensordock", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            orphan = fake.plant("hg-00000000deadbeef")
            assert await orphans.sweep_once(api.ctx) == []  # first sighting: within the grace
            assert fake.deleted_ids() == set()

            async def swept() -> bool:
                return bool(await orphans.sweep_once(api.ctx))

            await wait_for(swept, timeout=20, interval=0.2, what="orphan swept after its grace")
            assert fake.deleted_ids() == {orphan}
