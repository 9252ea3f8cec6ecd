from __future__ import annotations

from tests.conftest import Api
from tests.support import data, error


async def test_unknown_route_and_wrong_method_use_the_envelope(api: Api) -> None:
    assert error(await api.client.get("/api/v1/nope"), 404)
    assert error(await api.client.delete("/api/v1/pricing"), 405)


async def test_oversized_body_is_refused(api: Api) -> None:
    big = b'{"email": "' + b"a" * 2_000_000 + b'"}'
    error(
        await api.client.post(
            "/api/v1/auth/register", content=big, headers={"Content-Type": "application/json"}
        ),
        413,
    )


async def test_health_ready_openapi_docs(api: Api) -> None:
    assert data(await api.client.get("/healthz"))["alive"] is True
    assert data(await api.client.get("/readyz"))["ready"] is True
    spec = (await api.client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/jobs" in spec["paths"] and "/api/v1/pricing" in spec["paths"]
    assert (await api.client.get("/docs")).status_code == 200


async def test_request_id_is_echoed_when_sane(api: Api) -> None:
    r = await api.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await api.client.get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert r.headers["x-request-id"] != "bad id\twith junk"
