"""Model inputs: per-video feature tensors assembled from the features files of a model's encoders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqaloop.features.inputs import InputPart, LazyInputs
from vqaloop.features.store import open_store


def open_inputs(paths: list[str | Path], ids: list[str]) -> LazyInputs:
    """(N, F, sum D) float32 inputs for ``ids``, the encoders' frame features concatenated along D, read on demand
    from the features files (``features.inputs.LazyInputs``: a batch in memory at a time, never the split)."""
    stores = [open_store(path) for path in map(Path, paths)]
    return LazyInputs([InputPart([s.frames for s in stores], [s.rows_of(ids) for s in stores])])


def load_inputs(paths: list[str | Path], ids: list[str]) -> torch.Tensor:
    """``open_inputs`` read whole into one tensor (small inputs; the workflow's commands read on demand)."""
    return open_inputs(paths, ids).materialise()


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
