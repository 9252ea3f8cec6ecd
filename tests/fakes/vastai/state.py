"""The fake Vast.ai's data: GPU types, listed machines (asks), rented instances and their logs.

The scripting interface tests use lives here; the HTTP routes are in ``routes.py``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.base import FakeCloud
from tests.fakes.faults import LAUNCH_ONLY_FAULTS
from tests.fakes.vastai.wire import OCI_FAILURE_MSG, Answer

STANDARD_DISK_GB = 50
STORAGE_COST = 0.15  # $/GB/month
GPU_COUNTS = (1, 2, 4, 8)


@dataclass(frozen=True)
class GpuType:
    key: str | None  # catalog key, None for GPUs HarvestGPU does not know
    vast_name: str
    gpu_ram_mb: int
    price: float  # 1-GPU machine with a 50 GB disk, $/h
    geolocation: str
    reliability: float


GPU_TYPES = (
    GpuType("H200", "H200", 143771, 3.20, "Utah, US", 0.997),
    GpuType("H100-SXM", "H100 SXM", 81559, 2.35, "Texas, US", 0.995),
    GpuType("H100-PCIE", "H100 PCIE", 81559, 1.95, "Quebec, CA", 0.991),
    GpuType("A100-80GB-SXM", "A100 SXM4", 81920, 1.25, "Oregon, US", 0.993),
    GpuType("A100-40GB-SXM", "A100 SXM4", 40960, 0.85, "Nevada, US", 0.982),
    GpuType("L40S", "L40S", 46068, 0.82, "Virginia, US", 0.989),
    GpuType("RTX-A6000", "RTX A6000", 49140, 0.55, "Ontario, CA", 0.987),
    GpuType("RTX-4090", "RTX 4090", 24564, 0.42, "Bavaria, DE", 0.984),
    GpuType(None, "RTX 4090D", 24564, 0.33, "Guangdong, CN", 0.97),
    GpuType(None, "RTX 4080S", 16376, 0.21, "Texas, US", 0.96),
)


def storage_per_hour(disk_gb: float) -> float:
    return disk_gb * STORAGE_COST / 720


class VastState(FakeCloud):
    slug = "vastai"
    launch_only_faults = LAUNCH_ONLY_FAULTS

    def __init__(self, api_key: str = "vast_FAKEKEY0123456789abcdef") -> None:
        super().__init__(api_key)
        # Knobs for behaviour the docs leave open; defaults are the documented shape.
        self.credit = 42.17
        self.log_upload_polls = 2  # 404s a result_url gives before the upload "lands"
        self.rate_limit_retry_after: str | None = None  # Vast sends no Retry-After
        self.unknown_instance_status = 200  # GET of an unknown instance: 200 {"instances": null}
        self._prices = {t.vast_name if t.key is None else t.key: t.price for t in GPU_TYPES}
        self._capacity = dict.fromkeys(self._prices, True)
        self._next_id = 21744398
        self._asks: dict[int, tuple[GpuType, int]] = {}  # listed offer id -> (type, gpu count)
        self._retired_asks: set[int] = set()
        for gpu_type in GPU_TYPES:
            for count in GPU_COUNTS:
                self._asks[self._new_id()] = (gpu_type, count)
        self._instances: dict[int, dict[str, Any]] = {}
        self._status_reads: Counter[int] = Counter()
        self._logs: dict[int, list[str]] = {}
        self._log_uploads: dict[str, list[Any]] = {}  # token -> [text, 404s left]
        self._logs_denied: set[int] = set()
        self._stopped_creates: deque[tuple[int, dict[str, Any]]] = deque()  # (status, error body)

    # ----- scripting interface -----------------------------------------------------------

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            self._known_key(gpu_key)
            self._capacity[gpu_key] = available

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            self._known_key(gpu_key)
            self._prices[gpu_key] = price_per_hour

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            self._logs.setdefault(int(instance_id), []).extend([*lines, f"HARVESTGPU_EXIT={exit_code}"])

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._instances.pop(int(instance_id), None)

    def fail_start(self, instance_id: str, status_msg: str = OCI_FAILURE_MSG) -> None:
        """The container cannot start: Vast keeps ``actual_status`` at "created" and shows
        Docker's error in ``status_msg``."""
        with self._lock:
            record = self._instances[int(instance_id)]
            record.update(actual_status="created", status_msg=status_msg, ports=None)

    def deny_logs(self, instance_id: str) -> None:
        """Log requests for this instance answer 403 ``not_authorized`` (the key stays valid)."""
        with self._lock:
            self._logs_denied.add(int(instance_id))

    def leave_stopped_on_next_create(
        self, status: int = 400, error: str = "invalid_price", msg: str | None = None
    ) -> None:
        """The next create fails *and* leaves a stopped instance whose id is in the error body's
        ``new_contract``, as Vast does when it cannot schedule a bid (the text is ours)."""
        text = msg or f"error {status}: {error} could not schedule the instance; it was created stopped"
        with self._lock:
            self._stopped_creates.append((status, {"success": False, "error": error, "msg": text}))

    def plant(self, name: str, gpu_key: str = "H100-SXM", env: Mapping[str, str] | None = None) -> str:
        gpu_type = next(t for t in GPU_TYPES if t.key == gpu_key)
        body = {"image": "ubuntu:22.04", "label": name, "env": dict(env or {})}
        with self._lock:
            record = self._new_instance(gpu_type, 1, body)
            record.update(self._running_fields(record))
        return str(record["id"])

    # ----- state helpers (call with the lock held) ---------------------------------------

    def _live_records(self) -> Iterable[tuple[str, dict[str, Any]]]:
        return ((str(i), r) for i, r in self._instances.items())

    def _known_key(self, gpu_key: str) -> None:
        if gpu_key not in self._prices:
            raise KeyError(f"the fake lists no {gpu_key!r}; known: {sorted(self._prices)}")

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _instance_or_404(self, iid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        record = self._instances.get(int(iid)) if iid.isdigit() else None
        if record is None:
            raise Answer(404, dict(body))
        return record

    def _offer(
        self, ask_id: int, gpu_type: GpuType, count: int, storage_gb: float, bid: bool
    ) -> dict[str, Any]:
        price_key = gpu_type.key or gpu_type.vast_name
        per_gpu = max(0.001, self._prices[price_key] - storage_per_hour(STANDARD_DISK_GB))
        dph_base = round(per_gpu * count, 6)
        min_bid = round(dph_base * 0.6, 6)
        storage = round(storage_per_hour(storage_gb), 6)
        total = round((min_bid if bid else dph_base) + storage, 6)
        machine_id = 30000 + ask_id % 10000
        return {
            "id": ask_id,
            "ask_contract_id": ask_id,
            "bundle_id": ask_id * 37,
            "machine_id": machine_id,
            "host_id": 150000 + machine_id % 97,
            "num_gpus": count,
            "gpu_name": gpu_type.vast_name,
            "gpu_ram": gpu_type.gpu_ram_mb,
            "gpu_total_ram": gpu_type.gpu_ram_mb * count,
            "gpu_frac": 1.0,
            "gpu_arch": "nvidia",
            "compute_cap": 900,
            "cuda_max_good": 12.8,
            "driver_version": "570.124.06",
            "cpu_name": "AMD EPYC 9554 64-Core Processor",
            "cpu_arch": "amd64",
            "cpu_cores": 128,
            "cpu_cores_effective": 16.0 * count,
            "cpu_ram": 257000,
            "disk_space": 1023.4,
            "inet_up": 8213.5,
            "inet_down": 9140.2,
            "inet_up_cost": 0.005,
            "inet_down_cost": 0.005,
            "direct_port_count": 99,
            "dph_base": dph_base,
            "dph_total": total,
            "min_bid": min_bid,
            "storage_cost": STORAGE_COST,
            "storage_total_cost": storage,
            "search": {"gpuCostPerHour": dph_base, "diskHour": storage, "totalHour": total},
            "instance": {"gpuCostPerHour": 0, "diskHour": storage, "totalHour": storage},
            "reliability": gpu_type.reliability,
            "reliability2": gpu_type.reliability,
            "verification": "verified",
            "rentable": self._capacity[price_key],
            "rented": False,
            "is_bid": bid,
            "external": False,
            "hosting_type": 1,
            "geolocation": gpu_type.geolocation,
            "public_ipaddr": f"203.0.113.{ask_id % 250}",
            "static_ip": True,
            "duration": 2592000.0,
            "score": round(200 / (dph_base or 1), 2),
        }

    def _new_instance(self, gpu_type: GpuType, count: int, body: Mapping[str, Any]) -> dict[str, Any]:
        iid = self._new_id()
        disk = float(body.get("disk") or 8)
        offer = self._offer(iid, gpu_type, count, disk, body.get("price") is not None)
        env = body.get("env") or {}
        if isinstance(env, str):  # the OpenAPI's docker-flag string form
            flags = [p.split("=", 1) for p in env.split("-e ")[1:] if "=" in p]
            env = {k.strip(): v.strip() for k, v in flags}
        now = time.time()
        record = {
            key: offer[key]
            for key in (
                "machine_id", "host_id", "bundle_id", "num_gpus", "gpu_name", "gpu_ram", "gpu_arch",
                "dph_base", "dph_total", "min_bid", "storage_cost", "storage_total_cost", "geolocation",
                "public_ipaddr", "reliability2", "verification", "cpu_cores", "cpu_cores_effective",
                "cpu_ram", "direct_port_count", "inet_up", "inet_down", "static_ip", "is_bid",
            )
        }  # fmt: skip
        record.update(
            id=iid,
            label=body.get("label"),
            actual_status="loading",
            intended_status=body.get("target_state") or "running",
            cur_state="running",
            next_state="running",
            status_msg=f"Pulling image {body.get('image')}",
            image_uuid=body.get("image"),
            image_runtype=body.get("runtype") or ("args" if body.get("args") else "ssh"),
            image_args=list(body.get("args") or []),
            onstart=body.get("onstart"),
            extra_env=[[str(k), str(v)] for k, v in dict(env).items()],
            gpu_totalram=gpu_type.gpu_ram_mb * count,
            disk_space=disk,
            ports=None,
            ssh_host="ssh5.vast.ai",
            ssh_port=30000 + iid % 20000,
            start_date=now,
            end_date=now + 2592000.0,
            duration=2592000.0,
            uptime_mins=None,
            template_id=None,
            template_hash_id=None,
        )
        self._instances[iid] = record
        return record

    @staticmethod
    def _stopped_fields() -> dict[str, Any]:
        return {
            "actual_status": "stopped",
            "intended_status": "stopped",
            "cur_state": "stopped",
            "next_state": "stopped",
            "ports": None,
        }

    @staticmethod
    def _running_fields(record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "actual_status": "running",
            "status_msg": f"success, running {record['image_uuid']}/{record['image_runtype']}",
            "ports": {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(record["ssh_port"])}]},
        }
