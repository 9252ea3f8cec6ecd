"""Request bodies. Strict: unknown fields and wrong types are a 400 naming the field."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from harvestgpu.http_headers import is_header_safe
from harvestgpu.models.jobs import (
    MAX_BUDGET_PER_HOUR,
    MAX_DURATION_HOURS,
    MAX_GPU_COUNT,
    MAX_TOTAL_COST,
)
from harvestgpu.providers.registry import ALL_PROVIDERS, REAL_PROVIDERS

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class RegisterRequest(_Strict):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    company: str | None = Field(default=None, max_length=200)

    @field_validator("email")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class LoginRequest(_Strict):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)

    @field_validator("email")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.lower()


class ApiKeyCreateRequest(_Strict):
    name: str = Field(default="api key", min_length=1, max_length=100)


class JobSubmitRequest(_Strict):
    gpu: str = Field(min_length=1, max_length=64)
    image: str = Field(default="pytorch/pytorch:latest", min_length=1, max_length=500)
    command: str | None = Field(default=None, max_length=20_000)
    budget_max_per_hour: float | None = Field(default=None, gt=0, le=MAX_BUDGET_PER_HOUR)
    max_duration_hours: float | None = Field(default=None, gt=0, le=MAX_DURATION_HOURS)
    max_total_cost: float | None = Field(default=None, gt=0, le=MAX_TOTAL_COST)  # USD for the whole job
    priority: Literal["cost", "speed", "availability"] = "cost"
    gpu_count: int = Field(default=1, ge=1, le=MAX_GPU_COUNT)
    provider: str | None = None
    env: dict[str, str] | None = None

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        if any(c.isspace() for c in v):
            raise ValueError("must be a docker image reference without spaces")
        return v

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str | None) -> str | None:
        if v is not None and v not in ALL_PROVIDERS:
            raise ValueError(f"must be one of {', '.join(ALL_PROVIDERS)}")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return v
        if len(v) > 100:
            raise ValueError("at most 100 variables")
        for name, value in v.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"invalid variable name '{name[:40]}'")
            if len(value) > 8192:
                raise ValueError(f"value of '{name}' is longer than 8192 characters")
        return v


class ProviderKeyRequest(_Strict):
    provider: str
    api_key: str = Field(min_length=8, max_length=4096)
    label: str | None = Field(default=None, max_length=200)

    @field_validator("provider")
    @classmethod
    def _provider(cls, v: str) -> str:
        if v not in REAL_PROVIDERS:
            raise ValueError(f"must be one of {', '.join(REAL_PROVIDERS)}")
        return v

    @field_validator("api_key")
    @classmethod
    def _api_key(cls, v: str) -> str:
        # Pasted keys often carry a newline; a key that still cannot go into an HTTP header
        # would only fail later, at the cloud, with the key echoed in a library's error text.
        v = v.strip()
        if len(v) < 8 or not is_header_safe(v):
            raise ValueError("must be the key exactly as the provider shows it (printable, no spaces)")
        return v
