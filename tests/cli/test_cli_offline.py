"""CLI behaviour that needs no real server: help, usage errors, error lines, config and key precedence."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from harvestgpu.cli.config import CliConfig, save_config
from harvestgpu.cli.main import app
from tests.cli.runners import Cli, assert_one_line_error
from tests.fakes.http_server import free_port, serve_app


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*prefix, name))


def test_help_works_on_every_command(cli_in_process: Cli) -> None:
    paths = list(_command_paths(typer.main.get_command(app)))
    expected = {
        ("auth", "login"),
        ("auth", "whoami"),
        ("auth", "logout"),
        ("run",),
        ("jobs", "list"),
        ("jobs", "status"),
        ("jobs", "logs"),
        ("jobs", "stop"),
        ("pricing",),
        ("keys", "add"),
        ("keys", "list"),
        ("keys", "remove"),
        ("keys", "test"),
        ("api-keys", "create"),
        ("api-keys", "list"),
        ("api-keys", "revoke"),
        ("server",),
        ("worker",),
    }
    assert expected <= set(paths)

    for path in paths:
        result = cli_in_process(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage:" in result.stdout


def test_server_help_lists_its_options(cli_in_process: Cli) -> None:
    result = cli_in_process("server", "--help")

    for option in ("--host", "--port", "--data-dir", "--no-workers", "0.0.0.0", "5000"):
        assert option in result.stdout


def test_version(cli: Cli) -> None:
    result = cli("--version")

    assert result.exit_code == 0
    assert result.stdout.startswith("harvestgpu ")


def test_unreachable_server_is_one_line_and_exit_1(cli: Cli) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    result = cli("--api-key", "hg_live_x", "--base-url", closed, "jobs", "list")

    assert_one_line_error(result, "Could not reach HarvestGPU", closed)


def test_missing_key_says_how_to_log_in(cli: Cli) -> None:
    result = cli("--base-url", f"http://127.0.0.1:{free_port()}", "jobs", "list")

    assert_one_line_error(result, "No API key", "harvestgpu auth login")


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--image", "x"],
        ["run", "--gpu", "H100", "--env", "NO_EQUALS_SIGN"],
        ["run", "--gpu", "H100", "--priority", "fastest"],
        ["run", "--gpu", "H100", "--gpu-count", "0"],
        ["jobs", "list", "--status", "sleeping"],
        ["jobs", "status"],
        ["jobs", "frobnicate"],
    ],
    ids=["no-gpu", "bad-env", "bad-priority", "zero-gpus", "bad-status", "no-id", "unknown-command"],
)
def test_usage_errors_exit_2(cli_in_process: Cli, args: list[str]) -> None:
    result = cli_in_process(*args)

    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


OFFLINE = ("--api-key", "hg_live_x", "--base-url", "http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--budget-max", "0"], "--budget-max"),
        (["--budget-max", "-1"], "--budget-max"),
        (["--budget-max", "inf"], "--budget-max"),
        (["--budget-max", "nan"], "--budget-max"),
        (["--budget-max", "10001"], "--budget-max"),
        (["--max-duration", "0"], "--max-duration"),
        (["--max-duration", "inf"], "--max-duration"),
        (["--max-duration", "721"], "--max-duration"),
        (["--gpu-count", "17"], "--gpu-count"),
    ],
    ids=[
        "zero-budget",
        "negative-budget",
        "inf-budget",
        "nan-budget",
        "budget-over-10000",
        "zero-duration",
        "inf-duration",
        "duration-over-720",
        "17-gpus",
    ],
)
def test_run_numbers_the_server_would_refuse_are_usage_errors(
    cli_in_process: Cli, args: list[str], option: str
) -> None:
    result = cli_in_process(*OFFLINE, "run", "--gpu", "T4", *args)

    assert result.exit_code == 2, result
    assert option in result.stderr
    assert "Could not reach" not in result.stderr
    assert "unexpected" not in result.stderr
    assert result.stdout == ""


def test_run_help_states_the_bounds_the_server_enforces(cli_in_process: Cli) -> None:
    help_text = " ".join(cli_in_process("run", "--help").stdout.replace("│", " ").split())

    assert "x>=0" not in help_text
    assert "USD per hour (above 0, at most 10,000)" in help_text
    assert "many hours (above 0, at most 720)" in help_text
    assert "1<=x<=16" in help_text


@pytest.mark.parametrize(
    "args",
    [["--json", "run"], ["run"], ["--json", "jobs"], ["--json", "keys"], []],
    ids=["json-run", "run", "json-jobs", "json-keys", "nothing"],
)
def test_a_command_without_arguments_shows_its_help_on_stderr(cli: Cli, args: list[str]) -> None:
    result = cli(*args)

    assert result.exit_code == 2, result
    assert result.stdout == ""
    assert "Usage: harvestgpu" in result.stderr


def test_explicit_help_stays_on_stdout(cli: Cli) -> None:
    result = cli("--json", "run", "--help")

    assert result.exit_code == 0
    assert "Usage: harvestgpu run" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args", [["keys", "add", "runpod"], ["auth", "login"]], ids=["keys-add", "auth-login"]
)
@pytest.mark.parametrize("stdin", ["", "\n", "   \n"], ids=["eof", "empty-line", "blank-line"])
def test_no_key_on_a_non_terminal_stdin_is_a_one_line_usage_error(
    cli: Cli, args: list[str], stdin: str
) -> None:
    result = cli(*OFFLINE, *args, input=stdin)

    assert result.exit_code == 2, result
    assert result.stderr.strip() == "Error: No key given: pass --key KEY, or pipe the key on stdin"
    assert result.stdout == ""


def test_login_reads_a_piped_key_from_the_first_line_of_stdin(
    cli: Cli, echo_server: str, config_dir: Path
) -> None:
    result = cli(
        "--json", "auth", "login", "--base-url", echo_server, input="  hg_live_piped_key_77 \nextra\n"
    )

    assert result.exit_code == 0, result
    assert result.stderr == ""
    assert result.json()["email"] == "hg_live_piped_key_77"[::-1]
    saved = json.loads((config_dir / "config.json").read_text())
    assert saved == {"api_key": "hg_live_piped_key_77", "base_url": echo_server}


def test_a_corrupt_config_file_is_a_clear_error(cli_in_process: Cli, config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "config.json").write_text("{not json")

    result = cli_in_process("jobs", "list")

    assert_one_line_error(result, "config.json is not valid JSON")


def _whoami_echo_app() -> Any:
    """A stand-in server whose ``/auth/me`` e-mail is the bearer token it received, reversed.

    Reversed, so tests can tell which key was sent while a key echoed verbatim would still be
    caught by the "never print the key" checks.
    """

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        usage = {"period": "2026-04", "total_cost": 0.0, "jobs": 0, "gpu_hours": 0.0}
        me = {
            "user_id": "u1",
            "email": token[::-1],
            "company": None,
            "plan": "free",
            "created_at": "2026-04-14T12:00:00Z",
            "usage": usage,
            "active_jobs": [],
        }
        body = json.dumps({"status": "ok", "data": me}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    with serve_app(_whoami_echo_app()) as base_url:
        yield base_url


def test_key_precedence_option_then_env_then_config(
    cli: Cli, echo_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_config(CliConfig(api_key="key-from-config", base_url=echo_server))

    def key_sent(*args: str) -> str:
        return str(cli(*args).json()["email"])[::-1]

    assert key_sent("--json", "auth", "whoami") == "key-from-config"
    monkeypatch.setenv("HARVESTGPU_API_KEY", "key-from-env")
    assert key_sent("--json", "auth", "whoami") == "key-from-env"
    assert key_sent("--api-key", "key-from-option", "auth", "whoami", "--json") == "key-from-option"


def test_login_saves_key_and_server_with_mode_0600(cli: Cli, echo_server: str, config_dir: Path) -> None:
    result = cli("auth", "login", "--key", "hg_live_saved_key_123", "--base-url", echo_server + "/api/v1/")

    assert result.exit_code == 0, result
    path = config_dir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"api_key": "hg_live_saved_key_123", "base_url": echo_server}
    assert "hg_live_saved_key_123" not in result.stdout + result.stderr


def test_login_prompts_for_a_hidden_key_when_none_is_given(cli_in_process: Cli, echo_server: str) -> None:
    result = cli_in_process("--json", "auth", "login", "--base-url", echo_server, input="hg_live_typed_key\n")

    assert result.exit_code == 0, result
    assert "hg_live_typed_key" not in result.stdout


def test_logout_forgets_the_key_but_keeps_the_server(
    cli_in_process: Cli, echo_server: str, config_dir: Path
) -> None:
    save_config(CliConfig(api_key="hg_live_to_forget", base_url=echo_server))

    assert cli_in_process("--json", "auth", "logout").json()["logged_out"] is True
    assert json.loads((config_dir / "config.json").read_text()) == {"base_url": echo_server}
    assert_one_line_error(cli_in_process("auth", "whoami"), "No API key")
    assert cli_in_process("auth", "logout").stdout.startswith("No saved API key")
