"""Power and equivalence for the claim verdicts: could this run have seen the paper's effect, and did it rule it out?

A claim compares a subject with other rows over paired seeds (``vqaloop.tables.claims``): d_s = subject_s - other_s,
s = 1..n, tested one-sided in the claimed direction (``direction`` = +1 for "subject higher", -1 for "lower").
The paper's effect of a comparison is the same difference of the published values (``<table>_vs_paper.csv``),
delta_p = direction * (paper[subject] - paper[other]) (positive when the paper shows what it claims). With
e_s = direction * d_s the claimed effect per seed, its mean e and standard deviation sd:

* **Minimal detectable effect** at power 1 - beta (0.8) of the one-sided paired t-test at level alpha:

      MDE = (t_{1-alpha, n-1} + t_{1-beta, n-1}) * sd / sqrt(n)

  the closed form of Bloom (1995, "Minimum detectable effects"), the normal-theory approximation of the
  non-central t power with the t quantiles in place of the normal ones. A true effect of MDE gives a t statistic
  centred at t_{1-alpha} + t_{1-beta}: it passes the critical value t_{1-alpha} with probability about 1 - beta
  (exactly so in the normal limit; ``exact_power`` gives the exact non-central t figure: 0.800-0.807 for
  n = 3..50, so the closed form errs on the safe side by under 1%).
* **Seeds needed**: the smallest n >= 2 with MDE(n) <= delta_p, at the sd this run measured (the spread of the
  paired differences over seeds; machines no longer add to it: ``vqaloop.dispatch`` gives every CPU the same
  bits). Searched up to ``MAX_SEEDS``.
* **Equivalence (the paper's effect excluded)**: the one-sided test of H0: E[e] >= delta_p against H1: E[e] < delta_p,
  t = (e - delta_p) / (sd / sqrt(n)); rejecting it at level alpha is the same as the one-sided 1 - alpha upper
  confidence bound of the effect lying below delta_p: an effect as large as the paper's is excluded. It is the
  relevant half of Schuirmann's two one-sided tests (TOST): only effects as large as the paper's, in its
  direction, are to be excluded.

Verdicts (``decide``), for a claim of k comparisons (k > 1: "A beats every other row"), in this order:

1. ``agree``: every comparison significant in the claimed direction at alpha (intersection-union test).
2. ``disagree``: some comparison significant in the opposite direction at alpha / k (Bonferroni).
3. ``paper's effect excluded``: some comparison's equivalence test rejects an effect as large as the paper's at
   alpha / k. The paper claims the subject beats *every* row by the published margins; excluding one of them
   already excludes the paper's result.
4. ``underpowered``: none of the above although the paper's effect is known: the run could not tell. The row says
   the MDE of the deciding comparison and how many seeds would give 80% power at the paper's effect.
5. ``inconclusive``: none of 1-3 and no published effect to power against (a row the paper does not have, a
   published effect of zero or against the claim, or a comparison without seed variance).

The deciding comparison is, for ``disagree`` and ``paper's effect excluded``, the one with the smallest p of that
test, else the weakest link (the largest p_claimed), as before.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

AGREE, DISAGREE, EXCLUDED, UNDERPOWERED, INCONCLUSIVE = (
    "agree", "disagree", "paper's effect excluded", "underpowered", "inconclusive",
)  # fmt: skip
POWER = 0.8
MAX_SEEDS = 1000


def minimal_detectable_effect(sd: float, n: int, level: float = 0.05, power: float = POWER) -> float:
    """The smallest true mean effect the one-sided paired t-test at ``level`` detects with ``power`` (docstring)."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    df = n - 1
    return float((stats.t.ppf(1 - level, df) + stats.t.ppf(power, df)) * sd / math.sqrt(n))


def exact_power(effect: float, sd: float, n: int, level: float = 0.05) -> float:
    """The exact power of the one-sided paired t-test at ``level`` for a true mean effect (non-central t)."""
    df = n - 1
    return float(stats.nct.sf(stats.t.ppf(1 - level, df), df, effect * math.sqrt(n) / sd))


def seeds_needed(sd: float, paper_effect: float, level: float = 0.05, power: float = POWER) -> int | None:
    """The smallest n >= 2 whose MDE at ``sd`` is at most the paper's effect; None beyond ``MAX_SEEDS`` or without
    a positive effect and spread."""
    if not (np.isfinite(sd) and sd > 0 and np.isfinite(paper_effect) and paper_effect > 0):
        return None
    for n in range(2, MAX_SEEDS + 1):
        if minimal_detectable_effect(sd, n, level, power) <= paper_effect:
            return n
    return None


def equivalence_p(effects: np.ndarray, paper_effect: float) -> float:
    """p of H0: mean effect >= the paper's effect (docstring); nan when untestable (n < 2, no spread, no effect)."""
    effects = np.asarray(effects, dtype=float)
    if len(effects) < 2 or not np.isfinite(paper_effect) or paper_effect <= 0:
        return float("nan")
    if np.std(effects) <= 1e-12 * max(1.0, float(np.abs(effects).max())):
        return float("nan")
    return float(stats.ttest_1samp(effects, paper_effect, alternative="less").pvalue)


def decide(p_claimed: list[float], p_opposite: list[float], p_equivalence: list[float], powered: list[bool],
           level: float) -> tuple[str, int]:  # fmt: skip
    """(verdict, index of the deciding comparison) by the rules of the module docstring; nan p values count as 1.
    ``powered[i]``: comparison i has a published effect in the claimed direction and a seed spread, so its power
    can be stated (underpowered rather than inconclusive when it decides)."""
    k = len(p_claimed)
    claimed = np.nan_to_num(np.asarray(p_claimed, dtype=float), nan=1.0)
    opposite = np.nan_to_num(np.asarray(p_opposite, dtype=float), nan=1.0)
    excluded = np.nan_to_num(np.asarray(p_equivalence, dtype=float), nan=1.0)
    if (claimed <= level).all():
        return AGREE, int(np.argmax(claimed))
    if (opposite <= level / k).any():
        return DISAGREE, int(np.argmin(opposite))
    if (excluded <= level / k).any():
        return EXCLUDED, int(np.argmin(excluded))
    weakest = int(np.argmax(claimed))
    return (UNDERPOWERED if powered[weakest] else INCONCLUSIVE), weakest
