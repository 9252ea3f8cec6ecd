"""The adapter's pure mappings: error bodies, the status table, and log cursors past the tail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from harvestgpu.providers.errors import (
    NoCapacityError,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderTransientError,
    QuotaError,
    RateLimitedError,
)
from harvestgpu.providers.types import InstanceState
from harvestgpu.providers.vastai.adapter import LOG_TAIL_LINES
from harvestgpu.providers.vastai.client import (
    InstanceNotFoundError,
    LogsNotAuthorizedError,
    classify,
    retry_after_seconds,
)
from harvestgpu.providers.vastai.logtail import lines_after, next_cursor
from harvestgpu.providers.vastai.records import env_value, instance_state

KEY = "vast_SECRETKEY0123456789abcdef"


@pytest.mark.parametrize(
    ("op", "status", "body", "expected"),
    [
        (
            "validate",
            401,
            {"success": False, "error": "auth_error", "msg": "Invalid user key"},
            ProviderAuthError,
        ),
        ("validate", 403, "Forbidden", ProviderAuthError),
        ("offers", 404, {"error": "unauthorized", "msg": "Invalid user key"}, ProviderAuthError),
        (
            "launch",
            404,
            {"success": False, "error": "invalid_args", "msg": "error 404/3603: no_such_ask Instance type"},
            NoCapacityError,
        ),
        (
            "launch",
            410,
            {"success": False, "error": "no_such_ask", "msg": "no longer available"},
            NoCapacityError,
        ),
        (
            "launch",
            403,
            {"success": False, "error": "invalid_args", "msg": "Offer 1 is not your own."},
            NoCapacityError,
        ),
        ("launch", 411, {"success": False, "msg": "Insufficient credit"}, QuotaError),
        (
            "launch",
            400,
            {"success": False, "error": "invalid_args", "msg": "Invalid args"},
            ProviderBadRequestError,
        ),
        (
            "launch",
            200,
            {"success": False, "error": "invalid_price", "msg": "bid too low"},
            ProviderBadRequestError,
        ),
        ("launch", 502, "<html>Bad Gateway</html>", ProviderTransientError),
        ("get", 429, {"detail": "API requests too frequent endpoint threshold=2.0"}, RateLimitedError),
        (
            "terminate",
            404,
            {"success": False, "error": "not_found", "msg": "Instance not found"},
            InstanceNotFoundError,
        ),
        ("terminate", 200, {"success": False, "error": "no_such_instance"}, InstanceNotFoundError),
        ("logs", 404, {"error": "invalid_id", "msg": "Invalid instance id."}, InstanceNotFoundError),
        (
            "logs",
            403,
            {"error": "not_authorized", "msg": "Not authorized to view logs for this instance"},
            LogsNotAuthorizedError,
        ),
        (
            "logs",
            403,
            {"success": False, "error": "auth_error", "msg": "Invalid user key"},
            ProviderAuthError,
        ),
        ("offers", 404, {"msg": "Invalid user key"}, ProviderAuthError),
        ("list", 400, {"error": "invalid_token", "msg": "Invalid after_token"}, ProviderBadRequestError),
    ],
)
def test_error_bodies_are_classified(op: str, status: int, body: Any, expected: type[ProviderError]) -> None:
    error = classify(op, status, body, secret=KEY)

    assert type(error) is expected and error.status == status


def test_an_echoed_key_is_redacted_from_the_message() -> None:
    body = {"success": False, "error": "invalid_args", "message": f"bad header Bearer {KEY}"}

    error = classify("launch", 400, body, secret=KEY)

    assert KEY not in str(error) and "bad header Bearer ****" in error.message


def test_plain_text_rate_limit_carries_the_threshold_as_retry_after() -> None:
    error = classify("offers", 429, "API requests too frequent endpoint threshold=4.5", secret=KEY)

    assert isinstance(error, RateLimitedError) and error.retry_after == pytest.approx(4.5)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 8, 20, 12, 0, 0, tzinfo=UTC)

    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Thu, 20 Aug 2026 12:00:07 GMT", now=now.timestamp()) == pytest.approx(7.0)
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"actual_status": None}, InstanceState.PENDING),
        ({"actual_status": "created", "status_msg": ""}, InstanceState.PENDING),
        ({"actual_status": "loading"}, InstanceState.PENDING),
        ({"actual_status": "rebooting"}, InstanceState.PENDING),
        ({"actual_status": "running"}, InstanceState.RUNNING),
        ({"actual_status": "exited"}, InstanceState.EXITED),
        (
            {"actual_status": "created", "status_msg": "Error: OCI runtime create failed: x"},
            InstanceState.FAILED,
        ),
        (
            {
                "actual_status": "created",
                "status_msg": "failed to create shim task: OCI runtime create failed: x",
            },
            InstanceState.FAILED,
        ),
        ({"actual_status": "created", "status_msg": "Pulling image ubuntu:22.04"}, InstanceState.PENDING),
        ({"actual_status": "stopped", "cur_state": "stopped"}, InstanceState.FAILED),
        ({"actual_status": "offline"}, InstanceState.FAILED),
        ({"actual_status": "unknown"}, InstanceState.FAILED),
        ({"actual_status": "running", "cur_state": "unloaded"}, InstanceState.TERMINATED),
        ({"actual_status": "martian"}, InstanceState.UNKNOWN),
    ],
)
def test_status_table(record: dict[str, Any], expected: InstanceState) -> None:
    assert instance_state(record) is expected


@pytest.mark.parametrize(
    ("extra_env", "expected"),
    [
        ([["HF_TOKEN", "hf_x"], ["HARVESTGPU_JOB_ID", "0123abcd"]], "0123abcd"),
        ({"HARVESTGPU_JOB_ID": "0123abcd"}, "0123abcd"),  # the CLI's dict form
        ([["-p 8000:8000", "1"]], None),
        ([["HARVESTGPU_JOB_ID", ""]], None),
        ([], None),
        (None, None),
        ("HARVESTGPU_JOB_ID=0123abcd", None),
    ],
)
def test_job_marker_is_read_from_the_echoed_env(extra_env: Any, expected: str | None) -> None:
    assert env_value(extra_env, "HARVESTGPU_JOB_ID") == expected


def _read(log: list[str], cursor: str | None) -> tuple[list[str], str]:
    """What logs() does with one upload: the tail, the new lines, the next cursor."""
    tail = log[-LOG_TAIL_LINES:]
    complete = len(tail) < LOG_TAIL_LINES
    new = lines_after(tail, cursor, complete)
    return new, next_cursor(tail, new, cursor, complete)


def test_cursor_keeps_working_once_the_log_outgrows_the_tail() -> None:
    log = [f"line {i}" for i in range(600)]
    first, cursor = _read(log, None)
    log += [f"line {i}" for i in range(600, 1500)]
    second, cursor = _read(log, cursor)
    log += [f"line {i}" for i in range(1500, 1700)]
    third, cursor = _read(log, cursor)
    fourth, _ = _read(log, cursor)

    assert first == log[:600]
    assert second == log[600:1500]
    assert third == log[1500:1700]
    assert fourth == []


def test_a_log_that_grew_past_a_whole_tail_between_reads_returns_the_tail() -> None:
    log = [f"line {i}" for i in range(100)]
    _, cursor = _read(log, None)
    log += [f"line {i}" for i in range(100, 3000)]

    new, _ = _read(log, cursor)

    assert new == log[-LOG_TAIL_LINES:]  # what fell out of the tail in between is gone at Vast too


def test_cursor_counts_repeated_lines_exactly_while_the_log_fits() -> None:
    log = ["tick"] * 10
    _, cursor = _read(log, None)
    log += ["tick"] * 3

    new, _ = _read(log, cursor)

    assert new == ["tick"] * 3


def test_a_malformed_cursor_returns_the_whole_tail() -> None:
    assert lines_after(["a", "b"], "garbage", complete=True) == ["a", "b"]
