"""``vqaloop w2s-test-set``: the rows W2S-VQA scores on one test set, with their MOS (``w2s.test_sets.<name>.splits``).

W2S-VQA evaluates its students on whole datasets (Table 1's "# of videos": LSVQ_test 7,182, KoNViD-1k 1,200,
CGVDS 357, KVQ 2,926, ...): its student never trains on them, so every labelled video of a test set is a test
video. A workflow dataset, though, has the splits of its role in the DAG (``vqaloop.corpus.external``): LSVQ is
the teachers' source (train / test), YouTube-UGC MDS-VQA's source (train / test), CGVDS one of MDS-VQA's targets
(an unlabelled pool / test). ``splits`` says which of the dataset's splits W2S-VQA scores: ``all`` (the paper's
protocol) or a list of split names (``[test]``: LSVQ's official test split; the embedded default's test sets,
see README "W2S-VQA").

The output is a manifest of exactly those rows, every one in split ``test`` (W2S-VQA's evaluation set; the
teachers, ``w2s-evaluate`` and ``w2s-table`` read it, so the "Overall" columns weight each set by the number of
videos scored). A pool row's MOS is not in the manifest: MDS-VQA's label oracle holds it (``--oracle``, read
through ``vqaloop.evaluation.oracle.LabelOracle.evaluation_labels``), and only a config that scores a pool split
gives one (config/paper.yaml's CGVDS: MDS-VQA selects from its pool, W2S-VQA evaluates all 357 videos). No
training or selection reads this file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import SPLITS, read_manifest, validate_manifest

log = logging.getLogger(__name__)

ALL = "all"


def evaluated_splits(splits: str | list[str], available: list[str], where: str) -> list[str]:
    """The split names ``splits`` (``all`` or a list) selects among a dataset's ``available`` splits."""
    if splits == ALL or splits == [ALL]:
        return sorted(available)
    chosen = list(splits)
    unknown = [s for s in chosen if s not in SPLITS]
    if unknown or ALL in chosen or len(set(chosen)) != len(chosen):
        raise UserError(f"{where}: splits {chosen} must be 'all' or distinct names of {', '.join(SPLITS)}")
    absent = [s for s in chosen if s not in available]
    if absent:
        raise UserError(f"{where}: has no {absent[0]!r} split (its splits: {', '.join(sorted(available))})")
    return chosen


def scored_rows(manifest: pd.DataFrame, splits: str | list[str], pool_mos: pd.Series | None,
                  where: str) -> pd.DataFrame:  # fmt: skip
    """The manifest rows of the evaluated splits, each with its MOS and split ``test``.

    ``pool_mos`` (video_id -> MOS, the dataset's oracle) is needed when a pool split is evaluated; every pool row
    must be in it."""
    chosen = evaluated_splits(splits, sorted(set(manifest.split)), where)
    rows = manifest[manifest.split.isin(chosen)].copy()
    pool = (rows.split == "pool").to_numpy()
    if pool.any():
        if pool_mos is None:
            raise UserError(f"{where}: scoring its pool split needs the dataset's oracle file (--oracle): pool MOS "
                            "are not in a manifest")  # fmt: skip
        ids = rows.video_id[pool]
        missing = ids[~ids.isin(pool_mos.index)]
        if len(missing):
            raise UserError(f"{where}: {len(missing)} pool video(s) have no label in the oracle, e.g. "
                            f"{missing.iloc[0]!r}")  # fmt: skip
        rows.loc[pool, "mos"] = pool_mos.loc[ids].to_numpy(dtype=float)
    rows["split"] = "test"
    return validate_manifest(rows.reset_index(drop=True), where)


def add_arguments(parser):
    from vqaloop.cli_checks import output_file

    parser.add_argument("--manifest", required=True, type=Path, help="the test set's manifest")
    parser.add_argument("--splits", nargs="+", required=True, choices=[ALL, *SPLITS],
                        help="the splits scored: all, or split names (config w2s.test_sets.<name>.splits)")  # fmt: skip
    parser.add_argument("--oracle", type=Path, help="the dataset's hidden pool labels (when a pool split is scored)")
    parser.add_argument("--out", required=True, type=output_file, help="manifest CSV of the scored rows")


def run(args) -> int:
    from vqaloop.evaluation.oracle import LabelOracle

    manifest = read_manifest(args.manifest)
    dataset = str(manifest.dataset.iloc[0])
    splits = ALL if args.splits == [ALL] else list(args.splits)
    pool_mos = LabelOracle(args.oracle, dataset).evaluation_labels() if args.oracle is not None else None
    rows = scored_rows(manifest, splits, pool_mos, f"{args.manifest} (--splits {' '.join(args.splits)})")
    write_csv_atomic(rows, args.out)
    log.info("%s: %d videos of %s scored by W2S-VQA (splits %s)", args.out, len(rows), dataset, ", ".join(args.splits))
    return 0
