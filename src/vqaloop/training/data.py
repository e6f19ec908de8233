"""Training data: one dataset's videos as a group, and the epoch's batches drawn inside groups (the inputs themselves:
``models.inputs``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Group:
    """One dataset's training videos: pairs are only ever built inside a group (scale-free, MDS-VQA Sec. 3.4)."""

    name: str
    x: torch.Tensor  # (N, F, D)
    y: torch.Tensor  # (N,) MOS on the dataset's own scale (or errors, for the failure predictor)


def group_batches(groups: list[Group], batch_size: int, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """One epoch of (group index, row indices) batches: each batch from a single group, order shuffled."""
    batches = []
    for g, group in enumerate(groups):
        order = rng.permutation(len(group.y))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            if len(rows) >= 2:
                batches.append((g, rows))
    return [batches[i] for i in rng.permutation(len(batches))]
