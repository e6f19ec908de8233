"""MDS-VQA greedy selection (MDS-VQA Eq. 9) and its "removing g" ablation (Table 5).

    x* = argmax_{x in U \\ D_k}  g(x) + lambda / |D_k| * sum_{y in D_k} d_CD(F_x, F_y)        (Eq. 9)

d_CD is Eq. 7 (``chamfer="paper"``, the default) or the authors' Euclidean / 2 reading (``chamfer="authors"``;
``vqaloop.selection.chamfer``). With lambda = 0 the diversity term vanishes: the picks are the top ``budget`` by
g, ties to the lowest pool index (``top_by_difficulty``), and no frame features are read.

First pick = argmax g (the diversity term is 0/0 while D is empty; SPEC "Greedy selection"). A running sum
S(x) = sum_{y in D} d_CD(x, y) is kept for every remaining candidate; after each pick y* one
``chamfer_to_one`` call adds d_CD(., y*) for the remaining candidates only. Time O(B N F^2 D), memory
O(N F D): no N x N matrix is ever formed.

"Remaining only" is done by swap-removal: the candidates live in the first ``remaining`` rows of a working
copy of the frames; a picked row is overwritten by the last remaining one, so every pick works on one
contiguous block (one GEMM) and picked videos cost nothing more. ``order`` maps a row back to its pool index.
Ties go to the lowest pool index (the id listed first in the features file), whatever the row order.

torch is imported on first use, so ``vqaloop select --help`` and input errors answer without loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vqaloop.errors import UserError
from vqaloop.selection.registry import CHAMFER_KINDS, SelectionInputs, register

if TYPE_CHECKING:
    from torch import Tensor

DEFAULT_LAMBDA = 0.25  # MDS-VQA Sec. 4.1 and Table 6


def mds_greedy(
    frames: Tensor,
    difficulty: Tensor | np.ndarray,
    budget: int,
    lam: float,
    first: int | None = None,
    chunk: int | None = None,
    overwrite_frames: bool = False,
    chamfer: str = "paper",
) -> list[int]:
    """Greedy Eq. 9 on frame features (N, F, D) and difficulty g (N,); returns pool indices in pick order.
    ``chamfer``: the distance of the diversity term ("paper" = Eq. 7, "authors" = Euclidean / 2).

    ``first`` forces the first pick (default: argmax g, ties to the lowest index). Rows of ``frames`` are
    reordered during the run, so the function works on a copy unless ``overwrite_frames`` is set (saves one
    N x F x D copy when the caller's tensor is a scratch one).
    """
    import torch

    from vqaloop.selection.chamfer import chamfer_to_one, squared_norms

    n = frames.shape[0]
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    if lam < 0:
        raise ValueError(f"lambda must be >= 0, got {lam}")
    if chamfer not in CHAMFER_KINDS:
        raise ValueError(f"unknown Chamfer distance {chamfer!r}; valid: {', '.join(CHAMFER_KINDS)}")
    device = frames.device
    work = frames.to(torch.float32)  # a new tensor unless frames already was float32
    if work is frames and not overwrite_frames:
        work = work.clone()
    work_sq = squared_norms(work)  # (N, F), computed once, reordered with the rows
    if torch.is_tensor(difficulty):
        g = difficulty.to(device=device, dtype=torch.float64).clone()
    else:
        g = torch.tensor(np.asarray(difficulty, dtype=np.float64), device=device)
    if g.shape != (n,):
        raise ValueError(f"difficulty must have shape ({n},), got {tuple(g.shape)}")
    if first is not None and not 0 <= first < n:
        raise ValueError(f"first pick {first} is outside 0..{n - 1}")
    order = torch.arange(n, device=device)  # order[row] = pool index of the candidate in that row
    div_sum = torch.zeros(n, dtype=torch.float64, device=device)  # S(x) of Eq. 9's numerator

    picks: list[int] = []
    remaining = n
    for k in range(budget):
        if k == 0:
            row = first if first is not None else argmax_lowest_index(g, order)
        else:
            score = g[:remaining] + lam * div_sum[:remaining] / k  # Eq. 9, |D_k| = k
            row = argmax_lowest_index(score, order[:remaining])
        picks.append(int(order[row]))
        ref = work[row].clone()
        remaining -= 1
        remove_row(row, remaining, (work, work_sq, g, order, div_sum))
        if k + 1 < budget and lam > 0:
            d = chamfer_to_one(work[:remaining], ref, chunk=chunk, frames_sq=work_sq[:remaining], kind=chamfer)
            div_sum[:remaining] += d.to(torch.float64)
    return picks


def top_by_difficulty(difficulty, budget: int) -> list[int]:
    """Eq. 9 with lambda = 0: the ``budget`` highest g in descending order, ties to the lowest pool index (what
    ``mds_greedy`` picks with ``lam=0``, without any frame features)."""
    g = np.asarray(difficulty, dtype=np.float64)
    if g.ndim != 1 or not 1 <= budget <= len(g):
        raise ValueError(f"budget {budget} is outside 1..{len(g)} (difficulty of shape {g.shape})")
    return [int(i) for i in np.argsort(-g, kind="stable")[:budget]]


def argmax_lowest_index(score: Tensor, order: Tensor) -> int:
    """Row of the highest score; among equal scores the row whose pool index (``order``) is lowest."""
    import torch

    tied = torch.nonzero(score == score.max()).squeeze(1)
    if tied.numel() == 1:
        return int(tied[0])
    return int(tied[torch.argmin(order[tied])])


def remove_row(row: int, last: int, tensors: tuple[Tensor, ...]) -> None:
    """Swap-removal: overwrite ``row`` with row ``last`` in each tensor (the caller shrinks its count)."""
    if row != last:
        for t in tensors:
            t[row] = t[last]


def frames_tensor(inputs: SelectionInputs, normalise: bool, device: str) -> tuple[Tensor, bool]:
    """The pool's frames as float32 on ``device`` (L2-normalised if asked); True if a scratch copy."""
    import torch

    from vqaloop.selection.chamfer import l2_normalise_frames

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but CUDA is not available")
    # Shares the array's memory on CPU (never written: normalising or the greedy makes its own copy).
    array = np.require(inputs.frames, dtype=np.float32, requirements=["C_CONTIGUOUS", "WRITEABLE"])
    frames = torch.as_tensor(array, device=device)
    if normalise:
        return l2_normalise_frames(frames), True
    # raw frames: centred on their mean (Chamfer distances do not change under a shift, while float32's
    # ||u||^2 + ||v||^2 - 2 u.v loses the differences when every frame shares a large offset)
    return frames - frames.mean(dim=(0, 1), dtype=torch.float64).to(frames.dtype), True


def frames_unneeded(params: dict) -> set[str]:
    """With lambda = 0 Eq. 9 has no diversity term: no frame features are read."""
    return {"frames"} if params.get("lam", DEFAULT_LAMBDA) == 0 else set()


@register(
    "mds",
    needs={"frames", "difficulty"},
    help="MDS-VQA greedy difficulty + lambda * Chamfer diversity (Eq. 9); first pick = argmax difficulty "
    "(lambda 0: top difficulty, no frames needed)",
    unneeded=frames_unneeded,
)
def select_mds(
    inputs: SelectionInputs,
    budget: int,
    seed: int,
    lam: float = DEFAULT_LAMBDA,
    normalise: bool = True,
    device: str = "cpu",
    chunk: int | None = None,
    chamfer: str = "paper",
) -> list[int]:
    """MDS-VQA (Eq. 9). Deterministic: ``seed`` is unused (ties go to the lowest index)."""
    if lam == 0:
        return top_by_difficulty(inputs.difficulty, budget)
    frames, scratch = frames_tensor(inputs, normalise, device)
    return mds_greedy(frames, inputs.difficulty, budget, lam, chunk=chunk, overwrite_frames=scratch, chamfer=chamfer)


@register(
    "mds_diversity_only",
    needs={"frames"},
    help='"removing g" (Table 5): Chamfer diversity alone; first pick seeded random',
)
def select_mds_diversity_only(
    inputs: SelectionInputs,
    budget: int,
    seed: int,
    lam: float = DEFAULT_LAMBDA,
    normalise: bool = True,
    device: str = "cpu",
    chunk: int | None = None,
    chamfer: str = "paper",
) -> list[int]:
    """Eq. 9 with g = 0 (the "removing g" ablation of Table 5).

    Choice: with g gone the first pick has nothing to maximise, so it is a uniform random index drawn with
    ``numpy.random.default_rng(seed)``; every later pick maximises the mean Chamfer distance to the picked set
    (ties to the lowest index). Any lambda > 0 gives the same picks, so ``lam`` is accepted and ignored.
    """
    frames, scratch = frames_tensor(inputs, normalise, device)
    first = int(np.random.default_rng(seed).integers(inputs.pool_size))
    zeros = np.zeros(inputs.pool_size)
    return mds_greedy(frames, zeros, budget, 1.0, first=first, chunk=chunk, overwrite_frames=scratch, chamfer=chamfer)
