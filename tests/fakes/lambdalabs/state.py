"""The fake Lambda Cloud's data: instance types, regional capacity, instances and SSH keys.

The scripting interface tests use lives here; the HTTP routes are in ``routes.py``.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.base import FakeCloud, play_agent
from tests.fakes.faults import LAUNCH_ONLY_FAULTS

REGIONS = {
    "us-east-1": "Virginia, USA",
    "us-west-1": "California, USA",
    "us-west-2": "Arizona, USA",
    "us-west-3": "Utah, USA",
    "us-east-3": "Washington DC, USA",
}


@dataclass(frozen=True)
class TypeSpec:
    gpu_key: str  # catalog key ("" when the catalog has no such GPU)
    name: str
    gpu_description: str
    cents: int
    gpus: int
    vcpus: int
    memory_gib: int
    storage_gib: int
    regions: tuple[str, ...]


# Prices follow Lambda's list prices where Lambda sells the type; the rest are plausible.
# catalog key | type name | gpu_description | cents/hour | gpus | vcpus/memory/storage | regions
_TYPE_TABLE = """
H100-SXM      | gpu_1x_h100_sxm5      | H100 (80 GB SXM5)  |  329 | 1 | 26/225/2816     | us-east-1 us-west-3
H100-SXM      | gpu_8x_h100_sxm5      | H100 (80 GB SXM5)  | 2392 | 8 | 208/1800/22528  | us-west-3
H100-PCIE     | gpu_1x_h100_pcie      | H100 (80 GB PCIe)  |  249 | 1 | 26/200/1024     | us-east-1 us-west-1
A100-80GB-SXM | gpu_1x_a100_80gb_sxm4 | A100 (80 GB SXM4)  |  179 | 1 | 30/225/2048     | us-east-1
A100-40GB-SXM | gpu_1x_a100_sxm4      | A100 (40 GB SXM4)  |  129 | 1 | 30/200/512      | us-west-2
L40S          | gpu_1x_l40s           | L40S (48 GB PCIe)  |  139 | 1 | 24/128/1024     | us-west-1
RTX-A6000     | gpu_1x_a6000          | RTX A6000 (48 GB)  |   80 | 1 | 14/100/512      | us-west-1 us-east-1
RTX-4090      | gpu_1x_rtx4090        | RTX 4090 (24 GB)   |   69 | 1 | 16/64/512       | us-west-2
A10           | gpu_1x_a10            | A10 (24 GB PCIe)   |   75 | 1 | 30/200/1400     | us-west-1 us-east-1
V100-16GB     | gpu_8x_v100           | Tesla V100 (16 GB) |  440 | 8 | 92/448/5836     |
              | gpu_1x_gh200          | GH200 (96 GB)      |  149 | 1 | 64/432/4096     | us-east-3
              | gpu_1x_rtx6000        | RTX 6000 (24 GB)   |   50 | 1 | 14/46/512       | us-east-1
              | cpu_4x_general        |                    |   10 | 0 | 4/16/256        | us-east-1
"""


def _parse_type_table(table: str) -> tuple[TypeSpec, ...]:
    specs = []
    for row in table.strip().splitlines():
        key, name, gpu_description, cents, gpus, sizes, regions = (cell.strip() for cell in row.split("|"))
        vcpus, memory_gib, storage_gib = (int(n) for n in sizes.split("/"))
        specs.append(
            TypeSpec(
                key,
                name,
                gpu_description,
                int(cents),
                int(gpus),
                vcpus,
                memory_gib,
                storage_gib,
                tuple(regions.split()),
            )
        )
    return tuple(specs)


TYPES = _parse_type_table(_TYPE_TABLE)


def region_json(name: str) -> dict[str, str]:
    return {"name": name, "description": REGIONS.get(name, name)}


class LambdaState(FakeCloud):
    slug = "lambda"
    launch_only_faults = LAUNCH_ONLY_FAULTS

    def __init__(self, api_key: str = "secret_FAKEKEY0123456789abcdef") -> None:
        super().__init__(api_key)
        self.agent_posts: list[tuple[str, int]] = []
        self._types: dict[str, dict[str, Any]] = {}
        self._capacity: dict[str, list[str]] = {}
        for spec in TYPES:
            self._types[spec.name] = self._instance_type(spec)
            self._capacity[spec.name] = list(spec.regions)
        self._instances: dict[str, dict[str, Any]] = {}
        self._user_data: dict[str, str] = {}
        self._ssh_keys: list[dict[str, str]] = []
        self._terminating_reads_left: dict[str, int] = {}
        # Switches for what the reference leaves UNCONFIRMED. Retry-After on a 429: absent
        # unless set (seconds). Status reads after terminate that still say "terminating"
        # (the terminate answer itself always does) before "terminated".
        self.rate_limit_retry_after_s: int | None = None
        self.terminating_reads = 0

    # ---- scripting interface -------------------------------------------------------------

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            for spec in self._matching(gpu_key):
                self._capacity[spec.name] = list(spec.regions or ("us-east-1",)) if available else []

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            for spec in self._matching(gpu_key):
                if spec.gpus == 1:
                    self._types[spec.name]["price_cents_per_hour"] = round(price_per_hour * 100)

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            if instance_id not in self._instances:
                raise KeyError(f"no live instance {instance_id}")
            self._activate(self._instances[instance_id])
            script = self._user_data.get(instance_id, "")
        play_agent(self.agent_posts, script, exit_code, lines)

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._instances.pop(instance_id, None)

    def plant(self, name: str, gpu_key: str = "H100-SXM", tags: dict[str, str] | None = None) -> str:
        spec = next(s for s in self._matching(gpu_key) if s.gpus == 1)
        with self._lock:
            record = self._new_instance(name, spec.name, spec.regions[0] if spec.regions else "us-east-1", [])
            record["tags"] = [{"key": k, "value": v} for k, v in (tags or {}).items()]
            self._activate(record)
            return str(record["id"])

    # ---- state helpers (call with the lock held) -----------------------------------------

    def _live_records(self) -> Iterable[tuple[str, dict[str, Any]]]:
        return (
            (iid, rec)
            for iid, rec in self._instances.items()
            if rec["status"] not in ("terminating", "terminated")
        )

    def _matching(self, gpu_key: str) -> list[TypeSpec]:
        found = [spec for spec in TYPES if spec.gpu_key == gpu_key]
        if not found:
            raise KeyError(f"the fake sells no {gpu_key}")
        return found

    @staticmethod
    def _instance_type(spec: TypeSpec) -> dict[str, Any]:
        description = f"{spec.gpus}x {spec.gpu_description}" if spec.gpus else f"{spec.vcpus}x vCPU general"
        return {
            "name": spec.name,
            "description": description,
            "gpu_description": spec.gpu_description,
            "price_cents_per_hour": spec.cents,
            "specs": {
                "vcpus": spec.vcpus,
                "memory_gib": spec.memory_gib,
                "storage_gib": spec.storage_gib,
                "gpus": spec.gpus,
            },
        }

    def _new_instance(
        self, name: str | None, type_name: str, region: str, ssh_keys: list[str]
    ) -> dict[str, Any]:
        instance_id = secrets.token_hex(16)
        record: dict[str, Any] = {
            "id": instance_id,
            "name": name,
            "ip": None,
            "private_ip": None,
            "status": "booting",
            "ssh_key_names": ssh_keys,
            "file_system_names": [],
            "region": region_json(region),
            "instance_type": copy.deepcopy(self._types[type_name]),
            "hostname": None,
            "jupyter_token": secrets.token_hex(16),
            "jupyter_url": None,
            "actions": {
                "migrate": {"available": False, "reason_code": "vm-has-not-launched"},
                "rebuild": {"available": False, "reason_code": "vm-has-not-launched"},
                "restart": {"available": False, "reason_code": "vm-has-not-launched"},
                "cold_reboot": {"available": False, "reason_code": "vm-has-not-launched"},
                "terminate": {"available": True},
            },
            "tags": [],
            "firewall_rulesets": [],
        }
        self._instances[instance_id] = record
        return record

    @staticmethod
    def _activate(record: dict[str, Any]) -> None:
        if record["status"] != "booting":
            return
        octet = int(record["id"][:2], 16)
        record.update(
            status="active",
            ip=f"198.51.100.{octet}",
            private_ip=f"10.19.60.{octet}",
            hostname=f"198-51-100-{octet}.cloud.lambdalabs.com",
        )
        for action in ("rebuild", "restart", "cold_reboot"):
            record["actions"][action] = {"available": True}
