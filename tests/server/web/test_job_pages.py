"""The dashboard's jobs table and submit form, and the job page (trace, logs, stop)."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.conftest import Api
from tests.server.web.helpers import browser, field_errors, job_statuses
from tests.support import data


async def test_a_new_account_sees_an_empty_state_that_says_what_to_do(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("empty@example.com")
        page = (await member.get("/dashboard")).text
        assert "No jobs yet." in page and "mock provider" in page
        assert job_statuses(page) == {}


async def test_submit_run_and_stop_a_job_from_the_pages(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("runner@example.com")
        job_id = await member.submitted_job_id(budget_max_per_hour="2.50", max_duration_hours="4")
        page = (await member.get(f"/jobs/{job_id}?notice=submitted")).text
        assert "Job submitted." in page and 'data-status="queued"' in page
        assert "Routing trace" in page and "H100-PCIE" in page

        await api.run_until(member.as_api_user, job_id, "running")
        table = (await member.get("/dashboard/jobs")).text
        assert job_statuses(table) == {job_id: "running"}
        row = table[table.index(f'data-job-id="{job_id}"') :]
        assert "H100-PCIE" in row and "mock" in row and "$2.39/h" in row
        page = (await member.get(f"/jobs/{job_id}")).text
        assert 'class="chosen"' in page and "Stop job" in page and "data-confirm=" in page

        response = await member.submit(f"/jobs/{job_id}", f"/jobs/{job_id}/stop", {})
        assert (
            response.status_code == 303 and response.headers["location"] == f"/jobs/{job_id}?notice=stopped"
        )
        page = (await member.get(response.headers["location"])).text
        assert 'data-status="stopped"' in page and "Job stopped." in page and "Stop job" not in page
        assert 'id="job-summary" hx-get' not in page  # a finished job is not polled any more
        job = data(await api.client.get(f"/api/v1/jobs/{job_id}", headers=member.api_headers))
        assert job["status"] == "stopped"

        response = await member.submit("/dashboard", f"/jobs/{job_id}/stop", {})
        assert response.headers["location"] == f"/jobs/{job_id}?notice=already-ended"


async def test_form_errors_appear_next_to_their_fields_and_keep_the_input(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("typos@example.com")
        response = await member.submit_job(
            gpu="",
            budget_max_per_hour="cheap",
            max_total_cost="-1",
            gpu_count="0",
            priority="fastest",
            env="JUST TEXT",
        )
        assert response.status_code == 400
        errors = field_errors(response.text)
        assert errors["gpu"] == "This field is required."
        assert errors["budget_max_per_hour"] == "Enter a number."
        assert errors["gpu_count"] == "Must be at least 1."
        assert errors["max_total_cost"] == "Must be more than 0."
        assert "cost" in errors["priority"] and "speed" in errors["priority"]
        assert errors["env"] == "Line 1: write one NAME=value per line."
        assert 'value="cheap"' in response.text and ">JUST TEXT</textarea>" in response.text

        response = await member.submit_job(gpu="banana")
        assert response.status_code == 400
        assert field_errors(response.text)["gpu"].startswith("Unknown GPU 'banana'. Known GPUs:")

        response = await member.submit_job(env="1BAD=x")
        assert field_errors(response.text)["env"] == "Invalid variable name '1BAD'."
        assert data(await api.client.get("/api/v1/jobs", headers=member.api_headers))["total"] == 0


async def test_number_and_image_messages_say_what_is_wrong(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("messages@example.com")
        for nonsense in ("nan", "inf", "-inf", "NaN"):
            response = await member.submit_job(budget_max_per_hour=nonsense)
            assert response.status_code == 400
            assert field_errors(response.text)["budget_max_per_hour"] == "Enter a number.", nonsense
        # A cleared image is refused, as the API refuses an empty image, instead of becoming the default.
        response = await member.submit_job(image="")
        assert response.status_code == 400
        assert field_errors(response.text)["image"] == "This field is required."
        assert data(await api.client.get("/api/v1/jobs", headers=member.api_headers))["jobs"] == []


async def test_no_offer_under_the_cap_is_explained_above_the_form(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("cap@example.com")
        response = await member.submit_job(gpu="H100-SXM", budget_max_per_hour="2.50")
        assert response.status_code == 400
        message = re.search(r'<div class="form-error" role="alert">([^<]*)</div>', response.text)
        assert message and message.group(1).startswith("No providers available")


async def test_a_double_submitted_form_starts_one_job(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("double@example.com")
        page = (await member.get("/dashboard")).text
        fields = dict(re.findall(r'name="(csrf_token|submit_token)" value="([^"]+)"', page))
        form = {**fields, "gpu": "A100", "image": "pytorch/pytorch:latest", "priority": "cost"}
        first = await member.client.post("/dashboard/jobs", data=form)
        second = await member.client.post("/dashboard/jobs", data=form)
        assert first.headers["location"] == second.headers["location"]
        assert data(await api.client.get("/api/v1/jobs", headers=member.api_headers))["total"] == 1


async def test_logs_arrive_in_pieces_and_end_with_the_outcome(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("logs@example.com")
        job_id = await member.submitted_job_id(command="python train.py; exit 3")
        first = (await member.get(f"/jobs/{job_id}/logs?offset=0")).text
        assert "Waiting for the first log lines" in first and f"/jobs/{job_id}/logs?offset=0" in first

        await api.run_until(member.as_api_user, job_id, "failed", phase="done")
        lines = data(await api.client.get(f"/api/v1/jobs/{job_id}/logs", headers=member.api_headers))["lines"]
        assert len(lines) > 3
        tail = (await member.get(f"/jobs/{job_id}/logs?offset=2")).text
        shown = re.findall(r'<span class="log-line">([^<]*)\n</span>', tail)
        assert shown == lines[2:]
        assert "— job failed, exit code 3 —" in tail and "log-poller" not in tail
        page = (await member.get(f"/jobs/{job_id}")).text
        assert "python train.py; exit 3" in page and 'data-status="failed"' in page


async def test_one_member_never_sees_another_members_jobs(api: Api) -> None:
    async with browser(api) as alice, browser(api) as bob:
        await alice.sign_up("alice@example.com")
        await bob.sign_up("bob@example.com")
        alices_job = await alice.submitted_job_id()
        await api.run_until(alice.as_api_user, alices_job, "running")

        assert alices_job not in (await bob.get("/dashboard")).text
        assert alices_job not in (await bob.get("/dashboard/jobs")).text
        for path in (f"/jobs/{alices_job}{part}" for part in ("", "/summary", "/routing", "/logs")):
            response = await bob.get(path)
            assert response.status_code == 404 and "Not found" in response.text, path
        response = await bob.submit("/dashboard", f"/jobs/{alices_job}/stop", {})
        assert response.status_code == 404
        assert (await api.job(alice.as_api_user, alices_job))["status"] == "running"
        assert job_statuses((await alice.get("/dashboard/jobs")).text) == {alices_job: "running"}


async def test_the_jobs_table_filters_by_status(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("filter@example.com")
        done = await member.submitted_job_id(gpu="T4")
        await api.run_until(member.as_api_user, done, "running")
        await member.submit(f"/jobs/{done}", f"/jobs/{done}/stop", {})
        queued = await member.submitted_job_id(gpu="L4")
        assert job_statuses((await member.get("/dashboard/jobs?status=stopped")).text) == {done: "stopped"}
        assert job_statuses((await member.get("/dashboard/jobs?status=queued")).text) == {queued: "queued"}
        assert "No running jobs." in (await member.get("/dashboard/jobs?status=running")).text


async def test_every_live_region_polls_a_url_that_answers_with_its_fragment(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("polling@example.com")
        job_id = await member.submitted_job_id()
        pages = [(await member.get(f"/jobs/{job_id}")).text]  # queued: the routing trace is live too
        await api.run_until(member.as_api_user, job_id, "running")
        for page_path in ("/dashboard", "/dashboard?status=running", f"/jobs/{job_id}", "/pricing?gpu=L4"):
            pages.append((await member.get(page_path)).text)
        assert f"/jobs/{job_id}/routing" in pages[0]
        for page in pages:
            poll_urls = [html.unescape(u) for u in re.findall(r'hx-get="([^"]+)" hx-trigger="every', page)]
            assert poll_urls
            for url in poll_urls:
                response = await member.get(url, headers={"HX-Request": "true"})
                assert response.status_code == 200, (url, response.text)
                assert "<html" not in response.text and response.text.lstrip().startswith(
                    ("<div id=", "<span")
                )


async def test_the_plans_jobs_per_hour_apply_to_the_form_too(api_factory: Any) -> None:
    async with api_factory(rate_limit_enabled=True) as api, browser(api) as member:
        await member.sign_up("plan@example.com")
        for _ in range(10):  # the Free plan's jobs per hour
            await member.submitted_job_id(gpu="T4")
        response = await member.submit_job(gpu="T4")
        assert response.status_code == 400
        message = re.search(r'<div class="form-error" role="alert">([^<]*)</div>', response.text)
        assert message and message.group(1).startswith("Job limit reached: 10 jobs per hour on the Free plan")
        assert data(await api.client.get("/api/v1/jobs", headers=member.api_headers))["total"] == 10
