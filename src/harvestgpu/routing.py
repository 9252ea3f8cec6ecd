"""Routing: which offers can run a request, in what order, and why. Pure: no I/O.

The job service hands ``route()`` every offer its user's providers returned. The first candidate
is launched; the rest are the failover order. Every offer left out is rejected for the first
check it fails, and ``RoutingResult.summary()`` turns those into the API's 503 message.

Built for 10,000+ offers per call. Filtering and sorting use C-level key functions; reason text
is written only when read; and rejected offers are kept as plain per-check lists, so the
``Rejection`` objects (thousands per call) are only made if someone reads ``rejections``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter
from statistics import median
from typing import Literal, get_args

from harvestgpu.gpus import BY_KEY, GpuSelector
from harvestgpu.providers.types import Offer

Priority = Literal["cost", "speed", "availability"]
PRIORITIES: tuple[Priority, ...] = get_args(Priority)

# Rejection codes in the order the checks run: an offer is rejected for the first one it fails.
GPU_MISMATCH = "gpu_mismatch"
PROVIDER_MISMATCH = "provider_mismatch"
# A 1-GPU job must never land (or fail over) on an 8-GPU machine at 8x the price, so the
# count matches exactly; adapters fetch offers for the requested count.
GPU_COUNT_MISMATCH = "gpu_count_mismatch"
OVER_BUDGET = "over_budget"
UNAVAILABLE = "unavailable"
REJECTION_CODES: tuple[str, ...] = (
    GPU_MISMATCH,
    PROVIDER_MISMATCH,
    GPU_COUNT_MISMATCH,
    OVER_BUDGET,
    UNAVAILABLE,
)


@dataclass(frozen=True, slots=True)
class RouteRequest:
    selector: GpuSelector  # from harvestgpu.gpus.parse(request_name)
    gpu_count: int = 1
    budget_max_per_hour: float | None = None  # cap on the whole instance's USD/hour
    priority: Priority = "cost"
    provider: str | None = None  # restrict to one provider slug

    def __post_init__(self) -> None:
        if self.gpu_count < 1:
            raise ValueError(f"gpu_count must be at least 1, got {self.gpu_count}")
        if self.budget_max_per_hour is not None and not self.budget_max_per_hour >= 0:
            raise ValueError(f"budget_max_per_hour must be 0 or more, got {self.budget_max_per_hour}")
        if self.priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, got {self.priority!r}")

    def describe(self) -> str:
        """The request as messages repeat it: ``H100 x1 on lambda under $1.00/h``."""
        text = f"{self.selector.name} x{self.gpu_count}"
        if self.provider is not None:
            text += f" on {self.provider}"
        if self.budget_max_per_hour is not None:
            text += f" under {usd(self.budget_max_per_hour)}/h"
        return text


@dataclass(frozen=True, slots=True)
class ProviderStats:
    """Our own launch history for one provider slug."""

    launch_success_rate: float = 1.0  # 0..1
    median_start_s: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.launch_success_rate <= 1.0:
            raise ValueError(f"launch_success_rate must be within 0..1, got {self.launch_success_rate}")
        if self.median_start_s is not None and not self.median_start_s >= 0:
            raise ValueError(f"median_start_s must be 0 or more, got {self.median_start_s}")


@dataclass(frozen=True, slots=True)
class Candidate:
    offer: Offer
    rank: int  # 1 = best
    reason: str  # why this offer sits at this rank


@dataclass(frozen=True, slots=True)
class Rejection:
    offer: Offer
    code: str  # one of REJECTION_CODES
    reason: str


class RoutingResult:
    """Ranked candidates (best first) and one rejection per offer that cannot run the request.

    ``rejections`` lists them by check (in ``REJECTION_CODES`` order), in input order within a
    check. Reading it builds one object per rejected offer; ``rejection_counts()`` does not.
    """

    __slots__ = ("_rejected", "_rejections", "candidates")

    def __init__(self, candidates: list[Candidate], rejections: list[Rejection] | None = None) -> None:
        self.candidates = candidates
        self._rejections = rejections
        self._rejected: _Rejected | None = None  # set by route(): rejections still to be built

    @classmethod
    def _routed(cls, candidates: list[Candidate], rejected: _Rejected) -> RoutingResult:
        result = cls(candidates)
        result._rejected = rejected
        return result

    @property
    def rejections(self) -> list[Rejection]:
        if self._rejections is None:
            self._rejections = [] if self._rejected is None else self._rejected.build()
        return self._rejections

    def rejection_counts(self) -> dict[str, int]:
        """Rejected offers per code (codes with none left out), without building any Rejection."""
        if self._rejected is None:
            counts = Counter(r.code for r in self.rejections)
        else:
            counts = Counter({code: self._rejected.count(code) for code in REJECTION_CODES})
        return {code: counts[code] for code in REJECTION_CODES if counts[code]}

    def summary(self) -> str:
        """One sentence on the outcome; when nothing is eligible, why (the API's 503 text)."""
        if self.candidates:
            return f"{len(self.candidates)} candidate(s); best: {self.candidates[0].reason}"
        if self._rejected is not None:
            return self._rejected.explain()
        counts = ", ".join(f"{n} {code.replace('_', ' ')}" for code, n in self.rejection_counts().items())
        return f"No providers available: {counts or 'no offers'}"

    def __repr__(self) -> str:
        return f"RoutingResult(candidates={self.candidates!r}, rejection_counts={self.rejection_counts()!r})"


def route(
    request: RouteRequest,
    offers: Sequence[Offer],
    stats: Mapping[str, ProviderStats] | None = None,
    max_candidates: int | None = None,
) -> RoutingResult:
    """Rank the offers that can run ``request``; ``max_candidates`` keeps only the best N."""
    if max_candidates is not None and max_candidates < 1:
        raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
    # Snapshots: reasons and rejections are written when read, and must describe this call even
    # if the caller changes its list or its stats afterwards.
    snapshot = offers if isinstance(offers, tuple) else tuple(offers)
    stats = dict(stats) if stats else {}
    eligible, rejected = _partition(request, snapshot)
    ranked = _rank(request.priority, eligible, stats)
    if max_candidates is not None:
        del ranked[max_candidates:]
    explainer = _Explainer(request.priority, ranked, stats)
    candidates: list[Candidate] = [_ExplainedOnRead(o, rank, explainer) for rank, o in enumerate(ranked, 1)]
    return RoutingResult._routed(candidates, rejected)


# --- eligibility --------------------------------------------------------------------------------


def _partition(request: RouteRequest, offers: tuple[Offer, ...]) -> tuple[list[Offer], _Rejected]:
    """Split offers into eligible ones and, per failed check, rejected ones (checks in order)."""
    keys = request.selector.keys
    pool = [o for o in offers if o.gpu_model in keys]  # rejects most offers, so it runs first
    rejected = _Rejected(request, offers, gpu_mismatches=len(offers) - len(pool))
    provider, count, budget = request.provider, request.gpu_count, request.budget_max_per_hour
    # Each check scans the (small) pool once and rebuilds it only when it actually lost offers.
    failed: list[Offer] = []
    if provider is not None:
        failed = [o for o in pool if o.provider != provider]
        if failed:
            pool = [o for o in pool if o.provider == provider]
    rejected.by_code[PROVIDER_MISMATCH] = failed
    failed = [o for o in pool if o.gpu_count != count]
    if failed:
        pool = [o for o in pool if o.gpu_count == count]
    rejected.by_code[GPU_COUNT_MISMATCH] = failed
    failed = []
    if budget is not None:
        failed = [o for o in pool if not o.price_per_hour <= budget]
        if failed:
            pool = [o for o in pool if o.price_per_hour <= budget]
    rejected.by_code[OVER_BUDGET] = failed
    failed = [o for o in pool if not o.available]
    if failed:
        pool = [o for o in pool if o.available]
    rejected.by_code[UNAVAILABLE] = failed
    return pool, rejected


class _Rejected:
    """The offers one request left out, by the first check each failed, in input order.

    GPU mismatches, usually most of the offers, are only listed when someone asks for them.
    """

    __slots__ = ("_all_offers", "_gpu_mismatches", "by_code", "request")

    def __init__(self, request: RouteRequest, all_offers: Sequence[Offer], *, gpu_mismatches: int) -> None:
        self.request = request
        self.by_code: dict[str, list[Offer]] = {}
        self._all_offers = all_offers
        self._gpu_mismatches = gpu_mismatches

    def count(self, code: str) -> int:
        return self._gpu_mismatches if code == GPU_MISMATCH else len(self.by_code[code])

    def offers(self, code: str) -> list[Offer]:
        if code not in self.by_code:  # only GPU_MISMATCH is left for later
            keys = self.request.selector.keys
            self.by_code[code] = [o for o in self._all_offers if o.gpu_model not in keys]
        return self.by_code[code]

    def build(self) -> list[Rejection]:
        mismatched = self.offers(GPU_MISMATCH)
        # One text per model: thousands of offers fail this check with a handful of models.
        texts = {
            m: f"{m} does not match {self.request.selector.name}" for m in {o.gpu_model for o in mismatched}
        }
        out = [Rejection(o, GPU_MISMATCH, texts[o.gpu_model]) for o in mismatched]
        for code in REJECTION_CODES[1:]:
            out.extend(Rejection(o, code, self._reason(code, o)) for o in self.offers(code))
        return out

    def _reason(self, code: str, offer: Offer) -> str:
        request = self.request
        if code == PROVIDER_MISMATCH:
            return f"offered by {offer.provider}, not {request.provider}"
        if code == GPU_COUNT_MISMATCH:
            return f"has {_plural(offer.gpu_count, 'GPU')}, {request.gpu_count} requested"
        if code == OVER_BUDGET:
            return (
                f"{usd(offer.price_per_hour)}/h is over the {usd(request.budget_max_per_hour or 0.0)}/h cap"
            )
        return f"no capacity at {offer.provider} in {offer.region} right now"

    def explain(self) -> str:
        """Why nothing is eligible: "...: 4 offers over budget (cheapest $2.19/h), 2 unavailable"."""
        request = self.request
        head = f"No providers available for {request.describe()}"
        total = sum(self.count(code) for code in REJECTION_CODES)
        if total == 0:
            return f"{head}: no offers from any connected provider"
        wanted = request.selector.name
        if self._gpu_mismatches == total:
            return f"{head}: no {wanted} offers among {_plural(total, 'offer')}"
        clauses: list[str] = []
        counted: list[tuple[int, str]] = []
        elsewhere = self.offers(PROVIDER_MISMATCH)
        if elsewhere:
            where = ", ".join(sorted({o.provider for o in elsewhere}))
            if total == self._gpu_mismatches + len(elsewhere):
                clauses.append(f"{request.provider} has no {wanted} offers ({len(elsewhere)} on {where})")
            else:
                counted.append((len(elsewhere), f"on {where}"))
        other_counts = self.offers(GPU_COUNT_MISMATCH)
        if other_counts:
            sizes = ", ".join(str(n) for n in sorted({o.gpu_count for o in other_counts}))
            counted.append((len(other_counts), f"with another GPU count ({sizes}, not {request.gpu_count})"))
        over = self.offers(OVER_BUDGET)
        if over:
            cheapest = min(o.price_per_hour for o in over)
            counted.append((len(over), f"over budget (cheapest {usd(cheapest)}/h)"))
        if self.count(UNAVAILABLE):
            counted.append((self.count(UNAVAILABLE), "unavailable"))
        # The noun is said once, on the first count: "4 offers over budget (...), 2 unavailable".
        for n, text in counted:
            clauses.append(f"{n if clauses else _plural(n, 'offer')} {text}")
        return f"{head}: {', '.join(clauses)}"


# --- ranking ------------------------------------------------------------------------------------
# Each ranking is a chain of stable sorts, least significant key first, so every pass can use a
# C-level attrgetter or a dict lookup instead of building a tuple key per offer.

_OFFER_ID = attrgetter("offer_id")
_PROVIDER = attrgetter("provider")
_GPU_MODEL = attrgetter("gpu_model")
_PRICE = attrgetter("price_per_hour")
_AVAILABILITY = attrgetter("availability")


def _rank(priority: Priority, offers: list[Offer], stats: Mapping[str, ProviderStats]) -> list[Offer]:
    ranked = sorted(offers, key=_OFFER_ID)
    ranked.sort(key=_PROVIDER)  # ties end up in (provider, offer_id) order whatever the input order
    if priority == "cost":
        ranked.sort(key=_AVAILABILITY, reverse=True)  # reverse=True keeps the sort stable
        ranked.sort(key=_PRICE)
    elif priority == "speed":
        start = _expected_start_s(offers, stats)
        # Fastest variant, then fastest start: a handful of (model, provider) pairs, so rank them
        # once and sort the offers by that rank in one pass. Equal pairs share a rank (price decides).
        order = {(m, p): (-_speed(m), s) for m in set(map(_GPU_MODEL, offers)) for p, s in start.items()}
        dense = {key: rank for rank, key in enumerate(sorted(set(order.values())))}
        position = {pair: dense[key] for pair, key in order.items()}
        ranked.sort(key=_PRICE)
        ranked.sort(key=lambda o: position[o.gpu_model, o.provider])
    else:
        success = {p: _success_rate(p, stats) for p in set(map(_PROVIDER, offers))}
        ranked.sort(key=_PRICE)
        ranked.sort(key=lambda o: o.availability * success[o.provider], reverse=True)
    return ranked


def _speed(gpu_model: str) -> float:
    model = BY_KEY.get(gpu_model)
    return 0.0 if model is None else model.speed


def _success_rate(provider: str, stats: Mapping[str, ProviderStats]) -> float:
    known = stats.get(provider)
    return 1.0 if known is None else known.launch_success_rate


def _expected_start_s(offers: list[Offer], stats: Mapping[str, ProviderStats]) -> dict[str, float]:
    """Median start time per provider. One without history gets the median of the known ones:
    neither favoured nor punished for being new."""
    known: dict[str, float] = {}
    unknown: list[str] = []
    for provider in set(map(_PROVIDER, offers)):
        start = stats[provider].median_start_s if provider in stats else None
        if start is None:
            unknown.append(provider)
        else:
            known[provider] = start
    neutral = median(known.values()) if known else 0.0
    return known | dict.fromkeys(unknown, neutral)


# --- candidate reasons --------------------------------------------------------------------------


class _ExplainedOnRead(Candidate):
    """A Candidate whose reason is written the first time it is read: callers read a handful,
    while a ranking can hold thousands. Same fields, values and immutability as Candidate."""

    def __init__(self, offer: Offer, rank: int, explainer: _Explainer) -> None:
        object.__setattr__(self, "offer", offer)  # frozen: the dataclass way of initialising
        object.__setattr__(self, "rank", rank)
        object.__setattr__(self, "_explainer", explainer)

    @cached_property
    def reason(self) -> str:
        explainer: _Explainer = self.__dict__["_explainer"]
        return explainer.reason(self.offer, self.rank)


class _Explainer:
    __slots__ = ("_best", "_priority", "_stats")

    def __init__(self, priority: Priority, ranked: list[Offer], stats: Mapping[str, ProviderStats]) -> None:
        self._priority = priority
        self._best = ranked[0] if ranked else None
        self._stats = stats

    def reason(self, offer: Offer, rank: int) -> str:
        where = f"{usd(offer.price_per_hour)}/h ({offer.provider}, {offer.region})"
        if self._priority == "cost":
            if rank == 1 or self._best is None:
                return f"cheapest eligible {offer.gpu_model} at {where}"
            extra = offer.price_per_hour - self._best.price_per_hour
            if extra > 0:
                return f"{offer.gpu_model} at {where}, +{usd(extra)}/h vs #1"
            return f"{offer.gpu_model} at {where}, same price as #1, availability {offer.availability:.2f}"
        if self._priority == "speed":
            variant = f"{offer.gpu_model} (speed {_speed(offer.gpu_model):.2f})"
            known = self._stats.get(offer.provider)
            start_s = None if known is None else known.median_start_s
            start = "start time unknown" if start_s is None else f"starts in ~{start_s:.0f} s"
            lead = f"fastest eligible variant {variant}" if rank == 1 else variant
            return f"{lead}, {start}, {where}"
        rate = _success_rate(offer.provider, self._stats)
        likelihood = (
            f"{offer.availability * rate:.2f} (availability {offer.availability:.2f} x success {rate:.2f})"
        )
        lead = "most likely to launch" if rank == 1 else "launch likelihood"
        return f"{lead}: {likelihood}, {offer.gpu_model} at {where}"


def usd(amount: float) -> str:
    """Dollars and cents, plus any finer digits that matter ($2.505 must not print as $2.50)."""
    whole, _, fraction = f"{amount:.4f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
