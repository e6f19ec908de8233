"""FreeSel baseline (Xie et al. 2023, "Towards free data selection with general-purpose models"; SPEC "The eight
baselines"). Model-free: it reads per-video "semantic patterns" (N, P, D) from ``inputs.frames``, as written by
the ``effnet_patterns`` encoder (``vqaloop.features.patterns``), and needs no task model.

Sampling rule (the authors' probabilistic seeding over dense features, a k-means++ analogue):

1. the first video is drawn uniformly; its P patterns become centres;
2. every pattern q keeps d(q) = min over centres c of the cosine distance 1 - cos(q, c);
3. a pattern is drawn with probability d(q)^2 / sum d^2; the video it belongs to is selected and all of its
   patterns become centres; repeat from 2 until B videos are selected.

A selected video's own patterns are at distance 0, so it is never drawn again. Cosine distances at or below
``DUPLICATE_TOL`` count as 0 (float32 rounding leaves ~1e-7 between identical patterns): a video whose patterns
all duplicate those of selected videos has probability exactly 0. When every remaining pattern is at distance
0, the next video is drawn uniformly among the unselected ones. All draws come from
``numpy.random.default_rng(seed)``.

Time O(B N P^2 D) (one pass over the patterns per pick), memory O(N P) beyond the patterns; ``device='cuda'``
moves the patterns to the GPU (N P D float32: 1.7 GB at N = 42,000, P = 8, D = 1280).
"""

from __future__ import annotations

import numpy as np

from vqaloop.selection.registry import SelectionInputs, register

DUPLICATE_TOL = 1e-5
CHUNK = 65536  # patterns per matrix product


def freesel_sample(patterns, budget: int, seed: int = 0, device="cpu") -> list[int]:
    """Video indices in pick order from patterns (N, P, D) (numpy or torch), by FreeSel's sampling rule."""
    import torch

    n, p, d = patterns.shape
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    rng = np.random.default_rng(seed)
    if not torch.is_tensor(patterns):
        patterns = np.asarray(patterns)  # patterns read from the store (RowView): read once, the only copy
    flat = torch.as_tensor(patterns).to(device=device, dtype=torch.float32).reshape(n * p, d)
    inv_norm = 1.0 / flat.norm(dim=1).clamp_min(1e-12)  # cosine = (q . c) |q|^-1 |c|^-1, no normalised copy
    owner = np.repeat(np.arange(n), p)
    nearest = torch.full((n * p,), float("inf"), dtype=torch.float32, device=flat.device)
    selected = np.zeros(n, dtype=bool)
    picks: list[int] = []
    video = int(rng.integers(n))
    while True:
        picks.append(video)
        selected[video] = True
        if len(picks) == budget:
            return picks
        centres = flat[video * p : (video + 1) * p] * inv_norm[video * p : (video + 1) * p, None]  # (P, D) unit
        for start in range(0, n * p, CHUNK):
            cos = (flat[start : start + CHUNK] @ centres.T).amax(dim=1) * inv_norm[start : start + CHUNK]
            torch.minimum(nearest[start : start + CHUNK], 1.0 - cos, out=nearest[start : start + CHUNK])
        nearest[video * p : (video + 1) * p] = 0.0
        weights = nearest.double().cpu().numpy()
        weights[weights <= DUPLICATE_TOL] = 0.0
        weights *= weights
        total = weights.sum()
        if total > 0:
            video = int(owner[rng.choice(n * p, p=weights / total)])
        else:  # every pattern left duplicates a selected one
            video = int(rng.choice(np.flatnonzero(~selected)))


@register(
    "freesel",
    needs={"frames"},
    help="Xie et al. 2023: k-means++-like sampling of per-video semantic patterns (features from effnet_patterns)",
)
def select_freesel(inputs: SelectionInputs, budget: int, seed: int, device="cpu") -> list[int]:
    return freesel_sample(inputs.frames, budget, seed, device)
