"""Argument helpers shared by the training commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from vqaloop.io.manifest import read_manifest
from vqaloop.models.registry import model_encoders
from vqaloop.training.data import load_inputs


def add_optimiser_arguments(parser, epochs: int, lr: float, batch: int) -> None:
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)


def feature_paths(features_root: str | Path, dataset: str, model_name: str) -> list[Path]:
    """``<root>/<dataset>/<encoder>.npz`` for each encoder the base model reads."""
    return [Path(features_root) / dataset / f"{enc}.npz" for enc in model_encoders(model_name)]


def manifest_inputs(
    manifest_path: str | Path, features_root: str | Path, model_name: str, split: str | None = None
) -> tuple[pd.DataFrame, torch.Tensor]:
    """The manifest rows (optionally one split) and their model inputs (N, F, D)."""
    manifest = read_manifest(manifest_path)
    if split is not None:
        manifest = manifest[manifest.split == split].reset_index(drop=True)
    dataset = str(manifest.dataset.iloc[0]) if len(manifest) else ""
    x = load_inputs(feature_paths(features_root, dataset, model_name), list(manifest.video_id))
    return manifest, x
