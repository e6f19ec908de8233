"""``vqaloop adapt-dataset``: one of the papers' datasets (read by its adapter, ``vqaloop.datasets``) -> the
manifest and label-oracle files of a workflow dataset, with the splits its role needs.

A dataset's role in the DAG decides its splits (config ``corpus.datasets.<name>``):
- ``source``: train and test (the adapter's official split where the dataset publishes one, else a seeded
  content-disjoint split with ``splits.test`` of the contents);
- ``target``: an unlabelled pool and a test split (MDS-VQA Sec. 4.1: "simulated unlabelled pools"): the official
  training split becomes the pool, else a seeded content-disjoint split with ``splits.test``;
- ``gmad`` and ``test``: every video is a test video (the official test split only where one exists);
- ``w2s_pool``: every video is a pool video; the dataset publishes no MOS.
Pool MOS never stay in the manifest: they go to the oracle file (the label oracle reveals a selection only).
Video paths are written absolute, so one data root is never assumed for datasets that live in different places;
video ids are ``<dataset>__<published id>`` (published ids repeat across datasets).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.datasets.adapter import content_disjoint_test
from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.manifest import validate_manifest

log = logging.getLogger(__name__)

ROLES = ("source", "target", "gmad", "test", "w2s_pool")
ORACLE_COLUMNS = ["video_id", "mos"]


def official_split(manifest: pd.DataFrame) -> bool:
    """True when the adapter gave both a train and a test split (the dataset's published split)."""
    return {"train", "test"} <= set(manifest.split)


def assign_splits(manifest: pd.DataFrame, role: str, test_fraction: float, seed: int) -> pd.DataFrame:
    """The splits the role needs (module docstring), from the official split where the dataset has one."""
    if role not in ROLES:
        raise UserError(f"unknown dataset role {role!r}; valid: {list(ROLES)}")
    out = manifest.copy()
    if role == "w2s_pool":
        out["split"] = "pool"
        out["mos"] = np.nan
        return out
    if role in ("gmad", "test"):
        if official_split(out):
            out = out[out.split == "test"].copy()
        out["split"] = "test"
        return out
    is_test = out.split == "test" if official_split(out) else content_disjoint_test(out, test_fraction, seed)
    out["split"] = np.where(is_test, "test", "train" if role == "source" else "pool")
    return out


def hide_pool_mos(manifest: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(manifest with blank pool MOS, oracle of the pool's MOS)."""
    pool = manifest.split == "pool"
    oracle = manifest.loc[pool & manifest.mos.notna(), ORACLE_COLUMNS].reset_index(drop=True)
    shown = manifest.copy()
    shown.loc[pool, "mos"] = np.nan
    return shown.reset_index(drop=True), oracle


def absolute_paths(manifest: pd.DataFrame, root: Path) -> pd.DataFrame:
    out = manifest.copy()
    out["path"] = [str(p if Path(p).is_absolute() else (root / p).resolve()) for p in out.path.astype(str)]
    return out


def global_ids(manifest: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Video ids unique across datasets (published ids repeat between datasets: KoNViD-1k and LSVQ both use
    numbers): ``<dataset>__<published id>``; the published id stays in ``source_id``."""
    out = manifest.assign(dataset=dataset)
    out["source_id"] = out.video_id.astype(str)
    out["video_id"] = [f"{dataset}__{v}" for v in out.source_id]
    return out


def adapt_dataset(adapter: str, root: Path, metadata: Path | None, dataset: str, role: str, test_fraction: float,
                  seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Read a dataset with its adapter and give the workflow's manifest and oracle for its role."""
    from vqaloop.datasets import get_adapter

    if not root.is_dir():
        raise UserError(
            f"dataset {dataset}: root {root} is not a folder (config corpus.datasets.{dataset}.adapter.root)"
        )
    read = get_adapter(adapter).read(root, metadata)
    read = absolute_paths(global_ids(read, dataset), root)
    manifest = validate_manifest(assign_splits(read, role, test_fraction, seed), f"{adapter} adapter on {root}")
    return hide_pool_mos(manifest)


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, name, output_file, seed
    from vqaloop.datasets import adapter_names

    parser.add_argument("--adapter", required=True, choices=adapter_names(), help="adapter (vqaloop.datasets registry)")
    parser.add_argument("--root", required=True, type=Path, help="the dataset's folder as published")
    parser.add_argument("--metadata", type=Path, help="the metadata file, where not at its published place")
    parser.add_argument("--dataset", required=True, type=name, help="the workflow's name of the dataset")
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--test-fraction", type=float_in(0.0, 1.0, hi_open=True), default=0.2,
                        help="share of test contents where no official split, in [0, 1)")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", required=True, type=output_file, help="manifest CSV")
    parser.add_argument("--oracle", required=True, type=output_file, help="hidden pool labels CSV")


def run(args) -> int:
    manifest, oracle = adapt_dataset(args.adapter, args.root, args.metadata, args.dataset, args.role,
                                     args.test_fraction, args.seed)  # fmt: skip
    write_all_atomic([(args.oracle, csv_writer(oracle)), (args.out, csv_writer(manifest))])  # both or neither
    log.info("%s (%s, role %s): %d videos, splits %s", args.dataset, args.adapter, args.role, len(manifest),
             manifest.split.value_counts().to_dict())  # fmt: skip
    return 0
