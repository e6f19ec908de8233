"""W2S-VQA data access: videos by id across datasets, the unlabelled pool (no MOS, ever), the stage split.

The label rule of W2S-VQA (Sec. 3.1): D_w2s has *no* ground-truth labels. Its hidden MOS live in the corpus's
oracle file for our own diagnostics only; no W2S command takes an oracle path, and ``pool_ids`` refuses a pool
manifest whose rows carry MOS (a pool is unlabelled by contract), so no W2S training step can read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vqaloop.errors import UserError
from vqaloop.features.inputs import LazyInputs
from vqaloop.features.io import features_file
from vqaloop.io.manifest import read_manifest
from vqaloop.models.inputs import open_inputs

#: Videos of the three stages' sets D^(1), D^(2), D^(3) (W2S Table 2: 200k, 100k, 50k videos of ensembled pairs);
#: the schema's default of ``w2s.stage_sizes``, and the shaping keeps their sum from the pool. The stages' count.
STAGES = 3
SHAPED = "shaped pool ids (vqaloop shape)"  # what a shaped-pool file is, in errors (io.readers.read_ids)


def pool_ids(manifest_path: str | Path) -> list[str]:
    """The ids of an unlabelled W2S pool manifest; refuses one whose rows carry MOS (W2S Sec. 3.1)."""
    manifest = read_manifest(manifest_path)
    if manifest.mos.notna().any():
        first = manifest.loc[manifest.mos.notna(), "video_id"].iloc[0]
        raise UserError(f"{manifest_path}: the W2S pool must be unlabelled, but video {first!r} has a MOS")
    return list(manifest.video_id)


def labelled_split(manifest_path: str | Path, split: str) -> pd.DataFrame:
    """Rows of one labelled split (train or test) with their MOS."""
    manifest = read_manifest(manifest_path)
    rows = manifest[manifest.split == split].reset_index(drop=True)
    if rows.empty:
        raise UserError(f"{manifest_path}: no rows in split {split!r}")
    return rows


def stage_split(ids: list[str], sizes: list[int], seed: int = 0, what: str = "shaped pool") -> list[list[str]]:
    """Partition the shaped pool into the stages' video sets D^(1..3) of ``sizes`` videos (seeded, deterministic);
    the pool must hold exactly their sum (the shaping keeps that many)."""
    if len(sizes) != STAGES or min(sizes) < 1:
        raise UserError(f"--stage-sizes: {STAGES} positive counts expected, got {list(sizes)}")
    if sum(sizes) != len(ids):
        raise UserError(f"the {what} has {len(ids)} videos but the stage sizes {list(sizes)} sum to {sum(sizes)} "
                        "(w2s.stage_sizes: the shaping keeps their sum)")  # fmt: skip
    order = np.random.default_rng([seed, 2]).permutation(len(ids))
    bounds = np.cumsum([0, *sizes])
    return [sorted(ids[i] for i in order[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@dataclass
class VideoBank:
    """Per-video model inputs (N, F, D) of many datasets, addressed by video id (``x``: a
    ``features.inputs.LazyInputs``, rows read on demand from the features files)."""

    ids: list[str]
    x: torch.Tensor
    index: dict[str, int]

    def rows(self, ids: list[str]) -> torch.Tensor:
        missing = [v for v in ids if v not in self.index]
        if missing:
            raise UserError(f"no features for {len(missing)} video(s), e.g. {missing[0]!r}")
        return torch.as_tensor([self.index[v] for v in ids], dtype=torch.long)


def load_bank(features_root: str | Path, encoders: tuple[str, ...], ids_by_dataset: dict[str, list[str]]) -> VideoBank:
    """Features of ``encoders`` (concatenated along D) for each dataset's ids, in one bank."""
    parts, ids = [], []
    for dataset, wanted in ids_by_dataset.items():
        if not wanted:
            continue
        paths = [features_file(features_root, dataset, e) for e in encoders]
        parts.append(open_inputs(paths, list(wanted)))
        ids += list(wanted)
    if len(set(ids)) != len(ids):
        raise UserError("the same video id appears in two datasets")
    x = LazyInputs.concat(parts) if parts else torch.zeros(0)
    return VideoBank(ids, x, {v: i for i, v in enumerate(ids)})
