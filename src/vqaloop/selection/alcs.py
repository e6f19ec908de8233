"""ALCS baseline (Yan et al. 2022, "Active Learning using a Clustering-based Sampling"; SPEC "The eight
baselines"), on pool embeddings, in one shot.

1. k-means with K clusters (default max(2, round(sqrt(B))); seeded k-means++ start, Lloyd on distance
   blocks). The paper clusters with a density-based method; SPEC fixes k-means.
2. Cluster c gets a quota proportional to its size, B * n_c / N, rounded by largest remainder (ties to the
   lower cluster index) so that the quotas sum to B.
3. Within a cluster, ceil(q/2) picks by representativeness, priority 1 + exp(-||x - c||) (highest first, so
   nearest the centre), and floor(q/2) boundary picks: the points whose ratio
   d(x, own centre) / d(x, nearest OTHER centre) is closest to 1, i.e. that sit between two clusters.
   The official code takes the point's own centre as the "nearest other centre" (so every ratio is 1 and
   the boundary choice degenerates); this implements the intended rule: the nearest centre other than the
   point's own. (Decision: with an odd quota the extra pick is a representative one.)
4. After each pick every point within ``radius`` of it is suppressed (the paper's diversity exploration),
   unless the cluster has nothing unsuppressed left, in which case the best suppressed point is taken.
   Default radius (decision): 0.5 x the median distance of the pool points to their own centre, so that
   suppression removes near-duplicates of a pick but leaves most of a cluster available.

Clusters are served largest first (ties to the lower cluster index); within one, representative picks come
before boundary picks. Ties in a ranking go to the lower pool index. Time O(N K d) for k-means plus
O(N B d) for the suppression (one distance per point to each pick); memory O(N + K d + one block).
The labelled set L is not used (SPEC names L for core-set and RD only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vqaloop.selection.embeddings import centred, kmeans, pool_embeddings, sq_dist_to_point, squared_norms
from vqaloop.selection.registry import SelectionInputs, register

DEFAULT_RADIUS_FACTOR = 0.5


@dataclass
class AlcsResult:
    picks: list[int]  # pool indices in pick order
    kinds: list[str]  # "representative" or "boundary", one per pick
    labels: np.ndarray  # (N,) cluster of every pool point
    centres: np.ndarray  # (K, d)
    quotas: np.ndarray  # (K,) picks per cluster, summing to B
    ratio: np.ndarray  # (N,) d(x, own centre) / d(x, nearest other centre), in [0, 1]
    radius: float


def default_clusters(budget: int) -> int:
    return max(2, round(math.sqrt(budget)))


def largest_remainder_quotas(sizes: np.ndarray, budget: int) -> np.ndarray:
    """Integer quotas proportional to ``sizes`` that sum to ``budget`` (Hamilton's method).

    Exact integer arithmetic: budget * size = quotient * N + remainder; the leftover picks go to the largest
    remainders, ties to the lower cluster index.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    quotas, remainders = np.divmod(budget * sizes, total)
    leftover = budget - int(quotas.sum())
    order = np.lexsort((np.arange(len(sizes)), -remainders))
    quotas[order[:leftover]] += 1
    return quotas


def alcs_select(
    x: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    n_clusters: int | None = None,
    radius: float | None = None,
    radius_factor: float = DEFAULT_RADIUS_FACTOR,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> AlcsResult:
    """ALCS on the rows of ``x`` (N, d); see the module docstring."""
    n = len(x)
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    k = default_clusters(budget) if n_clusters is None else int(n_clusters)
    if k < 1:
        raise ValueError(f"n_clusters must be >= 1, got {k}")
    k = min(k, n)
    km = kmeans(x, k, rng, max_iter=max_iter, tol=tol, second=k >= 2)
    labels = km.assignment.labels
    own = np.sqrt(km.assignment.sq_dist.astype(np.float64))
    if k >= 2:
        # The nearest centre other than the point's own (the official code's bug used the own centre here).
        other = np.sqrt(km.assignment.second_sq_dist.astype(np.float64))
        ratio = np.divide(own, other, out=np.ones(n), where=other > 0)
    else:
        ratio = np.zeros(n)  # one cluster: no boundary; boundary picks fall back to the farthest points
    priority = 1.0 + np.exp(-own)  # representativeness (highest first)
    closeness = np.abs(1.0 - ratio)  # boundary criterion (lowest first)
    if radius is None:
        radius = radius_factor * float(np.median(own))
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")

    sizes = np.bincount(labels, minlength=k)
    quotas = largest_remainder_quotas(sizes, budget)
    x_sq = squared_norms(x)
    picked = np.zeros(n, dtype=bool)
    suppressed = np.zeros(n, dtype=bool)
    picks: list[int] = []
    kinds: list[str] = []
    for c in np.lexsort((np.arange(k), -sizes)):  # largest cluster first
        members = np.flatnonzero(labels == c)
        rep_order = members[np.lexsort((members, -priority[members]))]
        bnd_order = members[np.lexsort((members, closeness[members]))]
        n_rep = (int(quotas[c]) + 1) // 2
        for j in range(int(quotas[c])):
            kind, order = ("representative", rep_order) if j < n_rep else ("boundary", bnd_order)
            free = order[~picked[order]]
            allowed = free[~suppressed[free]]
            choice = int(allowed[0] if len(allowed) else free[0])  # suppressed only if nothing else is left
            picks.append(choice)
            kinds.append(kind)
            picked[choice] = True
            if radius > 0:
                suppressed |= sq_dist_to_point(x, x_sq, x[choice]) <= radius * radius
    return AlcsResult(picks, kinds, labels, km.centres, quotas, ratio, float(radius))


@register(
    "alcs",
    needs={"frames"},
    help="ALCS (Yan et al. 2022): k-means, size-proportional quotas, half nearest-centre and half "
    "boundary points per cluster, neighbours within a radius suppressed after each pick",
)
def select_alcs(
    inputs: SelectionInputs,
    budget: int,
    seed: int,
    n_clusters: int | None = None,
    radius: float | None = None,
    radius_factor: float = DEFAULT_RADIUS_FACTOR,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> list[int]:
    """ALCS with k-means++ seeded by ``numpy.random.default_rng(seed)``."""
    x, _ = centred(pool_embeddings(inputs), in_place=True)
    result = alcs_select(
        x,
        budget,
        np.random.default_rng(seed),
        n_clusters=n_clusters,
        radius=radius,
        radius_factor=radius_factor,
        max_iter=max_iter,
        tol=tol,
    )
    return result.picks
