"""Power and equivalence in the claim verdicts (vqaloop.tables.power): closed forms and one case per verdict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vqaloop.tables.claims import build_claims
from vqaloop.tables.power import (
    AGREE,
    DISAGREE,
    EXCLUDED,
    INCONCLUSIVE,
    UNDERPOWERED,
    equivalence_p,
    exact_power,
    minimal_detectable_effect,
    seeds_needed,
)

CLAIM = "w2s_t1_w2s_ii_over_w2s_i_ood"  # one comparison: stage II above stage I on overall_ood SRCC (higher)


def exactly(mean: float, sd: float, n: int) -> np.ndarray:
    """n values with exactly this mean and sample standard deviation (ddof 1)."""
    z = np.linspace(-1.0, 1.0, n) ** 3 + np.linspace(0.0, 0.1, n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def write_stage_table(tables: Path, effects: np.ndarray, paper: tuple[float, float] | None) -> None:
    """W2S Table 1's overall_ood for stages I and II: II - I = ``effects`` per seed, on a seed effect they share;
    ``paper``: the published (I, II) values, written as the side-by-side file the builder writes (None: none)."""
    seeds = list(range(len(effects)))
    shared = np.linspace(0.1, 0.6, len(effects))
    records = [{"table": "w2s_table1", "row": row, "column": "overall_ood", "metric": "srcc", "seed": s, "value": v}
               for row, values in (("w2s_i", shared), ("w2s_ii", shared + effects))
               for s, v in zip(seeds, values, strict=True)]  # fmt: skip
    tables.mkdir(parents=True, exist_ok=True)
    pd.DataFrame.from_records(records).to_csv(tables / "w2s_table1_seeds.csv", index=False)
    if paper is not None:
        side = pd.DataFrame({"table": "w2s_table1", "row": ["w2s_i", "w2s_ii"], "column": "overall_ood",
                             "metric": "srcc", "ours": [0.0, 0.0], "paper": list(paper)})  # fmt: skip
        side.to_csv(tables / "w2s_table1_vs_paper.csv", index=False)


def claim_row(tables: Path) -> pd.Series:
    return build_claims(tables, [], papers=("w2s",)).set_index("claim").loc[CLAIM]


# ------------------------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("n", [3, 4, 8, 20])
def test_the_minimal_detectable_effect_is_the_closed_form(n):
    sd = 0.07
    expected = (stats.t.ppf(0.95, n - 1) + stats.t.ppf(0.80, n - 1)) * sd / math.sqrt(n)
    assert minimal_detectable_effect(sd, n) == pytest.approx(expected, rel=1e-12)
    # ... and it is what its name says: about 80% power at that effect (the non-central t, computed by scipy)
    assert 0.8 - 1e-6 < exact_power(expected, sd, n) < 0.81  # the closed form is a hair conservative


def test_the_mde_shrinks_as_one_over_root_n_and_grows_with_the_spread():
    mdes = [minimal_detectable_effect(0.1, n) for n in (4, 16, 64)]
    assert mdes[0] > mdes[1] > mdes[2]
    assert mdes[1] / mdes[2] == pytest.approx(2.0, rel=0.05)  # nearly 1/sqrt(n) once the t quantiles settle
    assert minimal_detectable_effect(0.2, 16) == pytest.approx(2 * mdes[1])
    assert math.isnan(minimal_detectable_effect(0.1, 1))


def test_seeds_needed_is_the_first_n_whose_mde_reaches_the_paper_s_effect():
    sd, effect = 0.12, 0.05
    n = seeds_needed(sd, effect)
    first = next(k for k in range(2, 1000) if (stats.t.ppf(0.95, k - 1) + stats.t.ppf(0.8, k - 1)) * sd / k**0.5
                 <= effect)  # fmt: skip
    assert n == first and n > 10
    assert seeds_needed(sd, -0.05) is None and seeds_needed(0.0, 0.05) is None  # no effect to reach / no spread
    assert seeds_needed(10.0, 1e-4) is None  # beyond the search


def test_the_equivalence_p_is_the_one_sided_t_test_against_the_paper_s_effect():
    effects = exactly(0.01, 0.02, 6)
    t = (0.01 - 0.2) / (0.02 / math.sqrt(6))
    assert equivalence_p(effects, 0.2) == pytest.approx(stats.t.cdf(t, 5), rel=1e-9)
    assert math.isnan(equivalence_p(effects, -0.1))  # a published effect against the claim: nothing to exclude


# ---------------------------------------------------------------------------------- one case per verdict


def test_agree(tmp_path):
    write_stage_table(tmp_path, exactly(0.10, 0.01, 5), paper=(0.50, 0.55))
    row = claim_row(tmp_path)
    assert row.verdict == AGREE and row.paper_effect == pytest.approx(0.05)


def test_disagree(tmp_path):
    write_stage_table(tmp_path, exactly(-0.10, 0.01, 5), paper=(0.50, 0.55))
    assert claim_row(tmp_path).verdict == DISAGREE


def test_the_paper_s_effect_is_excluded(tmp_path):
    """No effect either way (mean 0.005, not significant), tightly measured: an effect of 0.10 is ruled out."""
    write_stage_table(tmp_path, exactly(0.005, 0.02, 5), paper=(0.40, 0.50))
    row = claim_row(tmp_path)
    assert row.verdict == EXCLUDED
    assert row.p_equivalence < 0.05 and row.p_value > 0.05
    assert row.mde_80 == pytest.approx(minimal_detectable_effect(0.02, 5), rel=1e-3)


def test_underpowered_says_how_many_seeds_would_do(tmp_path):
    """An effect near the paper's (0.04 vs 0.05) buried in a spread of 0.1 over 4 seeds: nothing can be said."""
    write_stage_table(tmp_path, exactly(0.04, 0.10, 4), paper=(0.50, 0.55))
    row = claim_row(tmp_path)
    assert row.verdict == UNDERPOWERED
    assert row.seeds_needed == seeds_needed(0.10, 0.05) and row.seeds_needed > 4
    assert f"needs {row.seeds_needed} seeds" in row.detail
    assert row.mde_80 > row.paper_effect


def test_without_a_published_effect_it_stays_inconclusive(tmp_path):
    write_stage_table(tmp_path, exactly(0.04, 0.10, 4), paper=None)
    row = claim_row(tmp_path)
    assert row.verdict == INCONCLUSIVE and pd.isna(row.paper_effect) and pd.isna(row.seeds_needed)


def test_a_published_effect_against_the_claim_is_no_effect_to_power_against(tmp_path):
    write_stage_table(tmp_path, exactly(0.04, 0.10, 4), paper=(0.55, 0.50))  # the paper's II is below its I
    row = claim_row(tmp_path)
    assert row.verdict == INCONCLUSIVE and row.paper_effect == pytest.approx(-0.05)
