"""The web dashboard: server-rendered pages (Jinja2) with htmx for the live parts.

``router`` carries every page and the static files (htmx is vendored: the dashboard works offline).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from harvestgpu.server.web import auth_pages, job_pages, pricing_page, settings_pages, webhook_pages
from harvestgpu.server.web.rendering import STATIC_DIR

router = APIRouter(include_in_schema=False)
for _pages in (auth_pages, job_pages, pricing_page, settings_pages, webhook_pages):
    router.include_router(_pages.router)
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

__all__ = ["router"]
