from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.fakes.http_server import serve_app
from tests.fakes.runpod import FakeRunPodCloud
from tests.fakes.tensordock import FakeTensorDockCloud
from tests.support import data, error

PRICE_FIELDS = {"gpu_model", "price", "provider", "gpu_count", "region", "available", "observed_at"}


async def test_providers_lists_all_five_without_auth(api: Api) -> None:
    providers = data(await api.client.get("/api/v1/providers"))["providers"]
    assert [p["slug"] for p in providers] == ["mock", "runpod", "lambda", "vastai", "tensordock"]
    by_slug = {p["slug"]: p for p in providers}
    assert by_slug["mock"]["available"] is True and "H100-SXM" in by_slug["mock"]["gpus"]
    assert by_slug["runpod"]["key_url"].startswith("https://") and "runpod.io" in by_slug["runpod"]["key_url"]
    for slug in ("runpod", "lambda", "vastai", "tensordock"):
        assert by_slug[slug]["connected"] is False and by_slug[slug]["gpus"] == []


async def test_pricing_without_auth_shows_only_the_mock(api: Api) -> None:
    d = data(await api.client.get("/api/v1/pricing"))
    assert d["pricing"] and {p["provider"] for p in d["pricing"]} == {"mock"}
    assert PRICE_FIELDS <= set(d["pricing"][0])
    states = {s["provider"]: s["state"] for s in d["providers"]}
    assert states == {
        "mock": "ok",
        "runpod": "not_connected",
        "lambda": "not_connected",
        "vastai": "not_connected",
        "tensordock": "not_connected",
    }
    sxm = [p for p in d["pricing"] if p["gpu_model"] == "H100-SXM" and p["gpu_count"] == 1]
    assert min(p["price"] for p in sxm) == 2.86


async def test_pricing_gpu_filter(api: Api) -> None:
    d = data(await api.client.get("/api/v1/pricing?gpu=H100"))
    assert {p["gpu_model"] for p in d["pricing"]} == {"H100-SXM", "H100-PCIE", "H100-NVL"}
    assert min(p["price"] for p in d["pricing"]) < 2.50
    assert "Known GPUs" in error(await api.client.get("/api/v1/pricing?gpu=banana"), 400)


async def test_provider_gpus(api: Api) -> None:
    mock = data(await api.client.get("/api/v1/providers/mock/gpus"))
    assert mock["connected"] is True and any(g["gpu_model"] == "L40S" for g in mock["gpus"])
    runpod = data(await api.client.get("/api/v1/providers/runpod/gpus"))
    assert runpod == {"provider": "runpod", "connected": False, "gpus": [], "error": None}
    error(await api.client.get("/api/v1/providers/aws/gpus"), 404)


async def test_pricing_with_bad_credentials_is_401(api: Api) -> None:
    error(await api.client.get("/api/v1/pricing", headers={"Authorization": "Bearer hg_live_nope"}), 401)


async def test_providers_says_which_connected_clouds_can_take_jobs(api_factory: Any) -> None:
    """A connected cloud whose key is refused is connected but not available, with the reason."""
    good, refused = FakeRunPodCloud(), FakeTensorDockCloud()
    with serve_app(good.app()) as good_url, serve_app(refused.app()) as refused_url:
        async with api_factory(runpod_api_url=good_url, tensordock_api_url=refused_url) as api:
            user = await api.register()
            for body in (
                {"provider": "runpod", "api_key": good.api_key},
                {"provider": "tensordock", "api_key": "not-the-right-key-1234"},
            ):
                data(await api.client.post("/api/v1/providers/keys", headers=user["headers"], json=body))
            providers = data(await api.client.get("/api/v1/providers", headers=user["headers"]))["providers"]
            by_slug = {p["slug"]: p for p in providers}
            assert by_slug["runpod"]["connected"] and by_slug["runpod"]["available"]
            assert by_slug["runpod"]["state"] == "ok" and "H100-SXM" in by_slug["runpod"]["gpus"]
            td = by_slug["tensordock"]
            assert td["connected"] is True and td["available"] is False and td["state"] == "error"
            assert td["error"] and "not-the-right-key" not in td["error"]
            assert by_slug["lambda"]["connected"] is False and by_slug["lambda"]["state"] == "not_connected"
