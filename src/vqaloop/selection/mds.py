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

**Memory** (issue 22, item 7; ``vqaloop select --storage``). The frames come from the features store
(``features.store.RowView``, read on demand) and the working copy is built from it a chunk at a time, normalised
as it is filled: one copy of the pool in memory, never two. ``float32`` (the default) keeps that copy in float32
(the picks of every earlier version, bit for bit); ``float16`` / ``bfloat16`` keep it in half the memory, the
products still accumulating in float32 (``chamfer.chamfer_to_one`` converts a chunk at a time); ``stream`` keeps
no copy at all: every pick reads the pool from the store in chunks, normalises each chunk and adds its distances
to the running sums (``mds_greedy_streamed``: memory O(N) plus a chunk, time one pass over the store per pick,
served by the page cache when the file fits in it).

**Stochastic greedy** (``--sample-epsilon``, ``mds_greedy_stochastic``): each pick looks at a uniform sample of
s = ceil(N / B * ln(1 / epsilon)) remaining candidates instead of all of them (Mirzasoleiman et al. 2015, "Lazier
than lazy greedy", AAAI: for a *monotone submodular* objective the expected value is then >= (1 - 1/e - epsilon)
of the optimum). Eq. 9's objective, Eq. 6 + lambda * Eq. 8 (a mean difficulty plus a mean pairwise distance), is
neither monotone nor submodular (the pairwise sum is supermodular: a candidate's gain grows with the set), so that
bound does not carry over; what does hold at every pick is a rank guarantee: the sample misses all of the B best
candidates of the exact step with probability (1 - B/r)^s <= exp(-s B / N) = epsilon (r <= N remaining), so each
pick is among the exact step's top B with probability >= 1 - epsilon. The objective itself is measured against
exact greedy (``benchmarks/bench_selection_scale.py``). A candidate's running sum S(x) is brought up to date only
when it is sampled (its distances to the picks made since), so the saving is the distances of candidates never
sampled again; with s >= the remaining pool every candidate is updated at every pick and the picks are exact
greedy's.

torch is imported on first use, so ``vqaloop select --help`` and input errors answer without loading it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from vqaloop.errors import UserError
from vqaloop.selection.registry import CHAMFER_KINDS, STORAGES, SelectionInputs, register

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
    reduced = (torch.float32, torch.float16, torch.bfloat16)  # kept as they are; products in float32
    work = frames if frames.dtype in reduced else frames.to(torch.float32)
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


def frames_tensor(
    inputs: SelectionInputs, normalise: bool, device: str, storage: str = "float32"
) -> tuple[Tensor, bool]:
    """The pool's frames on ``device``, L2-normalised (or centred, without ``normalise``), in the ``storage`` dtype;
    True if a scratch copy. Frames read on demand (``features.store.RowView``) or held in a reduced precision are
    filled in a chunk at a time: one copy of the pool."""
    import torch

    from vqaloop.features.store import RowView
    from vqaloop.selection.chamfer import l2_normalise_frames

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but CUDA is not available")
    if not isinstance(inputs.frames, RowView) and storage == "float32":
        # Shares the array's memory on CPU (never written: normalising or the greedy makes its own copy).
        array = np.require(inputs.frames, dtype=np.float32, requirements=["C_CONTIGUOUS", "WRITEABLE"])
        frames = torch.as_tensor(array, device=device)
        if normalise:
            return l2_normalise_frames(frames), True
        # raw frames: centred on their mean (Chamfer distances do not change under a shift, while float32's
        # ||u||^2 + ||v||^2 - 2 u.v loses the differences when every frame shares a large offset)
        return frames - frames.mean(dim=(0, 1), dtype=torch.float64).to(frames.dtype), True
    dtype = getattr(torch, storage)
    mean = None if normalise else torch.as_tensor(centring_mean(inputs.frames), device=device)
    work = torch.empty(tuple(inputs.frames.shape), dtype=dtype, device=device)
    for where, rows in frame_chunks(inputs.frames):
        work[where].copy_(prepared(rows, mean, device))  # converted to ``dtype`` as it is copied
    return work, True


def frame_chunks(frames, max_bytes: int | None = None):
    """(slice, float32 rows) of the pool's frames a chunk at a time, from a RowView (the store) or an array, read
    into one buffer that every chunk reuses (the consumer may change it; it is valid until the next chunk)."""
    from vqaloop.features.store import CHUNK_BYTES, RowView

    max_bytes = max_bytes or CHUNK_BYTES
    if isinstance(frames, RowView):
        yield from frames.chunks(max_bytes, reuse=True)
        return
    frames = np.asarray(frames)
    step = max(1, max_bytes // max(1, 4 * int(np.prod(frames.shape[1:]))))
    buffer = np.empty((min(step, len(frames)), *frames.shape[1:]), dtype=np.float32)
    for start in range(0, len(frames), step):
        rows = frames[start : start + step]
        np.copyto(buffer[: len(rows)], rows, casting="unsafe")
        yield slice(start, start + len(rows)), buffer[: len(rows)]


def frame_rows(frames, positions) -> np.ndarray:
    """Rows of the pool's frames (float32), from a RowView or an array."""
    from vqaloop.features.store import RowView

    if isinstance(frames, RowView):
        return frames.read(positions)
    return np.ascontiguousarray(np.asarray(frames)[np.asarray(positions)], dtype=np.float32)


def centring_mean(frames) -> np.ndarray:
    """The mean frame (D,) float32 of the pool, computed as ``frames.mean(dim=(0, 1), dtype=torch.float64)`` is on
    the whole tensor (float64 sums in torch's order, ``features.reductions``), from chunks."""
    from vqaloop.features.reductions import ColumnSum

    n, f, d = frames.shape
    total = ColumnSum(n * f, d, np.float64)
    for _, rows in frame_chunks(frames):
        total.feed(rows.reshape(-1, d))
    return (total.result() / np.float64(n * f)).astype(np.float32)


def prepared(rows: np.ndarray, mean, device: str) -> Tensor:
    """Rows (k, F, D) as the greedy uses them: L2-normalised frames (``mean`` None) or centred on ``mean``, the
    values of ``chamfer.l2_normalise_frames`` and of ``frames - mean``, computed in place in ``rows``' memory on the
    CPU (``rows`` is a chunk buffer, ``frame_chunks``)."""
    import torch

    x = torch.as_tensor(np.ascontiguousarray(rows, dtype=np.float32), device=device)
    if mean is not None:
        return x.sub_(mean)
    norms = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return x.div_(norms.clamp_min(1e-12))


def mds_greedy_streamed(
    frames,
    difficulty,
    budget: int,
    lam: float,
    normalise: bool = True,
    first: int | None = None,
    chunk: int | None = None,
    chamfer: str = "paper",
    device: str = "cpu",
) -> list[int]:
    """Eq. 9 with no working copy of the frames (``--storage stream``): after each pick the pool is read from
    ``frames`` (a RowView or an array) in chunks, each chunk prepared (normalised or centred) and its Chamfer
    distances to the pick added to the running sums. Memory O(N) + one chunk. The same arithmetic as
    ``mds_greedy`` per candidate; the Gram products see other blocks of rows, so a distance may differ in its
    last bit and an exact tie between two candidates may break the other way."""
    import torch

    from vqaloop.selection.chamfer import chamfer_to_one

    n = len(frames)
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    if lam < 0:
        raise ValueError(f"lambda must be >= 0, got {lam}")
    g = torch.tensor(np.asarray(difficulty, dtype=np.float64), device=device)
    if g.shape != (n,):
        raise ValueError(f"difficulty must have shape ({n},), got {tuple(g.shape)}")
    mean = None if normalise else torch.as_tensor(centring_mean(frames), device=device)
    order = torch.arange(n, device=device)
    div_sum = torch.zeros(n, dtype=torch.float64, device=device)
    picked = torch.zeros(n, dtype=torch.bool, device=device)
    picks: list[int] = []
    for k in range(budget):
        if k == 0:
            row = first if first is not None else argmax_lowest_index(g, order)
        else:
            score = g + lam * div_sum / k  # Eq. 9, |D_k| = k
            row = argmax_lowest_index(score.masked_fill(picked, -torch.inf), order)
        picks.append(int(row))
        picked[row] = True
        if k + 1 < budget and lam > 0:
            ref = prepared(frame_rows(frames, [row]), mean, device)[0]
            for where, rows in frame_chunks(frames):
                div_sum[where] += chamfer_to_one(prepared(rows, mean, device), ref, chunk=chunk, kind=chamfer).double()
    return picks


def sample_size(pool: int, budget: int, epsilon: float) -> int:
    """Candidates per pick of stochastic greedy, s = ceil(N / B * ln(1 / epsilon)) (Mirzasoleiman et al. 2015)."""
    if not 0 < epsilon < 1:
        raise ValueError(f"epsilon must be in (0, 1), got {epsilon}")
    return max(1, math.ceil(pool / budget * math.log(1.0 / epsilon)))


def mds_greedy_stochastic(
    work: Tensor,
    difficulty,
    budget: int,
    lam: float,
    epsilon: float,
    rng: np.random.Generator,
    first: int | None = None,
    chamfer: str = "paper",
) -> list[int]:
    """Stochastic greedy Eq. 9 (module docstring) on prepared frames ``work`` (N, F, D; float32 or reduced, any
    device): each pick k >= 1 draws ``sample_size`` remaining candidates (``rng``), brings their running sums
    S(x) up to date with the picks made since each was last drawn, and takes the best by g + lambda S / k (ties to
    the lowest pool index). S adds the distances in pick order, as ``mds_greedy`` does."""
    import torch

    from vqaloop.selection.chamfer import chamfer_matrix, chamfer_to_one

    n = len(work)
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    size = sample_size(n, budget, epsilon)
    g = np.asarray(difficulty, dtype=np.float64)
    if g.shape != (n,):
        raise ValueError(f"difficulty must have shape ({n},), got {g.shape}")
    div_sum = np.zeros(n)  # S(x) over the first upto[x] picks
    upto = np.zeros(n, dtype=np.int64)
    free = np.ones(n, dtype=bool)
    picks: list[int] = []
    refs: list[Tensor] = []  # the picks' frames, float32, in pick order
    for k in range(budget):
        if k == 0:
            row = first if first is not None else int(np.lexsort((np.arange(n), -g))[0])
        else:
            remaining = np.flatnonzero(free)
            cand = remaining if size >= len(remaining) else np.sort(rng.choice(remaining, size, replace=False))
            if lam > 0:
                catch_up(work, cand, div_sum, upto, refs, chamfer, chamfer_matrix, chamfer_to_one)
            score = g[cand] + lam * div_sum[cand] / k  # Eq. 9, |D_k| = k
            best = np.flatnonzero(score == score.max())
            row = int(cand[best[0]])  # cand is sorted: the lowest pool index among ties
        picks.append(row)
        free[row] = False
        refs.append(work[row].to(torch.float32))
    return picks


def catch_up(work, cand, div_sum, upto, refs, chamfer, chamfer_matrix, chamfer_to_one) -> None:
    """S(x) += d_CD(x, y_j) for every sampled x and every pick y_j made since x was last brought up to date, in
    pick order: the candidates by their ``upto``, one product per band of picks that the same candidates miss."""
    import torch

    k = len(refs)
    cand = cand[np.argsort(upto[cand], kind="stable")]
    x = work[torch.as_tensor(cand, device=work.device)].to(torch.float32)
    starts = upto[cand]
    bands = np.unique(starts)
    for i, start in enumerate(bands):
        stop = bands[i + 1] if i + 1 < len(bands) else k
        if stop <= start:
            continue
        rows = int(np.searchsorted(starts, start, side="right"))  # candidates missing pick ``start`` onwards
        if stop - start == 1:
            d = chamfer_to_one(x[:rows], refs[start], kind=chamfer)[:, None]
        else:
            d = chamfer_matrix(x[:rows], torch.stack(refs[start:stop]), kind=chamfer)
        d = d.double().cpu().numpy()
        # sequential sums in pick order (axis 0 of a C-order array adds row after row)
        div_sum[cand[:rows]] = np.add.reduce(np.vstack([div_sum[cand[:rows]][None], d.T]), axis=0)
    upto[cand] = k


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
    storage: str = "float32",
    epsilon: float = 0.0,
) -> list[int]:
    """MDS-VQA (Eq. 9). Deterministic: ``seed`` is unused (ties go to the lowest index), except by the stochastic
    mode (``epsilon`` > 0: its samples are drawn with ``default_rng(seed)``)."""
    if lam == 0:
        return top_by_difficulty(inputs.difficulty, budget)
    return greedy_by_storage(inputs, inputs.difficulty, budget, lam, normalise, device, chunk, chamfer, storage,
                             epsilon, np.random.default_rng([seed, 9]))  # fmt: skip


def greedy_by_storage(inputs: SelectionInputs, difficulty, budget: int, lam: float, normalise: bool, device: str,
                      chunk, chamfer: str, storage: str, epsilon: float, rng, first: int | None = None) -> list[int]:  # fmt: skip
    """Eq. 9 with the frames held as ``storage`` says, exact or (``epsilon`` > 0) stochastic (module docstring)."""
    if storage not in STORAGES:
        raise UserError(f"--storage {storage!r}: one of {', '.join(STORAGES)}")
    if epsilon > 0:
        if storage == "stream":
            raise UserError("--sample-epsilon needs the frames in memory (--storage float32, float16 or bfloat16)")
        frames, _ = frames_tensor(inputs, normalise, device, storage)
        return mds_greedy_stochastic(frames, difficulty, budget, lam, epsilon, rng, first=first, chamfer=chamfer)
    if storage == "stream":
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise UserError(f"device {device!r} asked for, but CUDA is not available")
        return mds_greedy_streamed(inputs.frames, difficulty, budget, lam, normalise, first=first, chunk=chunk,
                                   chamfer=chamfer, device=device)  # fmt: skip
    frames, scratch = frames_tensor(inputs, normalise, device, storage)
    return mds_greedy(frames, difficulty, budget, lam, first=first, chunk=chunk, overwrite_frames=scratch,
                      chamfer=chamfer)  # fmt: skip


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
    storage: str = "float32",
    epsilon: float = 0.0,
) -> list[int]:
    """Eq. 9 with g = 0 (the "removing g" ablation of Table 5).

    Choice: with g gone the first pick has nothing to maximise, so it is a uniform random index drawn with
    ``numpy.random.default_rng(seed)``; every later pick maximises the mean Chamfer distance to the picked set
    (ties to the lowest index). Any lambda > 0 gives the same picks, so ``lam`` is accepted and ignored.
    """
    first = int(np.random.default_rng(seed).integers(inputs.pool_size))
    zeros = np.zeros(inputs.pool_size)
    return greedy_by_storage(inputs, zeros, budget, 1.0, normalise, device, chunk, chamfer, storage, epsilon,
                             np.random.default_rng([seed, 9]), first=first)  # fmt: skip
