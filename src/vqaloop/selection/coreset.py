"""Core-set baseline (Sener & Savarese 2018; SPEC "The eight baselines"): k-center greedy on embeddings.

The centres start as the already-labelled set L (``inputs.labelled_pooled``) when given; then each pick is
the pool point farthest from every centre (argmax of the min distance; ties to the lowest pool index), and
only the distances to the new centre are computed to update the min distances: time O(N B d) (+ O(N L d)
for L, in blocks), memory O(N). Without L the first pick is a uniform random pool point
(``numpy.random.default_rng(seed)``); it counts towards the budget, as in Sener & Savarese's greedy code.

Gonzalez's argument makes the covering radius (the largest distance of a pool point to its nearest pick)
at most twice the best possible for B picks, whatever the first pick.
"""

from __future__ import annotations

import numpy as np

from vqaloop.selection.embeddings import (
    centred,
    labelled_embeddings,
    min_sq_dist_to_set,
    pool_embeddings,
    sq_dist_to_point,
    squared_norms,
)
from vqaloop.selection.registry import SelectionInputs, register


def k_center_greedy(
    x: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    labelled: np.ndarray | None = None,
) -> list[int]:
    """k-center greedy on the rows of ``x`` (N, d); returns ``budget`` row indices in pick order."""
    n = len(x)
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    x_sq = squared_norms(x)
    picks: list[int] = []
    if labelled is not None and len(labelled):
        min_sq = min_sq_dist_to_set(x, x_sq, labelled)
    else:
        first = int(rng.integers(n))
        picks.append(first)
        min_sq = sq_dist_to_point(x, x_sq, x[first])
    # Squared distances order points as distances do; picked points are excluded by -inf, so a pool of
    # duplicates still yields distinct picks (ties at 0 go to the lowest unpicked index).
    min_sq[picks] = -np.inf
    while len(picks) < budget:
        best = int(np.argmax(min_sq))  # first occurrence: ties to the lowest index
        picks.append(best)
        np.minimum(min_sq, sq_dist_to_point(x, x_sq, x[best]), out=min_sq)
        min_sq[best] = -np.inf
    return picks


@register(
    "coreset",
    needs={"frames"},
    help="core-set (Sener & Savarese 2018): k-center greedy on pooled features, from L if given "
    "(else one seeded random point)",
)
def select_coreset(inputs: SelectionInputs, budget: int, seed: int, use_labelled: bool = True) -> list[int]:
    """k-center greedy from L (``use_labelled`` and L present) or from one ``default_rng(seed)`` point."""
    x = pool_embeddings(inputs)
    x, labelled = centred(x, labelled_embeddings(inputs, x) if use_labelled else None, in_place=True)
    return k_center_greedy(x, budget, np.random.default_rng(seed), labelled)
