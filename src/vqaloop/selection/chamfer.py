"""Chamfer distance between videos seen as sets of frame features (MDS-VQA Eq. 7), in two readings.

    paper   (Eq. 7):  d_CD(X, Y) = 1/|X| sum_{u in X} min_{v in Y} ||u - v||^2 + 1/|Y| sum_{v in Y} min_{u in X} ||v - u||^2
    authors (their ``src/greedy_selection.py:get_pairwise_distance`` at a6834d5): Euclidean, not squared, distances
              and the mean of the two directions,
                      d(X, Y) = (1/|X| sum_u min_v ||u - v|| + 1/|Y| sum_v min_u ||v - u||) / 2

``CHAMFER_KINDS`` names them ("paper" is the default everywhere; ``vqaloop select --chamfer``, config
``mds.chamfer``). Both take the minima of the same squared distances (the square root is monotone, so
min ||u - v|| = sqrt(min ||u - v||^2)); only what is averaged differs. Squared distances come from matrix products, ||u - v||^2 = ||u||^2 + ||v||^2 - 2 u.v, clamped at 0 against
rounding; no Python loop ever runs over frames. Everything is computed in float32 on the device the tensors live on
(CPU or CUDA alike); frames held in reduced precision (float16 or bfloat16, ``vqaloop select --storage``) are
converted to float32 one chunk at a time, so the products accumulate in float32 without a float32 copy of the
pool. Videos are processed in chunks so one chunk's (chunk, F, F2) distance block stays near ``BLOCK_BYTES``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vqaloop.selection.registry import CHAMFER_KINDS

BLOCK_BYTES = 64 * 2**20  # target size of one chunk's float32 distance block
CONVERT_BYTES = 16 * 2**20  # at most this much float32 copy of reduced-precision frames at a time


def l2_normalise_frames(frames: Tensor, eps: float = 1e-12) -> Tensor:
    """Scale every frame feature (last axis) to unit L2 norm; an all-zero frame stays zero."""
    frames = frames.to(torch.float32)
    norms = torch.linalg.vector_norm(frames, dim=-1, keepdim=True)
    return frames / norms.clamp_min(eps)


def squared_norms(frames: Tensor) -> Tensor:
    """||u||^2 for every frame: (..., F, D) -> (..., F) float32, without an (..., F, D) float32 temporary (reduced
    precision frames are converted ``CONVERT_BYTES`` at a time; each row's norm is the same either way)."""
    row = 4 * max(1, frames[0].numel()) if frames.ndim >= 2 and len(frames) else 1
    chunk = max(1, CONVERT_BYTES // row)
    if frames.dtype == torch.float32 or frames.ndim < 2 or len(frames) <= chunk:
        return torch.linalg.vector_norm(frames.to(torch.float32), dim=-1).square_()
    return torch.cat([squared_norms(frames[i : i + chunk]) for i in range(0, len(frames), chunk)])


def default_chunk(n_frames: int, n_ref_frames: int, n_refs: int = 1) -> int:
    """Videos per chunk so that a (chunk, n_refs, F, F2) float32 block is about BLOCK_BYTES."""
    return max(1, BLOCK_BYTES // (4 * n_frames * n_ref_frames * n_refs))


def chamfer_from_squared_distances(d2: Tensor, kind: str = "paper") -> Tensor:
    """The Chamfer distance from a block of squared distances (..., F, F2). "paper" (Eq. 7): mean of the row
    minima plus mean of the column minima; "authors": the same with the square roots of the minima (Euclidean
    distances), halved (module docstring)."""
    rows, cols = d2.amin(dim=-1), d2.amin(dim=-2)
    if kind == "paper":
        return rows.mean(dim=-1) + cols.mean(dim=-1)
    if kind == "authors":
        return (rows.sqrt().mean(dim=-1) + cols.sqrt().mean(dim=-1)) / 2.0
    raise ValueError(f"unknown Chamfer distance {kind!r}; valid: {', '.join(CHAMFER_KINDS)}")


def chamfer_to_one(
    frames: Tensor,
    ref: Tensor,
    chunk: int | None = None,
    frames_sq: Tensor | None = None,
    kind: str = "paper",
) -> Tensor:
    """d_CD between each of N videos and one reference video (MDS-VQA Eq. 7; ``kind`` "authors": their reading).

    frames: (N, F, D) float32, or float16 / bfloat16 (converted a chunk at a time); ref: (F2, D); returns (N,)
    float32 on frames' device. ``frames_sq`` (N, F) may pass precomputed squared norms (the greedy selection
    computes them once instead of once per pick).
    """
    _check_frames(frames, "frames")
    if ref.ndim != 2 or ref.shape[1] != frames.shape[2]:
        raise ValueError(f"ref must be (F2, {frames.shape[2]}), got {tuple(ref.shape)}")
    if not frames.is_floating_point():
        frames = frames.to(torch.float32)
    ref = ref.to(device=frames.device, dtype=torch.float32)
    n, f, d = frames.shape
    f2 = ref.shape[0]
    chunk = chunk or default_chunk(f, f2)
    if frames.dtype != torch.float32:  # the float32 copy of a reduced-precision chunk: CONVERT_BYTES at most
        chunk = min(chunk, max(1, CONVERT_BYTES // (4 * f * d)))
    if frames_sq is None:
        frames_sq = squared_norms(frames)
    ref_sq = squared_norms(ref)
    ref_t = ref.t()
    out = torch.empty(n, dtype=torch.float32, device=frames.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = frames[start:stop].to(torch.float32)  # a view of float32 frames; a converted copy of reduced ones
        gram = torch.mm(block.reshape(-1, d), ref_t).view(-1, f, f2)  # one GEMM, c*F rows
        d2 = gram.mul_(-2.0).add_(frames_sq[start:stop, :, None]).add_(ref_sq).clamp_min_(0.0)
        out[start:stop] = chamfer_from_squared_distances(d2, kind)
    return out


def chamfer_matrix(a: Tensor, b: Tensor, chunk: int | None = None, kind: str = "paper") -> Tensor:
    """All pairwise d_CD between videos of a (N, F, D) and b (M, F2, D): an (N, M) matrix (Eq. 7 or ``kind``).

    Costs O(N M F F2 D) time; meant for small sizes, tests and the naive reference in the benchmark.
    """
    _check_frames(a, "a")
    _check_frames(b, "b")
    if a.shape[2] != b.shape[2]:
        raise ValueError(f"feature sizes differ: a has D={a.shape[2]}, b has D={b.shape[2]}")
    a = a.to(torch.float32)
    b = b.to(device=a.device, dtype=torch.float32)
    n, f, _ = a.shape
    m, f2, _ = b.shape
    chunk = chunk or default_chunk(f, f2, n_refs=m)
    a_sq = squared_norms(a)
    b_sq = squared_norms(b)
    out = torch.empty((n, m), dtype=torch.float32, device=a.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        gram = torch.einsum("nfd,mgd->nmfg", a[start:stop], b)  # (c, M, F, F2)
        d2 = gram.mul_(-2.0).add_(a_sq[start:stop, None, :, None]).add_(b_sq[None, :, None, :])
        out[start:stop] = chamfer_from_squared_distances(d2.clamp_min_(0.0), kind)
    return out


def _check_frames(x: Tensor, name: str) -> None:
    if x.ndim != 3:
        raise ValueError(f"{name} must be (N, F, D), got shape {tuple(x.shape)}")
