"""Shared pieces of the feature-only baselines (core-set, RD, greedy sampling, ALCS).

- ``pool_embeddings``: one vector per pool video, ``inputs.pooled`` when present, else the frame mean of
  ``inputs.frames`` (the same thing: FEATS.npz's ``pooled`` is the float32 frame mean);
- ``labelled_embeddings``: the optional already-labelled set L (``inputs.labelled_pooled``), checked against
  the pool's feature size;
- squared Euclidean distances to one point (O(N d)), and to K centres in row blocks of at most
  ``CHUNK_ELEMENTS`` distances (never an N x N or even a full N x K matrix);
- seeded k-means++ initialisation and Lloyd k-means on those blocks.

Everything is numpy (float32 for float32 features, float64 otherwise), so ``tracemalloc`` sees every
allocation. Distances use ||x||^2 + ||c||^2 - 2 x.c, clamped at 0, on embeddings centred on the pool's mean
(``centred``): the expansion subtracts numbers of the size of ||x||^2, so with features far from the origin
(an offset of 30 in every dimension) float32 lost the differences that decide a farthest point; centred,
the numbers are of the size of the spread itself. Distances are translation-invariant, so the picks are the
same as on the raw features, up to that rounding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from vqaloop.errors import UserError
from vqaloop.selection.registry import SelectionInputs

log = logging.getLogger(__name__)

CHUNK_ELEMENTS = 1 << 22  # distances per block: 16 MiB in float32, 32 MiB in float64


def _float_array(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    dtype = np.float64 if array.dtype == np.float64 else np.float32
    return np.ascontiguousarray(array, dtype=dtype)


def pool_embeddings(inputs: SelectionInputs) -> np.ndarray:
    """(N, d) embeddings of the pool: ``pooled`` if present, else the mean of ``frames`` over frames; a new array
    the caller may change (``centred(..., in_place=True)``: one copy of the embeddings in memory, not two).
    Features read on demand (``features.store.RowView``) are read once, the frames a chunk at a time."""
    from vqaloop.features.store import RowView

    if inputs.pooled is not None:
        emb = inputs.pooled.read_all() if isinstance(inputs.pooled, RowView) else np.array(_float_array(inputs.pooled))
    elif isinstance(inputs.frames, RowView):
        emb = np.concatenate([rows.mean(axis=1, dtype=np.float32) for _, rows in inputs.frames.chunks()])
    elif inputs.frames is not None:
        frames = np.asarray(inputs.frames)
        if frames.ndim != 3:
            raise UserError(f"frame features must be (N, F, D), got shape {frames.shape}")
        dtype = np.float64 if frames.dtype == np.float64 else np.float32
        emb = frames.mean(axis=1, dtype=dtype)
    else:
        raise UserError("this selection method needs pooled or frame-level features, and neither is given")
    if emb.ndim != 2 or emb.shape[0] != inputs.pool_size:
        raise UserError(f"pool features must be ({inputs.pool_size}, D), got shape {emb.shape}")
    if not np.isfinite(emb).all():
        raise UserError("pool features contain NaN or infinite values")
    return emb


def labelled_embeddings(inputs: SelectionInputs, pool: np.ndarray) -> np.ndarray | None:
    """(L, d) embeddings of the labelled set L in the pool's dtype, or None when L is absent or empty."""
    if inputs.labelled_pooled is None:
        return None
    emb = np.ascontiguousarray(inputs.labelled_pooled, dtype=pool.dtype)
    if emb.ndim != 2 or emb.shape[1] != pool.shape[1]:
        raise UserError(f"labelled features must be (L, {pool.shape[1]}) like the pool's, got shape {emb.shape}")
    if not np.isfinite(emb).all():
        raise UserError("labelled features contain NaN or infinite values")
    return emb if len(emb) else None


def centred(pool: np.ndarray, labelled: np.ndarray | None = None,
            in_place: bool = False) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """``pool`` and ``labelled`` (same dtype) shifted by the pool's mean (computed in float64); new arrays, or
    ``pool`` itself shifted with ``in_place`` (the same values)."""
    mean = pool.mean(axis=0, dtype=np.float64).astype(pool.dtype)
    if in_place:
        pool -= mean
    else:
        pool = pool - mean
    return pool, None if labelled is None else labelled - mean


def squared_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def sq_dist_to_point(x: np.ndarray, x_sq: np.ndarray, point: np.ndarray) -> np.ndarray:
    """(N,) squared distances of the rows of ``x`` to one point: one matrix-vector product, O(N d)."""
    d = x @ point
    d *= -2
    d += x_sq
    d += float(point @ point)
    np.maximum(d, 0, out=d)
    return d


def block_rows(k: int) -> int:
    """Rows per block so that a (rows, k) distance block has at most ``CHUNK_ELEMENTS`` entries."""
    return max(1, CHUNK_ELEMENTS // max(1, k))


def min_sq_dist_to_set(x: np.ndarray, x_sq: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(N,) squared distance of each row of ``x`` to its nearest row of ``others``, in blocks of rows of x."""
    others_sq = squared_norms(others)
    out = np.empty(len(x), dtype=x.dtype)
    # Blocks over the rows of `others` too, so that a huge L still costs one block of memory.
    rows = block_rows(min(len(others), 4096))
    for start in range(0, len(x), rows):
        stop = min(start + rows, len(x))
        best = np.full(stop - start, np.inf, dtype=x.dtype)
        for o_start in range(0, len(others), 4096):
            o = slice(o_start, o_start + 4096)
            block = x[start:stop] @ others[o].T
            block *= -2
            block += x_sq[start:stop, None]
            block += others_sq[None, o]
            np.minimum(best, block.min(axis=1), out=best)
        out[start:stop] = np.maximum(best, 0)
    return out


@dataclass
class Assignment:
    """Nearest centre of each point; with ``second``, also the nearest *other* centre."""

    labels: np.ndarray  # (N,) int64
    sq_dist: np.ndarray  # (N,) squared distance to centres[labels]
    second_labels: np.ndarray | None = None  # (N,) the nearest centre other than labels
    second_sq_dist: np.ndarray | None = None


def assign(x: np.ndarray, x_sq: np.ndarray, centres: np.ndarray, second: bool = False) -> Assignment:
    """Nearest centre (ties to the lowest centre index) in (rows, K) blocks: memory O(CHUNK_ELEMENTS + N).

    The argmin over centres only needs ||c||^2 - 2 x.c (||x||^2 is the same along a row), so each block is
    one GEMM with -2 C plus one addition; ||x||^2 is added to the chosen entries only.
    """
    n, k = len(x), len(centres)
    if second and k < 2:
        raise ValueError("the nearest other centre needs at least 2 centres")
    c_sq = squared_norms(centres)
    minus_two_c = np.ascontiguousarray(-2 * centres.T)  # (d, K)
    labels = np.empty(n, dtype=np.int64)
    sq = np.empty(n, dtype=x.dtype)
    labels2 = np.empty(n, dtype=np.int64) if second else None
    sq2 = np.empty(n, dtype=x.dtype) if second else None
    rows = block_rows(k)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        block = x[start:stop] @ minus_two_c
        block += c_sq[None, :]
        idx = np.arange(stop - start)
        best = block.argmin(axis=1)
        labels[start:stop] = best
        sq[start:stop] = np.maximum(block[idx, best] + x_sq[start:stop], 0)
        if second:
            block[idx, best] = np.inf
            other = block.argmin(axis=1)
            labels2[start:stop] = other
            sq2[start:stop] = np.maximum(block[idx, other] + x_sq[start:stop], 0)
    return Assignment(labels, sq, labels2, sq2)


def kmeans_pp_init(x: np.ndarray, x_sq: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ (Arthur & Vassilvitskii 2007): k distinct row indices; first uniform, then D^2 sampling.

    One candidate per step (no greedy trials). Points already chosen have weight 0; if every remaining
    weight is 0 (duplicates), the next centre is uniform over the rows not yet chosen. O(N k d) time.
    """
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k-means++ needs 1 <= k <= N, got k={k}, N={n}")
    chosen = np.zeros(n, dtype=bool)
    first = int(rng.integers(n))
    centres = [first]
    chosen[first] = True
    min_sq = sq_dist_to_point(x, x_sq, x[first]).astype(np.float64)
    for _ in range(1, k):
        min_sq[chosen] = 0.0
        nxt = sample_proportional(min_sq, rng, chosen)
        centres.append(nxt)
        chosen[nxt] = True
        np.minimum(min_sq, sq_dist_to_point(x, x_sq, x[nxt]), out=min_sq)
    return np.asarray(centres, dtype=np.int64)


def sample_proportional(weights: np.ndarray, rng: np.random.Generator, excluded: np.ndarray) -> int:
    """One index drawn with probability proportional to ``weights`` (>= 0, 0 on ``excluded``).

    One uniform draw against the cumulative sum (searchsorted 'right' never lands on a zero weight). When
    all weights are 0, uniform over the indices not ``excluded``.
    """
    cumulative = np.cumsum(weights, dtype=np.float64)
    total = cumulative[-1]
    if not total > 0 or not np.isfinite(total):
        free = np.flatnonzero(~excluded)
        return int(free[rng.integers(len(free))])
    idx = int(np.searchsorted(cumulative, rng.random() * total, side="right"))
    if idx >= len(weights) or weights[idx] <= 0:  # rounding at the very end of the sum
        idx = int(np.flatnonzero(weights > 0)[-1])
    return idx


@dataclass
class KMeansResult:
    centres: np.ndarray  # (K, d)
    assignment: Assignment  # nearest centre of every point, for the final centres
    iterations: int
    converged: bool


def kmeans(
    x: np.ndarray,
    k: int,
    rng: np.random.Generator,
    max_iter: int = 100,
    tol: float = 1e-4,
    second: bool = False,
) -> KMeansResult:
    """Lloyd k-means from a seeded k-means++ start, on (rows, K) distance blocks: memory O(N + K d + block).

    Stops when no label changes or when the summed squared centre shift is <= ``tol`` times the mean
    per-feature variance of ``x`` (scikit-learn's rule), or after ``max_iter`` updates. An empty cluster is
    moved to the point farthest from its centre (as scikit-learn does). The returned assignment is computed
    for the final centres, so every point's label is its nearest centre.
    """
    n = len(x)
    x_sq = squared_norms(x)
    centres = x[kmeans_pp_init(x, x_sq, k, rng)].copy()
    threshold = tol * mean_feature_variance(x)
    labels = None
    final = None  # the assignment for the final centres, when the loop already computed it
    converged = False
    iterations = 0
    while iterations < max_iter:
        current = assign(x, x_sq, centres)
        iterations += 1
        if labels is not None and np.array_equal(current.labels, labels):
            converged, final = True, current
            break
        labels = current.labels
        new = cluster_means(x, labels, k)
        empty = np.flatnonzero(np.bincount(labels, minlength=k) == 0)
        if len(empty):
            far = np.argsort(-current.sq_dist, kind="stable")[: len(empty)]
            new[empty] = x[far]
        shift = float(np.sum((new.astype(np.float64) - centres) ** 2))
        centres = new
        if shift <= threshold:
            converged = True
            break
    log.info("k-means: K=%d on %d points, %d Lloyd iterations, converged: %s", k, n, iterations, converged)
    if final is None or second:
        final = assign(x, x_sq, centres, second=second)
    return KMeansResult(centres, final, iterations, converged)


def mean_feature_variance(x: np.ndarray) -> float:
    """Mean over features of the variance of ``x``'s columns, accumulated in float64 block by block."""
    total = np.zeros(x.shape[1])
    total_sq = np.zeros(x.shape[1])
    rows = block_rows(x.shape[1])
    for start in range(0, len(x), rows):
        block = x[start : start + rows].astype(np.float64)
        total += block.sum(axis=0)
        total_sq += np.einsum("ij,ij->j", block, block)
    mean = total / len(x)
    return float(np.mean(np.maximum(total_sq / len(x) - mean * mean, 0.0)))


def cluster_means(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(K, d) mean of the rows of each cluster (0 for an empty one), summed in float64: O(N d).

    Per block of rows, a sparse (K, rows) one-hot matrix times the block (in float64): no gathered copy of
    x and no (N, d) float64 copy.
    """
    from scipy.sparse import csr_matrix

    n = len(x)
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    rows = block_rows(x.shape[1])
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        onehot = csr_matrix(
            (np.ones(stop - start), (labels[start:stop], np.arange(stop - start))), shape=(k, stop - start)
        )
        sums += onehot @ x[start:stop].astype(np.float64)
    present = counts > 0
    sums[present] /= counts[present, None]
    return sums.astype(x.dtype)
