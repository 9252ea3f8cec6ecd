"""The client: settings, what run() sends and waits for, Job objects, and keeping secrets secret."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from harvestgpu import AuthenticationError, HarvestGPU, InvalidRequestError, Job
from tests.sdk.scripted import API_KEY, FakeClock, Script, fail, job_json, ok

MakeClient = Callable[..., HarvestGPU]

PRICING = {
    "pricing": [
        {
            "gpu_model": "H100-PCIE",
            "gpu_name": "H100 PCIe 80GB",
            "price": 2.39,
            "provider": "mock",
            "gpu_count": 1,
            "vram_gb": 80,
            "region": "us-east",
            "available": True,
            "observed_at": "2026-04-14T12:00:00Z",
            "age_s": 1.5,
        },
    ],
    "providers": [{"provider": "runpod", "state": "error", "error": "key rejected", "offers": 0}],
}


def test_reads_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(job_json())

    monkeypatch.setenv("HARVESTGPU_API_KEY", "hg_live_from_env_123456")
    monkeypatch.setenv("HARVESTGPU_BASE_URL", "http://env.test:5000/api/v1/")
    with httpx.Client(transport=httpx.MockTransport(handler)) as http_client:
        HarvestGPU(http_client=http_client).job("job-1")

    assert str(seen[0].url) == "http://env.test:5000/api/v1/jobs/job-1"
    assert seen[0].headers["authorization"] == "Bearer hg_live_from_env_123456"


def test_default_base_url_is_localhost_5000() -> None:
    assert HarvestGPU(api_key="x").base_url == "http://localhost:5000"


def test_pricing_and_providers_work_without_a_key(make_client: MakeClient) -> None:
    script = Script(ok(PRICING), ok({"providers": []}))
    client = make_client(script, api_key=None)

    prices = client.pricing(gpu="H100")
    client.providers()

    assert [(p.gpu_model, p.price, p.provider) for p in prices] == [("H100-PCIE", 2.39, "mock")]
    assert prices.providers[0].error == "key rejected"
    assert script.requests[0].url.params["gpu"] == "H100"
    assert all("authorization" not in request.headers for request in script.requests)


def test_provider_gpus_is_the_list_of_that_providers_offers(make_client: MakeClient) -> None:
    refused = {"provider": "runpod", "connected": True, "gpus": [], "error": "key rejected (HTTP 401)"}
    not_connected = {"provider": "lambda", "connected": False, "gpus": [], "error": None}
    script = Script(
        ok({"provider": "mock", "connected": True, "gpus": PRICING["pricing"], "error": None}),
        ok(refused),
        ok(not_connected),
    )
    client = make_client(script, api_key=None)

    offers = client.provider_gpus("mock")
    failed = client.provider_gpus("runpod")
    absent = client.provider_gpus("lambda")

    assert isinstance(offers, list)
    assert [(p.gpu_model, p.price, p.provider) for p in offers] == [("H100-PCIE", 2.39, "mock")]
    assert (offers.provider, offers.connected, offers.error) == ("mock", True, None)
    assert (failed, failed.connected, failed.error) == ([], True, "key rejected (HTTP 401)")
    assert (absent, absent.connected, absent.error) == ([], False, None)
    assert [request.url.path for request in script.requests] == [
        "/api/v1/providers/mock/gpus",
        "/api/v1/providers/runpod/gpus",
        "/api/v1/providers/lambda/gpus",
    ]


def test_run_sends_the_documented_wire_names(make_client: MakeClient) -> None:
    script = Script(ok(job_json(), 201))
    client = make_client(script)

    client.run(
        gpu="H100",
        image="my/image:1",
        command="python train.py",
        budget_max=2.5,
        max_duration=4,
        priority="speed",
        gpu_count=2,
        provider="mock",
        env={"WANDB_PROJECT": "demo"},
    )

    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/jobs")
    assert json.loads(request.content) == {
        "gpu": "H100",
        "image": "my/image:1",
        "command": "python train.py",
        "budget_max_per_hour": 2.5,
        "max_duration_hours": 4,
        "priority": "speed",
        "gpu_count": 2,
        "provider": "mock",
        "env": {"WANDB_PROJECT": "demo"},
    }
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


def test_run_defaults_match_the_spec(make_client: MakeClient) -> None:
    script = Script(ok(job_json(), 201))

    make_client(script).run(gpu="A100")

    assert json.loads(script.requests[0].content) == {
        "gpu": "A100",
        "image": "pytorch/pytorch:latest",
        "priority": "cost",
        "gpu_count": 1,
    }


def test_run_returns_once_the_job_has_left_queued(make_client: MakeClient) -> None:
    script = Script(
        ok(job_json(status="queued"), 201), ok(job_json(status="queued")), ok(job_json(status="running"))
    )

    job = make_client(script).run(gpu="H100", budget_max=2.5)

    assert isinstance(job, Job)
    assert (job.status, job.provider, job.cost_per_hour, job.gpu_type) == (
        "running",
        "mock",
        2.39,
        "H100-PCIE",
    )
    assert len(script.requests) == 3


def test_run_stops_waiting_for_a_start_after_30_seconds(make_client: MakeClient, clock: FakeClock) -> None:
    def always_queued(request: httpx.Request) -> httpx.Response:
        return ok(job_json(status="queued"), 201 if request.method == "POST" else 200)

    start = clock.now
    job = make_client(always_queued).run(gpu="H100")

    assert job.status == "queued"
    assert clock.now - start == pytest.approx(30.0)


def test_run_with_wait_returns_the_finished_job(make_client: MakeClient) -> None:
    finished = job_json(status="completed", exit_code=0, total_cost=0.01)
    script = Script(ok(job_json(status="queued"), 201), ok(job_json(status="running")), ok(finished))

    job = make_client(script).run(gpu="H100", wait=True)

    assert (job.status, job.exit_code, job.total_cost) == ("completed", 0, 0.01)


def test_wait_with_a_timeout_raises_timeout_error(make_client: MakeClient) -> None:
    def running(request: httpx.Request) -> httpx.Response:
        return ok(job_json(status="running"))

    job = make_client(running).job("job-1")

    with pytest.raises(TimeoutError, match="still running"):
        job.wait(timeout=5)


def test_job_exposes_every_field_and_refreshes_in_place(make_client: MakeClient) -> None:
    later = job_json(status="completed", exit_code=0, total_cost=0.02, ended_at="2026-04-14T12:05:00Z")
    script = Script(ok(job_json()), ok(later))
    job = make_client(script).job("job-1")

    assert (job.id, job.gpu, job.region, job.total_cost, job.error, job.routing) == (
        "job-1",
        "H100",
        "us-east",
        0.0,
        None,
        None,
    )
    assert job.refresh() is job
    assert (job.status, job.total_cost, job.done) == ("completed", 0.02, True)
    assert job.ended_at is not None


def test_stopping_a_finished_job_is_an_invalid_request(make_client: MakeClient) -> None:
    script = Script(ok(job_json(status="completed")), fail(400, "Job is already completed; nothing to stop"))
    job = make_client(script).job("job-1")

    with pytest.raises(InvalidRequestError, match="already completed"):
        job.stop()
    assert script.requests[1].url.path == "/api/v1/jobs/job-1/stop"


def test_job_ids_cannot_change_the_route(make_client: MakeClient) -> None:
    script = Script(fail(404, "Job not found"))

    with pytest.raises(Exception, match="Job not found"):
        make_client(script).job("../providers/keys")

    assert script.requests[0].url.raw_path == b"/api/v1/jobs/..%2Fproviders%2Fkeys"


def test_a_key_echoed_by_the_server_never_reaches_the_exception(make_client: MakeClient) -> None:
    provider_key = "rp_live_SECRET_provider_key_987654"
    script = Script(fail(401, f"Bad key {API_KEY}"), fail(400, f"runpod rejected {provider_key}"))
    client = make_client(script, max_retries=0)

    with pytest.raises(AuthenticationError) as auth_error:
        client.job("job-1")
    with pytest.raises(InvalidRequestError) as key_error:
        client.provider_keys.add("runpod", provider_key)

    for error in (auth_error.value, key_error.value):
        for text in (str(error), repr(error), error.message):
            assert API_KEY not in text
            assert provider_key not in text


def test_reprs_do_not_show_keys(make_client: MakeClient) -> None:
    created = {
        "id": "k1",
        "name": "ci",
        "prefix": "hg_live_ab",
        "api_key": "hg_live_abSECRETSECRET",
        "created_at": "2026-04-14T12:00:00Z",
    }
    client = make_client(Script(ok(created, 201)))

    new_key = client.api_keys.create("ci")

    assert new_key.api_key == "hg_live_abSECRETSECRET"
    assert "SECRET" not in repr(new_key)
    assert API_KEY not in repr(client)
    assert API_KEY not in repr(client._http.settings)


def test_importing_harvestgpu_loads_no_server_code() -> None:
    server_roots = "('fastapi', 'sqlalchemy', 'starlette', 'uvicorn')"
    probe = (
        "import sys, harvestgpu; "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {server_roots} "
        "or m.startswith('harvestgpu.server')]; print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.strip() == "[]"


def test_public_names() -> None:
    import harvestgpu

    for name in ("HarvestGPU", "AsyncHarvestGPU", "Job", "HarvestGPUError", "NoCapacityError", "__version__"):
        assert name in harvestgpu.__all__
        assert getattr(harvestgpu, name)
