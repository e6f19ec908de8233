"""Argument helpers shared by the training commands."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vqaloop.errors import UserError
from vqaloop.features.inputs import LazyInputs
from vqaloop.features.io import features_file
from vqaloop.io.manifest import read_manifest
from vqaloop.models.catalogue import model_encoders
from vqaloop.training.data import open_inputs


def add_optimiser_arguments(parser, epochs: int, lr: float, batch: int) -> None:
    from vqaloop.cli_checks import MAX_EPOCHS, float_in, int_in, seed, threads

    parser.add_argument("--epochs", type=int_in(1, MAX_EPOCHS), default=epochs)
    parser.add_argument("--lr", type=float_in(0.0, 10.0, lo_open=True), default=lr, help="learning rate, in (0, 10]")
    parser.add_argument("--batch", type=int_in(2, 1 << 16), default=batch, help="videos per batch (pairs need 2)")
    parser.add_argument("--weight-decay", type=float_in(0.0, 10.0), default=1e-4)
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--threads", type=threads, default=1)


def add_model_arguments(parser, base: bool = True) -> None:
    """``--base`` (a registered base model) and ``--hidden`` of the commands that build one."""
    from vqaloop.cli_checks import int_in
    from vqaloop.models.catalogue import base_model_names

    if base:
        parser.add_argument("--base", required=True, choices=base_model_names(), help="base model name (registry)")
    parser.add_argument("--hidden", type=int_in(1, 1 << 16), default=128)


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
