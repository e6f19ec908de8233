"""Model inputs and prediction, one home for every command that feeds a base model: training (``training/``),
prediction and evaluation (``models/predict``, ``models/embed``, ``models/evaluate``), the W2S teachers and the
selection's difficulty.

A model's inputs are per-video feature tensors (N, F, sum D): the frame features of the encoders it reads
(``models.catalogue``), concatenated along D and read on demand from the features files
(``features.inputs.LazyInputs``: a batch in memory at a time, never the split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from vqaloop.errors import UserError
from vqaloop.features.inputs import InputPart, LazyInputs
from vqaloop.features.io import features_file
from vqaloop.features.store import open_store
from vqaloop.io.manifest import read_manifest
from vqaloop.models.catalogue import model_encoders


def open_inputs(paths: list[str | Path], ids: list[str]) -> LazyInputs:
    """(N, F, sum D) float32 inputs for ``ids``, the encoders' frame features concatenated along D, read on demand
    from the features files (``features.inputs.LazyInputs``: a batch in memory at a time, never the split)."""
    stores = [open_store(path) for path in map(Path, paths)]
    return LazyInputs([InputPart([s.frames for s in stores], [s.rows_of(ids) for s in stores])])


def load_inputs(paths: list[str | Path], ids: list[str]) -> torch.Tensor:
    """``open_inputs`` read whole into one tensor (small inputs; the workflow's commands read on demand)."""
    return open_inputs(paths, ids).materialise()


def feature_paths(features_root: str | Path, dataset: str, model_name: str) -> list[Path]:
    """``<root>/<dataset>/<encoder>.npz`` for each encoder the base model reads."""
    return [features_file(features_root, dataset, enc) for enc in model_encoders(model_name)]


def manifest_inputs(
    manifest_path: str | Path, features_root: str | Path, model_name: str, split: str | None = None
) -> tuple[pd.DataFrame, LazyInputs]:
    """The manifest rows (optionally one split) and their model inputs (N, F, D), read on demand from the features
    files (``features.inputs.LazyInputs``: the split is never in memory at once)."""
    manifest = read_manifest(manifest_path)
    if split is not None:
        manifest = manifest[manifest.split == split].reset_index(drop=True)
        if manifest.empty:
            raise UserError(f"{manifest_path}: no rows in split {split!r}")
    dataset = str(manifest.dataset.iloc[0])
    x = open_inputs(feature_paths(features_root, dataset, model_name), list(manifest.video_id))
    return manifest, x


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch: int = 1024) -> np.ndarray:
    """Raw outputs (N,) in batches of ``batch`` rows (fewer when they would exceed ``features.inputs.BATCH_BYTES``:
    large rows; ``x`` a tensor or ``LazyInputs``, read a batch at a time)."""
    from vqaloop.features.inputs import capped_batch

    model.eval()
    batch = capped_batch(x, batch)
    return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)]).double().numpy()
