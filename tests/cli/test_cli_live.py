"""Every CLI command against the real server, in process and as ``python -m harvestgpu``."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from harvestgpu import HarvestGPU
from tests.cli.runners import Cli, CliResult, assert_one_line_error, run_in_process, run_subprocess
from tests.sdk.live_server import Account, LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def logged_in(live_server: LiveServer, account: Account, config_dir: Path) -> Account:
    """Logged in through the config file (both ways of running the CLI read it)."""
    result = run_in_process("auth", "login", "--key", account.api_key, "--base-url", live_server.base_url)
    assert result.exit_code == 0, result
    assert account.email in result.stdout
    return account


def test_login_whoami_logout(cli: Cli, logged_in: Account, live_server: LiveServer, config_dir: Path) -> None:
    config_file = config_dir / "config.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600

    me = cli("--json", "auth", "whoami").json()
    human = cli("auth", "whoami")
    logout = cli("auth", "logout", "--json").json()

    assert (me["email"], me["plan"]) == (logged_in.email, "free")
    assert logged_in.email in human.stdout
    assert live_server.base_url in human.stdout
    assert logged_in.api_key not in human.stdout + human.stderr
    assert logout["logged_out"] is True
    assert logged_in.api_key not in config_file.read_text()
    assert_one_line_error(cli("auth", "whoami"), "No API key")


def test_the_sdk_uses_the_login_the_cli_saved(logged_in: Account, live_server: LiveServer) -> None:
    with HarvestGPU() as gpu:
        assert gpu.base_url == live_server.base_url
        assert gpu.auth.me().email == logged_in.email


def test_a_pasted_key_with_a_line_break_works_from_option_env_and_login(
    cli: Cli, live_server: LiveServer, account: Account, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pasted = account.api_key + "\r\n"

    from_option = cli("--api-key", pasted, "--base-url", live_server.base_url, "--json", "auth", "whoami")
    login = cli("auth", "login", "--key", pasted, "--base-url", live_server.base_url)
    from_config = cli("--json", "auth", "whoami")
    monkeypatch.setenv("HARVESTGPU_API_KEY", " " + pasted)
    from_env = cli("--json", "auth", "whoami")

    assert login.exit_code == 0, login
    assert json.loads((config_dir / "config.json").read_text())["api_key"] == account.api_key
    for result in (from_option, from_config, from_env):
        assert result.exit_code == 0, result
        assert result.json()["email"] == account.email


def test_a_key_that_cannot_be_sent_is_one_line_without_the_key(
    cli: Cli, live_server: LiveServer, account: Account, config_dir: Path
) -> None:
    mangled = account.api_key + "é"

    used = cli("--api-key", mangled, "--base-url", live_server.base_url, "jobs", "list")
    login = cli("auth", "login", "--key", mangled, "--base-url", live_server.base_url)

    for result in (used, login):
        assert_one_line_error(result, "API key cannot be sent")
        assert account.api_key not in result.stdout + result.stderr
    assert not (config_dir / "config.json").exists()


def test_login_with_a_wrong_key_saves_nothing(cli: Cli, live_server: LiveServer, config_dir: Path) -> None:
    wrong_key = "hg_live_wrong_key_0000000000"

    result = cli("auth", "login", "--key", wrong_key, "--base-url", live_server.base_url)

    assert_one_line_error(result, "auth login")
    assert wrong_key not in result.stderr
    assert not (config_dir / "config.json").exists()


def test_a_wrong_api_key_option_is_one_line_and_nonzero(cli: Cli, live_server: LiveServer) -> None:
    result = cli(
        "--api-key", "hg_live_wrong_key_111111111", "--base-url", live_server.base_url, "jobs", "list"
    )

    assert_one_line_error(result, "request id")
    assert "hg_live_wrong_key_111111111" not in result.stderr


def test_pricing_needs_no_key(cli: Cli, live_server: LiveServer) -> None:
    entries = cli("--base-url", live_server.base_url, "pricing", "--json").json()["pricing"]
    table = cli("--base-url", live_server.base_url, "pricing", "--gpu", "H100")

    assert {"gpu_model", "price", "provider", "gpu_count", "region", "available"} <= set(entries[0])
    assert table.exit_code == 0
    assert "H100-SXM" in table.stdout
    assert "$2.86" in table.stdout
    assert "A100" not in table.stdout


def test_run_list_status_stop(cli: Cli, logged_in: Account) -> None:
    job = cli(
        "--json",
        "run",
        "--gpu",
        "H100",
        "--image",
        "pytorch/pytorch:latest",
        "--command",
        "python train.py",
        "--budget-max",
        "2.5",
        "--env",
        "WANDB_MODE=offline",
    ).json()
    job_id = job["id"]

    table = cli("jobs", "list", "--gpu", "H100", "--limit", "5")
    status = cli("jobs", "status", job_id, "--json").json()
    stopped = cli("jobs", "stop", job_id, "--json").json()
    stop_again = cli("jobs", "stop", job_id)

    assert (job["status"], job["provider"], job["budget_max_per_hour"]) == ("running", "mock", 2.5)
    assert job["cost_per_hour"] <= 2.5
    assert job["env_keys"] == ["WANDB_MODE"]
    assert job_id in table.stdout
    assert (status["id"], status["routing"]["chosen"]["provider"]) == (job_id, "mock")
    assert stopped["status"] == "stopped"
    assert_one_line_error(stop_again, "already")


def test_run_follow_then_logs(logged_in: Account) -> None:
    # One 5-second job serves both ways: followed live by a real process, then read back in process.
    # The mock fails a command ending in "exit N" with status N.
    followed = run_subprocess("run", "--gpu", "H100", "--command", "python train.py; exit 3", "--follow")
    job_id = run_in_process("jobs", "list", "--limit", "1", "--json").json()[0]["id"]
    logs = run_in_process("jobs", "logs", job_id, "--json").json()
    plain = run_subprocess("jobs", "logs", job_id)
    refollowed = run_in_process("jobs", "logs", job_id, "--follow", "--json").json_lines()
    plain_followed = run_in_process("jobs", "logs", job_id, "--follow")
    details = run_in_process("jobs", "status", job_id)

    assert followed.exit_code == 1
    assert (
        followed.stderr.strip().splitlines()[-1]
        == f"Error: Job {job_id} failed (exit code 3): Command exited with code 3"
    )
    assert "Traceback" not in followed.stderr
    assert (logs["status"], logs["exit_code"]) == ("failed", 3)
    assert logs["lines"]
    assert all(line in followed.stdout for line in logs["lines"])
    assert plain.stdout.splitlines() == logs["lines"]
    assert [event["line"] for event in refollowed[:-1]] == logs["lines"]
    assert refollowed[-1] == {"type": "end", "status": "failed", "exit_code": 3}
    assert plain_followed.stdout.splitlines() == logs["lines"]
    assert "failed (exit code 3)" in plain_followed.stderr
    assert "Routing:" in details.stdout
    assert "Command exited with code 3" in details.stdout


@pytest.mark.parametrize(
    ("flag", "runner"),
    [("--wait", run_subprocess), ("--follow", run_in_process)],
    ids=["wait-subprocess", "follow-in-process"],
)
def test_run_json_that_fails_exits_1_with_the_reason_on_stderr(
    logged_in: Account, flag: str, runner: Cli
) -> None:
    result: CliResult = runner("--json", "run", "--gpu", "H100", "--command", "python train.py; exit 3", flag)

    job = result.json() if flag == "--wait" else result.json_lines()[-1]["job"]
    assert result.exit_code == 1
    assert (job["status"], job["exit_code"]) == ("failed", 3)
    assert result.stderr.strip().splitlines() == [
        f"Error: Job {job['id']} failed (exit code 3): Command exited with code 3"
    ]


def test_run_that_cannot_be_placed_is_one_line_and_nonzero(cli: Cli, logged_in: Account) -> None:
    result = cli("run", "--gpu", "H100", "--budget-max", "0.01")

    assert_one_line_error(result, "No providers available")


def test_a_provider_key_can_be_piped_on_stdin(logged_in: Account) -> None:
    provider_key = "rp_live_SECRET_piped_provider_key_2468"

    added = run_subprocess("keys", "add", "runpod", "--json", input=provider_key + "\n")

    assert added.exit_code == 0, added
    assert (added.json()["provider"], added.json()["last4"]) == ("runpod", "2468")
    assert provider_key not in added.stdout + added.stderr
    assert "Warning" not in added.stderr


def test_provider_keys_and_api_keys(cli_in_process: Cli, logged_in: Account) -> None:
    cli = cli_in_process
    provider_key = "rp_live_SECRET_cli_provider_key_9876"

    added = cli("keys", "add", "runpod", "--key", provider_key, "--label", "My RunPod", "--json").json()
    listed = run_subprocess("keys", "list", "--json").json()
    table = cli("keys", "list")
    tested = cli("keys", "test", "runpod")
    removed = cli("keys", "remove", "runpod", "--json").json()
    created = cli("api-keys", "create", "ci", "--json").json()
    api_keys = run_subprocess("api-keys", "list", "--json").json()
    revoked = cli("api-keys", "revoke", created["id"], "--json").json()

    assert (added["provider"], added["label"], added["last4"]) == ("runpod", "My RunPod", "9876")
    assert [key["provider"] for key in listed] == ["runpod"]
    assert "…9876" in table.stdout
    everything = str(added) + str(listed) + table.stdout + tested.stdout + tested.stderr
    assert provider_key not in everything
    assert_one_line_error(tested, "runpod key is invalid")
    assert removed == {"provider": "runpod", "deleted": True}
    assert created["api_key"].startswith("hg_live_")
    assert created["id"] in [key["id"] for key in api_keys]
    assert revoked == {"id": created["id"], "revoked": True}
    assert cli("keys", "list", "--json").json() == []
