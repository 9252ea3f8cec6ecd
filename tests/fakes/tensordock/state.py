"""The fake TensorDock's data: locations, their GPU stock and prices, and the VMs on them.

The scripting interface tests use lives here; the HTTP routes are in ``routes.py``.
"""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harvestgpu.providers.tensordock.adapter import ResourcePricing, vm_size
from tests.fakes.base import FakeCloud, play_agent
from tests.fakes.faults import BODY_FAULTS, BodyFaultQueue

DEFAULT_MAX_COUNT = 8
# A 200 that is not TensorDock's answer (a proxy or maintenance page): ``fail_next(op, kind)``.


@dataclass
class Stock:
    gpu_key: str  # catalog key, e.g. "H100-SXM" (None-like "" for GPUs outside the catalog)
    v0_name: str
    display_name: str
    price_per_hr: float
    max_count: int = DEFAULT_MAX_COUNT


@dataclass
class Location:
    id: str
    hostnode_id: str
    city: str
    stateprovince: str
    country: str
    tier: int
    pricing: ResourcePricing  # per_gpu unused: each GPU has its own price
    max_vcpus: int
    max_ram_gb: int
    max_storage_gb: int
    ports: list[int]
    gpus: list[Stock] = field(default_factory=list)

    def pricing_json(self) -> dict[str, float]:
        p = self.pricing
        return {
            "per_vcpu_hr": p.per_vcpu,
            "per_gb_ram_hr": p.per_gb_ram,
            "per_gb_storage_hr": p.per_gb_storage,
        }

    def whole_price_to_gpu_price(self, whole: float) -> float:
        share = ResourcePricing(
            0.0, self.pricing.per_vcpu, self.pricing.per_gb_ram, self.pricing.per_gb_storage
        )
        return round(whole - share.hourly(1, vm_size(1)), 6)


@dataclass
class Vm:
    record: dict[str, Any]  # what GET /instances/{id} shows
    location_id: str
    v0_name: str
    gpu_count: int
    script: str = ""


def _default_locations() -> list[Location]:
    idaho = Location(
        "6c0f1f8e-2b7c-4f3a-9a51-3e0d2b7c9f11", "3b1d9a2e-7c44-4e0b-8f6e-1a2b3c4d5e6f",
        "Chubbuck", "Idaho", "United States", 3, ResourcePricing(0.0, 0.003, 0.002, 0.00005),
        128, 512, 4000, [20012, 20013, 20014, 20015],
    )  # fmt: skip
    virginia = Location(
        "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "4c2e0b3f-8d55-4f1c-9a7b-2b3c4d5e6f70",
        "Manassas", "Virginia", "United States", 2, ResourcePricing(0.0, 0.0025, 0.0015, 0.00004),
        64, 256, 2000, [30001, 30002, 30003],
    )  # fmt: skip
    whole_prices = {
        idaho.id: [
            ("H100-SXM", "h100-sxm5-80gb", "H100 SXM5 80GB", 2.39),
            ("A100-80GB-SXM", "a100-sxm4-80gb", "A100 SXM4 80GB", 1.49),
            ("L40S", "l40s-pcie-48gb", "L40S PCIe 48GB", 1.09),
            ("", "rtxa4000-pcie-16gb", "NVIDIA RTX A4000 PCIe 16GB", 0.21),
        ],
        virginia.id: [
            ("H100-PCIE", "h100-pcie-80gb", "H100 PCIe 80GB", 2.09),
            ("RTX-A6000", "rtxa6000-pcie-48gb", "NVIDIA RTX A6000 PCIe 48GB", 0.55),
            ("RTX-4090", "geforcertx4090-pcie-24gb", "NVIDIA GeForce RTX 4090 PCIe 24GB", 0.44),
            ("V100-16GB", "v100-pcie-16gb", "Tesla V100 PCIe 16GB", 0.29),
        ],
    }
    for loc in (idaho, virginia):
        for key, v0, display, whole in whole_prices[loc.id]:
            loc.gpus.append(Stock(key, v0, display, loc.whole_price_to_gpu_price(whole)))
    return [idaho, virginia]


class TensorDockState(FakeCloud):
    slug = "tensordock"

    def __init__(
        self,
        *,
        api_key: str = "td_FAKEKEY0123456789abcdef",
        get_shape: str = "flat",  # "flat" (documented) | "data" | "attributes"
        list_shape: str = "c",  # "a" | "b" (documented) | "c" (observed by a live client)
        page_size: int | None = None,
        # TensorDock allows 100/min per organisation; off by default so tests that poll hard
        # (monitor loops) are not throttled. Set 100 to emulate the real limit.
        requests_per_minute: int | None = None,
        retry_after_s: int | None = 1,  # Retry-After on 429 (None: no header)
    ) -> None:
        super().__init__(api_key)
        self.get_shape = get_shape
        self.list_shape = list_shape
        self.page_size = page_size
        self.requests_per_minute = requests_per_minute
        self.retry_after_s = retry_after_s
        self.agent_posts: list[tuple[str, int]] = []
        self._locations = _default_locations()
        self._vms: dict[str, Vm] = {}
        self._recent: deque[float] = deque()
        self._ip_suffix = itertools.count(10)
        self.body_faults = BodyFaultQueue()

    # ---- scripting interface -------------------------------------------------------------

    def fail_next(self, op: str, fault: str, times: int = 1, delay_s: float = 2.0) -> None:
        """The shared faults, plus ``empty_200`` and ``html_200`` on instance get/list/delete."""
        if fault in BODY_FAULTS:
            self.body_faults.arm(op, fault, times)
        else:
            super().fail_next(op, fault, times, delay_s)

    def set_capacity(self, gpu_key: str, available: bool) -> None:
        with self._lock:
            for _, stock in self._stocks(gpu_key):
                stock.max_count = DEFAULT_MAX_COUNT if available else 0

    def set_price(self, gpu_key: str, price_per_hour: float) -> None:
        with self._lock:
            for loc, stock in self._stocks(gpu_key):
                stock.price_per_hr = loc.whole_price_to_gpu_price(price_per_hour)

    def set_status(self, instance_id: str, status: str) -> None:
        """Inject a status, e.g. ``StoppedDisassociated`` when a host reclaims its GPU."""
        with self._lock:
            self._vms[instance_id].record["status"] = status

    def finish(self, instance_id: str, exit_code: int, lines: list[str]) -> None:
        with self._lock:
            script = self._vms[instance_id].script
        play_agent(self.agent_posts, script, exit_code, lines)

    def lose(self, instance_id: str) -> None:
        with self._lock:
            self._release(self._vms.pop(instance_id))

    def plant(self, name: str, gpu_key: str = "H100-SXM") -> str:
        with self._lock:
            loc, stock = self._stocks(gpu_key)[0]
            attrs = {"name": name, "resources": {"vcpu_count": 8, "ram_gb": 32, "storage_gb": 100}}
            vm = self._create(loc, stock, 1, attrs)
            vm.record["status"] = "running"
            return str(vm.record["id"])

    # ---- helpers (called with the lock held) ---------------------------------------------

    def _live_records(self) -> Iterable[tuple[str, dict[str, Any]]]:
        return ((vm_id, vm.record) for vm_id, vm in self._vms.items())

    def _create(self, loc: Location, stock: Stock, count: int, attrs: dict[str, Any]) -> Vm:
        res = attrs.get("resources", {})
        vcpus, ram, storage = (
            int(res.get("vcpu_count", 8)),
            int(res.get("ram_gb", 32)),
            int(res["storage_gb"]),
        )
        p = loc.pricing
        rate = (
            count * stock.price_per_hr + vcpus * p.per_vcpu + ram * p.per_gb_ram + storage * p.per_gb_storage
        )
        vm_id = str(uuid.uuid4())
        forwards = [
            {"internal_port": f.get("internal_port"), "external_port": f.get("external_port")}
            for f in attrs.get("port_forwards") or []
        ]
        record = {
            "type": "virtualmachine", "id": vm_id, "name": attrs["name"], "status": "starting",
            "ipAddress": f"203.0.113.{next(self._ip_suffix) % 250}", "portForwards": forwards,
            "resources": {"vcpu_count": vcpus, "ram_gb": ram, "storage_gb": storage,
                          "gpus": {stock.v0_name: {"count": count, "v0Name": stock.v0_name}}},
            "rateHourly": round(rate, 4),
        }  # fmt: skip
        cloud_init = attrs.get("cloud_init") or {}
        texts = [str(f.get("content", "")) for f in cloud_init.get("write_files") or []]
        texts += [str(c) for c in cloud_init.get("runcmd") or []]
        script = next((t for t in texts if "HG_AGENT_URL=" in t), "")
        stock.max_count -= count
        vm = Vm(record=record, location_id=loc.id, v0_name=stock.v0_name, gpu_count=count, script=script)
        self._vms[vm_id] = vm
        return vm

    def _release(self, vm: Vm) -> None:
        for stock in self._stocks_at(vm.location_id, vm.v0_name):
            stock.max_count = min(DEFAULT_MAX_COUNT, stock.max_count + vm.gpu_count)

    def _stocks(self, gpu_key: str) -> list[tuple[Location, Stock]]:
        found = [(loc, s) for loc in self._locations for s in loc.gpus if s.gpu_key == gpu_key]
        if not found:
            raise KeyError(f"the fake TensorDock cloud does not stock {gpu_key}")
        return found

    def _stocks_at(self, location_id: str, v0_name: str) -> list[Stock]:
        return [
            s for loc in self._locations if loc.id == location_id for s in loc.gpus if s.v0_name == v0_name
        ]
