"""Usage, spend limit and webhook calls over scripted HTTP: what is sent, parsed, paged and retried."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from harvestgpu import APIConnectionError, APIError, AsyncHarvestGPU, HarvestGPU
from tests.sdk.scripted import API_KEY, Script, fail, ok

MakeClient = Callable[..., HarvestGPU]
MakeAsyncClient = Callable[..., AsyncHarvestGPU]

TOTALS = {"hours": 4.0, "gpu_hours": 8.0, "cost": 9.0, "jobs": 2}
USAGE = {
    "period": "2026-04",
    "start": "2026-04-01T00:00:00Z",
    "end": "2026-05-01T00:00:00Z",
    "as_of": "2026-04-02T06:00:00Z",
    "total_cost": 11.0,
    "hours": 5.0,
    "gpu_hours": 6.0,
    "jobs": 3,
    "running_jobs": 1,
    "monthly_limit": 50.0,
    "remaining": 39.0,
    "daily": [
        {"date": "2026-04-01", "hours": 2.5, "gpu_hours": 3.0, "cost": 7.0, "jobs": 2},
        {"date": "2026-04-02", "hours": 2.5, "gpu_hours": 3.0, "cost": 4.0, "jobs": 1},
    ],
    "by_provider": [{"provider": "mock", **TOTALS}],
    "by_gpu": [{"gpu_type": "H100-PCIE", **TOTALS}],
}
WEBHOOK = {
    "id": "wh-1",
    "url": "https://my-app.example/hook",
    "events": ["job.completed", "job.failed"],
    "created_at": "2026-04-14T12:00:00Z",
}
SECRET = "whsec_unit_test_signing_secret_0123456789"


def delivery_json(delivery_id: str = "dl-1", status: str = "delivered", **fields: Any) -> dict[str, Any]:
    delivery: dict[str, Any] = {
        "id": delivery_id,
        "event_id": "evt_1",
        "event": "job.completed",
        "status": status,
        "attempts": 1,
        "response_status": 200,
        "last_error": None,
        "created_at": "2026-04-14T12:00:00Z",
        "last_attempt_at": "2026-04-14T12:00:01Z",
        "next_attempt_at": None,
        "delivered_at": "2026-04-14T12:00:01Z",
        "payload": {"event": "job.completed", "job_id": "job-1", "total_cost": 3.45},
    }
    delivery.update(fields)
    return delivery


def record_json(n: int) -> dict[str, Any]:
    return {
        "id": f"rec-{n:03d}",
        "job_id": f"job-{n:03d}",
        "status": "completed",
        "provider": "mock",
        "gpu_type": "H100-PCIE",
        "gpu_count": 1,
        "cost_per_hour": 2.39,
        "started_at": "2026-04-01T10:00:00Z",
        "ended_at": "2026-04-01T11:00:00Z",
        "hours": 1.0,
        "cost": 2.39,
    }


class HistoryServer:
    """``GET /billing/history`` over ``total`` records, honouring limit/offset; notes each page asked for."""

    def __init__(self, total: int) -> None:
        self.records = [record_json(n) for n in range(total, 0, -1)]
        self.pages: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/billing/history"
        limit, offset = request.url.params["limit"], request.url.params["offset"]
        self.pages.append((limit, offset))
        page = self.records[int(offset) : int(offset) + int(limit)]
        months = [{"period": "2026-04", **TOTALS}]
        return ok(
            {"records": page, "total": len(self.records), "limit": limit, "offset": offset, "months": months}
        )


def test_usage_is_parsed_into_typed_totals_days_and_splits(make_client: MakeClient) -> None:
    script = Script(ok(USAGE))

    usage = make_client(script).usage()

    assert (script.requests[0].method, script.requests[0].url.path) == ("GET", "/api/v1/billing/usage")
    assert script.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert (usage.total_cost, usage.monthly_limit, usage.remaining, usage.running_jobs) == (
        11.0,
        50.0,
        39.0,
        1,
    )
    assert [day.date for day in usage.daily] == [date(2026, 4, 1), date(2026, 4, 2)]
    assert (usage.by_provider[0].provider, usage.by_provider[0].gpu_hours) == ("mock", 8.0)
    assert usage.by_gpu[0].gpu_type == "H100-PCIE"


def test_usage_history_pages_lazily_and_keeps_the_month_totals(make_client: MakeClient) -> None:
    server = HistoryServer(total=250)
    history = make_client(server).usage_history()

    assert server.pages == []
    assert (history.total, history.months) == (None, None)
    first = next(history)
    assert server.pages == [("100", "0")]
    rest = list(history)

    assert [r.id for r in [first, *rest]] == [f"rec-{n:03d}" for n in range(250, 0, -1)]
    assert server.pages == [("100", "0"), ("100", "100"), ("100", "200")]
    assert history.total == 250
    assert history.months is not None and history.months[0].period == "2026-04"


def test_usage_history_limit_shrinks_the_last_page(make_client: MakeClient) -> None:
    server = HistoryServer(total=250)

    records = list(make_client(server).usage_history(limit=120))

    assert len(records) == 120
    assert server.pages == [("100", "0"), ("20", "100")]


def test_setting_no_limit_sends_an_explicit_null(make_client: MakeClient) -> None:
    answer = {"monthly_limit": None, "period": "2026-04", "spent": 1.5, "remaining": None}
    script = Script(ok({**answer, "monthly_limit": 20.0, "remaining": 18.5}), ok(answer), ok(answer))
    client = make_client(script)

    set_to = client.set_billing_limit(20)
    cleared = client.set_billing_limit(None)
    shown = client.billing_limit()

    puts = script.requests[:2]
    assert [(r.method, r.url.path) for r in puts] == [("PUT", "/api/v1/billing/limit")] * 2
    assert [json.loads(r.content) for r in puts] == [{"monthly_limit": 20.0}, {"monthly_limit": None}]
    assert (set_to.monthly_limit, set_to.remaining) == (20.0, 18.5)
    assert cleared.monthly_limit is None
    assert (script.requests[2].method, shown.spent) == ("GET", 1.5)


@pytest.mark.parametrize(
    ("events", "sent"),
    [
        (None, {"url": WEBHOOK["url"]}),
        ("job.completed,job.failed", {"url": WEBHOOK["url"], "events": "job.completed,job.failed"}),
        (("job.completed", "job.failed"), {"url": WEBHOOK["url"], "events": ["job.completed", "job.failed"]}),
    ],
    ids=["all-events", "comma-string", "sequence"],
)
def test_create_webhook_sends_the_documented_body(
    make_client: MakeClient, events: Any, sent: dict[str, Any]
) -> None:
    script = Script(ok({**WEBHOOK, "secret": SECRET}, 201))

    created = make_client(script).webhooks.create(str(WEBHOOK["url"]), events=events)

    request = script.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v1/webhooks")
    assert json.loads(request.content) == sent
    assert created.secret == SECRET
    assert SECRET not in repr(created) + str(created)


def test_list_delete_deliveries_and_resend_call_their_routes(make_client: MakeClient) -> None:
    script = Script(
        ok({"webhooks": [WEBHOOK]}),
        ok({"deliveries": [delivery_json()], "total": 1, "limit": 100, "offset": 0}),
        ok(delivery_json("dl-2", status="pending", attempts=0, response_status=None, delivered_at=None), 201),
        ok({"id": "wh/1", "deleted": True}),
    )
    client = make_client(script)

    listed = client.webhooks.list()
    deliveries = list(client.webhooks.deliveries("wh/1"))
    resent = client.webhooks.resend("wh/1", "dl-1")
    client.webhooks.delete("wh/1")

    assert [(r.method, r.url.raw_path.decode()) for r in script.requests] == [
        ("GET", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks/wh%2F1/deliveries?limit=100&offset=0"),
        ("POST", "/api/v1/webhooks/wh%2F1/deliveries/dl-1/resend"),
        ("DELETE", "/api/v1/webhooks/wh%2F1"),
    ]
    assert [(w.id, w.events) for w in listed] == [("wh-1", ["job.completed", "job.failed"])]
    assert [(d.status, d.response_status, d.payload["total_cost"]) for d in deliveries] == [
        ("delivered", 200, 3.45)
    ]
    assert (resent.id, resent.status, resent.event_id) == ("dl-2", "pending", "evt_1")


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.webhooks.create("https://my-app.example/hook"),
        lambda client: client.webhooks.resend("wh-1", "dl-1"),
    ],
    ids=["create", "resend"],
)
def test_calls_that_would_create_twice_are_not_resent_after_a_502(
    make_client: MakeClient, call: Callable[[HarvestGPU], Any]
) -> None:
    script = Script(fail(502, "Bad gateway"))

    with pytest.raises(APIError) as caught:
        call(make_client(script))

    assert caught.value.status == 502
    assert len(script.requests) == 1


def test_reads_and_the_limit_upsert_are_retried_after_a_dropped_connection(make_client: MakeClient) -> None:
    limit = {"monthly_limit": 5.0, "period": "2026-04", "spent": 0.0, "remaining": 5.0}
    script = Script(
        httpx.ReadError("connection reset"),
        ok({"webhooks": []}),
        httpx.ReadError("connection reset"),
        ok(limit),
    )
    client = make_client(script)

    assert client.webhooks.list() == []
    assert client.set_billing_limit(5).monthly_limit == 5.0
    assert len(script.requests) == 4


def test_a_failure_never_shows_the_api_key(make_client: MakeClient) -> None:
    script = Script(*[httpx.ConnectError(f"refused while sending {API_KEY}")] * 3)

    with pytest.raises(APIConnectionError) as caught:
        make_client(script).usage()

    assert API_KEY not in str(caught.value) + repr(caught.value)


def test_an_answer_of_the_wrong_shape_names_the_call(make_client: MakeClient) -> None:
    script = Script(ok({"period": "2026-04"}))

    with pytest.raises(APIError, match="GET /api/v1/billing/usage"):
        make_client(script).usage()


async def test_async_twins_page_and_call_the_same_routes(make_async_client: MakeAsyncClient) -> None:
    history_server = HistoryServer(total=150)
    deliveries_page = ok({"deliveries": [delivery_json()], "total": 1, "limit": 100, "offset": 0})
    script = Script(ok(USAGE), ok({**WEBHOOK, "secret": SECRET}, 201), deliveries_page)

    def handler(request: httpx.Request) -> httpx.Response:
        return history_server(request) if request.url.path.endswith("/history") else script(request)

    client = make_async_client(handler)
    usage = await client.usage()
    history = client.usage_history(limit=130)
    records = [record async for record in history]
    created = await client.webhooks.create(str(WEBHOOK["url"]), events=["job.completed"])
    deliveries = [d async for d in client.webhooks.deliveries(created.id)]

    assert usage.daily[0].date == date(2026, 4, 1)
    assert (len(records), history.total) == (130, 150)
    assert history.months is not None and history.months[0].jobs == 2
    assert history_server.pages == [("100", "0"), ("30", "100")]
    assert json.loads(script.requests[1].content)["events"] == ["job.completed"]
    assert [d.id for d in deliveries] == ["dl-1"]
