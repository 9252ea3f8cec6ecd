"""What may read as "the pod is gone": only a 404 or ``status: TERMINATED``, never a 200 that is
not RunPod's answer, because the engine takes "gone" as proof that a delete ended the billing."""

from __future__ import annotations

import pytest

from harvestgpu.providers.errors import ProviderTransientError
from harvestgpu.providers.runpod import RunPodProvider
from harvestgpu.providers.types import InstanceState
from harvestgpu.server.workers.boot import end_instance
from tests.fakes.runpod import FakeRunPodCloud
from tests.providers.runpod.helpers import launch_spec, offer_for

NOT_RUNPOD = ["empty_200", "html_200"]


@pytest.mark.parametrize("fault", NOT_RUNPOD)
async def test_a_200_that_is_not_a_pod_is_transient_not_terminated(
    provider: RunPodProvider, fake: FakeRunPodCloud, fault: str
) -> None:
    pod_id = fake.plant("hg-alive")
    fake.fail_next("get", fault)
    with pytest.raises(ProviderTransientError) as caught:
        await provider.get_instance(pod_id)
    assert "<html" not in caught.value.message.lower()
    assert (await provider.get_instance(pod_id)).state is InstanceState.RUNNING


async def test_documented_gone_answers_are_terminated(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    kept = fake.plant("hg-kept")
    fake.set_status(kept, "TERMINATED")
    assert (await provider.get_instance(kept)).state is InstanceState.TERMINATED
    lost = fake.plant("hg-lost")
    fake.lose(lost)
    assert (await provider.get_instance(lost)).state is InstanceState.TERMINATED  # 404


@pytest.mark.parametrize("fault", NOT_RUNPOD)
async def test_teardown_is_not_confirmed_by_a_200_that_is_not_a_pod(
    provider: RunPodProvider, fake: FakeRunPodCloud, fault: str
) -> None:
    pod_id = fake.plant("hg-job1")
    fake.fail_next("get", fault)
    with pytest.raises(ProviderTransientError):
        await end_instance(provider, "job1", pod_id)  # deleted, but not yet confirmed
    assert pod_id in fake.deleted_ids()
    assert await end_instance(provider, "job1", pod_id) == pod_id  # the retry sees the 404


async def test_a_delete_answered_by_an_html_page_is_not_a_delete(
    provider: RunPodProvider, fake: FakeRunPodCloud
) -> None:
    pod_id = fake.plant("hg-job2")
    fake.fail_next("terminate", "html_200", times=2)
    with pytest.raises(ProviderTransientError):
        await provider.terminate(pod_id)
    fake.fail_next("get", "empty_200")
    with pytest.raises(ProviderTransientError):
        await end_instance(provider, "job2", pod_id)
    assert pod_id in fake.instances()  # still billing: the engine must retry
    await provider.terminate(pod_id)
    assert pod_id in fake.deleted_ids()


@pytest.mark.parametrize("fault", NOT_RUNPOD)
async def test_a_listing_that_is_not_a_pod_list_never_reads_as_no_pods(
    provider: RunPodProvider, fake: FakeRunPodCloud, fault: str
) -> None:
    offer = await offer_for(provider, "RTX-4090")
    planted = fake.plant("hg-job123")
    fake.fail_next("list", fault, times=2)
    with pytest.raises(ProviderTransientError):
        await provider.launch(launch_spec(offer))  # must not create a twin of hg-job123
    with pytest.raises(ProviderTransientError):
        await provider.list_instances()
    assert fake.launch_bodies == [] and list(fake.instances()) == [planted]


def test_body_faults_are_scriptable_only_where_they_apply(fake: FakeRunPodCloud) -> None:
    with pytest.raises(ValueError, match="empty_200"):
        fake.fail_next("offers", "empty_200")
