"""``jobs()`` walks every page lazily, 100 at a time, and stops at ``limit``."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from harvestgpu import AsyncHarvestGPU, HarvestGPU
from tests.sdk.scripted import job_json, ok


class JobListServer:
    """``GET /jobs`` over ``total`` jobs (newest first), honouring limit/offset; counts page requests."""

    def __init__(self, total: int) -> None:
        self.jobs = [job_json(f"job-{n:03d}", status="completed") for n in range(total, 0, -1)]
        self.pages: list[httpx.QueryParams] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("GET", "/api/v1/jobs")
        self.pages.append(request.url.params)
        limit = int(request.url.params.get("limit", 50))
        offset = int(request.url.params.get("offset", 0))
        assert limit <= 100
        page = self.jobs[offset : offset + limit]
        return ok({"jobs": page, "total": len(self.jobs), "limit": limit, "offset": offset})


def test_iterates_every_job_across_pages_of_100(make_client: Callable[..., HarvestGPU]) -> None:
    server = JobListServer(total=250)
    client = make_client(server)

    ids = [job.id for job in client.jobs()]

    assert len(ids) == 250
    assert len(set(ids)) == 250
    assert ids[0] == "job-250"
    assert ids[-1] == "job-001"
    assert [(page["limit"], page["offset"]) for page in server.pages] == [
        ("100", "0"),
        ("100", "100"),
        ("100", "200"),
    ]


def test_pages_are_fetched_only_when_needed(make_client: Callable[..., HarvestGPU]) -> None:
    server = JobListServer(total=250)
    client = make_client(server)

    jobs = client.jobs()
    assert server.pages == []

    first = next(jobs)
    assert first.id == "job-250"
    assert len(server.pages) == 1
    assert jobs.total == 250

    for _ in range(99):
        next(jobs)
    assert len(server.pages) == 1
    next(jobs)
    assert len(server.pages) == 2


def test_limit_caps_the_total_and_the_last_page_size(make_client: Callable[..., HarvestGPU]) -> None:
    server = JobListServer(total=250)
    client = make_client(server)

    jobs = list(client.jobs(limit=150))

    assert len(jobs) == 150
    assert [(page["limit"], page["offset"]) for page in server.pages] == [("100", "0"), ("50", "100")]


def test_filters_are_sent_on_every_page(make_client: Callable[..., HarvestGPU]) -> None:
    server = JobListServer(total=120)
    client = make_client(server)

    list(client.jobs(status="completed", gpu="H100", provider="mock"))

    assert len(server.pages) == 2
    for page in server.pages:
        assert (page["status"], page["gpu"], page["provider"]) == ("completed", "H100", "mock")


def test_no_jobs_means_one_request_and_nothing_yielded(make_client: Callable[..., HarvestGPU]) -> None:
    server = JobListServer(total=0)
    client = make_client(server)

    assert list(client.jobs()) == []
    assert len(server.pages) == 1


def test_a_job_pushed_to_the_next_page_by_a_new_one_is_not_repeated(
    make_client: Callable[..., HarvestGPU],
) -> None:
    server = JobListServer(total=150)
    client = make_client(server)
    jobs = client.jobs()
    first_page = [next(jobs) for _ in range(100)]

    server.jobs.insert(0, job_json("job-new", status="queued"))  # shifts every job by one
    rest = list(jobs)

    ids = [job.id for job in first_page + rest]
    assert len(ids) == len(set(ids)) == 150


def test_listed_jobs_are_live_job_objects(make_client: Callable[..., HarvestGPU]) -> None:
    server = JobListServer(total=1)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/stop"):
            return ok(job_json("job-001", status="stopped"))
        return server(request)

    client = make_client(handler)
    (job,) = client.jobs()

    assert job.stop().status == "stopped"


async def test_async_iteration_walks_every_page(make_async_client: Callable[..., AsyncHarvestGPU]) -> None:
    server = JobListServer(total=205)
    client = make_async_client(server)

    ids = [job.id async for job in client.jobs()]

    assert len(ids) == 205
    assert len(server.pages) == 3


async def test_async_limit_caps_the_total(make_async_client: Callable[..., AsyncHarvestGPU]) -> None:
    server = JobListServer(total=250)
    client = make_async_client(server)

    ids = [job.id async for job in client.jobs(limit=101)]

    assert len(ids) == 101
    assert [page["limit"] for page in server.pages] == ["100", "1"]
