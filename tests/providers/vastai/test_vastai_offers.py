"""Offer search: Vast spellings -> catalog keys, whole-machine prices, availability, narrowing."""

from __future__ import annotations

import httpx
import pytest

from harvestgpu.providers.errors import ProviderAuthError
from harvestgpu.providers.types import OfferQuery
from harvestgpu.providers.vastai import VastAIProvider
from tests.fakes.vastai import FakeVastAICloud
from tests.providers.vastai.support import STORAGE_PER_HOUR_50GB, cheapest

REQUIRED_KEYS = {"H100-SXM", "H100-PCIE", "A100-80GB-SXM", "L40S", "RTX-4090", "RTX-A6000"}


async def test_offers_carry_catalog_keys_for_vast_spellings(provider: VastAIProvider) -> None:
    offers = await provider.list_offers(OfferQuery())

    by_key = {o.gpu_model: o for o in offers}
    assert REQUIRED_KEYS <= set(by_key)
    assert by_key["H100-SXM"].provider_gpu_name == "H100 SXM"
    assert by_key["RTX-A6000"].provider_gpu_name == "RTX A6000"
    # Vast says "A100 SXM4" for both memory sizes: the MB value decides.
    assert (by_key["A100-80GB-SXM"].vram_gb, by_key["A100-40GB-SXM"].vram_gb) == (80, 40)
    # Bare "H200" is the SXM part, which the catalog parser alone finds ambiguous.
    assert by_key["H200"].provider_gpu_name == "H200"
    # GPUs outside the catalog (and the 4090D, which is not a 4090) are skipped.
    assert not {o.provider_gpu_name for o in offers} & {"RTX 4090D", "RTX 4080S"}
    assert all(o.provider == "vastai" and o.gpu_count == 1 and not o.interruptible for o in offers)
    assert all(o.extra["ask_id"] == o.offer_id for o in offers)


async def test_price_is_for_the_whole_machine_including_its_disk(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    fake.set_price("H100-SXM", 2.0)

    one = await cheapest(provider, "H100-SXM", gpu_count=1)
    eight = await cheapest(provider, "H100-SXM", gpu_count=8)

    assert one.price_per_hour == pytest.approx(2.0)
    gpu_part = 2.0 - STORAGE_PER_HOUR_50GB
    assert eight.gpu_count == 8
    assert eight.price_per_hour == pytest.approx(8 * gpu_part + STORAGE_PER_HOUR_50GB)


async def test_prices_are_realistic_and_distinct(provider: VastAIProvider) -> None:
    offers = await provider.list_offers(OfferQuery())
    price = {o.gpu_model: o.price_per_hour for o in offers}

    assert len({price[k] for k in REQUIRED_KEYS}) == len(REQUIRED_KEYS)
    assert price["H100-SXM"] > price["H100-PCIE"] > price["A100-80GB-SXM"] > price["L40S"]
    assert price["L40S"] > price["RTX-A6000"] > price["RTX-4090"] > 0.2


async def test_availability_comes_from_the_machine_reliability(provider: VastAIProvider) -> None:
    offer = await cheapest(provider, "H100-SXM")

    assert offer.available is True
    assert offer.availability == pytest.approx(0.995)
    assert offer.region == "Texas, US"


async def test_gpu_without_capacity_has_no_offers_until_it_returns(
    provider: VastAIProvider, fake: FakeVastAICloud
) -> None:
    fake.set_capacity("L40S", False)
    assert "L40S" not in {o.gpu_model for o in await provider.list_offers(OfferQuery())}

    fake.set_capacity("L40S", True)
    assert "L40S" in {o.gpu_model for o in await provider.list_offers(OfferQuery())}


async def test_query_narrows_models_count_and_price(provider: VastAIProvider) -> None:
    query = OfferQuery(gpu_models=frozenset({"H100-PCIE", "RTX-4090"}), gpu_count=2, max_price_per_hour=2.0)

    offers = await provider.list_offers(query)

    assert {o.gpu_model for o in offers} == {"RTX-4090"}  # 2x H100 PCIe costs about 3.9 $/h
    assert all(o.gpu_count == 2 and o.price_per_hour <= 2.0 for o in offers)


async def test_offers_with_a_bad_key_raise_auth_error(
    fake: FakeVastAICloud, base_url: str, http: httpx.AsyncClient
) -> None:
    bad = VastAIProvider(api_key="vast_WRONGKEY99999999", http=http, base_url=base_url)

    with pytest.raises(ProviderAuthError) as caught:
        await bad.list_offers(OfferQuery())
    assert "vast_WRONGKEY99999999" not in str(caught.value)
    assert caught.value.status == 404  # searchOffers' documented answer to a bad key


async def test_offer_search_answers_a_bad_key_with_404_and_no_key_with_offers(
    fake: FakeVastAICloud, base_url: str, http: httpx.AsyncClient
) -> None:
    query = {"num_gpus": {"eq": 1}, "type": "on-demand", "limit": 5}

    bad = await http.post(
        f"{base_url}/api/v0/bundles/", json=query, headers={"Authorization": "Bearer vast_WRONG"}
    )
    anonymous = await http.post(f"{base_url}/api/v0/bundles/", json=query)

    assert (bad.status_code, bad.json()) == (404, {"msg": "Invalid user key"})
    assert anonymous.status_code == 200 and len(anonymous.json()["offers"]) == 5
