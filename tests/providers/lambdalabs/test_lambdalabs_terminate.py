"""Terminating and listing: ``terminating`` is not gone (the status after terminate and how long
it lasts are UNCONFIRMED, lambda-tensordock.md 1.8/1.9), and the job tag is a second marker."""

from __future__ import annotations

import pytest

from harvestgpu.providers.errors import ProviderTransientError
from harvestgpu.providers.lambdalabs import LambdaProvider
from harvestgpu.providers.types import InstanceState
from harvestgpu.server.workers import boot
from tests.fakes.lambdalabs import FakeLambdaCloud
from tests.providers.lambdalabs.conftest import launch_spec, offer_for


async def test_terminating_is_not_terminated_until_lambda_says_so(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    fake.terminating_reads = 2
    instance_id = fake.plant("hg-job-going")

    await provider.terminate(instance_id)
    reads = [await provider.get_instance(instance_id) for _ in range(4)]

    assert [(i.state, i.message) for i in reads] == [
        (InstanceState.UNKNOWN, "terminating"),
        (InstanceState.UNKNOWN, "terminating"),
        (InstanceState.TERMINATED, "terminated"),
        (InstanceState.TERMINATED, "unknown to Lambda"),
    ]


async def test_terminating_instances_stay_listed_so_orphan_sweeps_retry_them(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    fake.terminating_reads = 10
    stuck = fake.plant("hg-job-stuck")
    await provider.terminate(stuck)

    [listed] = await provider.list_instances()
    await provider.terminate(stuck)  # what the sweep does with it: ask again, no error

    assert (listed.instance_id, listed.state, listed.message) == (stuck, InstanceState.UNKNOWN, "terminating")
    terminate_calls = [p for _, p, _ in fake.requests_seen if p == "/api/v1/instance-operations/terminate"]
    assert len(terminate_calls) == 2


async def test_a_relaunch_does_not_adopt_an_instance_that_is_terminating(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    fake.terminating_reads = 10
    spec = launch_spec(await offer_for(provider, "A10"))
    first = await provider.launch(spec)
    await provider.terminate(first.instance_id)

    second = await provider.launch(spec)

    assert second.instance_id != first.instance_id
    assert len(fake.launch_bodies) == 2


async def test_the_engines_terminate_confirmation_waits_out_terminating(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    """boot.end_instance is what the terminate and abandon steps call; each failure is a retry
    the engine schedules for later (boot.terminate_later)."""
    fake.terminating_reads = 2
    job_id = "0123456789abcdef"
    launched = await provider.launch(launch_spec(await offer_for(provider, "A10"), job_id))

    for _ in range(2):
        with pytest.raises(ProviderTransientError, match="still unknown after delete"):
            await boot.end_instance(provider, job_id, launched.instance_id)
    ended = await boot.end_instance(provider, job_id, launched.instance_id)
    await boot.ensure_unlisted(provider, job_id)

    assert ended == launched.instance_id
    assert launched.instance_id in fake.deleted_ids() and fake.instances() == {}
    assert await boot.end_instance(provider, job_id, launched.instance_id) == launched.instance_id


async def test_the_job_tag_set_at_launch_is_the_instances_job_marker(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    launched = await provider.launch(launch_spec(await offer_for(provider, "A10"), "0123456789abcdef"))
    untagged = fake.plant("hg-aaaaaaaaaaaaaaaa", "A10")
    foreign = fake.plant(
        "hg-bbbbbbbbbbbbbbbb", "A10", tags={"harvestgpu-job-id": "cccccccccccccccc", "team": "x"}
    )

    listed = {i.instance_id: i.job_marker for i in await provider.list_instances()}

    assert fake.launch_bodies[0]["tags"] == [{"key": "harvestgpu-job-id", "value": "0123456789abcdef"}]
    assert listed == {
        launched.instance_id: "0123456789abcdef",
        untagged: None,
        foreign: "cccccccccccccccc",
    }
    assert (await provider.get_instance(launched.instance_id)).job_marker == "0123456789abcdef"
