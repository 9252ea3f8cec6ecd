"""Routing: who is eligible, in what order, and what the user is told when nothing is."""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvestgpu.gpus import BY_KEY, GpuSelector, parse
from harvestgpu.providers.types import Offer
from harvestgpu.routing import (
    REJECTION_CODES,
    Candidate,
    ProviderStats,
    Rejection,
    RouteRequest,
    RoutingResult,
    route,
)


def sel(name: str) -> GpuSelector:
    selector = parse(name)
    assert selector is not None, name
    return selector


_ids = iter(range(1_000_000))


def offer(**fields: Any) -> Offer:
    defaults: dict[str, Any] = dict(
        provider="mock",
        offer_id=f"o{next(_ids)}",
        gpu_model="H100-SXM",
        gpu_count=1,
        vram_gb=80,
        price_per_hour=2.86,
        region="us-east",
    )
    return Offer(**(defaults | fields))


def ids(offers: list[Offer] | list[Candidate]) -> list[str]:
    return [o.offer.offer_id if isinstance(o, Candidate) else o.offer_id for o in offers]


def rejection_of(result: RoutingResult, offer_id: str) -> Rejection:
    (found,) = [r for r in result.rejections if r.offer.offer_id == offer_id]
    return found


# --- eligibility ----------------------------------------------------------------------------------


def test_only_the_requested_variants_are_eligible() -> None:
    offers = [
        offer(offer_id="sxm", gpu_model="H100-SXM"),
        offer(offer_id="pcie", gpu_model="H100-PCIE"),
        offer(offer_id="a100", gpu_model="A100-80GB-SXM"),
    ]
    any_h100 = route(RouteRequest(sel("H100")), offers)
    assert sorted(ids(any_h100.candidates)) == ["pcie", "sxm"]
    assert rejection_of(any_h100, "a100").code == "gpu_mismatch"
    assert rejection_of(any_h100, "a100").reason == "A100-80GB-SXM does not match H100"

    sxm_only = route(RouteRequest(sel("h100-sxm")), offers)
    assert ids(sxm_only.candidates) == ["sxm"]
    assert {r.offer.offer_id: r.code for r in sxm_only.rejections} == {
        "pcie": "gpu_mismatch",
        "a100": "gpu_mismatch",
    }


def test_provider_restriction_keeps_only_that_provider() -> None:
    offers = [
        offer(offer_id="cheap-runpod", provider="runpod", price_per_hour=1.99),
        offer(offer_id="lambda-1", provider="lambda", price_per_hour=2.49),
        offer(offer_id="lambda-2", provider="lambda", price_per_hour=2.99),
    ]
    result = route(RouteRequest(sel("H100"), provider="lambda"), offers)
    assert ids(result.candidates) == ["lambda-1", "lambda-2"]
    rejected = rejection_of(result, "cheap-runpod")
    assert (rejected.code, rejected.reason) == ("provider_mismatch", "offered by runpod, not lambda")


def test_multi_gpu_requests_match_the_count_exactly_and_the_cap_covers_the_whole_instance() -> None:
    offers = [
        offer(offer_id="1x", gpu_count=1, price_per_hour=2.0),
        offer(offer_id="4x", gpu_count=4, price_per_hour=8.0),
        offer(offer_id="8x", gpu_count=8, price_per_hour=15.0),
    ]
    result = route(RouteRequest(sel("H100"), gpu_count=4, budget_max_per_hour=10.0), offers)
    assert ids(result.candidates) == ["4x"]
    assert rejection_of(result, "1x").reason == "has 1 GPU, 4 requested"
    assert rejection_of(result, "8x").reason == "has 8 GPUs, 4 requested"
    assert ids(route(RouteRequest(sel("H100"), gpu_count=4), offers).candidates) == ["4x"]


def test_budget_is_a_cap_an_offer_at_exactly_the_cap_fits() -> None:
    offers = [offer(offer_id="at", price_per_hour=2.5), offer(offer_id="over", price_per_hour=2.86)]
    result = route(RouteRequest(sel("H100"), budget_max_per_hour=2.5), offers)
    assert ids(result.candidates) == ["at"]
    assert rejection_of(result, "over").reason == "$2.86/h is over the $2.50/h cap"


def test_budget_text_keeps_the_digits_that_make_the_difference() -> None:
    result = route(RouteRequest(sel("H100"), budget_max_per_hour=2.5), [offer(price_per_hour=2.505)])
    assert result.rejections[0].reason == "$2.505/h is over the $2.50/h cap"


def test_sold_out_offers_are_unavailable() -> None:
    offers = [offer(offer_id="gone", available=False, provider="vastai", region="SE"), offer(offer_id="ok")]
    result = route(RouteRequest(sel("H100")), offers)
    assert ids(result.candidates) == ["ok"]
    gone = rejection_of(result, "gone")
    assert (gone.code, gone.reason) == ("unavailable", "no capacity at vastai in SE right now")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"gpu_model": "RTX-4090", "provider": "runpod", "gpu_count": 1, "available": False}, "gpu_mismatch"),
        ({"provider": "runpod", "gpu_count": 1, "price_per_hour": 99.0}, "provider_mismatch"),
        ({"gpu_count": 1, "price_per_hour": 99.0, "available": False}, "gpu_count_mismatch"),
        ({"price_per_hour": 99.0, "available": False}, "over_budget"),
    ],
)
def test_an_offer_is_rejected_for_the_first_check_it_fails(fields: dict[str, Any], code: str) -> None:
    request = RouteRequest(sel("H100"), gpu_count=2, budget_max_per_hour=20.0, provider="mock")
    result = route(request, [offer(**({"gpu_count": 2} | fields))])
    assert [r.code for r in result.rejections] == [code]
    assert result.candidates == []


# --- ordering -------------------------------------------------------------------------------------


def test_cost_ranks_cheapest_first_then_higher_availability_then_provider_and_id() -> None:
    offers = [
        offer(offer_id="b", provider="vastai", price_per_hour=2.0, availability=0.5),
        offer(offer_id="a", provider="vastai", price_per_hour=2.0, availability=0.5),
        offer(offer_id="z", provider="runpod", price_per_hour=2.0, availability=0.5),
        offer(offer_id="likely", provider="vastai", price_per_hour=2.0, availability=0.9),
        offer(offer_id="pricey", price_per_hour=3.0, availability=1.0),
        offer(offer_id="cheapest", price_per_hour=1.5, availability=0.1),
    ]
    result = route(RouteRequest(sel("H100"), priority="cost"), offers)
    assert ids(result.candidates) == ["cheapest", "likely", "z", "a", "b", "pricey"]
    assert [c.rank for c in result.candidates] == [1, 2, 3, 4, 5, 6]


def test_cost_reasons_say_what_puts_each_offer_where_it_is() -> None:
    offers = [
        offer(price_per_hour=2.86, provider="mock", region="us-east"),
        offer(price_per_hour=2.95, provider="runpod", region="US-TX-3"),
        offer(price_per_hour=2.86, provider="vastai", region="DE", availability=0.8),
    ]
    reasons = [c.reason for c in route(RouteRequest(sel("H100")), offers).candidates]
    assert reasons == [
        "cheapest eligible H100-SXM at $2.86/h (mock, us-east)",
        "H100-SXM at $2.86/h (vastai, DE), same price as #1, availability 0.80",
        "H100-SXM at $2.95/h (runpod, US-TX-3), +$0.09/h vs #1",
    ]


def test_speed_ranks_the_most_capable_variant_first_then_fastest_start_then_price() -> None:
    stats = {"runpod": ProviderStats(median_start_s=40), "vastai": ProviderStats(median_start_s=200)}
    offers = [
        offer(offer_id="pcie-cheap", gpu_model="H100-PCIE", provider="runpod", price_per_hour=1.5),
        offer(offer_id="sxm-slow-start", provider="vastai", price_per_hour=2.0),
        offer(offer_id="sxm-no-history", provider="mock", price_per_hour=2.5),
        offer(offer_id="sxm-fast-start", provider="runpod", price_per_hour=3.0),
        offer(offer_id="sxm-fast-start-cheaper", provider="runpod", price_per_hour=2.9),
    ]
    result = route(RouteRequest(sel("H100"), priority="speed"), offers, stats)
    # A provider without launch history sits between the known ones, not first or last.
    assert ids(result.candidates) == [
        "sxm-fast-start-cheaper",
        "sxm-fast-start",
        "sxm-no-history",
        "sxm-slow-start",
        "pcie-cheap",
    ]
    best, *_, last = result.candidates
    assert best.reason.startswith("fastest eligible variant H100-SXM (speed 1.00), starts in ~40 s, $2.90/h")
    assert last.reason.startswith("H100-PCIE (speed 0.80), starts in ~40 s")
    assert "start time unknown" in result.candidates[2].reason


def test_speed_lets_price_decide_between_equally_fast_offers() -> None:
    offers = [
        # A100 80GB PCIe and A100 40GB SXM have the same speed in the catalog.
        offer(offer_id="80gb-pcie", gpu_model="A100-80GB-PCIE", provider="runpod", price_per_hour=1.3),
        offer(offer_id="40gb-sxm", gpu_model="A100-40GB-SXM", provider="lambda", price_per_hour=1.1),
        # Neither provider has history: both get the same neutral start.
        offer(offer_id="tensordock", gpu_model="A100-80GB-PCIE", provider="tensordock", price_per_hour=1.2),
    ]
    result = route(RouteRequest(sel("A100"), priority="speed"), offers)
    assert ids(result.candidates) == ["40gb-sxm", "tensordock", "80gb-pcie"]


def test_availability_multiplies_offer_availability_by_our_launch_success_then_price() -> None:
    stats = {"vastai": ProviderStats(launch_success_rate=0.5)}
    offers = [
        offer(offer_id="flaky-host", provider="vastai", availability=0.9, price_per_hour=1.0),  # 0.45
        offer(offer_id="steady", provider="runpod", availability=0.6, price_per_hour=3.0),  # 0.6
        offer(offer_id="steady-cheaper", provider="lambda", availability=0.6, price_per_hour=2.0),  # 0.6
    ]
    result = route(RouteRequest(sel("H100"), priority="availability"), offers, stats)
    assert ids(result.candidates) == ["steady-cheaper", "steady", "flaky-host"]
    assert result.candidates[0].reason.startswith(
        "most likely to launch: 0.60 (availability 0.60 x success 1.00)"
    )
    assert result.candidates[2].reason.startswith(
        "launch likelihood: 0.45 (availability 0.90 x success 0.50)"
    )


@pytest.mark.parametrize("priority", ["cost", "speed", "availability"])
def test_ties_are_broken_by_provider_and_offer_id_whatever_the_input_order(priority: str) -> None:
    offers = [
        offer(offer_id=f"{model}-{i}", provider=provider, gpu_model=model)
        for i in range(4)
        for provider in ("vastai", "runpod", "lambda")
        for model in ("H100-SXM", "H100-PCIE")
    ]
    request = RouteRequest(sel("H100-SXM"), priority=priority)  # type: ignore[arg-type]
    expected = sorted((o.provider, o.offer_id) for o in offers if o.gpu_model == "H100-SXM")
    for seed in range(5):
        shuffled = offers.copy()
        random.Random(seed).shuffle(shuffled)
        got = route(request, shuffled).candidates
        assert [(c.offer.provider, c.offer.offer_id) for c in got] == expected


def test_max_candidates_keeps_the_best_ones() -> None:
    offers = [offer(offer_id=str(p), price_per_hour=p) for p in (5.0, 1.0, 3.0, 2.0, 4.0)]
    result = route(RouteRequest(sel("H100")), offers, max_candidates=2)
    assert [(c.rank, c.offer.offer_id) for c in result.candidates] == [(1, "1.0"), (2, "2.0")]
    assert result.rejections == []  # cut candidates are not rejections: they were eligible
    with pytest.raises(ValueError, match="max_candidates"):
        route(RouteRequest(sel("H100")), offers, max_candidates=0)


def test_candidates_are_immutable_candidates() -> None:
    (candidate,) = route(RouteRequest(sel("H100")), [offer()]).candidates
    assert isinstance(candidate, Candidate)
    with pytest.raises(dataclasses.FrozenInstanceError):
        candidate.rank = 2  # type: ignore[misc]
    assert dataclasses.asdict(candidate)["reason"] == candidate.reason


# --- rejections and the 503 summary ---------------------------------------------------------------


def test_results_describe_the_call_even_when_the_caller_reuses_its_inputs() -> None:
    offers = [offer(offer_id="a100", gpu_model="A100-80GB-SXM"), offer(offer_id="h100", provider="runpod")]
    stats = {"runpod": ProviderStats(median_start_s=40)}
    result = route(RouteRequest(sel("H100"), priority="speed"), offers, stats)
    offers.clear()
    stats["runpod"] = ProviderStats(median_start_s=900)
    assert ids([r.offer for r in result.rejections]) == ["a100"]
    assert "starts in ~40 s" in result.candidates[0].reason


def test_rejection_counts_match_the_rejections() -> None:
    offers = [
        offer(gpu_model="A100-80GB-SXM"),
        offer(gpu_model="RTX-4090"),
        offer(provider="runpod"),
        offer(gpu_count=1),
        offer(gpu_count=2, price_per_hour=9.0),
        offer(gpu_count=2, available=False),
        offer(gpu_count=2),
    ]
    result = route(RouteRequest(sel("H100"), gpu_count=2, budget_max_per_hour=5.0, provider="mock"), offers)
    expected = {
        "gpu_mismatch": 2,
        "provider_mismatch": 1,
        "gpu_count_mismatch": 1,
        "over_budget": 1,
        "unavailable": 1,
    }
    assert result.rejection_counts() == expected
    assert Counter(r.code for r in result.rejections) == expected
    assert [r.code for r in result.rejections] == sorted(
        (r.code for r in result.rejections), key=REJECTION_CODES.index
    )


def test_summary_when_no_offer_is_the_requested_variant() -> None:
    offers = [offer(gpu_model="H100-SXM"), offer(gpu_model="A100-80GB-SXM"), offer(gpu_model="RTX-4090")]
    result = route(RouteRequest(sel("H200-NVL")), offers)
    assert result.summary() == "No providers available for H200-NVL x1: no H200-NVL offers among 3 offers"


def test_summary_when_everything_is_over_budget() -> None:
    offers = [offer(price_per_hour=p) for p in (2.86, 2.19, 3.5)] + [
        offer(gpu_model="RTX-4090", price_per_hour=0.4)
    ]
    result = route(RouteRequest(sel("H100"), budget_max_per_hour=1.0), offers)
    assert result.summary() == (
        "No providers available for H100 x1 under $1.00/h: 3 offers over budget (cheapest $2.19/h)"
    )


def test_summary_names_every_reason_with_counts() -> None:
    offers = [offer(price_per_hour=p) for p in (2.86, 2.19, 3.5, 2.5)] + [
        offer(price_per_hour=0.9, available=False) for _ in range(2)
    ]
    result = route(RouteRequest(sel("H100"), budget_max_per_hour=1.0), offers)
    assert result.summary() == (
        "No providers available for H100 x1 under $1.00/h: "
        "4 offers over budget (cheapest $2.19/h), 2 unavailable"
    )


def test_summary_when_everything_is_sold_out() -> None:
    result = route(RouteRequest(sel("H100")), [offer(available=False) for _ in range(3)])
    assert result.summary() == "No providers available for H100 x1: 3 offers unavailable"


def test_summary_when_the_chosen_provider_has_no_such_gpu() -> None:
    offers = [
        offer(provider="runpod"),
        offer(provider="vastai"),
        offer(provider="lambda", gpu_model="A100-40GB-SXM"),
    ]
    result = route(RouteRequest(sel("H100"), provider="lambda"), offers)
    assert result.summary() == (
        "No providers available for H100 x1 on lambda: lambda has no H100 offers (2 on runpod, vastai)"
    )


def test_summary_when_offers_are_too_small_or_there_are_none() -> None:
    small = route(RouteRequest(sel("H100"), gpu_count=8), [offer(gpu_count=4), offer(gpu_count=2)])
    assert (
        small.summary() == "No providers available for H100 x8: 2 offers with another GPU count (2, 4, not 8)"
    )
    nothing = route(RouteRequest(sel("H100")), [])
    assert nothing.summary() == "No providers available for H100 x1: no offers from any connected provider"


def test_a_hand_built_result_still_counts_and_summarises() -> None:
    rejection = Rejection(offer(), "unavailable", "sold out")
    result = RoutingResult(candidates=[], rejections=[rejection])
    assert result.rejections == [rejection]
    assert result.rejection_counts() == {"unavailable": 1}
    assert result.summary() == "No providers available: 1 unavailable"


def test_texts_never_show_adapter_private_offer_data() -> None:
    private = "host-secret-3f9a"
    offers = [
        offer(extra={"host_token": private}, price_per_hour=p, available=p < 3) for p in (1.0, 2.0, 4.0)
    ] + [offer(extra={"host_token": private}, gpu_model="RTX-4090")]
    for budget in (None, 0.5):
        result = route(RouteRequest(sel("H100"), budget_max_per_hour=budget), offers)
        texts = [c.reason for c in result.candidates] + [r.reason for r in result.rejections]
        assert texts and all(private not in t for t in texts)
        assert private not in result.summary()


@pytest.mark.parametrize(
    "bad",
    [{"gpu_count": 0}, {"budget_max_per_hour": -1.0}, {"priority": "fastest"}],
)
def test_nonsense_requests_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RouteRequest(sel("H100"), **bad)
    with pytest.raises(ValueError):
        ProviderStats(launch_success_rate=1.5)


# --- properties over random offer books -----------------------------------------------------------

MODELS = ["H100-SXM", "H100-PCIE", "H100-NVL", "A100-80GB-SXM", "A100-40GB-PCIE", "RTX-4090"]
PROVIDERS = ["mock", "runpod", "vastai", "lambda", "tensordock"]
REQUEST_NAMES = ["H100", "H100-SXM", "h100 pcie", "A100", "A100-80GB", "RTX 4090"]


@st.composite
def offer_books(draw: st.DrawFn) -> list[Offer]:
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(PROVIDERS),
                st.sampled_from(MODELS),
                st.sampled_from([1, 2, 4, 8]),
                st.one_of(st.sampled_from([0.5, 2.5, 2.86]), st.floats(0.0, 40.0)),
                st.booleans(),
                st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0.0, 1.0),
            ),
            max_size=40,
        )
    )
    return [
        offer(
            provider=p,
            offer_id=f"{i}",
            gpu_model=m,
            gpu_count=n,
            price_per_hour=price,
            available=up,
            availability=a,
        )
        for i, (p, m, n, price, up, a) in enumerate(rows)
    ]


requests = st.builds(
    RouteRequest,
    selector=st.sampled_from(REQUEST_NAMES).map(sel),
    gpu_count=st.sampled_from([1, 2, 4, 8]),
    budget_max_per_hour=st.none() | st.sampled_from([2.5, 2.86]) | st.floats(0.0, 40.0),
    priority=st.sampled_from(["cost", "speed", "availability"]),
    provider=st.none() | st.sampled_from(PROVIDERS),
)
stats_maps = st.dictionaries(
    st.sampled_from(PROVIDERS),
    st.builds(ProviderStats, st.floats(0.0, 1.0), st.none() | st.floats(0.0, 600.0)),
)


def first_failure(request: RouteRequest, o: Offer) -> str | None:
    """The documented check order, written the slow obvious way."""
    checks = [
        ("gpu_mismatch", o.gpu_model in request.selector.keys),
        ("provider_mismatch", request.provider in (None, o.provider)),
        ("gpu_count_mismatch", o.gpu_count == request.gpu_count),
        (
            "over_budget",
            request.budget_max_per_hour is None or o.price_per_hour <= request.budget_max_per_hour,
        ),
        ("unavailable", o.available),
    ]
    return next((code for code, ok in checks if not ok), None)


@settings(max_examples=300)
@given(requests, offer_books(), stats_maps)
def test_every_offer_is_a_candidate_or_rejected_for_its_first_failing_check(
    request: RouteRequest, offers: list[Offer], stats: dict[str, ProviderStats]
) -> None:
    result = route(request, offers, stats)
    expected = {o.offer_id: first_failure(request, o) for o in offers}
    assert {c.offer.offer_id: None for c in result.candidates} | {
        r.offer.offer_id: r.code for r in result.rejections
    } == expected
    assert len(result.candidates) + len(result.rejections) == len(offers)
    assert result.rejection_counts() == dict(Counter(r.code for r in result.rejections))
    if not result.candidates:
        assert result.summary().startswith("No providers available")


@settings(max_examples=300)
@given(requests, offer_books(), stats_maps)
def test_no_candidate_is_ever_over_budget_or_the_wrong_gpu_and_cost_order_never_gets_cheaper(
    request: RouteRequest, offers: list[Offer], stats: dict[str, ProviderStats]
) -> None:
    request = dataclasses.replace(request, priority="cost")
    candidates = route(request, offers, stats).candidates
    cap = request.budget_max_per_hour
    for c in candidates:
        assert cap is None or c.offer.price_per_hour <= cap
        assert c.offer.gpu_model in request.selector.keys
        assert c.offer.gpu_count == request.gpu_count and c.offer.available
    prices = [c.offer.price_per_hour for c in candidates]
    assert prices == sorted(prices)
    assert [c.rank for c in candidates] == list(range(1, len(candidates) + 1))


@settings(max_examples=200)
@given(requests, offer_books(), stats_maps, st.randoms(use_true_random=False))
def test_the_ranking_does_not_depend_on_input_order(
    request: RouteRequest, offers: list[Offer], stats: dict[str, ProviderStats], rng: random.Random
) -> None:
    shuffled = offers.copy()
    rng.shuffle(shuffled)
    first, second = route(request, offers, stats), route(request, shuffled, stats)
    assert [(c.offer, c.reason) for c in first.candidates] == [(c.offer, c.reason) for c in second.candidates]


def documented_order_key(
    request: RouteRequest, eligible: list[Offer], stats: dict[str, ProviderStats]
) -> Any:
    """DESIGN.md "Routing priorities" as one tuple per offer, the slow obvious way."""
    starts = {o.provider: stats[o.provider].median_start_s for o in eligible if o.provider in stats}
    known = {provider: start for provider, start in starts.items() if start is not None}
    neutral = statistics.median(known.values()) if known else 0.0

    def key(o: Offer) -> tuple[Any, ...]:
        tie = (o.provider, o.offer_id)
        success = stats[o.provider].launch_success_rate if o.provider in stats else 1.0
        if request.priority == "cost":
            return (o.price_per_hour, -o.availability, *tie)
        if request.priority == "speed":
            return (-BY_KEY[o.gpu_model].speed, known.get(o.provider, neutral), o.price_per_hour, *tie)
        return (-(o.availability * success), o.price_per_hour, *tie)

    return key


@settings(max_examples=300)
@given(requests, offer_books(), stats_maps)
def test_each_priority_orders_by_its_documented_keys(
    request: RouteRequest, offers: list[Offer], stats: dict[str, ProviderStats]
) -> None:
    eligible = [o for o in offers if first_failure(request, o) is None]
    expected = sorted(eligible, key=documented_order_key(request, eligible, stats))
    assert [c.offer for c in route(request, offers, stats).candidates] == expected
