from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    status: Literal["ok"] = "ok"
    data: T


class ErrorEnvelope(BaseModel):
    status: Literal["error"] = "error"
    error: str
    details: dict[str, Any] | None = None
