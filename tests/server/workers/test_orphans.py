"""The orphan sweep against a real adapter and its fake cloud."""

from __future__ import annotations

from typing import Any

from harvestgpu.server.workers import orphans
from tests.fakes.http_server import serve_app
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.support import data


async def test_sweep_leaves_instances_the_cloud_reports_terminated(api_factory: Any) -> None:
    """A deleted instance the cloud still lists (an abandoned boot, say) bills nothing: not an orphan."""
    fake = FakeTensorDockCloud()
    with serve_app(fake.app()) as url:
        async with api_factory(tensordock_api_url=url) as api:
            user = await api.register()
            body = {"provider": "tensordock", "api_key": fake.api_key}
            data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            orphan = fake.plant("hg-00000000deadbeef")
            deleted = fake.plant("hg-00000000feedface")
            fake.set_status(deleted, "Deleted")
            swept = await orphans.sweep_once(api.ctx)
            assert [(r["provider"], r["instance_id"]) for r in swept] == [("tensordock", orphan)]
            assert fake.deleted_ids() == {orphan}
