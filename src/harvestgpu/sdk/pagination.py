"""Lazy iteration over every page of ``GET /jobs``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from harvestgpu.models import JobList, JobOut
from harvestgpu.sdk import _endpoints as endpoints
from harvestgpu.sdk._operation import Operation
from harvestgpu.sdk._transport import AsyncRequester, SyncRequester
from harvestgpu.sdk.job import AsyncJob, Job


@dataclass(frozen=True)
class JobFilters:
    """The ``GET /jobs`` filters; None means "any"."""

    status: str | None = None
    gpu: str | None = None
    provider: str | None = None


class _PageCursor:
    """Which page to ask for next, and when to stop (shared by the sync and async iterators)."""

    def __init__(self, filters: JobFilters, limit: int | None, page_size: int) -> None:
        self.filters = filters
        self.limit = limit
        self.page_size = page_size
        self.offset = 0
        self.total: int | None = None
        self.yielded = 0
        self.exhausted = limit is not None and limit <= 0
        self._seen: set[str] = set()

    def next_page(self) -> Operation[JobList]:
        size = self.page_size
        if self.limit is not None:
            size = min(size, self.limit - self.yielded)
        return endpoints.list_jobs(
            status=self.filters.status,
            gpu=self.filters.gpu,
            provider=self.filters.provider,
            limit=size,
            offset=self.offset,
        )

    def accept(self, page: JobList) -> list[JobOut]:
        """The page's jobs still to yield; updates the cursor."""
        self.total = page.total
        self.offset += len(page.jobs)
        fresh: list[JobOut] = []
        for job in page.jobs:
            # New jobs shift older ones to later pages: never hand out the same job twice.
            if job.id not in self._seen:
                self._seen.add(job.id)
                fresh.append(job)
        if self.limit is not None:
            fresh = fresh[: self.limit - self.yielded]
        self.yielded += len(fresh)
        limit_reached = self.limit is not None and self.yielded >= self.limit
        self.exhausted = not page.jobs or self.offset >= page.total or limit_reached
        return fresh


class JobIterator(Iterator[Job]):
    """Iterates over all matching jobs, newest first, fetching pages of 100 only as needed.

    ``total`` is the number of matching jobs on the server (known after the first page).
    """

    def __init__(self, http: SyncRequester, filters: JobFilters, limit: int | None, page_size: int) -> None:
        self._http = http
        self._cursor = _PageCursor(filters, limit, page_size)
        self._buffer: list[JobOut] = []

    @property
    def total(self) -> int | None:
        """How many jobs match on the server; None until the first page was fetched."""
        return self._cursor.total

    def __iter__(self) -> JobIterator:
        return self

    def __next__(self) -> Job:
        while not self._buffer:
            if self._cursor.exhausted:
                raise StopIteration
            self._buffer = self._cursor.accept(self._http.send(self._cursor.next_page()))
        return Job._bind(self._buffer.pop(0), self._http)


class AsyncJobIterator(AsyncIterator[AsyncJob]):
    """Async twin of :class:`JobIterator`: ``async for job in client.jobs(): ...``."""

    def __init__(self, http: AsyncRequester, filters: JobFilters, limit: int | None, page_size: int) -> None:
        self._http = http
        self._cursor = _PageCursor(filters, limit, page_size)
        self._buffer: list[JobOut] = []

    @property
    def total(self) -> int | None:
        """How many jobs match on the server; None until the first page was fetched."""
        return self._cursor.total

    def __aiter__(self) -> AsyncJobIterator:
        return self

    async def __anext__(self) -> AsyncJob:
        while not self._buffer:
            if self._cursor.exhausted:
                raise StopAsyncIteration
            self._buffer = self._cursor.accept(await self._http.send(self._cursor.next_page()))
        return AsyncJob._bind(self._buffer.pop(0), self._http)
