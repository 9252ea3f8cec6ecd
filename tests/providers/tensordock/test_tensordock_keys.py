"""A key that cannot go into an HTTP header never reaches httpx, whose errors quote it."""

from __future__ import annotations

import httpx
import pytest

from harvestgpu.providers.errors import ProviderAuthError
from harvestgpu.providers.tensordock import TensorDockProvider
from harvestgpu.providers.types import OfferQuery
from tests.fakes.tensordock import FakeTensorDockCloud


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def assert_nothing_of(key: str, exc: BaseException) -> None:
    core = key.strip()
    for link in _chain(exc):
        for text in (str(link), repr(link), getattr(link, "message", "")):
            assert core not in text and core[:12] not in text
            assert repr(core)[1:-1] not in text  # the escaped form httpx would print


@pytest.mark.parametrize(
    "key",
    [
        "td_SECRET\u00e9KEY0123456789",  # non-ASCII
        "td_SECRETKEY\n0123456789",  # a newline inside
        "td_SECRET KEY0123456789",  # a space inside
    ],
)
async def test_a_key_that_is_not_header_safe_is_an_auth_error_before_any_request(
    fake: FakeTensorDockCloud, fake_url: str, http: httpx.AsyncClient, key: str
) -> None:
    provider = TensorDockProvider(api_key=key, http=http, base_url=fake_url, timeout_s=5)
    for call in (provider.validate_key, provider.list_instances, lambda: provider.get_instance("x")):
        with pytest.raises(ProviderAuthError) as caught:
            await call()
        assert_nothing_of(key, caught.value)
    assert fake.requests_seen == []


async def test_a_wrong_key_with_a_trailing_newline_is_an_auth_error(
    fake: FakeTensorDockCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    key = "td_WRONGKEY9876543210fedcba\n"
    provider = TensorDockProvider(api_key=key, http=http, base_url=fake_url, timeout_s=5)
    with pytest.raises(ProviderAuthError) as caught:
        await provider.validate_key()
    assert caught.value.status == 401  # the cloud's answer, not an httpx header error
    assert_nothing_of(key, caught.value)


async def test_a_pasted_key_with_a_trailing_newline_is_sent_without_it(
    fake: FakeTensorDockCloud, fake_url: str, http: httpx.AsyncClient
) -> None:
    provider = TensorDockProvider(api_key=fake.api_key + "\n", http=http, base_url=fake_url, timeout_s=5)
    assert (await provider.validate_key()).valid
    assert await provider.list_offers(OfferQuery())
    assert {headers["authorization"] for _, _, headers in fake.requests_seen} == {f"Bearer {fake.api_key}"}
