"""The error tree every adapter raises. Provider exceptions never cross an adapter boundary.

Messages may reach users, so they carry the cloud's explanation but never a key: build them
with :func:`redact` when the text could echo a request.
"""

from __future__ import annotations

from harvestgpu.http_headers import is_header_safe


class ProviderError(Exception):
    """Base class. ``error_class`` is stored on the job's attempt record."""

    error_class = "provider_error"
    # Whether the launcher should try the next candidate offer after this error.
    fail_over = True

    def __init__(self, provider: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status


class ProviderAuthError(ProviderError):
    """The key is missing, wrong, revoked or lacks a scope."""

    error_class = "auth"


class NoCapacityError(ProviderError):
    """The offer is gone or the cloud has no machine for it now: try the next offer."""

    error_class = "no_capacity"


class QuotaError(ProviderError):
    """Balance exhausted, spend or instance quota reached: stop trying this account."""

    error_class = "quota"


class ProviderTransientError(ProviderError):
    """Timeouts, 5xx, rate limits: may succeed if retried later."""

    error_class = "transient"

    def __init__(
        self, provider: str, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(provider, message, status=status)
        self.retry_after = retry_after


class RateLimitedError(ProviderTransientError):
    error_class = "rate_limited"


class ProviderBadRequestError(ProviderError):
    """The cloud rejected our request as malformed: a bug or an unsupported option."""

    error_class = "bad_request"


def redact(text: str, *secrets: str | None) -> str:
    """Remove every secret (and any long enough fragment echo) from a text meant for users."""
    for secret in secrets:
        # Also as header_safe_key() sends it: stripped of surrounding whitespace.
        for form in {secret, secret.strip()} if secret else ():
            if len(form) >= 4:
                text = text.replace(form, "****")
    return text


def header_safe_key(provider: str, op: str, key: str) -> str:
    """The key as it may go into an Authorization header, or ProviderAuthError.

    HTTP libraries echo an illegal header value in their exception text (escaped, so
    :func:`redact` cannot find it): such a value must never reach the wire.
    """
    key = key.strip()
    if not is_header_safe(key):
        raise ProviderAuthError(provider, f"{op}: the key is empty or is not a valid API key")
    return key
