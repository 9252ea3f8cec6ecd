"""Lambda instance types -> neutral offers, through the fake over a real socket."""

from __future__ import annotations

import pytest

from harvestgpu.providers.lambdalabs import LambdaProvider
from harvestgpu.providers.lambdalabs.adapter import gpu_model_for
from harvestgpu.providers.types import OfferQuery
from tests.fakes.lambdalabs import FakeLambdaCloud


async def test_offers_map_lambda_types_to_catalog_gpus_with_whole_instance_prices(
    provider: LambdaProvider,
) -> None:
    offers = await provider.list_offers(OfferQuery())

    by_type_region = {(o.extra["instance_type"], o.region): o for o in offers}
    h100 = by_type_region[("gpu_1x_h100_sxm5", "us-east-1")]
    assert (h100.provider, h100.gpu_model, h100.gpu_count, h100.vram_gb) == ("lambda", "H100-SXM", 1, 80)
    assert h100.price_per_hour == pytest.approx(3.29)
    assert h100.extra == {"instance_type": "gpu_1x_h100_sxm5", "region": "us-east-1"}
    assert h100.provider_gpu_name == "H100 (80 GB SXM5)"
    # 2392 cents is the price of all eight GPUs together, not of one.
    eight = by_type_region[("gpu_8x_h100_sxm5", "us-west-3")]
    assert (eight.gpu_model, eight.gpu_count) == ("H100-SXM", 8)
    assert eight.price_per_hour == pytest.approx(23.92)

    one_gpu_prices = {o.gpu_model: o.price_per_hour for o in offers if o.gpu_count == 1}
    assert one_gpu_prices == {
        "H100-SXM": pytest.approx(3.29),
        "H100-PCIE": pytest.approx(2.49),
        "A100-80GB-SXM": pytest.approx(1.79),
        "A100-40GB-SXM": pytest.approx(1.29),
        "L40S": pytest.approx(1.39),
        "RTX-A6000": pytest.approx(0.80),
        "RTX-4090": pytest.approx(0.69),
        "A10": pytest.approx(0.75),
    }


async def test_one_offer_per_region_with_capacity(provider: LambdaProvider) -> None:
    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-SXM"})))

    single = sorted(o.region for o in offers if o.gpu_count == 1)
    assert single == ["us-east-1", "us-west-3"]
    assert all(o.available and o.availability == 1.0 for o in offers)
    assert len({o.offer_id for o in offers}) == len(offers)


async def test_gpus_outside_the_catalog_arm_superchips_and_cpu_types_are_skipped(
    provider: LambdaProvider,
) -> None:
    offers = await provider.list_offers(OfferQuery())

    types = {o.extra["instance_type"] for o in offers}
    assert "gpu_1x_gh200" not in types  # arm64 VM: amd64 job images would not run
    assert "gpu_1x_rtx6000" not in types  # Quadro RTX 6000 is not in the catalog
    assert "cpu_4x_general" not in types


async def test_sold_out_types_are_listed_unavailable(fake: FakeLambdaCloud, provider: LambdaProvider) -> None:
    fake.set_capacity("L40S", False)

    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({"L40S", "V100-16GB"})))

    assert {(o.gpu_model, o.available, o.availability, o.region) for o in offers} == {
        ("L40S", False, 0.0, ""),
        ("V100-16GB", False, 0.0, ""),
    }
    fake.set_capacity("L40S", True)
    back = await provider.list_offers(OfferQuery(gpu_models=frozenset({"L40S"})))
    assert [(o.available, o.region) for o in back] == [(True, "us-west-1")]


async def test_price_changes_at_the_cloud_show_in_offers(
    fake: FakeLambdaCloud, provider: LambdaProvider
) -> None:
    fake.set_price("H100-PCIE", 1.99)

    offers = await provider.list_offers(OfferQuery(gpu_models=frozenset({"H100-PCIE"})))

    assert len(offers) == 2
    assert [o.price_per_hour for o in offers] == [pytest.approx(1.99)] * 2


async def test_query_narrows_by_model_gpu_count_and_price(provider: LambdaProvider) -> None:
    cheap = await provider.list_offers(OfferQuery(max_price_per_hour=1.0))
    assert {o.gpu_model for o in cheap} == {"RTX-A6000", "RTX-4090", "A10"}

    multi = await provider.list_offers(OfferQuery(gpu_count=8))
    assert {(o.gpu_model, o.gpu_count) for o in multi} == {("H100-SXM", 8), ("V100-16GB", 8)}

    h100s = await provider.list_offers(
        OfferQuery(gpu_models=frozenset({"H100-PCIE", "H100-SXM"}), gpu_count=1)
    )
    assert {o.gpu_model for o in h100s} == {"H100-PCIE", "H100-SXM"}


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [
        ({"gpu_description": "H100 (80 GB SXM5)", "name": "gpu_1x_h100_sxm5"}, ("H100-SXM", 80)),
        ({"gpu_description": "H100 (80 GB PCIe)", "name": "gpu_1x_h100_pcie"}, ("H100-PCIE", 80)),
        ({"gpu_description": "A100 (40 GB PCIe)", "name": "gpu_1x_a100"}, ("A100-40GB-PCIE", 40)),
        ({"gpu_description": "A100 (80 GB SXM4)", "name": "gpu_8x_a100_80gb_sxm4"}, ("A100-80GB-SXM", 80)),
        ({"gpu_description": "A6000 (48 GB)", "name": "gpu_1x_a6000"}, ("RTX-A6000", 48)),
        ({"gpu_description": "Tesla V100 (16 GB)", "name": "gpu_8x_v100"}, ("V100-16GB", 16)),
        ({"gpu_description": "A10 (24 GB PCIe)", "name": "gpu_1x_a10"}, ("A10", 24)),
        ({"gpu_description": "B200 (180 GB SXM6)", "name": "gpu_8x_b200_sxm6"}, ("B200", 180)),
        # Older payloads without gpu_description: the description, then the type name.
        ({"description": "1x H100 (80 GB PCIe)", "name": "gpu_1x_h100_pcie"}, ("H100-PCIE", 80)),
        ({"name": "gpu_1x_h100_sxm5"}, ("H100-SXM", 80)),
        ({"gpu_description": "A100 (80 GB)", "name": "gpu_8x_a100_80gb_sxm4"}, ("A100-80GB-SXM", 80)),
    ],
)
def test_lambda_gpu_spellings_resolve_to_catalog_keys(
    instance_type: dict[str, str], expected: tuple[str, int]
) -> None:
    mapped = gpu_model_for(instance_type)
    assert mapped is not None
    assert (mapped[0].key, mapped[1]) == expected


@pytest.mark.parametrize(
    "instance_type",
    [
        {"gpu_description": "RTX 6000 (24 GB)", "name": "gpu_1x_rtx6000"},
        {"gpu_description": "", "name": "cpu_4x_general"},
        {"gpu_description": "Z9000 (12 GB)", "name": "gpu_1x_z9000"},
    ],
)
def test_unknown_lambda_gpus_map_to_nothing(instance_type: dict[str, str]) -> None:
    assert gpu_model_for(instance_type) is None
