"""Namespaces of the client: ``auth``, ``provider_keys`` and ``api_keys`` (sync and async)."""

from __future__ import annotations

from harvestgpu.sdk import _endpoints as endpoints
from harvestgpu.sdk._transport import AsyncRequester, SyncRequester
from harvestgpu.sdk.types import (
    Account,
    ApiKey,
    NewApiKey,
    ProviderKey,
    ProviderKeyTest,
    Registration,
    Session,
)


class Auth:
    """Account calls: ``client.auth.register(...)``, ``.login(...)``, ``.me()``."""

    def __init__(self, http: SyncRequester) -> None:
        self._http = http

    def register(self, email: str, password: str, company: str | None = None) -> Registration:
        """Create an account; the answer holds its API key (shown only once)."""
        return self._http.send(endpoints.register(email, password, company))

    def login(self, email: str, password: str) -> Session:
        """Log in; the answer's ``token`` works as an ``api_key`` until it expires."""
        return self._http.send(endpoints.login(email, password))

    def me(self) -> Account:
        """The authenticated user, this period's usage and the active jobs."""
        return self._http.send(endpoints.me())


class AsyncAuth:
    """Async twin of :class:`Auth`."""

    def __init__(self, http: AsyncRequester) -> None:
        self._http = http

    async def register(self, email: str, password: str, company: str | None = None) -> Registration:
        """Create an account; the answer holds its API key (shown only once)."""
        return await self._http.send(endpoints.register(email, password, company))

    async def login(self, email: str, password: str) -> Session:
        """Log in; the answer's ``token`` works as an ``api_key`` until it expires."""
        return await self._http.send(endpoints.login(email, password))

    async def me(self) -> Account:
        """The authenticated user, this period's usage and the active jobs."""
        return await self._http.send(endpoints.me())


class ProviderKeys:
    """Your GPU cloud keys: ``client.provider_keys.add/list/remove/test``."""

    def __init__(self, http: SyncRequester) -> None:
        self._http = http

    def add(self, provider: str, api_key: str, label: str | None = None) -> ProviderKey:
        """Connect (or replace) the key for ``provider`` (runpod, lambda, vastai, tensordock)."""
        return self._http.send(endpoints.add_provider_key(provider, api_key, label))

    def list(self) -> list[ProviderKey]:
        """The connected providers (last 4 characters of each key only)."""
        return self._http.send(endpoints.list_provider_keys())

    def remove(self, provider: str) -> None:
        """Disconnect ``provider`` and delete its stored key."""
        self._http.send(endpoints.remove_provider_key(provider))

    def test(self, provider: str) -> ProviderKeyTest:
        """Ask the provider whether the stored key works."""
        return self._http.send(endpoints.check_provider_key(provider))


class AsyncProviderKeys:
    """Async twin of :class:`ProviderKeys`."""

    def __init__(self, http: AsyncRequester) -> None:
        self._http = http

    async def add(self, provider: str, api_key: str, label: str | None = None) -> ProviderKey:
        """Connect (or replace) the key for ``provider`` (runpod, lambda, vastai, tensordock)."""
        return await self._http.send(endpoints.add_provider_key(provider, api_key, label))

    async def list(self) -> list[ProviderKey]:
        """The connected providers (last 4 characters of each key only)."""
        return await self._http.send(endpoints.list_provider_keys())

    async def remove(self, provider: str) -> None:
        """Disconnect ``provider`` and delete its stored key."""
        await self._http.send(endpoints.remove_provider_key(provider))

    async def test(self, provider: str) -> ProviderKeyTest:
        """Ask the provider whether the stored key works."""
        return await self._http.send(endpoints.check_provider_key(provider))


class ApiKeys:
    """Your HarvestGPU API keys: ``client.api_keys.create/list/revoke``."""

    def __init__(self, http: SyncRequester) -> None:
        self._http = http

    def create(self, name: str) -> NewApiKey:
        """Create an API key; its secret ``api_key`` is in this answer only."""
        return self._http.send(endpoints.create_api_key(name))

    def list(self) -> list[ApiKey]:
        """All API keys of the account (prefixes only)."""
        return self._http.send(endpoints.list_api_keys())

    def revoke(self, key_id: str) -> None:
        """Revoke an API key; it stops working at once."""
        self._http.send(endpoints.revoke_api_key(key_id))


class AsyncApiKeys:
    """Async twin of :class:`ApiKeys`."""

    def __init__(self, http: AsyncRequester) -> None:
        self._http = http

    async def create(self, name: str) -> NewApiKey:
        """Create an API key; its secret ``api_key`` is in this answer only."""
        return await self._http.send(endpoints.create_api_key(name))

    async def list(self) -> list[ApiKey]:
        """All API keys of the account (prefixes only)."""
        return await self._http.send(endpoints.list_api_keys())

    async def revoke(self, key_id: str) -> None:
        """Revoke an API key; it stops working at once."""
        await self._http.send(endpoints.revoke_api_key(key_id))
