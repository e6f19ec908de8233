"""Greedy sampling baseline (Bhaskara et al. 2019, T-kmeans++; SPEC "The eight baselines").

k-means++ with a threshold: C = {one uniform random pool point}; then, B - 1 times, draw x (without
replacement) with probability proportional to min(d(x, C)^2, tau), tau = OPT / z, and add it to C. The cap
keeps a few far-away points (outliers) from attracting the picks the way plain k-means++ D^2 sampling lets
them. z = the assumed number of outliers = ``outlier_fraction`` (1%) of N, at least 1.

OPT (decision). The paper's tau needs OPT, the optimal k-means cost with z outliers, which is unknown; it is
estimated here, at every step, by the current k-means++ cost *with the z largest terms left out*:
OPT_t = sum of d(x, C_t)^2 over all but the z points farthest from C_t, tau_t = OPT_t / z. Two reasons:
- recomputed each step, tau follows the cost down as centres are added (the cost of the first centre alone
  overstates the final OPT by orders of magnitude and would cap nothing);
- the plain cost sum_x d(x, C)^2 includes the outliers' own terms: one outlier at squared distance D makes
  tau >= D / z, and its probability tends to 1 as D grows, so the cap would not cap. With the z farthest
  terms dropped, an isolated outlier weighs at most about 1 / (z + 1) of the total.
``tau=float('inf')`` gives plain k-means++ (D^2 sampling); a finite ``tau`` is used as a fixed cap.

Time O(N B d) (one distance per point to the newest centre per step, plus an O(N) partition for the
trimmed cost), memory O(N). The labelled set L is not used (SPEC names L for core-set and RD only).
"""

from __future__ import annotations

import math

import numpy as np

from vqaloop.selection.embeddings import (
    centred,
    pool_embeddings,
    sample_proportional,
    sq_dist_to_point,
    squared_norms,
)
from vqaloop.selection.registry import SelectionInputs, register

DEFAULT_OUTLIER_FRACTION = 0.01  # SPEC: z = 1% of N


def outlier_count(n: int, fraction: float = DEFAULT_OUTLIER_FRACTION) -> int:
    """z = ``fraction`` of N rounded to the nearest count, at least 1 (and at most N - 1)."""
    return max(1, min(n - 1, math.floor(fraction * n + 0.5))) if n > 1 else 1


def trimmed_cost(min_sq: np.ndarray, z: int) -> float:
    """sum of ``min_sq`` without its ``z`` largest entries (the k-means cost with z outliers discarded)."""
    if z >= len(min_sq):
        return 0.0
    kept = np.partition(min_sq, len(min_sq) - z)[: len(min_sq) - z]
    return float(np.sum(kept, dtype=np.float64))


def t_kmeanspp(
    x: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    outlier_fraction: float = DEFAULT_OUTLIER_FRACTION,
    tau: float | None = None,
) -> list[int]:
    """T-kmeans++ picks (row indices of ``x`` in pick order).

    ``tau=None``: tau_t = trimmed cost / z, recomputed every step (see the module docstring); a number:
    a fixed cap (``math.inf``: plain k-means++). Picked points get weight 0; if every other weight is 0
    (the rest duplicates a centre), the pick is uniform over the points not yet picked.
    """
    n = len(x)
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    if tau is not None and not tau > 0:
        raise ValueError(f"tau must be > 0 (or None for the adaptive rule), got {tau}")
    z = outlier_count(n, outlier_fraction)
    x_sq = squared_norms(x)
    picked = np.zeros(n, dtype=bool)
    first = int(rng.integers(n))
    picks = [first]
    picked[first] = True
    min_sq = sq_dist_to_point(x, x_sq, x[first]).astype(np.float64)
    min_sq[first] = 0.0
    while len(picks) < budget:
        cap = trimmed_cost(min_sq, z) / z if tau is None else tau
        weights = np.minimum(min_sq, cap)
        weights[picked] = 0.0
        nxt = sample_proportional(weights, rng, picked)
        picks.append(nxt)
        picked[nxt] = True
        np.minimum(min_sq, sq_dist_to_point(x, x_sq, x[nxt]), out=min_sq)
        min_sq[nxt] = 0.0
    return picks


@register(
    "greedy",
    needs={"frames"},
    help="greedy sampling (Bhaskara et al. 2019, T-kmeans++): D^2 sampling capped at tau = OPT/z, "
    "z = 1% of N outliers, OPT = k-means++ cost without the z farthest points; first pick seeded random",
)
def select_greedy(
    inputs: SelectionInputs,
    budget: int,
    seed: int,
    outlier_fraction: float = DEFAULT_OUTLIER_FRACTION,
    tau: float | None = None,
) -> list[int]:
    """T-kmeans++ with ``numpy.random.default_rng(seed)``."""
    x, _ = centred(pool_embeddings(inputs), in_place=True)
    return t_kmeanspp(x, budget, np.random.default_rng(seed), outlier_fraction=outlier_fraction, tau=tau)
