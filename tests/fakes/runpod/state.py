"""The fake RunPod's data: GPU catalog, data centres, pods and their log events.

The scripting interface tests use lives here; the HTTP routes are in ``routes.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harvestgpu.providers.wrap import EXIT_SENTINEL
from tests.fakes.base import FakeCloud
from tests.fakes.faults import BODY_FAULTS, BodyFaultQueue

# A 200 that is not RunPod's answer (a proxy or maintenance page): ``fail_next(op, kind)``.


@dataclass
class Gpu:
    key: str  # canonical catalog key
    gpu_id: str
    name: str
    pool: str | None
    memory: int
    secure_price: float  # per GPU, like the real catalog
    max_count: int
    data_centers: dict[str, str]  # data centre id -> availability level
    in_stock: bool = True
    manufacturer: str = "NVIDIA"


def _default_gpus() -> list[Gpu]:
    return [
        Gpu("H100-SXM", "NVIDIA H100 80GB HBM3", "H100 SXM", "H100", 80, 2.99, 8,
            {"US-KS-2": "HIGH", "CA-MTL-1": "LOW"}),
        Gpu("H100-PCIE", "NVIDIA H100 PCIe", "H100 PCIe", "ADA_80_PRO", 80, 2.39, 8, {"US-TX-3": "MEDIUM"}),
        Gpu("H200", "NVIDIA H200", "H200 SXM", "H200", 141, 3.99, 8, {"US-KS-2": "MEDIUM"}),
        Gpu("A100-80GB-SXM", "NVIDIA A100-SXM4-80GB", "A100 SXM", "AMPERE_80", 80, 1.89, 8,
            {"EU-RO-1": "HIGH"}),
        Gpu("L40S", "NVIDIA L40S", "L40S", "ADA_48_PRO", 48, 0.86, 8, {"US-TX-3": "HIGH"}),
        Gpu("RTX-4090", "NVIDIA GeForce RTX 4090", "RTX 4090", "ADA_24", 24, 0.69, 8,
            {"US-TX-3": "HIGH", "EU-RO-1": "MEDIUM"}),
        Gpu("RTX-A6000", "NVIDIA RTX A6000", "RTX A6000", "AMPERE_48", 48, 0.49, 8, {"CA-MTL-1": "HIGH"}),
        Gpu("RTX-A5000", "NVIDIA RTX A5000", "RTX A5000", "AMPERE_24", 24, 0.27, 8, {"EU-RO-1": "HIGH"}),
        Gpu("MI300X", "AMD Instinct MI300X OAM", "MI300X", None, 192, 2.49, 8, {"US-TX-3": "LOW"},
            manufacturer="AMD"),
    ]  # fmt: skip


DATA_CENTERS = {
    "US-KS-2": ("US Kansas 2", "NORTH_AMERICA", "US"),
    "US-TX-3": ("US Texas 3", "NORTH_AMERICA", "US"),
    "CA-MTL-1": ("CA Montreal 1", "NORTH_AMERICA", "CA"),
    "EU-RO-1": ("EU Romania 1", "EUROPE", "RO"),
}
_ACTIONS = {
    "PROVISIONING": ["stop", "terminate"],
    "STARTING": ["stop", "terminate"],
    "RUNNING": ["stop", "restart", "terminate"],
    "EXITED": ["start", "terminate"],
    "ERROR": ["start", "terminate"],
}

LogEvent = tuple[str, str, str, str]  # id, ts, source, line


@dataclass
class Pod:
    record: dict[str, Any]
    reads_before_running: int = 1
    events: list[LogEvent] = field(default_factory=list)
    seq: int = 0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resume_index(events: list[LogEvent], resume: str) -> int:
    """Index after the event named by Last-Event-ID (or after a ``since`` timestamp)."""
    for index, (event_id, _ts, _source, _line) in enumerate(events):
        if event_id == resume:
            return index + 1
    return next((i for i, event in enumerate(events) if event[1] > resume), len(events))


class RunPodState(FakeCloud):
    slug = "runpod"

    def __init__(self, api_key: str = "rpa_FAKEKEY0123456789abcd") -> None:
        super().__init__(api_key)
        self._gpus = {gpu.key: gpu for gpu in _default_gpus()}
        self._pods: dict[str, Pod] = {}
        self.body_faults = BodyFaultQueue()

    # ---- scripting interface ---------------------------------------------------------------

    def fail_next(self, op: str, fault: str, times: int = 1, delay_s: float = 2.0) -> None:
        """The shared faults, plus ``empty_200`` and ``html_200`` on the pod get/list/delete."""
        if fault in BODY_FAULTS:
            self.body_faults.arm(op, fault, times)
        else:
            super().fail_next(op, fault, times, delay_s)

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            self._gpus[gpu_key].in_stock = available

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            self._gpus[gpu_key].secure_price = price_per_hour

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            pod = self._pods[instance_id]
            for line in lines:
                self._log(pod, "container", line)
            if EXIT_SENTINEL in str(pod.record.get("args") or ""):
                self._log(pod, "container", f"{EXIT_SENTINEL}{exit_code}")
                return
            # Unwrapped command: RunPod restarts the container (runpodctl #149).
            self._log(pod, "system", f"container exited with code {exit_code}; restarting")
            self._set_status(pod, "STARTING")

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._pods.pop(instance_id)

    def plant(self, name: str, gpu_key: str = "H100-SXM", env: dict[str, str] | None = None) -> str:
        with self._lock:
            gpu = self._gpus[gpu_key]
            body = {"name": name, "image": "runpod/base:0.6.2", "args": "", "env": env or {}, "disk": 20}
            pod = self._new_pod(body, gpu, 1, "SECURE", next(iter(gpu.data_centers)))
            self._set_status(pod, "RUNNING")
            return str(pod.record["id"])

    def set_status(self, instance_id: str, status: str) -> None:
        """Extra: force a PodStatus (e.g. ERROR, EXITED) as if the cloud changed it."""
        with self._lock:
            self._set_status(self._pods[instance_id], status)

    # ---- state helpers (call with the lock held) -------------------------------------------

    def _live_records(self) -> Iterable[tuple[str, dict[str, Any]]]:
        return ((pod_id, pod.record) for pod_id, pod in self._pods.items())

    def _gpu_by_id(self, gpu_id: str) -> Gpu | None:
        return next((g for g in self._gpus.values() if g.gpu_id == gpu_id), None)

    def _new_pod(self, body: dict[str, Any], gpu: Gpu, count: int, cloud: str, dc: str) -> Pod:
        pod_id = secrets.token_hex(7)
        record: dict[str, Any] = {
            "id": pod_id,
            "name": body["name"],
            "image": body.get("image", ""),
            "args": body.get("args", ""),
            "disk": body.get("disk", 50),
            "ports": body.get("ports", []),
            "env": dict(body.get("env") or {}),
            "registry": body.get("registry"),
            "status": "PROVISIONING",
            "actions": list(_ACTIONS["PROVISIONING"]),
            "mounts": body.get("mounts", {}),
            "gpu": {"id": gpu.gpu_id, "count": count},
            "cloud": cloud,
            "dataCenterId": dc,
            "cudaVersion": "12.8",
            "ssh": {
                "proxy": {
                    "host": "ssh.runpod.io",
                    "port": 22,
                    "username": f"{pod_id}-64411f3a",
                    "command": f"ssh {pod_id}-64411f3a@ssh.runpod.io",
                },
                "direct": None,
            },
            "template": None,
            "cost": round(gpu.secure_price * count * (1.0 if cloud == "SECURE" else 0.8), 4),
            "locked": False,
            "globalNetworking": {"enabled": False},
            "runtime": None,
            "createdAt": _now(),
            "startedAt": None,
        }
        pod = Pod(record)
        self._pods[pod_id] = pod
        self._log(pod, "system", f"Pulling image {record['image']}")
        return pod

    def _set_status(self, pod: Pod, status: str) -> None:
        record = pod.record
        if status in ("PROVISIONING", "STARTING"):
            pod.reads_before_running = 1
        record["status"] = status
        record["actions"] = list(_ACTIONS.get(status, []))
        running = status == "RUNNING"
        record["runtime"] = (
            {"uptime": 0, "gpus": [{"util": 0, "memoryUtil": 0}], "ports": []} if running else None
        )
        if running:
            record["startedAt"] = record["startedAt"] or _now()
            self._log(pod, "system", "Container started")
        if status in ("EXITED", "TERMINATED"):
            record["cost"] = 0.0
        elif record["cost"] == 0.0:
            record["cost"] = self._pod_price(record)

    def _pod_price(self, record: dict[str, Any]) -> float:
        gpu = next(g for g in self._gpus.values() if g.gpu_id == record["gpu"]["id"])
        return round(gpu.secure_price * int(record["gpu"]["count"]), 4)

    def _log(self, pod: Pod, source: str, line: str) -> None:
        pod.seq += 1
        ts = _now()
        pod.events.append((f"{ts}/{pod.seq:012d}", ts, source, line))
