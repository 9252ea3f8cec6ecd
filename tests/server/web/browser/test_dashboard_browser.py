"""A user in headless Chromium against the real server process."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.server.web.browser.conftest import PHONE, RUNPOD_KEY, new_context, screenshot

pytestmark = pytest.mark.browser
PASSWORD = "correct-horse-battery"


def unique_email(who: str) -> str:
    return f"{who}-{secrets.token_hex(4)}@example.com"


def sign_up(page: Page, email: str) -> str:
    """Register through the form; returns the API key the page shows once."""
    page.goto("/register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name=f"Welcome, {email}")).to_be_visible()
    return page.get_by_label("Your API key").input_value()


def submit_job(page: Page, gpu: str = "H100", command: str = "python train.py") -> str:
    page.goto("/dashboard")
    page.get_by_label("GPU", exact=True).fill(gpu)
    page.get_by_label("Command").fill(command)
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_text("Job submitted.")).to_be_visible()
    match = re.search(r"/jobs/(\w+)", page.url)
    assert match, page.url
    return match.group(1)


def test_register_see_key_submit_watch_and_stop_a_job(context: BrowserContext, page: Page) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    email = unique_email("flow")
    page.goto("/register")
    screenshot(page, "register")
    api_key = sign_up(page, email)
    assert api_key.startswith("hg_live_")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == api_key
    screenshot(page, "api-key-once")

    page.get_by_role("link", name="Continue to your dashboard").click()
    expect(page.get_by_text("No jobs yet.")).to_be_visible()
    screenshot(page, "dashboard-empty")
    assert api_key not in page.content()

    job_id = submit_job(page)
    page.evaluate("window.stillTheSamePage = true")
    expect(page.locator("#job-summary .badge")).to_have_text("running", timeout=20_000)
    expect(page.locator("#log-lines .log-line").first).to_be_visible(timeout=20_000)
    assert page.evaluate("window.stillTheSamePage") is True, "the page reloaded instead of updating"
    expect(page.get_by_text("Placed on offer #1")).to_be_visible()
    screenshot(page, "job-running")

    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Stop job").click()
    expect(page.locator("#job-summary .badge")).to_have_text("running")
    assert dialogs and dialogs[0].startswith(f"Stop job {job_id}?")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop job").click()
    expect(page.get_by_text("Job stopped.")).to_be_visible()
    expect(page.locator("#job-summary .badge")).to_have_text("stopped")
    expect(page.get_by_role("button", name="Stop job")).to_have_count(0)
    screenshot(page, "job-stopped")

    page.goto("/dashboard")
    expect(page.locator(f'tr[data-job-id="{job_id}"] .badge')).to_have_text("stopped")

    page.goto("/settings#usage")
    today = page.evaluate("new Date().toISOString().slice(0, 10)")
    bar = page.locator(f'svg.chart rect.chart-bar[data-date="{today}"]')
    assert float(bar.get_attribute("height") or 0) > 0
    expect(page.locator(f'tr[data-day="{today}"]')).to_have_count(1)
    screenshot(page, "settings-usage")


def test_the_jobs_table_updates_without_reloading(page: Page) -> None:
    sign_up(page, unique_email("live"))
    job_id = submit_job(page, gpu="A100-80GB")
    page.goto("/dashboard")
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row).to_be_visible()
    page.evaluate("window.stillTheSamePage = true; document.getElementById('jobs').dataset.first = 'yes'")
    expect(row.locator(".badge")).to_have_text("running", timeout=20_000)
    expect(row).to_contain_text("mock")
    expect(row).to_contain_text("A100-80GB-PCIE")
    expect(row).to_contain_text("$1.64/h")
    first_cost = row.locator("td.num").nth(1).inner_text()
    expect(row.locator("td.num").nth(1)).not_to_have_text(first_cost, timeout=20_000)
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.evaluate("document.getElementById('jobs').dataset.first") is None, "table was not swapped"
    screenshot(page, "dashboard")


def test_adding_a_provider_key_shows_only_its_last_4(page: Page, server_log: Path) -> None:
    sign_up(page, unique_email("keys"))
    page.goto("/settings")
    expect(page.get_by_text("No provider keys yet.")).to_be_visible()
    page.get_by_label("Provider", exact=True).select_option("runpod")
    page.get_by_label("API key", exact=True).fill(RUNPOD_KEY)
    page.get_by_label("Label (optional)").fill("Lab account")
    page.get_by_role("button", name="Save key").click()
    row = page.locator('tr[data-provider="runpod"]')
    expect(row.locator('[data-field="last4"]')).to_have_text("••••" + RUNPOD_KEY[-4:])
    assert RUNPOD_KEY not in page.content() and RUNPOD_KEY[:-4] not in page.content()

    row.get_by_role("button", name="Test").click()
    expect(row.locator('[data-field="test"]')).to_contain_text("valid")
    screenshot(page, "settings")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("Provider key removed.")).to_be_visible()
    expect(page.locator('tr[data-provider="runpod"]')).to_have_count(0)
    log = server_log.read_text(errors="replace")
    assert "POST /settings/provider-keys/runpod/test" in log and RUNPOD_KEY[:-4] not in log


def test_a_webhook_shows_its_secret_once_and_lists_deliveries(page: Page) -> None:
    sign_up(page, unique_email("hooks"))
    page.goto("/settings#webhooks")
    page.get_by_label("URL", exact=True).fill("http://127.0.0.1:9/hook")
    page.get_by_label("job.failed").uncheck()
    page.get_by_role("button", name="Add webhook").click()
    secret = page.get_by_label("Webhook signing secret").input_value()
    assert secret.startswith("whsec_")
    row = page.locator("tr[data-webhook-id]")
    expect(row).to_contain_text("job.completed, job.stopped")
    screenshot(page, "settings-webhooks")
    row.get_by_role("link", name="Deliveries").click()
    expect(page.get_by_text("No deliveries yet.")).to_be_visible()
    page.goto("/settings")
    assert secret not in page.content()


def test_a_wrong_password_shows_an_error_next_to_the_field(page: Page) -> None:
    email = unique_email("login")
    sign_up(page, email)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not-my-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#password-error")).to_have_text("Invalid email or password.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "login-error")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_one_user_never_sees_another_users_jobs(chromium: Browser, server_url: str) -> None:
    alice_context = new_context(chromium, server_url)
    bob_context = new_context(chromium, server_url)
    try:
        alice, bob = alice_context.new_page(), bob_context.new_page()
        sign_up(alice, unique_email("alice"))
        alices_job = submit_job(alice)
        sign_up(bob, unique_email("bob"))
        bob.goto("/dashboard")
        expect(bob.get_by_text("No jobs yet.")).to_be_visible()
        assert alices_job not in bob.content()
        response = bob.goto(f"/jobs/{alices_job}")
        assert response is not None and response.status == 404
        expect(bob.get_by_role("heading", name="Not found")).to_be_visible()
        alice.goto("/dashboard")
        expect(alice.locator(f'tr[data-job-id="{alices_job}"]')).to_be_visible()
    finally:
        alice_context.close()
        bob_context.close()


def test_form_posts_without_the_csrf_token_are_refused(page: Page) -> None:
    sign_up(page, unique_email("csrf"))
    page.goto("/dashboard")
    page.get_by_label("GPU", exact=True).fill("T4")
    page.evaluate("document.querySelector('.job-form input[name=csrf_token]').remove()")
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()

    forged = page.request.post("/settings/api-keys", form={"name": "forged"})
    assert forged.status == 403
    page.goto("/dashboard")
    expect(page.get_by_text("No jobs yet.")).to_be_visible()
    page.goto("/settings")
    expect(page.get_by_role("cell", name="forged")).to_have_count(0)


def test_form_errors_appear_next_to_the_fields(page: Page) -> None:
    page.goto("/register")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#email-error")).to_have_text("Enter a valid email address.")
    expect(page.locator("#password-error")).to_have_text("Must be at least 8 characters.")

    sign_up(page, unique_email("errors"))
    page.goto("/dashboard")
    page.get_by_label("GPU", exact=True).fill("banana")
    page.get_by_label("Max $/hour (optional)").fill("lots")
    page.get_by_role("button", name="Submit job").click()
    expect(page.locator("#gpu-error")).to_contain_text("Unknown GPU 'banana'")
    expect(page.locator("#budget_max_per_hour-error")).to_have_text("Enter a number.")
    expect(page.get_by_label("Max $/hour (optional)")).to_have_value("lots")
    screenshot(page, "dashboard-form-errors")


def test_the_pricing_matrix_filters_by_gpu_in_place(page: Page) -> None:
    page.goto("/pricing")
    expect(page.locator('tr[data-gpu="T4"]')).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("GPU", exact=True).select_option("H100")
    expect(page.locator('tr[data-gpu="T4"]')).to_have_count(0)
    expect(page.locator("tr[data-gpu]")).to_have_count(3)
    expect(page.locator('tr[data-gpu="H100-PCIE"] td.best')).to_contain_text("$2.39/h")
    assert page.evaluate("window.stillTheSamePage") is True
    assert "gpu=H100" in page.url, "the filter is not in the address"
    page.reload()
    expect(page.locator("tr[data-gpu]")).to_have_count(3)
    expect(page.get_by_label("GPU", exact=True)).to_have_value("H100")
    screenshot(page, "pricing")


def test_pages_fit_a_phone_screen(chromium: Browser, server_url: str) -> None:
    context = new_context(chromium, server_url, viewport=PHONE)
    try:
        page = context.new_page()
        sign_up(page, unique_email("phone"))
        job_id = submit_job(page)
        for path, name in (
            ("/dashboard", "phone-dashboard"),
            (f"/jobs/{job_id}", "phone-job"),
            ("/pricing?gpu=A100", "phone-pricing"),
            ("/settings", "phone-settings"),
        ):
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
            screenshot(page, name)
    finally:
        context.close()


def _fits_the_phone(page: Page, button_names: tuple[str, ...]) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px on a phone"
    for name in button_names:
        button = page.get_by_role("button", name=name).first
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{name} is off-screen"


def test_long_key_names_and_webhook_urls_fit_a_phone_screen(chromium: Browser, server_url: str) -> None:
    context = new_context(chromium, server_url, viewport=PHONE)
    try:
        page = context.new_page()
        sign_up(page, unique_email("longnames"))
        page.goto("/settings#api-keys")
        page.get_by_label("New key name").fill("k" * 100)
        page.get_by_role("button", name="Create key").click()
        expect(page.get_by_label("New API key")).to_be_visible()
        long_url = "http://127.0.0.1:9/" + "hooks-" * 30 + "end?token=" + "x" * 60
        page.get_by_label("URL", exact=True).fill(long_url)
        page.get_by_role("button", name="Add webhook").click()
        expect(page.get_by_label("Webhook signing secret")).to_be_visible()
        assert page.url.endswith("/settings#webhooks"), "the address bar still shows the form's action"
        page.goto("/settings")
        _fits_the_phone(page, ("Revoke", "Delete"))
        screenshot(page, "phone-settings-long-names")

        job_id = submit_job(page)
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Stop job").click()
        expect(page.get_by_text("Job stopped.")).to_be_visible()
        page.goto("/settings")
        page.locator("tr[data-webhook-id]").get_by_role("link", name="Deliveries").click()
        expect(page.locator("tr[data-delivery-id]")).to_have_count(1, timeout=20_000)
        expect(page.get_by_text(job_id).first).to_be_attached()
        _fits_the_phone(page, ())
        payload = page.get_by_text("Payload").first
        payload.scroll_into_view_if_needed()
        box = payload.bounding_box()
        assert box and box["x"] + box["width"] <= PHONE["width"], "Payload is off-screen"
        screenshot(page, "phone-deliveries-long-url")
    finally:
        context.close()
