"""A cookie-keeping client that uses the dashboard like a browser without JavaScript would."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import Api

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_SUBMIT_TOKEN = re.compile(r'name="submit_token" value="([^"]*)"')
_SHOWN_KEY = re.compile(r'value="(hg_live_[^"]+)"')
_FIELD_ERROR = re.compile(r'<p class="field-error" id="([\w-]+)-error" role="alert">([^<]*)</p>')

JOB_FORM = {
    "gpu": "H100",
    "image": "pytorch/pytorch:latest",
    "command": "python train.py",
    "priority": "cost",
    "gpu_count": "1",
}


def csrf_token(page: str) -> str:
    match = _CSRF.search(page)
    assert match and match.group(1), "page has no CSRF token"
    return match.group(1)


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields (CSRF and submit tokens) of the form posting to ``action`` on ``page``."""
    match = re.search(rf'<form method="post" action="{re.escape(action)}(?:#[^"]*)?".*?</form>', page, re.S)
    assert match, f"no form posting to {action}"
    hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', match.group(0))
    return dict(hidden)


def field_errors(page: str) -> dict[str, str]:
    """{field name: message} for every error rendered next to a field."""
    return {name: html.unescape(message) for name, message in _FIELD_ERROR.findall(page)}


def job_statuses(page: str) -> dict[str, str]:
    """job id -> status badge in a jobs table."""
    rows = re.findall(r'<tr data-job-id="(\w+)">.*?data-status="(\w+)"', page, re.S)
    return dict(rows)


@dataclass
class Browser:
    """One visitor: its own cookie jar against the in-process app."""

    client: httpx.AsyncClient
    api_key: str = ""
    email: str = ""
    pages: list[str] = field(default_factory=list)

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def as_api_user(self) -> dict[str, Any]:
        """The shape Api.run_until() expects."""
        return {"headers": self.api_headers}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        self.pages.append(response.text)
        return response

    async def submit(self, form_page: str, action: str, fields: dict[str, str]) -> httpx.Response:
        """Post ``fields`` to ``action`` with the CSRF token of the page the form came from."""
        page = (await self.get(form_page)).text
        response = await self.client.post(action, data={"csrf_token": csrf_token(page), **fields})
        self.pages.append(response.text)
        return response

    async def sign_up(self, email: str, password: str = "correct-horse-battery") -> httpx.Response:
        response = await self.submit("/register", "/register", {"email": email, "password": password})
        assert response.status_code == 200, response.text
        match = _SHOWN_KEY.search(response.text)
        assert match, "the new API key is not on the page"
        self.api_key, self.email = match.group(1), email
        return response

    async def submit_job(self, **overrides: str) -> httpx.Response:
        page = (await self.get("/dashboard")).text
        token = _SUBMIT_TOKEN.search(page)
        assert token
        fields = {"csrf_token": csrf_token(page), "submit_token": token.group(1), **JOB_FORM, **overrides}
        response = await self.client.post("/dashboard/jobs", data=fields)
        self.pages.append(response.text)
        return response

    async def submitted_job_id(self, **overrides: str) -> str:
        response = await self.submit_job(**overrides)
        assert response.status_code == 303, response.text
        match = re.fullmatch(r"/jobs/(\w+)\?notice=submitted", response.headers["location"])
        assert match, response.headers["location"]
        return match.group(1)


@asynccontextmanager
async def browser(api: Api, base_url: str = "http://testserver") -> AsyncIterator[Browser]:
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield Browser(client)
