"""``harvestgpu usage`` and ``harvestgpu webhooks`` against the real server, in process and as a process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harvestgpu import HarvestGPU, Job
from harvestgpu.cli.output import money
from tests.cli.runners import Cli, assert_one_line_error, run_in_process, run_subprocess
from tests.sdk.live_server import Account, LiveServer, register
from tests.sdk.webhook_receiver import latest_if_delivered, running_receiver, wait_until

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class SpentAccount:
    """An account with exactly one ended job, shared by the read-only usage tests."""

    account: Account
    job: Job


@pytest.fixture(scope="module")
def spent(live_server: LiveServer) -> SpentAccount:
    account = register(live_server)
    with HarvestGPU(api_key=account.api_key, base_url=live_server.base_url) as gpu:
        job = gpu.run(gpu="H100", command="python train.py")
        job.stop()
    return SpentAccount(account, job)


def _use(monkeypatch: pytest.MonkeyPatch, live_server: LiveServer, account: Account) -> None:
    monkeypatch.setenv("HARVESTGPU_API_KEY", account.api_key)
    monkeypatch.setenv("HARVESTGPU_BASE_URL", live_server.base_url)


@pytest.fixture
def as_spent(monkeypatch: pytest.MonkeyPatch, live_server: LiveServer, spent: SpentAccount) -> SpentAccount:
    _use(monkeypatch, live_server, spent.account)
    return spent


@pytest.fixture
def as_fresh(monkeypatch: pytest.MonkeyPatch, live_server: LiveServer, account: Account) -> Account:
    _use(monkeypatch, live_server, account)
    return account


@pytest.fixture
def gpu(live_server: LiveServer, account: Account) -> Iterator[HarvestGPU]:
    with HarvestGPU(api_key=account.api_key, base_url=live_server.base_url) as client:
        yield client


def test_usage_shows_this_month_as_json_and_as_tables(cli: Cli, as_spent: SpentAccount) -> None:
    job = as_spent.job

    month = cli("usage", "--json").json()
    human = cli("usage")

    assert (month["jobs"], month["total_cost"], month["monthly_limit"]) == (1, job.total_cost, None)
    assert len(month["daily"]) == int(month["as_of"][8:10])
    assert month["by_provider"][0]["provider"] == "mock"
    assert human.exit_code == 0, human
    active_day = next(day for day in month["daily"] if day["jobs"])
    for shown in (
        "Daily",
        "By provider",
        "By GPU",
        active_day["date"],
        str(job.gpu_type),
        money(job.total_cost),
    ):
        assert shown in human.stdout
    assert "no monthly limit" in human.stdout
    assert as_spent.account.api_key not in human.stdout + human.stderr


def test_usage_history_lists_the_ended_job_and_the_month(cli_in_process: Cli, as_spent: SpentAccount) -> None:
    cli, job = cli_in_process, as_spent.job

    history = cli("usage", "history", "--json").json()
    human = cli("usage", "history", "--limit", "5")

    assert [(r["job_id"], r["status"], r["cost"]) for r in history["records"]] == [
        (job.id, "stopped", job.total_cost)
    ]
    assert history["total"] == 1
    assert [(m["jobs"], m["cost"]) for m in history["months"]] == [(1, job.total_cost)]
    assert job.id in human.stdout
    assert "By month" in human.stdout
    assert history["months"][0]["period"] in human.stdout


def test_spend_limit_is_set_shown_in_usage_and_cleared(as_fresh: Account) -> None:
    set_to = run_in_process("usage", "limit", "25", "--json").json()
    shown = run_subprocess("usage", "limit")
    month = run_in_process("usage")
    cleared = run_subprocess("usage", "limit", "--clear", "--json").json()
    shown_after = run_in_process("--json", "usage", "limit").json()

    assert (set_to["monthly_limit"], set_to["remaining"], set_to["spent"]) == (25.0, 25.0, 0.0)
    assert "$25.00" in shown.stdout
    assert "of $25.00" in month.stdout
    assert "No GPU time this month yet" in month.stdout
    assert (cleared["monthly_limit"], cleared["remaining"]) == (None, None)
    assert shown_after == cleared


@pytest.mark.parametrize(
    "args",
    [
        ["usage", "limit", "0"],
        ["usage", "limit", "-5"],
        ["usage", "limit", "ten"],
        ["usage", "limit", "inf"],
        ["usage", "limit", "nan"],
        ["usage", "limit", "10000001"],
        ["usage", "limit", "5", "--clear"],
        ["usage", "history", "--limit", "0"],
        ["webhooks", "add"],
        ["webhooks", "resend", "only-the-webhook-id"],
        ["webhooks", "deliveries", "wh-1", "--limit", "0"],
    ],
    ids=[
        "zero-amount",
        "negative-amount",
        "not-a-number",
        "inf-amount",
        "nan-amount",
        "amount-over-10-million",
        "amount-and-clear",
        "zero-history-limit",
        "no-url",
        "no-delivery-id",
        "zero-deliveries-limit",
    ],
)
def test_usage_errors_exit_2_without_calling_the_server(cli_in_process: Cli, args: list[str]) -> None:
    result = cli_in_process("--api-key", "hg_live_x", "--base-url", "http://127.0.0.1:9", *args)

    assert result.exit_code == 2
    assert "Could not reach" not in result.stderr
    assert "Traceback" not in result.stderr
    assert "unexpected" not in result.stderr


def test_a_new_account_is_told_there_is_nothing_yet(cli_in_process: Cli, as_fresh: Account) -> None:
    history = cli_in_process("usage", "history")
    webhooks = cli_in_process("webhooks", "list")

    assert history.stdout.startswith("No usage yet")
    assert webhooks.stdout.startswith("No webhooks yet")
    assert cli_in_process("webhooks", "list", "--json").json() == []


def test_webhook_add_prints_the_secret_once_and_refusals_are_one_line(
    cli_in_process: Cli, as_fresh: Account
) -> None:
    cli = cli_in_process
    added = cli("webhooks", "add", "http://127.0.0.1:9/hook", "--events", "job.completed,job.failed")
    listed = cli("webhooks", "list")
    unknown_event = cli("webhooks", "add", "http://127.0.0.1:9/hook", "--events", "job.exploded")
    bad_scheme = cli("webhooks", "add", "ftp://127.0.0.1/hook")

    secret = next(word for word in added.stdout.split() if word.startswith("whsec_"))
    assert added.exit_code == 0, added
    assert "only time the secret is shown" in added.stderr
    assert "http://127.0.0.1:9/hook" in listed.stdout
    assert "job.completed, job.failed" in listed.stdout
    assert secret not in listed.stdout
    assert_one_line_error(unknown_event, "unknown event 'job.exploded'", "job.running")
    assert_one_line_error(bad_scheme, "http:// or https://")


def test_webhook_deliveries_are_listed_resent_and_gone_with_the_webhook(
    as_fresh: Account, gpu: HarvestGPU
) -> None:
    with running_receiver() as receiver:
        hook = run_in_process("webhooks", "add", receiver.url, "--events", "job.stopped", "--json").json()
        job = gpu.run(gpu="H100", command="python train.py").stop()
        receiver.wait_for_events(1)
        delivered = wait_until(lambda: latest_if_delivered(gpu, hook["id"]), "delivered status")

        deliveries = run_subprocess("webhooks", "deliveries", hook["id"], "--json").json()
        table = run_in_process("webhooks", "deliveries", hook["id"])
        resent = run_subprocess("webhooks", "resend", hook["id"], delivered.id, "--json").json()
        # An event still being delivered is not queued again; once it is, it can be.
        receiver.wait_for_events(2)
        wait_until(lambda: latest_if_delivered(gpu, hook["id"]), "resent delivery recorded")
        resent_again = run_in_process("webhooks", "resend", hook["id"], delivered.id)
        received = receiver.wait_for_events(3)

    removed = run_in_process("webhooks", "remove", hook["id"], "--json").json()
    after_removal = run_in_process("webhooks", "deliveries", hook["id"])

    assert hook["secret"].startswith("whsec_")
    assert [(d["id"], d["status"], d["response_status"]) for d in deliveries] == [
        (delivered.id, "delivered", 200)
    ]
    assert deliveries[0]["payload"]["job_id"] == job.id
    assert all(fragment in table.stdout for fragment in (delivered.id, "job.stopped", "delivered", "200"))
    assert (resent["status"], resent["event_id"]) == ("pending", delivered.event_id)
    assert f"Queued job.stopped ({delivered.event_id}) again" in resent_again.stdout
    assert {event.headers["x-harvestgpu-event-id"] for event in received} == {delivered.event_id}
    assert removed == {"id": hook["id"], "deleted": True}
    assert_one_line_error(after_removal, "not found")
