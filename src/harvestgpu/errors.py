"""The exceptions the SDK and the CLI raise.

Everything derives from :class:`HarvestGPUError`, so ``except HarvestGPUError`` catches any
failure of a call. An :class:`APIError` means the server answered with an error envelope;
its subclass says which HTTP status it was. :class:`APIConnectionError` means no answer came.

Messages never contain an API key: the SDK removes every secret it sent from any text it
puts in an exception.
"""

from __future__ import annotations

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "ConflictError",
    "HarvestGPUError",
    "InvalidRequestError",
    "NoCapacityError",
    "NotFoundError",
    "RateLimitError",
    "error_for_status",
]


class HarvestGPUError(Exception):
    """Base class of every error raised by the HarvestGPU SDK and CLI."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(HarvestGPUError):
    """The server could not be reached, or the connection broke before a full answer."""


class APIError(HarvestGPUError):
    """The server answered with an error.

    Attributes:
        status: the HTTP status code.
        message: the server's human-readable error message.
        request_id: the ``X-Request-ID`` of the failed request (quote it in bug reports).
    """

    def __init__(self, message: str, *, status: int, request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id

    def __str__(self) -> str:
        suffix = f", request id {self.request_id}" if self.request_id else ""
        return f"{self.message} (HTTP {self.status}{suffix})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status}, "
            f"request_id={self.request_id!r})"
        )


class AuthenticationError(APIError):
    """401: the API key or token is missing, wrong or revoked."""


class NotFoundError(APIError):
    """404: the job, key or route does not exist (or belongs to another user)."""


class InvalidRequestError(APIError):
    """400: a parameter is missing or invalid; the message names it."""


class ConflictError(APIError):
    """409: the request conflicts with existing state.

    For example an e-mail that is already registered, or an ``Idempotency-Key`` reused with a
    different job body.
    """


class RateLimitError(APIError):
    """429: too many requests for the account's plan.

    Attributes:
        retry_after: seconds the server asked to wait before retrying, when it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id)
        self.retry_after = retry_after


class NoCapacityError(APIError):
    """503: no provider can place the request right now (no GPU matches, or none within budget)."""


_CLASS_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
    503: NoCapacityError,
}


def error_for_status(
    status: int, message: str, *, request_id: str | None = None, retry_after: float | None = None
) -> APIError:
    """Build the exception that matches an HTTP error status (plain :class:`APIError` otherwise)."""
    if status == 429:
        return RateLimitError(message, status=status, request_id=request_id, retry_after=retry_after)
    error_class = _CLASS_BY_STATUS.get(status, APIError)
    return error_class(message, status=status, request_id=request_id)
