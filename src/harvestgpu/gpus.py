"""The GPU catalog: canonical models, their variants and VRAM, and name parsing.

Canonical keys (``GpuModel.key``) are what routing, offers and jobs store. Request names are
looser: ``H100`` means any H100 variant, ``h100-sxm`` only the SXM one, ``A100 80GB`` both
80 GB A100s. Provider spellings (``NVIDIA H100 80GB HBM3``, ``H100 SXM``, ``gpu_1x_h100_sxm5``,
``geforcertx4090-pcie-24gb``) go through the same parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate


@dataclass(frozen=True, slots=True)
class GpuModel:
    key: str  # canonical, e.g. "H100-SXM"
    family: str  # e.g. "H100"
    tags: frozenset[str]  # variant qualifiers: form factor and memory, e.g. {"SXM", "80GB"}
    vram_gb: int
    display: str  # e.g. "H100 SXM 80GB"
    speed: float  # relative throughput (H100 SXM = 1.0), used by the "speed" priority


def _m(key: str, family: str, tags: str, vram: int, display: str, speed: float) -> GpuModel:
    return GpuModel(key, family, frozenset(tags.split()), vram, display, speed)


CATALOG: tuple[GpuModel, ...] = (
    _m("B200", "B200", "SXM 180GB", 180, "B200 180GB", 2.2),
    _m("H200", "H200", "SXM 141GB", 141, "H200 SXM 141GB", 1.2),
    _m("H200-NVL", "H200", "NVL 141GB", 141, "H200 NVL 141GB", 1.1),
    _m("H100-SXM", "H100", "SXM 80GB", 80, "H100 SXM 80GB", 1.0),
    _m("H100-NVL", "H100", "NVL 94GB", 94, "H100 NVL 94GB", 0.9),
    _m("H100-PCIE", "H100", "PCIE 80GB", 80, "H100 PCIe 80GB", 0.8),
    _m("A100-80GB-SXM", "A100", "SXM 80GB", 80, "A100 SXM 80GB", 0.5),
    _m("A100-80GB-PCIE", "A100", "PCIE 80GB", 80, "A100 PCIe 80GB", 0.45),
    _m("A100-40GB-SXM", "A100", "SXM 40GB", 40, "A100 SXM 40GB", 0.45),
    _m("A100-40GB-PCIE", "A100", "PCIE 40GB", 40, "A100 PCIe 40GB", 0.4),
    _m("L40S", "L40S", "PCIE 48GB", 48, "L40S 48GB", 0.45),
    _m("L40", "L40", "PCIE 48GB", 48, "L40 48GB", 0.35),
    _m("L4", "L4", "PCIE 24GB", 24, "L4 24GB", 0.12),
    _m("A40", "A40", "PCIE 48GB", 48, "A40 48GB", 0.25),
    _m("A10", "A10", "PCIE 24GB", 24, "A10 24GB", 0.15),
    _m("RTX-A6000", "RTXA6000", "PCIE 48GB", 48, "RTX A6000 48GB", 0.28),
    _m("RTX-6000-ADA", "RTX6000ADA", "PCIE 48GB", 48, "RTX 6000 Ada 48GB", 0.4),
    _m("RTX-5090", "RTX5090", "PCIE 32GB", 32, "RTX 5090 32GB", 0.45),
    _m("RTX-4090", "RTX4090", "PCIE 24GB", 24, "RTX 4090 24GB", 0.35),
    _m("RTX-3090", "RTX3090", "PCIE 24GB", 24, "RTX 3090 24GB", 0.18),
    _m("V100-32GB", "V100", "SXM 32GB", 32, "V100 32GB", 0.15),
    _m("V100-16GB", "V100", "SXM 16GB", 16, "V100 16GB", 0.14),
    _m("T4", "T4", "PCIE 16GB", 16, "T4 16GB", 0.05),
)

BY_KEY: dict[str, GpuModel] = {m.key: m for m in CATALOG}

# Compact spellings (upper case, alphanumerics only) of each family, longest first so that
# "A100" wins over "A10" and "L40S" over "L40" and "L4".
_FAMILY_ALIASES: dict[str, str] = {
    "B200": "B200",
    "H200": "H200",
    "H100": "H100",
    "GH200": "GH200",
    "A100": "A100",
    "L40S": "L40S",
    "L40": "L40",
    "L4": "L4",
    "A40": "A40",
    "A10G": "A10",
    "A10": "A10",
    "RTXA6000": "RTXA6000",
    "A6000": "RTXA6000",
    "RTX6000ADA": "RTX6000ADA",
    "RTX6000ADAGENERATION": "RTX6000ADA",
    "6000ADA": "RTX6000ADA",
    "RTX5090": "RTX5090",
    "RTX4090": "RTX4090",
    "RTX3090": "RTX3090",
    "V100": "V100",
    "T4": "T4",
}
_ALIASES_LONGEST_FIRST = sorted(_FAMILY_ALIASES, key=len, reverse=True)
# Words that never change which GPU is meant.
_NOISE = re.compile(r"NVIDIA|GEFORCE|TESLA|GENERATION|EDITION|TENSOR|CORE|GPU", re.I)
# Qualifiers are read from the words after the family. "SXM4" keeps its generation digit only
# when that digit is not the start of a memory size glued to it ("SXM40GB" is SXM + 40GB).
_QUALIFIER = re.compile(r"SXM(?:\d(?=\D|$|\d{2,3} ?GB))?|PCIE|NVL|HBM3E?|\d{2,3} ?GB")
_FORM_FACTORS = frozenset({"SXM", "PCIE", "NVL"})
# Lambda spells instance types "gpu_8x_h100_sxm5": the count prefix is not part of the model.
_COUNT_PREFIX = re.compile(r"^(GPU)?\d+X", re.I)


@dataclass(frozen=True, slots=True)
class GpuSelector:
    """What a request or a provider spelling names: one family and the variants that fit."""

    name: str  # as given
    family: str
    keys: frozenset[str]

    @property
    def models(self) -> list[GpuModel]:
        return [BY_KEY[k] for k in self.keys]


def _qualifiers(words: str) -> set[str]:
    tags: set[str] = set()
    memory_type_only = False
    for token in _QUALIFIER.findall(words):
        if token.startswith("SXM"):
            tags.add("SXM")
        elif token.startswith("HBM3"):
            memory_type_only = True
        elif token in ("PCIE", "NVL"):
            tags.add(token)
        else:
            tags.add(token.replace(" ", ""))
    if memory_type_only and not tags & _FORM_FACTORS:
        tags.add("SXM")  # RunPod's "H100 80GB HBM3" is the SXM part; "H100 NVL ... HBM3" is not
    return tags


def _find_family(tokens: list[str]) -> tuple[str, str] | None:
    """The family a name's words spell, and the words after it (space separated)."""
    compact = "".join(tokens)
    word_ends = set(accumulate(map(len, tokens)))
    for alias in _ALIASES_LONGEST_FIRST:
        idx = compact.find(alias)
        if idx == -1 or compact[:idx] not in ("RTX", ""):
            continue
        end = idx + len(alias)
        if end < len(compact) and end not in word_ends and compact[end].isdigit():
            continue  # a longer model number: "A1000" is no A100, "RTX A4000" no A40
        rest, start = [], 0
        for token in tokens:
            if start + len(token) > end:
                rest.append(token[max(0, end - start) :])
            start += len(token)
        return _FAMILY_ALIASES[alias], " ".join(rest)
    return None


@lru_cache(maxsize=4096)
def parse(name: str) -> GpuSelector | None:
    """Map a request or provider GPU name onto the catalog; None when it names nothing known."""
    if not name or not name.strip():
        return None
    upper = name.upper().replace("_", " ").replace("-", " ")
    upper = _COUNT_PREFIX.sub("", upper.replace(" ", "", 1) if upper.startswith("GPU ") else upper)
    upper = _NOISE.sub(" ", upper)
    found = _find_family(re.findall(r"[A-Z0-9]+", upper))
    if found is None:
        return None
    family, rest = found
    # RTX 6000 Ada: the "ADA" after the family is part of its name, not a qualifier.
    if family == "RTX6000ADA":
        rest = rest.replace("ADA", "", 1)
    tags = _qualifiers(rest)
    variants = [m for m in CATALOG if m.family == family]
    keys = frozenset(m.key for m in variants if tags <= m.tags)
    if not keys:
        # A qualifier no variant has still names the family: drop the memory size first
        # ("H100 PCIe 94GB"), then the form factor ("V100 PCIe 16GB": the catalog's V100s are SXM).
        form = tags & _FORM_FACTORS
        keys = frozenset(m.key for m in variants if form <= m.tags)
        if not keys and tags - _FORM_FACTORS:
            keys = frozenset(m.key for m in variants if tags - _FORM_FACTORS <= m.tags)
    if not keys:
        return None
    return GpuSelector(name=name, family=family, keys=keys)


def resolve(name: str, vram_gb: float | None = None) -> GpuModel | None:
    """One canonical model for a provider's spelling, using VRAM to break ties.

    Returns None when the name is unknown or stays ambiguous.
    """
    sel = parse(name)
    if sel is None:
        return None
    models = sel.models
    if len(models) == 1:
        return models[0]
    if vram_gb is not None:
        best = min(models, key=lambda m: (abs(m.vram_gb - vram_gb), -m.speed))
        if abs(best.vram_gb - vram_gb) > max(8.0, best.vram_gb * 0.1):
            return None
        # Same memory on two form factors (A100 80GB SXM/PCIe): only a unique one is an answer.
        models = [m for m in models if m.vram_gb == best.vram_gb]
    if len(models) > 1:
        # Every cloud spells NVL parts out ("H200 NVL"), so a name without it means the other
        # one: RunPod's "NVIDIA H200" and Vast's "H200" are the SXM part.
        models = [m for m in models if "NVL" not in m.tags] or models
    return models[0] if len(models) == 1 else None


def known_names() -> list[str]:
    """Names to suggest in errors: families and every canonical key."""
    fams = sorted({m.family for m in CATALOG} - {"RTXA6000", "RTX6000ADA", "RTX5090", "RTX4090", "RTX3090"})
    return fams + [m.key for m in CATALOG if m.key not in fams]


def get(key: str) -> GpuModel:
    return BY_KEY[key]
