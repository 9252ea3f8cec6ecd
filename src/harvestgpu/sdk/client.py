"""``HarvestGPU`` and ``AsyncHarvestGPU``: the entry points of the Python SDK."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from harvestgpu.models import ProviderOut
from harvestgpu.sdk import _endpoints as endpoints
from harvestgpu.sdk._endpoints import MAX_PAGE_SIZE
from harvestgpu.sdk._transport import AsyncRequester, ClientSettings, SyncRequester
from harvestgpu.sdk.job import AsyncJob, Job
from harvestgpu.sdk.pagination import (
    AsyncJobIterator,
    AsyncUsageHistory,
    JobFilters,
    JobIterator,
    UsageHistory,
)
from harvestgpu.sdk.resources import (
    ApiKeys,
    AsyncApiKeys,
    AsyncAuth,
    AsyncProviderKeys,
    AsyncWebhooks,
    Auth,
    ProviderKeys,
    Webhooks,
)
from harvestgpu.sdk.types import MonthlyUsage, PriceList, ProviderOffers, SpendLimit

DEFAULT_IMAGE = "pytorch/pytorch:latest"
# run() without wait=True still waits this long for the job to leave "queued", so the caller
# sees where it landed (SPEC's snippet prints "running" right after run()).
START_TIMEOUT = 30.0


def _submit_body(
    gpu: str,
    image: str,
    command: str | None,
    budget_max: float | None,
    max_duration: float | None,
    priority: str,
    gpu_count: int,
    provider: str | None,
    env: Mapping[str, str] | None,
) -> dict[str, Any]:
    return endpoints.job_body(
        gpu=gpu,
        image=image,
        command=command,
        budget_max=budget_max,
        max_duration=max_duration,
        priority=priority,
        gpu_count=gpu_count,
        provider=provider,
        env=env,
    )


class HarvestGPU:
    """Client for a HarvestGPU server.

    Args:
        api_key: a HarvestGPU API key (``hg_live_...``) or a login token; defaults to
            ``HARVESTGPU_API_KEY``. Only calls that need an account require it.
        base_url: the server, e.g. ``http://localhost:5000``; defaults to
            ``HARVESTGPU_BASE_URL`` or ``http://localhost:5000``.
        timeout: seconds to wait for each HTTP exchange.
        max_retries: extra attempts on connection failures, 429 (after ``Retry-After``) and
            502/503/504. Job submits carry an ``Idempotency-Key`` so a retry never launches twice.
        http_client: an ``httpx.Client`` to use (proxies, custom TLS, tests); the caller closes it.

    Namespaces: ``auth``, ``provider_keys``, ``api_keys``, ``webhooks``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._http = SyncRequester(
            ClientSettings.resolve(api_key, base_url, timeout, max_retries), http_client
        )
        self.auth = Auth(self._http)
        self.provider_keys = ProviderKeys(self._http)
        self.api_keys = ApiKeys(self._http)
        self.webhooks = Webhooks(self._http)

    @property
    def base_url(self) -> str:
        """The server this client talks to."""
        return self._http.settings.base_url

    def __repr__(self) -> str:
        return f"HarvestGPU(base_url={self.base_url!r})"

    def run(
        self,
        gpu: str,
        image: str = DEFAULT_IMAGE,
        command: str | None = None,
        budget_max: float | None = None,
        max_duration: float | None = None,
        priority: str = "cost",
        gpu_count: int = 1,
        provider: str | None = None,
        env: Mapping[str, str] | None = None,
        wait: bool = False,
        idempotency_key: str | None = None,
    ) -> Job:
        """Submit a job; HarvestGPU places it on the cheapest matching GPU across your accounts.

        Args:
            gpu: GPU model, e.g. ``"H100"`` (any variant), ``"H100-SXM"``, ``"A100-80GB"``.
            image: Docker image to run.
            command: command to run in the image (the image's default when None).
            budget_max: highest acceptable price in USD per hour (sent as ``budget_max_per_hour``).
            max_duration: hours after which the job is stopped (sent as ``max_duration_hours``).
            priority: ``"cost"``, ``"speed"`` or ``"availability"``.
            gpu_count: GPUs per instance.
            provider: only this provider slug (e.g. ``"runpod"``, ``"mock"``).
            env: environment variables for the command (values are never shown back).
            wait: block until the job has finished. Otherwise wait (up to 30 s) only until it has
                left ``queued``, so ``status``, ``provider`` and ``cost_per_hour`` are known.
            idempotency_key: reuse a key to make a repeated submit return the same job; a fresh
                one is generated per call otherwise.

        Raises:
            NoCapacityError: no offer matches (GPU, count, budget) right now.
            InvalidRequestError: an unknown GPU name or an invalid parameter.
        """
        body = _submit_body(gpu, image, command, budget_max, max_duration, priority, gpu_count, provider, env)
        job = Job._bind(self._http.send(endpoints.submit_job(body, idempotency_key)), self._http)
        if wait:
            return job.wait()
        job._poll_until(lambda: job.status != "queued", START_TIMEOUT)
        return job

    def jobs(
        self,
        status: str | None = None,
        gpu: str | None = None,
        provider: str | None = None,
        limit: int | None = None,
    ) -> JobIterator:
        """Iterate over your jobs, newest first, across all pages (fetched lazily, 100 at a time).

        Args:
            status: only ``queued``, ``running``, ``completed``, ``failed`` or ``stopped`` jobs.
            gpu: only jobs for this GPU.
            provider: only jobs on this provider slug.
            limit: stop after this many jobs (all when None).
        """
        return JobIterator(self._http, JobFilters(status, gpu, provider), limit, MAX_PAGE_SIZE)

    def job(self, job_id: str) -> Job:
        """Fetch one job by id (``NotFoundError`` if it does not exist or is not yours)."""
        return Job._bind(self._http.send(endpoints.get_job(job_id)), self._http)

    def pricing(self, gpu: str | None = None) -> PriceList:
        """Current GPU prices across providers (cheapest first); no API key needed.

        With an API key the list includes the live offers of your connected accounts.
        """
        return self._http.send(endpoints.pricing(gpu))

    def providers(self) -> list[ProviderOut]:
        """The supported providers, whether you connected them, and what they offer now."""
        return self._http.send(endpoints.providers())

    def provider_gpus(self, provider: str) -> ProviderOffers:
        """One provider's current offers: a list of the entries :meth:`pricing` gives; no key needed.

        ``offers.connected`` says whether the provider is connected to your account (with an
        API key, its live offers are listed) and ``offers.error`` why a listing failed.

        Raises:
            NotFoundError: ``provider`` is not a provider slug.
        """
        return self._http.send(endpoints.provider_gpus(provider))

    def usage(self) -> MonthlyUsage:
        """This calendar month's usage (UTC) up to now: totals, every day, by provider and by GPU.

        Running jobs count from their start up to now; ``monthly_limit``/``remaining`` show your
        spend limit when one is set.
        """
        return self._http.send(endpoints.current_usage())

    def usage_history(self, limit: int | None = None) -> UsageHistory:
        """Iterate over the usage records of your ended jobs, newest first, across all pages.

        Pages of 100 are fetched only as the iteration needs them; ``limit`` stops after that
        many records. After the first page, ``history.total`` is the number of records and
        ``history.months`` what ended jobs cost per calendar month.
        """
        return UsageHistory(self._http, limit)

    def billing_limit(self) -> SpendLimit:
        """Your monthly spend limit (None: no limit), this month's spend and what is left."""
        return self._http.send(endpoints.spend_limit())

    def set_billing_limit(self, amount: float | None) -> SpendLimit:
        """Set the monthly spend limit to ``amount`` USD, or remove it with None.

        Submits are refused once the month's spend reaches it and running jobs are stopped.

        Raises:
            InvalidRequestError: ``amount`` is not above 0.
        """
        return self._http.send(endpoints.set_spend_limit(amount))

    def close(self) -> None:
        """Close the connection pool (a client passed as ``http_client`` is left open)."""
        self._http.close()

    def __enter__(self) -> HarvestGPU:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncHarvestGPU:
    """Async client for a HarvestGPU server: the same API as :class:`HarvestGPU`, awaitable.

    ``jobs()``, ``usage_history()`` and ``webhooks.deliveries()`` return async iterators
    (``async for job in client.jobs()``) and jobs are
    :class:`~harvestgpu.sdk.job.AsyncJob` objects. Takes an ``httpx.AsyncClient`` as
    ``http_client``. Use ``async with AsyncHarvestGPU() as client:`` or ``await client.aclose()``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        *,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = AsyncRequester(
            ClientSettings.resolve(api_key, base_url, timeout, max_retries), http_client
        )
        self.auth = AsyncAuth(self._http)
        self.provider_keys = AsyncProviderKeys(self._http)
        self.api_keys = AsyncApiKeys(self._http)
        self.webhooks = AsyncWebhooks(self._http)

    @property
    def base_url(self) -> str:
        """The server this client talks to."""
        return self._http.settings.base_url

    def __repr__(self) -> str:
        return f"AsyncHarvestGPU(base_url={self.base_url!r})"

    async def run(
        self,
        gpu: str,
        image: str = DEFAULT_IMAGE,
        command: str | None = None,
        budget_max: float | None = None,
        max_duration: float | None = None,
        priority: str = "cost",
        gpu_count: int = 1,
        provider: str | None = None,
        env: Mapping[str, str] | None = None,
        wait: bool = False,
        idempotency_key: str | None = None,
    ) -> AsyncJob:
        """Submit a job; see :meth:`HarvestGPU.run` for every argument."""
        body = _submit_body(gpu, image, command, budget_max, max_duration, priority, gpu_count, provider, env)
        job = AsyncJob._bind(await self._http.send(endpoints.submit_job(body, idempotency_key)), self._http)
        if wait:
            return await job.wait()
        await job._poll_until(lambda: job.status != "queued", START_TIMEOUT)
        return job

    def jobs(
        self,
        status: str | None = None,
        gpu: str | None = None,
        provider: str | None = None,
        limit: int | None = None,
    ) -> AsyncJobIterator:
        """Async-iterate over your jobs across all pages; see :meth:`HarvestGPU.jobs`."""
        return AsyncJobIterator(self._http, JobFilters(status, gpu, provider), limit, MAX_PAGE_SIZE)

    async def job(self, job_id: str) -> AsyncJob:
        """Fetch one job by id (``NotFoundError`` if it does not exist or is not yours)."""
        return AsyncJob._bind(await self._http.send(endpoints.get_job(job_id)), self._http)

    async def pricing(self, gpu: str | None = None) -> PriceList:
        """Current GPU prices across providers (cheapest first); no API key needed."""
        return await self._http.send(endpoints.pricing(gpu))

    async def providers(self) -> list[ProviderOut]:
        """The supported providers, whether you connected them, and what they offer now."""
        return await self._http.send(endpoints.providers())

    async def provider_gpus(self, provider: str) -> ProviderOffers:
        """One provider's current offers; see :meth:`HarvestGPU.provider_gpus`."""
        return await self._http.send(endpoints.provider_gpus(provider))

    async def usage(self) -> MonthlyUsage:
        """This calendar month's usage; see :meth:`HarvestGPU.usage`."""
        return await self._http.send(endpoints.current_usage())

    def usage_history(self, limit: int | None = None) -> AsyncUsageHistory:
        """Async-iterate over the usage records of your ended jobs; see :meth:`HarvestGPU.usage_history`."""
        return AsyncUsageHistory(self._http, limit)

    async def billing_limit(self) -> SpendLimit:
        """Your monthly spend limit (None: no limit), this month's spend and what is left."""
        return await self._http.send(endpoints.spend_limit())

    async def set_billing_limit(self, amount: float | None) -> SpendLimit:
        """Set the monthly spend limit to ``amount`` USD, or remove it with None."""
        return await self._http.send(endpoints.set_spend_limit(amount))

    async def aclose(self) -> None:
        """Close the connection pool (a client passed as ``http_client`` is left open)."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHarvestGPU:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
