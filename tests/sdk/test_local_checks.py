"""What the SDK settles before sending anything: which key, whether it can be sent, numbers JSON can carry.

Also: every failure is a ``HarvestGPUError`` and no error text holds a key, even escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harvestgpu import (
    APIConnectionError,
    AsyncHarvestGPU,
    AuthenticationError,
    HarvestGPU,
    HarvestGPUError,
    InvalidRequestError,
)
from tests.sdk.scripted import API_KEY, BASE_URL, Script, job_json, ok

MakeClient = Callable[..., HarvestGPU]
MakeAsyncClient = Callable[..., AsyncHarvestGPU]

ME = {
    "user_id": "u1",
    "email": "you@example.com",
    "company": None,
    "plan": "free",
    "created_at": "2026-04-14T12:00:00Z",
    "usage": {"period": "2026-04", "total_cost": 0.0, "jobs": 0, "gpu_hours": 0.0},
    "active_jobs": [],
}
LIMIT = {"monthly_limit": None, "period": "2026-04", "spent": 0.0, "remaining": None}

# Keys as they get pasted: a line break, a non-breaking space, a smart character, a control byte.
UNSENDABLE_KEYS = {
    "non-ascii": API_KEY + "é",
    "inner-space": "hg_live_unit test_key_0123456789",
    "non-breaking-space": "hg_live_unit_test_key\u00a00123456789",
    "control-char": "hg_live_unit_test_key\x010123456789",
    "inner-newline": "hg_live_unit_test\nkey_0123456789",
}


def _save_login(config_dir: Path, **saved: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps(saved))


def _bearer(request: httpx.Request) -> str:
    return request.headers["Authorization"].removeprefix("Bearer ")


# --- which key ----------------------------------------------------------------------------------


@pytest.mark.parametrize("padding", ["\n", "\r\n", " ", "\t"], ids=["lf", "crlf", "space", "tab"])
def test_whitespace_around_a_passed_key_is_dropped(make_client: MakeClient, padding: str) -> None:
    script = Script(ok(ME))

    make_client(script, api_key=f"{padding}{API_KEY}{padding}").auth.me()

    assert _bearer(script.requests[0]) == API_KEY


def test_whitespace_around_the_environment_key_is_dropped(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVESTGPU_API_KEY", f"  {API_KEY}\n")
    script = Script(ok(ME))

    make_client(script, api_key=None).auth.me()

    assert _bearer(script.requests[0]) == API_KEY


def test_the_key_saved_by_auth_login_is_the_last_fallback(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch, config_dir: Path
) -> None:
    _save_login(config_dir, api_key="hg_live_saved_by_login_42\n")
    script = Script(ok(ME), ok(ME), ok(ME))

    make_client(script, api_key=None).auth.me()
    monkeypatch.setenv("HARVESTGPU_API_KEY", "hg_live_from_the_environment")
    make_client(script, api_key=None).auth.me()
    make_client(script, api_key="hg_live_passed_as_argument").auth.me()

    assert [_bearer(request) for request in script.requests] == [
        "hg_live_saved_by_login_42",
        "hg_live_from_the_environment",
        "hg_live_passed_as_argument",
    ]


def test_the_server_saved_by_auth_login_is_used_when_none_is_given(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _save_login(config_dir, api_key=API_KEY, base_url="http://saved.test/api/v1/")
    script = Script(ok(ME), ok(ME))

    with httpx.Client(transport=httpx.MockTransport(script)) as http_client:
        HarvestGPU(http_client=http_client).auth.me()
        monkeypatch.setenv("HARVESTGPU_BASE_URL", BASE_URL)
        HarvestGPU(http_client=http_client).auth.me()

    assert [str(request.url) for request in script.requests] == [
        "http://saved.test/api/v1/auth/me",
        f"{BASE_URL}/api/v1/auth/me",
    ]
    assert [_bearer(request) for request in script.requests] == [API_KEY, API_KEY]


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"api_key": 42}'])
def test_an_unreadable_saved_login_means_no_key(
    make_client: MakeClient, config_dir: Path, content: str
) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "config.json").write_text(content)
    script = Script(ok({"pricing": [], "providers": []}))
    client = make_client(script, api_key=None)

    with pytest.raises(AuthenticationError, match="harvestgpu auth login"):
        client.auth.me()
    assert client.pricing() == []
    assert "Authorization" not in script.requests[0].headers


# --- a key that cannot be sent ------------------------------------------------------------------


@pytest.mark.parametrize("key", list(UNSENDABLE_KEYS.values()), ids=list(UNSENDABLE_KEYS))
def test_a_key_that_cannot_be_a_header_is_refused_before_sending(make_client: MakeClient, key: str) -> None:
    script = Script()
    client = make_client(script, api_key=key)

    for call in (client.auth.me, client.pricing, lambda: list(client.jobs())):
        with pytest.raises(AuthenticationError) as caught:
            call()
        error = caught.value
        assert "API key cannot be sent" in error.message
        for text in (str(error), repr(error), error.message):
            assert "unit" not in text and "0123456789" not in text

    assert script.requests == []


@pytest.mark.parametrize("key", list(UNSENDABLE_KEYS.values()), ids=list(UNSENDABLE_KEYS))
async def test_the_async_client_refuses_it_too(make_async_client: MakeAsyncClient, key: str) -> None:
    script = Script()

    with pytest.raises(AuthenticationError, match="API key cannot be sent") as caught:
        await make_async_client(script, api_key=key).auth.me()

    assert "0123456789" not in str(caught.value) + repr(caught.value)
    assert script.requests == []


def test_a_bad_key_does_not_stop_calls_that_send_no_key(make_client: MakeClient) -> None:
    registration = {"user_id": "u1", "email": "you@example.com", "api_key": API_KEY, "token": "jwt.x.y"}
    script = Script(ok(registration, 201))

    created = make_client(script, api_key=UNSENDABLE_KEYS["non-ascii"]).auth.register(
        "you@example.com", "pw-12345678"
    )

    assert created.user_id == "u1"
    assert "Authorization" not in script.requests[0].headers


def test_secrets_are_removed_from_transport_errors_even_escaped(make_client: MakeClient) -> None:
    provider_key = "rp_live_SECRET_provider_kéy_4321"
    sent = f"Bearer {API_KEY}".encode()
    # h11 and friends quote what they refused as bytes reprs: non-ASCII turns into \xc3\xa9.
    refusal = (
        f"Illegal header value {sent!r}; body {provider_key.encode()!r}; json {json.dumps(provider_key)}"
    )
    client = make_client(Script(httpx.LocalProtocolError(refusal)), max_retries=0)

    with pytest.raises(APIConnectionError) as caught:
        client.provider_keys.add("runpod", provider_key)

    text = str(caught.value) + repr(caught.value)
    assert "Illegal header value" in text
    assert "SECRET" not in text
    assert API_KEY not in text and "unit_test_key" not in text


# --- numbers JSON cannot carry ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        ("budget_max", float("inf")),
        ("budget_max", float("nan")),
        ("max_duration", float("inf")),
        ("max_duration", float("-inf")),
    ],
)
def test_run_refuses_a_non_finite_number_naming_the_parameter(
    make_client: MakeClient, argument: str, value: float
) -> None:
    script = Script()

    with pytest.raises(InvalidRequestError) as caught:
        make_client(script).run(gpu="T4", **{argument: value})

    assert caught.value.message.startswith(f"{argument} must be")
    assert script.requests == []


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_set_billing_limit_refuses_a_non_finite_amount(make_client: MakeClient, value: float) -> None:
    script = Script(ok(LIMIT))
    client = make_client(script)

    with pytest.raises(InvalidRequestError, match=r"^amount must be"):
        client.set_billing_limit(value)

    assert script.requests == []
    assert client.set_billing_limit(None).monthly_limit is None  # removing it still works


async def test_the_async_client_refuses_non_finite_numbers(make_async_client: MakeAsyncClient) -> None:
    script = Script()
    client = make_async_client(script)

    with pytest.raises(InvalidRequestError, match=r"^budget_max must be"):
        await client.run(gpu="T4", budget_max=float("inf"))
    with pytest.raises(InvalidRequestError, match=r"^amount must be"):
        await client.set_billing_limit(float("nan"))

    assert script.requests == []


def test_anything_else_that_cannot_be_sent_is_a_harvestgpu_error(make_client: MakeClient) -> None:
    script = Script(ok(job_json(), 201))
    client = make_client(script)

    with pytest.raises(InvalidRequestError, match="not JSON compliant"):
        client.run(gpu="T4", env={"RATIO": float("nan")})  # type: ignore[dict-item]
    with pytest.raises(InvalidRequestError, match="Cannot send POST /api/v1/jobs"):
        client.run(gpu="T4", idempotency_key="nightly-é")
    with pytest.raises(HarvestGPUError):
        client.run(gpu="T4", env={"BLOB": object()})  # type: ignore[dict-item]

    assert script.requests == []


def test_a_base_url_that_is_not_a_url_is_a_harvestgpu_error() -> None:
    script = Script()

    with httpx.Client(transport=httpx.MockTransport(script)) as http_client:
        client = HarvestGPU(api_key=API_KEY, base_url="http://[::1", http_client=http_client)
        with pytest.raises(APIConnectionError, match="Invalid HarvestGPU base URL 'http://\\[::1'"):
            client.pricing()

    assert script.requests == []
