"""The GPU catalog parser: request names, every cloud's spelling, and VRAM tie-breaks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harvestgpu.gpus import BY_KEY, CATALOG, known_names, parse, resolve

ALL_H100 = {"H100-SXM", "H100-PCIE", "H100-NVL"}
ALL_A100 = {"A100-80GB-SXM", "A100-80GB-PCIE", "A100-40GB-SXM", "A100-40GB-PCIE"}


def keys(name: str) -> set[str] | None:
    selector = parse(name)
    return None if selector is None else set(selector.keys)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("H100", ALL_H100),
        ("h100", ALL_H100),
        ("h100-sxm", {"H100-SXM"}),
        ("H100 SXM", {"H100-SXM"}),
        ("H100-PCIE", {"H100-PCIE"}),
        ("h100 pcie", {"H100-PCIE"}),
        ("A100", ALL_A100),
        ("A100 80GB", {"A100-80GB-SXM", "A100-80GB-PCIE"}),
        ("A100-80GB", {"A100-80GB-SXM", "A100-80GB-PCIE"}),
        ("A100-40GB", {"A100-40GB-SXM", "A100-40GB-PCIE"}),
        ("A100-80GB-SXM", {"A100-80GB-SXM"}),
        ("A100-SXM-40GB", {"A100-40GB-SXM"}),
        ("a100-sxm-80gb", {"A100-80GB-SXM"}),
        ("H200", {"H200", "H200-NVL"}),
        ("V100", {"V100-16GB", "V100-32GB"}),
        ("RTX 4090", {"RTX-4090"}),
        ("rtx4090", {"RTX-4090"}),
        ("RTX-6000-ADA", {"RTX-6000-ADA"}),
        ("A6000", {"RTX-A6000"}),
        ("L4", {"L4"}),
        ("L40", {"L40"}),
        ("L40S", {"L40S"}),
        ("A10", {"A10"}),
        ("T4", {"T4"}),
    ],
)
def test_request_names(name: str, expected: set[str]) -> None:
    assert keys(name) == expected


def test_every_canonical_key_names_itself_and_a_family_name_names_the_family() -> None:
    for model in CATALOG:
        family = {m.key for m in CATALOG if m.family == model.family}
        # "H200" is both the SXM part's key and the family name: as a request it means either.
        expected = family if model.key == model.family else {model.key}
        assert keys(model.key) == expected, model.key


# RunPod gpu.id and Vast gpu_name, from providers/runpod-vastai.md "GPU model mapping".
@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", {"H100-SXM"}),
        ("H100 SXM", {"H100-SXM"}),
        ("NVIDIA H100 PCIe", {"H100-PCIE"}),
        ("H100 PCIE", {"H100-PCIE"}),
        ("NVIDIA H100 NVL", {"H100-NVL"}),
        ("H100 NVL", {"H100-NVL"}),
        ("NVIDIA H200 NVL", {"H200-NVL"}),
        ("H200 NVL", {"H200-NVL"}),
        ("NVIDIA B200", {"B200"}),
        ("B200", {"B200"}),
        ("NVIDIA A100-SXM4-80GB", {"A100-80GB-SXM"}),
        ("A100 SXM4", {"A100-80GB-SXM", "A100-40GB-SXM"}),
        ("NVIDIA A100 80GB PCIe", {"A100-80GB-PCIE"}),
        ("A100 PCIE", {"A100-80GB-PCIE", "A100-40GB-PCIE"}),
        ("NVIDIA L40S", {"L40S"}),
        ("NVIDIA L40", {"L40"}),
        ("NVIDIA L4", {"L4"}),
        ("NVIDIA GeForce RTX 4090", {"RTX-4090"}),
        ("NVIDIA GeForce RTX 5090", {"RTX-5090"}),
        ("NVIDIA GeForce RTX 3090", {"RTX-3090"}),
        ("RTX 3090", {"RTX-3090"}),
        ("NVIDIA RTX A6000", {"RTX-A6000"}),
        ("RTX A6000", {"RTX-A6000"}),
        ("NVIDIA RTX 6000 Ada Generation", {"RTX-6000-ADA"}),
        ("RTX 6000Ada", {"RTX-6000-ADA"}),
        ("NVIDIA H100 NVL 94GB HBM3", {"H100-NVL"}),  # HBM3 means SXM only when no form is named
        ("NVIDIA H200 NVL HBM3e", {"H200-NVL"}),
    ],
)
def test_runpod_and_vast_spellings(spelling: str, expected: set[str]) -> None:
    assert keys(spelling) == expected


# Lambda instance types and descriptions, TensorDock v0Names (providers/lambda-tensordock.md).
@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("gpu_1x_a10", {"A10"}),
        ("gpu_1x_a6000", {"RTX-A6000"}),
        ("gpu_1x_a100_sxm4", {"A100-80GB-SXM", "A100-40GB-SXM"}),
        ("gpu_8x_a100_80gb_sxm4", {"A100-80GB-SXM"}),
        ("gpu_1x_h100_pcie", {"H100-PCIE"}),
        ("gpu_1x_h100_sxm5", {"H100-SXM"}),
        ("gpu_8x_h100_sxm5", {"H100-SXM"}),
        ("gpu_8x_v100", {"V100-16GB", "V100-32GB"}),
        ("H100 (80 GB PCIe)", {"H100-PCIE"}),
        ("8x H100 (80 GB SXM5)", {"H100-SXM"}),
        ("A10 (24 GB PCIe)", {"A10"}),
        ("Tesla V100 (16 GB)", {"V100-16GB"}),
        ("h100-sxm5-80gb", {"H100-SXM"}),
        ("a100-sxm4-80gb", {"A100-80GB-SXM"}),
        ("a100-pcie-80gb", {"A100-80GB-PCIE"}),
        ("l40s-pcie-48gb", {"L40S"}),
        ("l40-pcie-48gb", {"L40"}),
        ("a40-pcie-48gb", {"A40"}),
        ("rtxa6000-pcie-48gb", {"RTX-A6000"}),
        ("geforcertx5090-pcie-32gb", {"RTX-5090"}),
        ("geforcertx4090-pcie-24gb", {"RTX-4090"}),
        ("geforcertx3090-pcie-24gb", {"RTX-3090"}),
        ("v100-pcie-16gb", {"V100-16GB"}),  # the catalog's V100s are SXM; the memory still tells
        ("NVIDIA GeForce RTX 4090 PCIe 24GB", {"RTX-4090"}),
    ],
)
def test_lambda_and_tensordock_spellings(spelling: str, expected: set[str]) -> None:
    assert keys(spelling) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "nonsense",
        "MI300X",
        "RTX 4080",
        "geforcertx3080-pcie-10gb",
        "rtxa5000-pcie-24gb",
        "rtxa4000-pcie-16gb",  # an RTX A4000, not an A40
        "RTX A4000",
        "A1000",  # the RTX A1000, not an A100
        "H1000",
        "gpu_1x_gh200",  # arm64 superchip: not in the catalog, so never routed to
        "GH200 (96 GB)",
        "gpu_1x_rtx6000",  # Lambda's Quadro RTX 6000 (Turing), not the 6000 Ada
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "cpu_4x_general",
    ],
)
def test_unknown_names_are_none(name: str) -> None:
    assert parse(name) is None
    assert resolve(name, 80) is None


def test_the_selector_keeps_the_name_as_given_and_the_family() -> None:
    selector = parse("h100-sxm")
    assert selector is not None
    assert (selector.name, selector.family) == ("h100-sxm", "H100")
    assert [m.key for m in selector.models] == ["H100-SXM"]


@pytest.mark.parametrize(
    ("spelling", "vram_gb", "expected"),
    [
        ("A100 SXM4", 40, "A100-40GB-SXM"),
        ("A100 SXM4", 80, "A100-80GB-SXM"),
        ("A100 PCIE", 79.6, "A100-80GB-PCIE"),  # Vast reports usable memory, a little under
        ("gpu_1x_a100_sxm4", 40, "A100-40GB-SXM"),
        ("V100", 16, "V100-16GB"),
        ("V100", 32, "V100-32GB"),
        ("H100", 94, "H100-NVL"),
        ("NVIDIA H200", 141, "H200"),  # RunPod's and Vast's plain H200 is the SXM part
        ("H200", None, "H200"),
        ("H100 SXM", None, "H100-SXM"),
        ("L40S", 12, "L40S"),  # one variant: the name alone decides
    ],
)
def test_resolve_uses_vram_to_pick_one_variant(spelling: str, vram_gb: float | None, expected: str) -> None:
    model = resolve(spelling, vram_gb)
    assert model is not None and model.key == expected


@pytest.mark.parametrize(
    ("spelling", "vram_gb"),
    [
        ("A100", 80),  # SXM and PCIe both have 80 GB
        ("H100", 80),
        ("H100", None),
        ("A100 SXM4", 60),  # nowhere near either variant
        ("A100 SXM4", None),
    ],
)
def test_resolve_refuses_to_guess(spelling: str, vram_gb: float | None) -> None:
    assert resolve(spelling, vram_gb) is None


def test_known_names_offer_families_and_keys_that_all_parse() -> None:
    names = known_names()
    assert {"H100", "A100", "L40S", "H100-SXM", "RTX-4090"} <= set(names)
    assert all(parse(n) is not None for n in names)


@given(st.text(max_size=40))
def test_any_text_parses_to_none_or_to_variants_of_one_family(name: str) -> None:
    selector = parse(name)
    if selector is not None:
        assert selector.keys and selector.keys <= BY_KEY.keys()
        assert {BY_KEY[k].family for k in selector.keys} == {selector.family}
