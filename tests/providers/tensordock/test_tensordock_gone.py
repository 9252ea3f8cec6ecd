"""What may read as "the VM is gone": only a 404 (or the not-found error body TensorDock sends
with HTTP 200), never a 200 that is not TensorDock's answer, because the engine takes "gone" as
proof that a delete ended the billing."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harvestgpu.providers.errors import ProviderTransientError
from harvestgpu.providers.tensordock import TensorDockProvider
from harvestgpu.providers.types import InstanceState
from harvestgpu.server.workers.boot import end_instance
from tests.fakes.http_server import serve_app
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.providers.tensordock.helpers import launch_spec, offer_for

NOT_TENSORDOCK = ["empty_200", "html_200"]


@pytest.mark.parametrize("fault", NOT_TENSORDOCK)
async def test_a_200_that_is_not_an_instance_is_transient_not_terminated(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, fault: str
) -> None:
    iid = fake.plant("hg-alive")
    fake.fail_next("get", fault)
    with pytest.raises(ProviderTransientError) as caught:
        await provider.get_instance(iid)
    assert "<html" not in caught.value.message.lower()
    assert (await provider.get_instance(iid)).state is InstanceState.RUNNING


@pytest.mark.parametrize("fault", NOT_TENSORDOCK)
async def test_teardown_is_not_confirmed_by_a_200_that_is_not_an_instance(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, fault: str
) -> None:
    iid = fake.plant("hg-job1")
    fake.fail_next("get", fault)
    with pytest.raises(ProviderTransientError):
        await end_instance(provider, "job1", iid)  # deleted, but not yet confirmed
    assert iid in fake.deleted_ids()
    assert await end_instance(provider, "job1", iid) == iid  # the retry sees the 404


async def test_a_delete_answered_by_an_html_page_is_not_a_delete(
    provider: TensorDockProvider, fake: FakeTensorDockCloud
) -> None:
    iid = fake.plant("hg-job2")
    fake.fail_next("terminate", "html_200", times=2)
    with pytest.raises(ProviderTransientError):
        await provider.terminate(iid)
    fake.fail_next("get", "empty_200")
    with pytest.raises(ProviderTransientError):
        await end_instance(provider, "job2", iid)
    assert iid in fake.instances()  # still billing: the engine must retry
    await provider.terminate(iid)
    assert iid in fake.deleted_ids()


@pytest.mark.parametrize("fault", NOT_TENSORDOCK)
async def test_a_listing_that_is_not_a_list_never_reads_as_no_instances(
    provider: TensorDockProvider, fake: FakeTensorDockCloud, fault: str
) -> None:
    spec = launch_spec(await offer_for(provider, "H100-SXM"))
    planted = fake.plant(spec.name)
    fake.fail_next("list", fault, times=3)
    with pytest.raises(ProviderTransientError):
        await provider.launch(spec)  # must not create a twin of the planted VM
    with pytest.raises(ProviderTransientError):
        await provider.list_instances()
    with pytest.raises(ProviderTransientError):
        await provider.validate_key()
    assert fake.launch_bodies == [] and list(fake.instances()) == [planted]


@pytest.mark.parametrize(
    ("body", "gone"),
    [
        ({"error": "Instance not found", "status": 404}, True),  # the 200-with-error style
        ({"data": None}, False),
        ([], False),
    ],
)
async def test_only_a_not_found_error_body_in_a_200_means_gone(
    http: httpx.AsyncClient, body: object, gone: bool
) -> None:
    async def answer(request: Request) -> JSONResponse:
        return JSONResponse(body)

    app = Starlette(routes=[Route("/api/v2/instances/{iid}", answer)])
    with serve_app(app) as url:
        provider = TensorDockProvider(api_key="td_KEYKEYKEY123", http=http, base_url=url, timeout_s=5)
        if gone:
            assert (await provider.get_instance("abc")).state is InstanceState.TERMINATED
        else:
            with pytest.raises(ProviderTransientError):
                await provider.get_instance("abc")


async def test_instances_carry_no_job_marker(provider: TensorDockProvider, fake: FakeTensorDockCloud) -> None:
    # v2 has no tags and does not echo cloud-init: the name is the only marker it lists.
    fake.plant("hg-job9")
    assert [i.job_marker for i in await provider.list_instances()] == [None]


def test_body_faults_are_scriptable_only_where_they_apply(fake: FakeTensorDockCloud) -> None:
    with pytest.raises(ValueError, match="html_200"):
        fake.fail_next("launch", "html_200")
