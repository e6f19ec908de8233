"""RD baseline (Wu 2019, representativeness-diversity; SPEC "The eight baselines"), in its one-shot form.

One k-means with K = |L| + B clusters over the pool together with the labelled set L (when given); in each
cluster that holds no labelled point, the pool point nearest its centroid is picked. That is the one-shot
form of Wu's sequential rule "the largest cluster without a selected sample, its point nearest the
centroid", and the same rule orders and completes the picks:

1. clusters without a labelled point, largest first (size counts pool and L points; ties to the lower
   cluster index), each giving its pool point nearest the centroid;
2. if these are fewer than B (possible only when clusters end up without pool points, e.g. many duplicate
   points), clusters that hold labelled points but no pick, largest first, give their nearest pool point;
3. then, round after round, every cluster (largest first) gives its next-nearest pool point not yet picked.

So exactly B distinct pool points come back, and with more than B label-free clusters the B largest win.
k-means: seeded k-means++ start (``numpy.random.default_rng(seed)``), then Lloyd on (rows, K) distance
blocks (``embeddings.kmeans``); memory O((N + L) + K d + one block), never N x N or a full N x K matrix.
"""

from __future__ import annotations

import numpy as np

from vqaloop.selection.embeddings import centred, kmeans, labelled_embeddings, pool_embeddings
from vqaloop.selection.registry import SelectionInputs, register


def rd_select(
    x: np.ndarray,
    budget: int,
    rng: np.random.Generator,
    labelled: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> tuple[list[int], np.ndarray]:
    """RD picks (row indices of ``x`` in pick order) and the cluster label of every pool row."""
    n = len(x)
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    n_labelled = 0 if labelled is None else len(labelled)
    points = x if not n_labelled else np.concatenate([x, labelled.astype(x.dtype, copy=False)])
    k = min(n_labelled + budget, len(points))
    result = kmeans(points, k, rng, max_iter=max_iter, tol=tol)
    labels = result.assignment.labels
    sq_dist = result.assignment.sq_dist
    pool_labels, pool_sq = labels[:n], sq_dist[:n]

    sizes = np.bincount(labels, minlength=k)
    has_labelled = np.zeros(k, dtype=bool)
    has_labelled[labels[n:]] = True

    # Rank of each pool point within its cluster by distance to the centroid (ties to the lower index).
    order = np.lexsort((np.arange(n), pool_sq, pool_labels))
    sorted_labels = pool_labels[order]
    cluster_start = np.searchsorted(sorted_labels, np.arange(k))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - cluster_start[sorted_labels]

    # Tier 0: nearest point of a label-free cluster; tier 1: nearest point of a cluster with labels;
    # tier 1 + r: the point of rank r >= 1. Within a tier: larger clusters first, then lower cluster index.
    tier = np.where(rank == 0, has_labelled[pool_labels].astype(np.int64), 1 + rank)
    pick_order = np.lexsort((pool_labels, -sizes[pool_labels], tier))
    return [int(i) for i in pick_order[:budget]], pool_labels


@register(
    "rd",
    needs={"frames"},
    help="RD (Wu 2019): k-means with |L|+B clusters over pool (+L); the point nearest the centroid of each "
    "cluster without a labelled point, largest clusters first",
)
def select_rd(
    inputs: SelectionInputs,
    budget: int,
    seed: int,
    use_labelled: bool = True,
    max_iter: int = 100,
    tol: float = 1e-4,
) -> list[int]:
    """One-shot RD; k-means++ seeded with ``default_rng(seed)``."""
    x = pool_embeddings(inputs)
    x, labelled = centred(x, labelled_embeddings(inputs, x) if use_labelled else None, in_place=True)
    picks, _ = rd_select(x, budget, np.random.default_rng(seed), labelled, max_iter=max_iter, tol=tol)
    return picks
