"""Generic adapter: a user's own dataset (a CSV with a path column and a MOS column) -> a vqaloop manifest.

Column names are set on the command line (or in a config's dataset adapter block). The MOS keeps the user's
scale: pairs are only ever built within one dataset, so scales never meet (MDS-VQA Sec. 3.4, scale-free).
Rows without a MOS go to the ``pool`` split unless a split column says otherwise.

``--dataset NAME --root DIR`` instead reads one of the papers' datasets with its adapter (``vqaloop.datasets``:
the published metadata file, MOS rescaled to [1, 5]); ``--test-fraction`` then holds out a seeded share of its
contents where the dataset publishes no split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import check_files, validate_manifest
from vqaloop.io.readers import read_csv

log = logging.getLogger(__name__)


def adapt(
    table: pd.DataFrame,
    source: str,
    dataset: str,
    path_column: str,
    mos_column: str,
    id_column: str | None = None,
    content_column: str | None = None,
    split_column: str | None = None,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Build a manifest from a user's table; columns are checked and named in every error."""
    for key, col in (("--path-column", path_column), ("--mos-column", mos_column), ("--id-column", id_column),
                     ("--content-column", content_column), ("--split-column", split_column)):  # fmt: skip
        if col is not None and col not in table.columns:
            raise UserError(f"{source}: column {col!r} (from {key}) not found; columns are {list(table.columns)}")
    out = pd.DataFrame()
    paths = table[path_column].astype(str)
    out["video_id"] = table[id_column].astype(str) if id_column else paths.map(lambda p: Path(p).stem)
    out["path"] = paths
    out["mos"] = table[mos_column]
    out["dataset"] = dataset
    out["content_id"] = table[content_column].astype(str) if content_column else out["video_id"]
    if split_column:
        out["split"] = table[split_column].astype(str)
    else:
        mos = pd.to_numeric(table[mos_column], errors="coerce")
        out["split"] = np.where(mos.isna() & table[mos_column].isna(), "pool", "train")
        out = hold_out_test_contents(out, test_fraction, seed)
    return validate_manifest(out, source)


def content_disjoint_test(manifest: pd.DataFrame, test_fraction: float, seed: int) -> pd.Series:
    """A boolean mask of test rows: a seeded choice of whole contents, round(test_fraction x contents) of them but
    at least one and never all (splits never share a content_id). ``vqaloop adapt`` and ``adapt-dataset`` both."""
    contents = sorted(manifest.content_id.astype(str).unique())
    n_test = int(round(test_fraction * len(contents)))
    if len(contents) > 1:
        n_test = min(max(n_test, 1), len(contents) - 1)
    chosen = set(np.random.default_rng(seed).choice(contents, size=n_test, replace=False)) if n_test else set()
    return manifest.content_id.astype(str).isin(chosen)


def hold_out_test_contents(manifest: pd.DataFrame, test_fraction: float, seed: int) -> pd.DataFrame:
    """Move a seeded ``test_fraction`` of the contents of the ``train`` rows to ``test`` (whole contents only)."""
    out = manifest.copy()
    if test_fraction > 0:
        train = out.split == "train"
        out.loc[train & content_disjoint_test(out[train], test_fraction, seed).reindex(out.index, fill_value=False),
                "split"] = "test"  # fmt: skip
    return out


def adapt_published(name: str, root: Path, metadata: Path | None, test_fraction: float, seed: int) -> pd.DataFrame:
    """One of the papers' datasets read by its adapter; where it publishes no split (every row ``test``) and
    ``test_fraction`` > 0, a seeded content-disjoint train/test split (``hold_out_test_contents``)."""
    from vqaloop.datasets.registry import get_adapter

    manifest = get_adapter(name).read(root, metadata)
    if test_fraction > 0 and set(manifest.split) == {"test"}:
        manifest = hold_out_test_contents(manifest.assign(split="train"), test_fraction, seed)
    return validate_manifest(manifest, f"{name} adapter on {root}")


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, name, output_file, seed

    parser.add_argument("--csv", type=Path, help="the user's table (not with --root)")
    parser.add_argument("--dataset", required=True, type=name,
                        help="dataset name written to the manifest; with --root, a dataset adapter's name")  # fmt: skip
    parser.add_argument("--root", type=Path, help="a published dataset's folder, read by the --dataset adapter")
    parser.add_argument(
        "--metadata", type=Path, help="with --root: the metadata file, where not at its published place"
    )
    parser.add_argument("--path-column", help="column with video paths (relative to --data-root)")
    parser.add_argument("--mos-column", help="column with MOS (empty = unlabelled pool)")
    parser.add_argument("--id-column", help="unique id column (default: file name without extension)")
    parser.add_argument("--content-column", help="content/source id column (default: one content per video)")
    parser.add_argument("--split-column", help="train/test/pool column (default: labelled = train, else pool)")
    parser.add_argument("--test-fraction", type=float_in(0.0, 1.0, hi_open=True), default=0.0,
                        help="hold out this share of the labelled contents as test, in [0, 1)")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--data-root", type=Path, help="check that every video exists and decodes")
    parser.add_argument("--out", required=True, type=output_file)


def check_mode(args) -> None:
    """Either --root (a published dataset) or --csv with --path-column and --mos-column; one line otherwise."""
    if args.root is not None:
        extra = [o for o, v in (("--csv", args.csv), ("--path-column", args.path_column), ("--mos-column",
                 args.mos_column), ("--split-column", args.split_column)) if v is not None]  # fmt: skip
        if extra:
            raise UserError(f"--root reads a published dataset with its adapter; drop {', '.join(extra)}")
        return
    missing = [o for o, v in (("--csv", args.csv), ("--path-column", args.path_column),
                              ("--mos-column", args.mos_column)) if v is None]  # fmt: skip
    if missing:
        raise UserError(f"adapt needs {', '.join(missing)} (a user's CSV), or --root DIR with --dataset ADAPTER")
    if args.metadata is not None:
        raise UserError("--metadata goes with --root (a published dataset)")


def run(args) -> int:
    check_mode(args)
    if args.root is not None:
        manifest = adapt_published(args.dataset, args.root, args.metadata, args.test_fraction, args.seed)
        if args.data_root is not None:
            check_files(manifest, args.data_root, args.root)
        write_csv_atomic(manifest, args.out)
        log.info("%s: %d videos, splits %s", args.out, len(manifest), manifest.split.value_counts().to_dict())
        return 0
    table = read_csv(args.csv, "a CSV of videos (path and MOS columns)")
    manifest = adapt(table, str(args.csv), args.dataset, args.path_column, args.mos_column, args.id_column,
                     args.content_column, args.split_column, args.test_fraction, args.seed)  # fmt: skip
    if args.data_root is not None:
        check_files(manifest, args.data_root, args.csv)
    write_csv_atomic(manifest, args.out)
    log.info("%s: %d videos, splits %s", args.out, len(manifest), manifest.split.value_counts().to_dict())
    return 0
