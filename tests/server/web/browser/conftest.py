"""Browser tests: the real server process, a fake RunPod for key tests, headless Chromium.

Chromium is the system's (/usr/bin/chromium, installed by `.ci/run`); off CI, Playwright's own
download also does. Without one the tests are skipped locally and fail under CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize, sync_playwright

from tests.fakes.http_server import free_port, serve_app
from tests.fakes.runpod import FakeRunPodCloud
from tests.support import stop_process, wait_for_sync

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[4]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
RUNPOD_KEY = "rpa_BROWSERTESTKEY_0123456789_Zk4P"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def runpod_url() -> Iterator[str]:
    with serve_app(FakeRunPodCloud(api_key=RUNPOD_KEY).app()) as url:
        yield url


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-server-log") / "server.log"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory, runpod_url: str, server_log: Path) -> Iterator[str]:
    """`python -m harvestgpu server` on a free port, as a user starts it."""
    data_dir = tmp_path_factory.mktemp("browser-server")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HARVESTGPU_MOCK_JOB_SECONDS": "30",
        "HARVESTGPU_MOCK_BOOT_SECONDS": "0.5",
        "HARVESTGPU_MONITOR_INTERVAL_S": "0.2",
        "HARVESTGPU_RUNPOD_API_URL": runpod_url,
        "HARVESTGPU_WEBHOOK_ALLOW_PRIVATE": "true",
        # Limits stay on as users get them, but every test signs a new user up from 127.0.0.1.
        "HARVESTGPU_RATE_LIMIT_ENABLED": "true",
        "HARVESTGPU_REGISTER_RATE_LIMIT": "1000/minute",
        "HARVESTGPU_LOG_LEVEL": "info",  # request lines too: a key must not show up in any of them
    }
    with server_log.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harvestgpu",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir / "data"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited: {server_log.read_text(errors='replace')[-3000:]}")
            try:
                return httpx.get(base_url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for_sync(healthy, timeout=30, what=f"server on {base_url}")
            yield base_url
        finally:
            stop_process(process)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    if SYSTEM_CHROMIUM.exists():
        executable: str | None = str(SYSTEM_CHROMIUM)
    elif not os.environ.get("CI") and Path(playwright.chromium.executable_path).exists():
        executable = None  # a developer's `playwright install chromium`; CI must test the system one
    else:
        _unavailable(f"{SYSTEM_CHROMIUM} is missing: install Debian's `chromium` package")
    browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def new_context(chromium: Browser, server_url: str, viewport: ViewportSize = DESKTOP) -> BrowserContext:
    context = chromium.new_context(base_url=server_url, viewport=viewport)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def context(chromium: Browser, server_url: str) -> Iterator[BrowserContext]:
    ctx = new_context(chromium, server_url)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
