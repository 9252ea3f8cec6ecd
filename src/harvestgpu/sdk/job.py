"""``Job`` and ``AsyncJob``: a job's fields plus the calls that act on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Literal, cast, overload

from pydantic import PrivateAttr

from harvestgpu.models import JOB_STATUSES, TERMINAL_STATUSES, JobLogs, JobOut, JobStatus
from harvestgpu.sdk import _endpoints as endpoints
from harvestgpu.sdk._logs import LogEnd, LogFollower, afollow_logs, follow_logs
from harvestgpu.sdk._transport import AsyncRequester, SyncRequester

# A safety net for logs(): a job that writes faster than we read could otherwise keep us paging.
MAX_LOG_PAGES = 1000


def poll_delays() -> Iterator[float]:
    """Seconds between status checks: quick at first (jobs usually start fast), then every 2 s."""
    delay = 0.25
    while True:
        yield delay
        delay = min(delay * 2, 2.0)


class _JobFields(JobOut):
    """What ``Job`` and ``AsyncJob`` share: the wire fields and in-place updates."""

    @property
    def done(self) -> bool:
        """True once the job is ``completed``, ``failed`` or ``stopped``."""
        return self.status in TERMINAL_STATUSES

    def _apply(self, fresh: JobOut) -> None:
        for name in JobOut.model_fields:
            setattr(self, name, getattr(fresh, name))

    def _apply_end(self, end: LogEnd | None) -> None:
        if end is not None and end.status in JOB_STATUSES:
            self.status = cast(JobStatus, end.status)
            self.exit_code = end.exit_code

    def _timeout_error(self, timeout: float | None) -> TimeoutError:
        return TimeoutError(f"Job {self.id} is still {self.status} after {timeout} s")


def _field_values(data: JobOut) -> dict[str, Any]:
    return {name: getattr(data, name) for name in JobOut.model_fields}


def _join_pages(pages: list[JobLogs]) -> str:
    return "\n".join(line for page in pages for line in page.lines)


class Job(_JobFields):
    """A HarvestGPU job.

    Every field of the API's job object is an attribute (``id``, ``status``, ``gpu``,
    ``gpu_type``, ``provider``, ``region``, ``cost_per_hour``, ``total_cost``, ``exit_code``,
    ``error``, ``routing``, ...). Methods act on the job and update those attributes in place.
    """

    _http: SyncRequester = PrivateAttr()

    @classmethod
    def _bind(cls, data: JobOut, http: SyncRequester) -> Job:
        job = cls.model_construct(data.model_fields_set, **_field_values(data))
        job._http = http
        return job

    def refresh(self) -> Job:
        """Fetch the job's current state from the server; returns the job itself."""
        self._apply(self._http.send(endpoints.get_job(self.id)))
        return self

    def stop(self) -> Job:
        """Stop the job (its instance is terminated and billing ends); returns the job itself.

        Raises:
            InvalidRequestError: the job had already finished.
        """
        self._apply(self._http.send(endpoints.stop_job(self.id)))
        return self

    def fetch_logs(self, offset: int = 0) -> JobLogs:
        """One page of log lines from ``offset`` (pass back ``next_offset`` for newer lines)."""
        return self._http.send(endpoints.job_logs(self.id, offset))

    @overload
    def logs(self, follow: Literal[False] = False) -> str: ...
    @overload
    def logs(self, follow: Literal[True]) -> Iterator[str]: ...
    def logs(self, follow: bool = False) -> str | Iterator[str]:
        """The job's log as one string; with ``follow=True``, an iterator of lines as they come.

        The iterator ends when the job ends; the job's ``status`` and ``exit_code`` are then
        updated from the stream's end event.
        """
        if follow:
            return self._follow()
        pages = [self.fetch_logs(0)]
        while pages[-1].lines and len(pages) < MAX_LOG_PAGES:
            page = self.fetch_logs(pages[-1].next_offset)
            if not page.lines:
                break
            pages.append(page)
        return _join_pages(pages)

    def _follow(self) -> Iterator[str]:
        follower = LogFollower(0)
        yield from follow_logs(self._http, self.id, follower)
        self._apply_end(follower.end)

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job is finished (or ``timeout`` seconds pass); returns the job.

        Raises:
            TimeoutError: the job was still queued or running when ``timeout`` ran out.
        """
        if not self._poll_until(lambda: self.done, timeout):
            raise self._timeout_error(timeout)
        return self

    def _poll_until(self, condition: Callable[[], bool], timeout: float | None) -> bool:
        deadline = None if timeout is None else self._http.clock() + timeout
        for delay in poll_delays():
            if condition():
                return True
            if deadline is not None:
                remaining = deadline - self._http.clock()
                if remaining <= 0:
                    return False
                delay = min(delay, remaining)
            self._http.sleep(delay)
            self.refresh()
        raise AssertionError("poll_delays() never ends")


class AsyncJob(_JobFields):
    """The async twin of :class:`Job`: same attributes, awaitable methods.

    ``await job.logs()`` returns the log text; ``async for line in job.logs(follow=True)``
    follows it live.
    """

    _http: AsyncRequester = PrivateAttr()

    @classmethod
    def _bind(cls, data: JobOut, http: AsyncRequester) -> AsyncJob:
        job = cls.model_construct(data.model_fields_set, **_field_values(data))
        job._http = http
        return job

    async def refresh(self) -> AsyncJob:
        """Fetch the job's current state from the server; returns the job itself."""
        self._apply(await self._http.send(endpoints.get_job(self.id)))
        return self

    async def stop(self) -> AsyncJob:
        """Stop the job; returns the job itself (``InvalidRequestError`` if it had finished)."""
        self._apply(await self._http.send(endpoints.stop_job(self.id)))
        return self

    async def fetch_logs(self, offset: int = 0) -> JobLogs:
        """One page of log lines from ``offset`` (pass back ``next_offset`` for newer lines)."""
        return await self._http.send(endpoints.job_logs(self.id, offset))

    @overload
    def logs(self, follow: Literal[False] = False) -> Coroutine[Any, Any, str]: ...
    @overload
    def logs(self, follow: Literal[True]) -> AsyncIterator[str]: ...
    def logs(self, follow: bool = False) -> Coroutine[Any, Any, str] | AsyncIterator[str]:
        """``await job.logs()`` for the text; ``job.logs(follow=True)`` is an async iterator of lines."""
        if follow:
            return self._follow()
        return self._all_logs()

    async def _all_logs(self) -> str:
        pages = [await self.fetch_logs(0)]
        while pages[-1].lines and len(pages) < MAX_LOG_PAGES:
            page = await self.fetch_logs(pages[-1].next_offset)
            if not page.lines:
                break
            pages.append(page)
        return _join_pages(pages)

    async def _follow(self) -> AsyncIterator[str]:
        follower = LogFollower(0)
        async for line in afollow_logs(self._http, self.id, follower):
            yield line
        self._apply_end(follower.end)

    async def wait(self, timeout: float | None = None) -> AsyncJob:  # noqa: ASYNC109 (same API as Job.wait)
        """Wait until the job is finished (or ``timeout`` seconds pass); returns the job.

        Raises:
            TimeoutError: the job was still queued or running when ``timeout`` ran out.
        """
        if not await self._poll_until(lambda: self.done, timeout):
            raise self._timeout_error(timeout)
        return self

    async def _poll_until(self, condition: Callable[[], bool], within: float | None) -> bool:
        deadline = None if within is None else self._http.clock() + within
        for delay in poll_delays():
            if condition():
                return True
            if deadline is not None:
                remaining = deadline - self._http.clock()
                if remaining <= 0:
                    return False
                delay = min(delay, remaining)
            await self._http.sleep(delay)
            await self.refresh()
        raise AssertionError("poll_delays() never ends")
