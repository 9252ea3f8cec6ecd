"""The adapter contract (see DESIGN.md, "Provider adapter contract").

Every method is async. The constructor does no I/O: it receives the user's decrypted key, a
shared ``httpx.AsyncClient`` and the cloud's base URL (scheme + host, from settings, so tests
point it at a local fake server).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar

import httpx

from harvestgpu.providers.types import (
    Instance,
    KeyCheck,
    LaunchSpec,
    LogChunk,
    Offer,
    OfferQuery,
    ProviderInfo,
)

INSTANCE_NAME_PREFIX = "hg-"


def instance_name(job_id: str) -> str:
    return f"{INSTANCE_NAME_PREFIX}{job_id}"


_JOB_ID = re.compile(r"[0-9a-f]{16}")


def job_id_from_name(name: str | None) -> str | None:
    """The job id in an instance name we gave, or None for any other name.

    Strict on purpose: users run their own machines under the same keys, and the orphan sweep
    terminates what this returns a job id for, so "hg-test" must not look like ours.
    """
    if name and name.startswith(INSTANCE_NAME_PREFIX):
        job_id = name[len(INSTANCE_NAME_PREFIX) :]
        if _JOB_ID.fullmatch(job_id):
            return job_id
    return None


class Provider(ABC):
    info: ClassVar[ProviderInfo]
    default_base_url: ClassVar[str]

    def __init__(
        self,
        *,
        api_key: str,
        http: httpx.AsyncClient,
        base_url: str | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        self._api_key = api_key
        self._http = http
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout_s = timeout_s  # every HTTP call to the cloud is bounded by this

    @property
    def slug(self) -> str:
        return self.info.slug

    def __repr__(self) -> str:  # never show the key
        return f"<{type(self).__name__} {self.base_url}>"

    @abstractmethod
    async def validate_key(self) -> KeyCheck:
        """Cheap authenticated call. Raises ProviderAuthError on a bad key."""

    @abstractmethod
    async def list_offers(self, query: OfferQuery) -> list[Offer]:
        """Offers with whole-instance USD/hour prices and canonical GPU models."""

    @abstractmethod
    async def launch(self, spec: LaunchSpec) -> Instance:
        """Start spec.image + spec.command on spec.offer; idempotent on spec.name.

        Returns as soon as the cloud accepted. Raises NoCapacityError / QuotaError /
        ProviderTransientError so the launcher can fail over.
        """

    @abstractmethod
    async def get_instance(self, instance_id: str) -> Instance:
        """Neutral state. An instance the cloud no longer knows is TERMINATED, not an error."""

    @abstractmethod
    async def terminate(self, instance_id: str) -> None:
        """Idempotent delete that ends all billing; already-gone is success."""

    @abstractmethod
    async def logs(self, instance_id: str, since: str | None = None) -> LogChunk:
        """Log lines newer than the ``since`` cursor, with the exit code once known."""

    @abstractmethod
    async def list_instances(self) -> list[Instance]:
        """Our instances at this account (names starting with ``hg-``), for orphan sweeps."""

    async def find_instance_by_name(self, name: str) -> Instance | None:
        """Used after an ambiguous launch failure: did the cloud create it anyway?"""
        for inst in await self.list_instances():
            if inst.name == name:
                return inst
        return None
