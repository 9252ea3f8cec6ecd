"""The built-in mock cloud: realistic offers, simulated jobs with logs, no keys needed.

Its instances live in a small SQLite file (like a real cloud, they outlive a crash of our
server), so a restarted server finds its running jobs and a repeated launch with the same
``hg-<job>`` name returns the same instance instead of starting a second one.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, cast

import httpx

from harvestgpu import gpus
from harvestgpu.providers.base import INSTANCE_NAME_PREFIX, Provider
from harvestgpu.providers.errors import NoCapacityError
from harvestgpu.providers.types import (
    Instance,
    InstanceState,
    KeyCheck,
    LaunchSpec,
    LogChunk,
    Offer,
    OfferQuery,
    ProviderInfo,
)

# USD/hour for one GPU in the cheapest region; other regions cost a little more.
MOCK_PRICES: dict[str, float] = {
    "B200": 5.99,
    "H200": 3.79,
    "H200-NVL": 3.49,
    "H100-SXM": 2.86,
    "H100-NVL": 2.69,
    "H100-PCIE": 2.39,
    "A100-80GB-SXM": 1.79,
    "A100-80GB-PCIE": 1.64,
    "A100-40GB-SXM": 1.29,
    "A100-40GB-PCIE": 1.19,
    "L40S": 0.99,
    "L40": 0.89,
    "L4": 0.43,
    "A40": 0.44,
    "A10": 0.60,
    "RTX-A6000": 0.79,
    "RTX-6000-ADA": 0.99,
    "RTX-5090": 0.89,
    "RTX-4090": 0.59,
    "RTX-3090": 0.29,
    "V100-32GB": 0.49,
    "V100-16GB": 0.39,
    "T4": 0.25,
}
MOCK_REGIONS: dict[str, float] = {"us-east": 1.0, "us-west": 1.04, "eu-central": 1.08}
MOCK_COUNTS = (1, 2, 4, 8)
_EXIT_RE = re.compile(r"(?:^|[;&|]\s*|\s)exit\s+(\d{1,3})\s*;?\s*$")


@dataclass(frozen=True, slots=True)
class MockBehaviour:
    job_seconds: float = 120.0
    boot_seconds: float = 2.0
    no_capacity: frozenset[str] = frozenset()  # canonical keys refused at launch
    latency_s: float = 0.0
    stuck_boot: frozenset[str] = frozenset()  # canonical keys whose instances never leave PENDING

    @staticmethod
    def no_capacity_keys(spec: str) -> frozenset[str]:
        keys: set[str] = set()
        for name in filter(None, (p.strip() for p in spec.split(","))):
            sel = gpus.parse(name)
            if sel is not None:
                keys |= sel.keys
        return frozenset(keys)


def exit_code_of(command: str | None) -> int:
    """A simulated command "fails" with N when it ends with ``exit N``."""
    m = _EXIT_RE.search(command or "")
    return int(m.group(1)) if m else 0


class MockCloud:
    """The simulated cloud's state (thread-safe; shared by every MockProvider of a process)."""

    def __init__(self, path: Path, behaviour: MockBehaviour) -> None:
        self.behaviour = behaviour
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, name TEXT, gpu_model TEXT,"
            " gpu_count INT, region TEXT, price REAL, image TEXT, command TEXT, created_at REAL,"
            " terminated_at REAL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS ix_instances_name ON instances(name)")

    def close(self) -> None:
        self._db.close()

    def launches(self, name: str) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM instances WHERE name=?", (name,)).fetchone()[0])

    def create(self, spec: LaunchSpec) -> sqlite3.Row:
        offer = spec.offer
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT * FROM instances WHERE name=? AND terminated_at IS NULL", (spec.name,)
                ).fetchone()
                if row is None:
                    iid = "mock-" + secrets.token_hex(6)
                    self._db.execute(
                        "INSERT INTO instances VALUES (?,?,?,?,?,?,?,?,?,NULL)",
                        (
                            iid,
                            spec.name,
                            offer.gpu_model,
                            offer.gpu_count,
                            offer.region,
                            offer.price_per_hour,
                            spec.image,
                            spec.command,
                            _now_ts(),
                        ),
                    )
                    row = self._db.execute("SELECT * FROM instances WHERE id=?", (iid,)).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return cast(sqlite3.Row, row)

    def get(self, instance_id: str) -> sqlite3.Row | None:
        with self._lock:
            return cast(
                sqlite3.Row | None,
                self._db.execute("SELECT * FROM instances WHERE id=?", (instance_id,)).fetchone(),
            )

    def terminate(self, instance_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE instances SET terminated_at=? WHERE id=? AND terminated_at IS NULL",
                (_now_ts(), instance_id),
            )

    def live(self) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute("SELECT * FROM instances WHERE terminated_at IS NULL").fetchall()


def _now_ts() -> float:
    return datetime.now(UTC).timestamp()


def simulated_lines(row: sqlite3.Row, elapsed_running: float, job_seconds: float) -> list[str]:
    """Every line the simulated workload has printed after ``elapsed_running`` seconds."""
    model = gpus.BY_KEY.get(row["gpu_model"])
    gpu_name = model.display if model else row["gpu_model"]
    lines = [
        f"[mock] pulling image {row['image']}",
        "[mock] image ready",
        f"[mock] container started on {row['gpu_count']}x {gpu_name} ({row['region']})",
        f"$ {row['command'] or '(image default command)'}",
    ]
    steps = 10
    done = min(steps, int(elapsed_running / max(job_seconds, 0.001) * steps))
    for k in range(1, done + 1):
        loss = 2.5 * (0.78**k)
        lines.append(f"step {k}/{steps}: loss={loss:.4f} throughput={1840 + 37 * k} samples/s")
    if elapsed_running >= job_seconds:
        code = exit_code_of(row["command"])
        lines.append("training complete" if code == 0 else f"error: command exited with status {code}")
    return lines


class MockProvider(Provider):
    info: ClassVar[ProviderInfo] = ProviderInfo(
        slug="mock", name="Mock (built-in)", key_url="", logs_via_api=True, needs_agent=False
    )
    default_base_url: ClassVar[str] = "mock://local"

    def __init__(self, cloud: MockCloud, http: httpx.AsyncClient) -> None:
        super().__init__(api_key="", http=http, base_url=None)
        self.cloud = cloud

    async def _latency(self) -> None:
        if self.cloud.behaviour.latency_s > 0:
            await asyncio.sleep(self.cloud.behaviour.latency_s)

    async def validate_key(self) -> KeyCheck:
        return KeyCheck(valid=True, message="The mock provider needs no key")

    async def list_offers(self, query: OfferQuery) -> list[Offer]:
        await self._latency()
        return all_offers(self.cloud.behaviour)

    async def launch(self, spec: LaunchSpec) -> Instance:
        await self._latency()
        if spec.offer.gpu_model in self.cloud.behaviour.no_capacity:
            raise NoCapacityError("mock", f"no {spec.offer.gpu_model} capacity in {spec.offer.region}")
        return self._instance(self.cloud.create(spec))

    async def get_instance(self, instance_id: str) -> Instance:
        await self._latency()
        row = self.cloud.get(instance_id)
        if row is None:
            return Instance(instance_id=instance_id, name="", state=InstanceState.TERMINATED)
        return self._instance(row)

    async def terminate(self, instance_id: str) -> None:
        await self._latency()
        self.cloud.terminate(instance_id)

    async def logs(self, instance_id: str, since: str | None = None) -> LogChunk:
        await self._latency()
        row = self.cloud.get(instance_id)
        start = int(since or 0)
        if row is None:
            return LogChunk(lines=[], cursor=str(start))
        b = self.cloud.behaviour
        running_for = _now_ts() - row["created_at"] - b.boot_seconds
        if running_for < 0 or row["gpu_model"] in b.stuck_boot:
            return LogChunk(lines=[], cursor=str(start))
        lines = simulated_lines(row, running_for, b.job_seconds)
        finished = running_for >= b.job_seconds
        return LogChunk(
            lines=lines[start:],
            cursor=str(len(lines)),
            exit_code=exit_code_of(row["command"]) if finished else None,
        )

    async def list_instances(self) -> list[Instance]:
        await self._latency()
        return [self._instance(r) for r in self.cloud.live() if r["name"].startswith(INSTANCE_NAME_PREFIX)]

    def _instance(self, row: sqlite3.Row) -> Instance:
        b = self.cloud.behaviour
        age = _now_ts() - row["created_at"]
        if row["terminated_at"] is not None:
            state = InstanceState.TERMINATED
        elif age < b.boot_seconds or row["gpu_model"] in b.stuck_boot:
            state = InstanceState.PENDING
        else:
            state = InstanceState.RUNNING  # the wrapper idles after the command, like real clouds
        return Instance(
            instance_id=row["id"],
            name=row["name"],
            state=state,
            price_per_hour=row["price"],
            region=row["region"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
        )


def all_offers(behaviour: MockBehaviour) -> list[Offer]:
    now = datetime.now(UTC)
    offers: list[Offer] = []
    for key, price in MOCK_PRICES.items():
        model = gpus.BY_KEY[key]
        refused = key in behaviour.no_capacity
        for region, factor in MOCK_REGIONS.items():
            for count in MOCK_COUNTS:
                offers.append(
                    Offer(
                        provider="mock",
                        offer_id=f"{key}:{region}:{count}",
                        gpu_model=key,
                        gpu_count=count,
                        vram_gb=model.vram_gb,
                        price_per_hour=round(price * factor * count, 2),
                        region=region,
                        # Refusals show up only at launch, as with real clouds whose catalogs
                        # lag behind their capacity.
                        available=True,
                        availability=0.9 if not refused else 0.85,
                        observed_at=now,
                        provider_gpu_name=model.display,
                    )
                )
    return offers
