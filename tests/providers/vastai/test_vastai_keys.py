"""A key that cannot go into a header, and network failures: no part of the key in any error."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from harvestgpu.providers.errors import ProviderAuthError, ProviderTransientError
from harvestgpu.providers.types import OfferQuery
from harvestgpu.providers.vastai import VastAIProvider
from tests.fakes.vastai import FakeVastAICloud

# Wrong keys (so a cleaned-up one is still refused): one httpx would send with the newline
# and echo, escaped, in its LocalProtocolError; one it cannot encode at all.
UNSENDABLE_KEYS = ["QZX9w7-ratherSecretValue\n", "QZX9w7-ratherSécretValue"]


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _fragments(key: str) -> set[str]:
    core = key.strip()
    escaped = repr(key)[1:-1]
    return {core[i : i + 6] for i in range(len(core) - 5)} | {escaped, core}


@pytest.mark.parametrize("key", UNSENDABLE_KEYS, ids=["trailing-newline", "non-ascii"])
@pytest.mark.parametrize("op", ["validate", "offers", "list"])
async def test_a_key_no_header_can_carry_is_an_auth_error_naming_no_part_of_it(
    fake: FakeVastAICloud, base_url: str, http: httpx.AsyncClient, key: str, op: str
) -> None:
    provider = VastAIProvider(api_key=key, http=http, base_url=base_url, timeout_s=5.0)
    run = {
        "validate": provider.validate_key,
        "offers": lambda: provider.list_offers(OfferQuery()),
        "list": provider.list_instances,
    }[op]

    with pytest.raises(ProviderAuthError) as caught:
        await run()

    texts = [t for e in _chain(caught.value) for t in (str(e), repr(e), getattr(e, "message", ""))]
    leaked = {f for f in _fragments(key) for t in texts if f in t}
    assert not leaked, f"error chain shows {leaked}"
    sent = [h.get("authorization", "") for _, _, h in fake.requests_seen]
    assert all("\n" not in h and h.isascii() for h in sent)


async def test_a_network_failure_names_only_the_exception_type(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = VastAIProvider(api_key="vast_KEY0123456789", http=http, base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(ProviderTransientError) as caught:
        await provider.validate_key()

    assert caught.value.message == "GET /api/v0/users/current/ failed: ConnectError"
    assert caught.value.__cause__ is None and caught.value.__context__ is None
