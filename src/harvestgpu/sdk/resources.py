"""Namespaces of the client: ``auth``, ``provider_keys``, ``api_keys`` and ``webhooks`` (sync and async)."""

from __future__ import annotations

from collections.abc import Sequence

from harvestgpu.sdk import _endpoints as endpoints
from harvestgpu.sdk._transport import AsyncRequester, SyncRequester
from harvestgpu.sdk.pagination import AsyncDeliveryIterator, DeliveryIterator
from harvestgpu.sdk.types import (
    Account,
    ApiKey,
    NewApiKey,
    NewWebhook,
    ProviderKey,
    ProviderKeyTest,
    Registration,
    Session,
    Webhook,
    WebhookDelivery,
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


class Webhooks:
    """Where HarvestGPU POSTs job events: ``client.webhooks.create/list/delete/deliveries/resend``."""

    def __init__(self, http: SyncRequester) -> None:
        self._http = http

    def create(self, url: str, events: str | Sequence[str] | None = None) -> NewWebhook:
        """Register ``url`` for ``events`` (every event when None); the ``secret`` is shown only now.

        Args:
            url: an ``http(s)://`` URL that reaches a public address.
            events: ``"job.completed,job.failed"`` or a list of names (``job.running``,
                ``job.completed``, ``job.failed``, ``job.stopped``, ``budget.exceeded``).

        Raises:
            InvalidRequestError: an unknown event, or a URL that is not public.
            ConflictError: the account already has 20 webhooks.
        """
        return self._http.send(endpoints.create_webhook(url, events))

    def list(self) -> list[Webhook]:
        """Your webhooks, oldest first (without their secrets)."""
        return self._http.send(endpoints.list_webhooks())

    def delete(self, webhook_id: str) -> None:
        """Delete a webhook; its pending deliveries are dropped."""
        self._http.send(endpoints.delete_webhook(webhook_id))

    def deliveries(self, webhook_id: str, limit: int | None = None) -> DeliveryIterator:
        """Iterate over a webhook's deliveries, newest first, across all pages (fetched lazily).

        ``NotFoundError`` (raised by the first page fetch) if the webhook is not yours.
        """
        return DeliveryIterator(self._http, webhook_id, limit)

    def resend(self, webhook_id: str, delivery_id: str) -> WebhookDelivery:
        """Queue a delivery's event again (same event id and body); returns the new delivery."""
        return self._http.send(endpoints.resend_delivery(webhook_id, delivery_id))


class AsyncWebhooks:
    """Async twin of :class:`Webhooks` (``deliveries()`` is an async iterator)."""

    def __init__(self, http: AsyncRequester) -> None:
        self._http = http

    async def create(self, url: str, events: str | Sequence[str] | None = None) -> NewWebhook:
        """Register ``url`` for ``events``; see :meth:`Webhooks.create`. The ``secret`` is shown only now."""
        return await self._http.send(endpoints.create_webhook(url, events))

    async def list(self) -> list[Webhook]:
        """Your webhooks, oldest first (without their secrets)."""
        return await self._http.send(endpoints.list_webhooks())

    async def delete(self, webhook_id: str) -> None:
        """Delete a webhook; its pending deliveries are dropped."""
        await self._http.send(endpoints.delete_webhook(webhook_id))

    def deliveries(self, webhook_id: str, limit: int | None = None) -> AsyncDeliveryIterator:
        """Async-iterate over a webhook's deliveries, newest first, across all pages."""
        return AsyncDeliveryIterator(self._http, webhook_id, limit)

    async def resend(self, webhook_id: str, delivery_id: str) -> WebhookDelivery:
        """Queue a delivery's event again (same event id and body); returns the new delivery."""
        return await self._http.send(endpoints.resend_delivery(webhook_id, delivery_id))
