"""Lazy iteration over every page of a listing: jobs, usage records, webhook deliveries.

One :class:`_PageCursor` decides which window (size, offset) to ask for next and when to stop;
the iterators only differ in how they fetch a page (blocking or awaited) and what they yield.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from harvestgpu.models import JobList
from harvestgpu.sdk import _endpoints as endpoints
from harvestgpu.sdk._endpoints import MAX_PAGE_SIZE
from harvestgpu.sdk._operation import Operation
from harvestgpu.sdk._transport import AsyncRequester, SyncRequester
from harvestgpu.sdk.job import AsyncJob, Job
from harvestgpu.sdk.types import UsageByMonth, UsageRecord, WebhookDelivery

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    """The items of one page and how many items the whole listing has on the server."""

    items: Sequence[ItemT]
    total: int


@dataclass(frozen=True)
class JobFilters:
    """The ``GET /jobs`` filters; None means "any"."""

    status: str | None = None
    gpu: str | None = None
    provider: str | None = None


class _PageCursor(Generic[ItemT]):
    """Which window to ask for next, and when to stop (shared by the sync and async iterators)."""

    def __init__(self, limit: int | None, page_size: int, key: Callable[[ItemT], str]) -> None:
        self.limit = limit
        self.page_size = page_size
        self.key = key
        self.offset = 0
        self.total: int | None = None
        self.yielded = 0
        self.exhausted = limit is not None and limit <= 0
        self._seen: set[str] = set()

    def window(self) -> tuple[int, int]:
        """``(limit, offset)`` of the next page request; the last one shrinks to what is left."""
        size = self.page_size
        if self.limit is not None:
            size = min(size, self.limit - self.yielded)
        return size, self.offset

    def accept(self, page: Page[ItemT]) -> list[ItemT]:
        """The page's items still to yield; updates the cursor."""
        self.total = page.total
        self.offset += len(page.items)
        fresh: list[ItemT] = []
        for item in page.items:
            # Newer items shift older ones to later pages: never hand out the same one twice.
            key = self.key(item)
            if key not in self._seen:
                self._seen.add(key)
                fresh.append(item)
        if self.limit is not None:
            fresh = fresh[: self.limit - self.yielded]
        self.yielded += len(fresh)
        limit_reached = self.limit is not None and self.yielded >= self.limit
        self.exhausted = not page.items or self.offset >= page.total or limit_reached
        return fresh


class PageIterator(Iterator[ItemT]):
    """Iterates over a whole listing, fetching pages only as the iteration needs them.

    ``total`` is the number of items on the server (known after the first page).
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Page[ItemT]],
        limit: int | None,
        key: Callable[[ItemT], str],
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        self._fetch = fetch
        self._cursor = _PageCursor(limit, page_size, key)
        self._buffer: list[ItemT] = []

    @property
    def total(self) -> int | None:
        """How many items the listing has on the server; None until the first page was fetched."""
        return self._cursor.total

    def __iter__(self) -> PageIterator[ItemT]:
        return self

    def __next__(self) -> ItemT:
        while not self._buffer:
            if self._cursor.exhausted:
                raise StopIteration
            self._buffer = self._cursor.accept(self._fetch(*self._cursor.window()))
        return self._buffer.pop(0)


class AsyncPageIterator(AsyncIterator[ItemT]):
    """Async twin of :class:`PageIterator`: ``async for item in ...``."""

    def __init__(
        self,
        fetch: Callable[[int, int], Awaitable[Page[ItemT]]],
        limit: int | None,
        key: Callable[[ItemT], str],
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        self._fetch = fetch
        self._cursor = _PageCursor(limit, page_size, key)
        self._buffer: list[ItemT] = []

    @property
    def total(self) -> int | None:
        """How many items the listing has on the server; None until the first page was fetched."""
        return self._cursor.total

    def __aiter__(self) -> AsyncPageIterator[ItemT]:
        return self

    async def __anext__(self) -> ItemT:
        while not self._buffer:
            if self._cursor.exhausted:
                raise StopAsyncIteration
            self._buffer = self._cursor.accept(await self._fetch(*self._cursor.window()))
        return self._buffer.pop(0)


def _by_id(item: Job | AsyncJob | UsageRecord | WebhookDelivery) -> str:
    return item.id


# --- jobs ---------------------------------------------------------------------------------------


def _jobs_request(filters: JobFilters, size: int, offset: int) -> Operation[JobList]:
    return endpoints.list_jobs(
        status=filters.status, gpu=filters.gpu, provider=filters.provider, limit=size, offset=offset
    )


class JobIterator(PageIterator[Job]):
    """Iterates over all matching jobs, newest first, fetching pages of 100 only as needed."""

    def __init__(
        self, http: SyncRequester, filters: JobFilters, limit: int | None, page_size: int = MAX_PAGE_SIZE
    ) -> None:
        def fetch(size: int, offset: int) -> Page[Job]:
            page = http.send(_jobs_request(filters, size, offset))
            return Page([Job._bind(job, http) for job in page.jobs], page.total)

        super().__init__(fetch, limit, _by_id, page_size)


class AsyncJobIterator(AsyncPageIterator[AsyncJob]):
    """Async twin of :class:`JobIterator`: ``async for job in client.jobs(): ...``."""

    def __init__(
        self, http: AsyncRequester, filters: JobFilters, limit: int | None, page_size: int = MAX_PAGE_SIZE
    ) -> None:
        async def fetch(size: int, offset: int) -> Page[AsyncJob]:
            page = await http.send(_jobs_request(filters, size, offset))
            return Page([AsyncJob._bind(job, http) for job in page.jobs], page.total)

        super().__init__(fetch, limit, _by_id, page_size)


# --- usage history ------------------------------------------------------------------------------


class UsageHistory(PageIterator[UsageRecord]):
    """Usage records of ended jobs, newest first, across all pages (fetched as needed).

    ``months`` (what ended jobs cost per calendar month, newest first, up to 36 months) and
    ``total`` are known once the first page was fetched; None before.
    """

    def __init__(self, http: SyncRequester, limit: int | None, page_size: int = MAX_PAGE_SIZE) -> None:
        self.months: list[UsageByMonth] | None = None

        def fetch(size: int, offset: int) -> Page[UsageRecord]:
            page = http.send(endpoints.usage_history(size, offset))
            self.months = page.months
            return Page(page.records, page.total)

        super().__init__(fetch, limit, _by_id, page_size)


class AsyncUsageHistory(AsyncPageIterator[UsageRecord]):
    """Async twin of :class:`UsageHistory`."""

    def __init__(self, http: AsyncRequester, limit: int | None, page_size: int = MAX_PAGE_SIZE) -> None:
        self.months: list[UsageByMonth] | None = None

        async def fetch(size: int, offset: int) -> Page[UsageRecord]:
            page = await http.send(endpoints.usage_history(size, offset))
            self.months = page.months
            return Page(page.records, page.total)

        super().__init__(fetch, limit, _by_id, page_size)


# --- webhook deliveries -------------------------------------------------------------------------


class DeliveryIterator(PageIterator[WebhookDelivery]):
    """A webhook's deliveries, newest first, across all pages (fetched as needed)."""

    def __init__(
        self, http: SyncRequester, webhook_id: str, limit: int | None, page_size: int = MAX_PAGE_SIZE
    ) -> None:
        def fetch(size: int, offset: int) -> Page[WebhookDelivery]:
            page = http.send(endpoints.webhook_deliveries(webhook_id, size, offset))
            return Page(page.deliveries, page.total)

        super().__init__(fetch, limit, _by_id, page_size)


class AsyncDeliveryIterator(AsyncPageIterator[WebhookDelivery]):
    """Async twin of :class:`DeliveryIterator`."""

    def __init__(
        self, http: AsyncRequester, webhook_id: str, limit: int | None, page_size: int = MAX_PAGE_SIZE
    ) -> None:
        async def fetch(size: int, offset: int) -> Page[WebhookDelivery]:
            page = await http.send(endpoints.webhook_deliveries(webhook_id, size, offset))
            return Page(page.deliveries, page.total)

        super().__init__(fetch, limit, _by_id, page_size)
