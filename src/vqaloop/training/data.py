"""Model inputs: per-video feature tensors assembled from the features files of a model's encoders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqaloop.errors import UserError
from vqaloop.features.io import load_features


def load_inputs(paths: list[str | Path], ids: list[str]) -> torch.Tensor:
    """(N, F, sum D) float32 for ``ids``, concatenating the encoders' frame features along D."""
    parts = []
    for path in map(Path, paths):
        loaded = load_features(path)
        file_ids, frames = loaded.ids, loaded.frames
        index = {vid: i for i, vid in enumerate(file_ids)}
        missing = [vid for vid in ids if vid not in index]
        if missing:
            raise UserError(f"{path}: no features for {len(missing)} video(s), e.g. {missing[:3]}")
        parts.append(frames[[index[vid] for vid in ids]])
    n_frames = {p.shape[1] for p in parts}
    if len(n_frames) != 1:
        raise UserError(f"features files disagree on frames per video: {sorted(n_frames)} ({[str(p) for p in paths]})")
    return torch.from_numpy(np.concatenate(parts, axis=2))


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
