"""The pricing matrix: GPU rows x provider columns, cheapest per row highlighted, GPU filter."""

from __future__ import annotations

import re

from tests.conftest import Api
from tests.server.web.helpers import browser, field_errors


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


async def test_members_see_their_connected_accounts_state(api: Api) -> None:
    async with browser(api) as member:
        await member.sign_up("prices@example.com")
        page = (await member.get("/pricing")).text
        assert "across your connected accounts" in page
        assert re.search(r'class="state-not_connected"[^>]*>\s*<strong>runpod</strong>', page)
