"""``vqaloop adapt``: a user's CSV or one of the papers' datasets -> a vqaloop manifest; with ``--role``, the
manifest and label-oracle files of a workflow dataset, with the splits its role needs.

Three ways in, one command:
- ``--csv T.csv --dataset NAME --path-column P --mos-column M``: a user's table (``datasets.adapter.adapt``: ids,
  paths and splits as the table gives them);
- ``--root DIR --dataset ADAPTER``: a published dataset read by its adapter (``datasets.adapter.adapt_published``:
  its official split, or ``--test-fraction`` of its contents held out);
- ``--root DIR --adapter ADAPTER --dataset NAME --role ROLE --oracle O.csv``: what the workflow's ``adapt`` rule
  runs (below). ``--test-fraction`` is 0 without a role and 0.2 with one.

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

from vqaloop.datasets.adapter import adapt, adapt_published, content_disjoint_test
from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, write_all_atomic, write_csv_atomic
from vqaloop.io.manifest import check_files, validate_manifest
from vqaloop.io.readers import read_csv

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

    parser.add_argument("--csv", type=Path, help="a user's table (not with --root)")
    parser.add_argument("--root", type=Path, help="a published dataset's folder, read by its adapter")
    parser.add_argument("--dataset", required=True, type=name,
                        help="the dataset's name in the manifest; with --root and no --adapter, the adapter's name")  # fmt: skip
    parser.add_argument("--adapter", choices=adapter_names(), help="with --root: the adapter (default: --dataset)")
    parser.add_argument(
        "--metadata", type=Path, help="with --root: the metadata file, where not at its published place"
    )
    parser.add_argument("--role", choices=ROLES, help="with --root: the workflow dataset's role (writes --oracle too)")
    parser.add_argument("--path-column", help="column with video paths (relative to --data-root)")
    parser.add_argument("--mos-column", help="column with MOS (empty = unlabelled pool)")
    parser.add_argument("--id-column", help="unique id column (default: file name without extension)")
    parser.add_argument("--content-column", help="content/source id column (default: one content per video)")
    parser.add_argument("--split-column", help="train/test/pool column (default: labelled = train, else pool)")
    parser.add_argument("--test-fraction", type=float_in(0.0, 1.0, hi_open=True),
                        help="share of the contents held out as test where no split is given, in [0, 1) "
                             f"(default {PLAIN_TEST_FRACTION}, with --role {ROLE_TEST_FRACTION})")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--data-root", type=Path, help="check that every video exists and decodes")
    parser.add_argument("--out", required=True, type=output_file, help="manifest CSV")
    parser.add_argument("--oracle", type=output_file, help="with --role: the hidden pool labels CSV")


PLAIN_TEST_FRACTION, ROLE_TEST_FRACTION = 0.0, 0.2


def check_mode(args) -> None:
    """--csv (with --path-column and --mos-column) or --root; --role with --root and --oracle; one line otherwise."""
    given = lambda *options: [o for o in options if getattr(args, o[2:].replace("-", "_")) is not None]  # noqa: E731
    if args.root is not None:
        extra = given("--csv", "--path-column", "--mos-column", "--split-column", "--id-column", "--content-column")
        if extra:
            raise UserError(f"--root reads a published dataset with its adapter; drop {', '.join(extra)}")
        if (args.role is None) != (args.oracle is None):
            raise UserError("--role and --oracle go together (a workflow dataset: its manifest and hidden pool labels)")
        return
    missing = [o for o in ("--csv", "--path-column", "--mos-column") if o not in given("--csv", "--path-column",
                                                                                   "--mos-column")]  # fmt: skip
    if missing:
        raise UserError(f"adapt needs {', '.join(missing)} (a user's CSV), or --root DIR with --dataset ADAPTER")
    extra = given("--adapter", "--metadata", "--role", "--oracle")
    if extra:
        raise UserError(f"{', '.join(extra)} go with --root (a published dataset), not with --csv")


def run(args) -> int:
    check_mode(args)
    plain = PLAIN_TEST_FRACTION if args.test_fraction is None else args.test_fraction
    if args.role is not None:
        fraction = ROLE_TEST_FRACTION if args.test_fraction is None else args.test_fraction
        manifest, oracle = adapt_dataset(args.adapter or args.dataset, args.root, args.metadata, args.dataset,
                                         args.role, fraction, args.seed)  # fmt: skip
        if args.data_root is not None:
            check_files(manifest, args.data_root, args.root)
        write_all_atomic([(args.oracle, csv_writer(oracle)), (args.out, csv_writer(manifest))])  # both or neither
        log.info("%s (%s, role %s): %d videos, splits %s", args.dataset, args.adapter or args.dataset, args.role,
                 len(manifest), manifest.split.value_counts().to_dict())  # fmt: skip
        return 0
    if args.root is not None:
        manifest = adapt_published(args.adapter or args.dataset, args.root, args.metadata, plain, args.seed)
        manifest = manifest.assign(dataset=args.dataset)
        source = args.root
    else:
        table = read_csv(args.csv, "a CSV of videos (path and MOS columns)")
        manifest = adapt(table, str(args.csv), args.dataset, args.path_column, args.mos_column, args.id_column,
                         args.content_column, args.split_column, plain, args.seed)  # fmt: skip
        source = args.csv
    if args.data_root is not None:
        check_files(manifest, args.data_root, source)
    write_csv_atomic(manifest, args.out)
    log.info("%s: %d videos, splits %s", args.out, len(manifest), manifest.split.value_counts().to_dict())
    return 0
