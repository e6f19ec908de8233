"""Selection variants: one string id names everything that distinguishes a selection (and what follows it).

- ``random``                                  random sampling
- ``mds_<loss>_r<rank>_<encoder>_lam<lambda>`` MDS-VQA greedy (Eq. 9) with g trained by <loss> at LoRA rank
- ``..._oof`` (suffix of an mds id)           the same with g trained on f's out-of-fold errors (an extra row)
- ``divonly_<encoder>``                        "removing g": the diversity term alone (Table 5)
- ``coreset``, ``rd``, ``mc_dropout``, ``greedy``, ``alcs``, ``freesel``, ``noise_stability``: the baselines
``parse_variant`` is the one place that reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vqaloop.errors import UserError

# the failure-predictor losses' names, torch-free (the Snakefile parses ids): vqaloop.losses.fidelity.LOSSES registers
# exactly these (tests/test_losses.py checks that they agree)
G_LOSSES = ("ranking", "classification", "regression")
_LOSS = "|".join(G_LOSSES)
MDS_RE = re.compile(rf"^mds_({_LOSS})_r(\d+)_([a-z0-9_]+?)_lam(\d+(?:\.\d+)?)(_oof)?$")
OOF = "oof"  # g learns f's cross-fitted errors (vqaloop.training.errors) instead of its in-sample ones
DIVONLY_RE = re.compile(r"^divonly_([a-z0-9_]+)$")
# The competing methods of MDS-VQA Tables 2-4 and 9, in the paper's row order, and what each reads.
BASELINES = ("coreset", "rd", "mc_dropout", "greedy", "alcs", "freesel", "noise_stability")
MODEL_METHODS = ("mc_dropout", "noise_stability")  # need the base model f and its inputs
LABELLED_METHODS = ("coreset", "rd")  # start from the already-labelled set L (SPEC; config mds.labelled_set)
PATTERN_METHODS = {"freesel": "effnet_patterns"}  # read per-video semantic patterns, not frame features
VARIANT_PATTERN = "|".join(
    [
        "random",
        *BASELINES,
        rf"mds_(?:{_LOSS})_r\d+_[a-z0-9_]+?_lam\d+(?:\.\d+)?(?:_oof)?",
        r"divonly_[a-z0-9_]+",
    ]  # fmt: skip
)


G_PATTERN = rf"(?:{_LOSS})_r\d+(?:_oof)?"  # g ids: <loss>_r<rank>[_oof]


def parse_g_id(g_id: str) -> tuple[str, int, str]:
    """'ranking_r64_oof' -> ('ranking', 64, 'oof'); the inverse of ``Variant.g_id``."""
    m = re.fullmatch(rf"({_LOSS})_r(\d+)(?:_(oof))?", g_id)
    if not m:
        raise UserError(f"unknown failure-predictor id {g_id!r} (expected <loss>_r<rank>[_oof])")
    return m.group(1), int(m.group(2)), m.group(3) or ""


@dataclass(frozen=True)
class Variant:
    method: str  # random | mds | divonly | one of BASELINES
    loss: str | None = None
    rank: int | None = None
    encoder: str | None = None
    lam: float | None = None
    errors: str = ""  # "" = f's in-sample errors on the source training set (the paper); OOF = out-of-fold

    @property
    def id(self) -> str:
        if self.method == "random" or self.method in BASELINES:
            return self.method
        if self.method == "divonly":
            return f"divonly_{self.encoder}"
        return f"mds_{self.loss}_r{self.rank}_{self.encoder}_lam{self.lam:g}{self.errors_suffix}"

    @property
    def errors_suffix(self) -> str:
        return f"_{self.errors}" if self.errors else ""

    @property
    def needs_g(self) -> bool:
        return self.method == "mds"

    @property
    def g_id(self) -> str | None:
        return f"{self.loss}_r{self.rank}{self.errors_suffix}" if self.needs_g else None


def mds(loss: str, rank: int, encoder: str, lam: float, errors: str = "") -> Variant:
    return Variant("mds", loss, int(rank), encoder, float(lam), errors)


def parse_variant(text: str) -> Variant:
    if text == "random" or text in BASELINES:
        return Variant(text)
    if m := MDS_RE.match(text):
        return mds(m.group(1), int(m.group(2)), m.group(3), float(m.group(4)), OOF if m.group(5) else "")
    if m := DIVONLY_RE.match(text):
        return Variant("divonly", encoder=m.group(1))
    raise UserError(
        f"unknown selection variant {text!r} (expected random, mds_<loss>_r<rank>_<encoder>_lam<l>[_oof], divonly_<encoder>)"
    )
