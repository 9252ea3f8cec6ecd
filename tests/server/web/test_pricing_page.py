"""The pricing matrix: GPU rows x provider columns, cheapest per row highlighted, GPU filter."""

from __future__ import annotations

import re

from tests.conftest import Api
from tests.server.web.helpers import browser, csrf_token, field_errors


def _rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-gpu="([^"]+)">(.*?)</tr>', page, re.S))


def _best(row: str) -> str:
    match = re.search(r'<td class="num best">\s*(\$[\d.,]+/h)', row)
    assert match, "no highlighted price in the row"
    return match.group(1)


async def test_the_matrix_filters_by_gpu_and_highlights_the_cheapest_offer(api: Api) -> None:
    async with browser(api) as visitor:
        everything = _rows((await visitor.get("/pricing")).text)
        assert {"H100-SXM", "A100-80GB-SXM", "T4"} <= set(everything)
        h100 = _rows((await visitor.get("/pricing?gpu=H100")).text)
        assert set(h100) == {"H100-SXM", "H100-NVL", "H100-PCIE"}
        assert _best(h100["H100-SXM"]) == "$2.86/h" and _best(h100["H100-PCIE"]) == "$2.39/h"
        fragment = (await visitor.get("/pricing/matrix?gpu=H100-SXM&count=2")).text
        assert fragment.startswith('<div id="pricing-matrix"') and "<html" not in fragment
        assert _best(_rows(fragment)["H100-SXM"]) == "$5.72/h"


async def test_an_unknown_gpu_is_explained_next_to_the_filter(api: Api) -> None:
    async with browser(api) as visitor:
        response = await visitor.get("/pricing?gpu=banana")
        assert response.status_code == 400
        assert field_errors(response.text)["gpu"].startswith("Unknown GPU 'banana'")
        assert "No offers match banana" in response.text
        assert response.text.count("Unknown GPU") == 1, "the message is shown once, next to the field"
        # The matrix's own refresh does not repeat it either.
        assert "Unknown GPU" not in (await visitor.get("/pricing/matrix?gpu=banana")).text


async def test_the_gpu_filter_is_kept_in_the_address(api: Api) -> None:
    async with browser(api) as visitor:
        page = (await visitor.get("/pricing?gpu=H100&count=2")).text
        form = re.search(r'<form method="get" action="/pricing"[^>]*>', page)
        assert form, "no plain GET filter form"
        # The in-place filter asks for the page itself and pushes its address (?gpu=...&count=...).
        assert 'hx-get="/pricing"' in form.group(0) and 'hx-push-url="true"' in form.group(0)
        assert 'hx-select="#pricing-matrix"' in form.group(0)
        assert '<option value="H100" selected>' in page and '<option value="2" selected>' in page


async def test_bad_values_in_a_page_address_answer_with_a_page(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("badquery@example.com")
        hook = await member.client.post(
            "/settings/webhooks",
            data={
                "csrf_token": csrf_token((await member.get("/settings")).text),
                "url": "https://hooks.example.com/x",
                "events": ["job.completed"],
            },
        )
        assert hook.status_code == 200, hook.text
        hook_id = re.search(r'href="/settings/webhooks/(\w+)"', hook.text)
        assert hook_id
        for path in (
            "/pricing?count=99",
            "/pricing?count=abc",
            "/pricing?gpu=" + "X" * 80,
            "/dashboard?offset=-1",
            f"/settings/webhooks/{hook_id.group(1)}?offset=-5",
        ):
            response = await member.get(path)
            assert response.status_code == 400, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert "Invalid address" in response.text and "error" not in response.text[:1], path
            assert f'href="{path.partition("?")[0]}">Show this page with its defaults' in response.text
        assert "Must be at most 16." in (await member.get("/pricing?count=99")).text
        # The API keeps its JSON envelope.
        api_answer = await member.client.get("/api/v1/jobs?offset=-1", headers=member.api_headers)
        assert api_answer.status_code in (400, 422)
        assert api_answer.headers["content-type"].startswith("application/json")


async def test_members_see_their_connected_accounts_state(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("prices@example.com")
        page = (await member.get("/pricing")).text
        assert "across your connected accounts" in page
        assert re.search(r'class="state-not_connected"[^>]*>\s*<strong>runpod</strong>', page)
