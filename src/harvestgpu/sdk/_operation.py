"""One API call described as data, so the sync and async clients share everything but the I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=BaseModel)

API_PREFIX = "/api/v1"

AuthMode = Literal["required", "optional", "none"]
QueryValue = str | int | float | bool


@dataclass(frozen=True)
class Operation(Generic[T]):
    """A request to the HarvestGPU API and how to turn its ``data`` into a Python value.

    ``replay_safe`` says whether the request may be sent again after the server might have
    processed it (a read timeout, a 502): true for reads, deletes, upserts and job submits that
    carry an ``Idempotency-Key``; false for calls that would create something twice.
    ``no_capacity_is_final`` marks the job submit, whose "No providers available" 503 is an
    answer rather than an outage.
    """

    method: str
    path: str
    parse: Callable[[Any], T] = field(repr=False)
    params: Mapping[str, QueryValue] = field(default_factory=dict)
    body: Any = field(default=None, repr=False)
    auth: AuthMode = "required"
    idempotency_key: str | None = None
    replay_safe: bool = True
    no_capacity_is_final: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def url_path(self) -> str:
        """The path under the server's base URL, including the ``/api/v1`` prefix."""
        return API_PREFIX + self.path


def segment(value: str) -> str:
    """Quote one path segment so an id can never change which route is called."""
    return quote(value, safe="")


def ignore_data(data: Any) -> None:
    """Parser for calls whose answer carries nothing the caller needs."""
    return None


def model(cls: type[ModelT]) -> Callable[[Any], ModelT]:
    """Parser that validates ``data`` as ``cls``."""
    return cls.model_validate


def model_list(key: str, cls: type[ModelT]) -> Callable[[Any], list[ModelT]]:
    """Parser for ``{"<key>": [...]}`` answers: validates each item as ``cls``."""
    adapter = TypeAdapter(list[cls])  # type: ignore[valid-type]

    def parse(data: Any) -> list[ModelT]:
        items = data.get(key) if isinstance(data, Mapping) else None
        if items is None:
            raise ValueError(f"the answer has no {key!r} list")
        parsed: list[ModelT] = adapter.validate_python(items)
        return parsed

    return parse
