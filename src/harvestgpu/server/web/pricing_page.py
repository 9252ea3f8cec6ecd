"""/pricing: the live price matrix (GPU model x provider), filtered by GPU and GPU count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from harvestgpu import gpus
from harvestgpu.server.errors import BadRequest
from harvestgpu.server.services import pricing
from harvestgpu.server.web.rendering import WebRoute, render
from harvestgpu.server.web.session import ctx_of, session_user

router = APIRouter(route_class=WebRoute, include_in_schema=False)

GpuParam = Annotated[str | None, Query(max_length=64)]
CountParam = Annotated[int, Query(ge=1, le=16)]
_CATALOG_ORDER = {model.key: index for index, model in enumerate(gpus.CATALOG)}


@dataclass
class MatrixRow:
    gpu_model: str
    gpu_name: str
    vram_gb: int
    # provider slug -> the cheapest entry for that provider (any region)
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    regions: dict[str, int] = field(default_factory=dict)  # provider -> regions offering it

    @property
    def best_price(self) -> float:
        return min(float(cell["price"]) for cell in self.cells.values())


def build_matrix(entries: list[dict[str, Any]], gpu_count: int) -> list[MatrixRow]:
    rows: dict[str, MatrixRow] = {}
    for entry in entries:
        if entry["gpu_count"] != gpu_count or not entry["available"]:
            continue
        row = rows.setdefault(
            entry["gpu_model"], MatrixRow(entry["gpu_model"], entry["gpu_name"], entry["vram_gb"])
        )
        provider = entry["provider"]
        row.regions[provider] = row.regions.get(provider, 0) + 1
        best = row.cells.get(provider)
        if best is None or entry["price"] < best["price"]:
            row.cells[provider] = entry
    unknown_last = len(_CATALOG_ORDER)
    return sorted(rows.values(), key=lambda r: (_CATALOG_ORDER.get(r.gpu_model, unknown_last), r.gpu_model))


async def _matrix_context(request: Request, gpu: str | None, count: int) -> tuple[dict[str, Any], int]:
    gpu = (gpu or "").strip() or None
    user = await session_user(request)
    errors: dict[str, str] = {}
    try:
        result = await pricing.pricing(ctx_of(request), user.id if user else None, gpu)
    except BadRequest as exc:
        errors["gpu"] = exc.message
        result = {"pricing": [], "providers": []}
    columns = [p["provider"] for p in result["providers"] if p["state"] != "not_connected"]
    context = {
        "rows": build_matrix(result["pricing"], count),
        "columns": columns,
        "providers": result["providers"],
        "gpu": gpu or "",
        "count": count,
        "counts": sorted({e["gpu_count"] for e in result["pricing"]} | {1}),
        "gpu_names": gpus.known_names(),
        "errors": errors,
    }
    return context, 400 if errors else 200


@router.get("/pricing")
async def pricing_page(request: Request, gpu: GpuParam = None, count: CountParam = 1) -> Response:
    context, status = await _matrix_context(request, gpu, count)
    return await render(request, "pricing.html", context, status_code=status)


@router.get("/pricing/matrix")
async def pricing_matrix(request: Request, gpu: GpuParam = None, count: CountParam = 1) -> Response:
    # Always 200: htmx swaps only successful answers, and the error is shown inside the fragment.
    context, _status = await _matrix_context(request, gpu, count)
    return await render(request, "_pricing_matrix.html", context)
