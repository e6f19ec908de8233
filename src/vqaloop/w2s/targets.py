"""``vqaloop w2s-targets``: per-video targets of W2S-VQA's straightforward students (Sec. 3, Table 5, pointwise).

Sec. 3.1: the weak model's predictions y_j = f_weak(x_j) on the unlabelled videos are the supervision. Kinds:
- ``teacher``: one teacher's scores on the MOS scale (its ``mos`` column: the raw scores through the logistic
  fitted on the source training set, ``vqaloop.w2s.teachers``) for the videos of D(1), the stage-1 share of the
  shaped pool (the videos the pairwise students of the same table are paired from);
- ``source``: the MOS of the source training split (the supervised "LSVQ-labelled" student).
Output: ``video_id, target, kind``; ``vqaloop w2s-train --targets`` reads it (``vqaloop.w2s.pointwise``: a target
is trained as the two-point rating distribution around it, clipped to [1, 5]).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.readers import numeric_column, read_csv
from vqaloop.w2s.data import STAGES, labelled_split

log = logging.getLogger(__name__)

TARGET_COLUMNS = ["video_id", "target", "kind"]
KINDS = ("teacher", "source")


def teacher_targets(teacher: Path, ids: list[str]) -> pd.DataFrame:
    """A teacher's MOS-scale scores of ``ids`` (every id must be scored)."""
    from vqaloop.w2s.teachers import read_teacher

    table, _stats = read_teacher(teacher)
    missing = [v for v in ids if v not in table.index]
    if missing:
        raise UserError(f"{teacher}: no score for {len(missing)} pool video(s), e.g. {missing[0]!r}")
    return pd.DataFrame({"video_id": ids, "target": table.loc[ids, "mos"].to_numpy(dtype=float), "kind": "teacher"})


def source_targets(manifest: Path) -> pd.DataFrame:
    train = labelled_split(manifest, "train")
    return pd.DataFrame({"video_id": list(train.video_id), "target": train.mos.to_numpy(dtype=float),
                         "kind": "source"})  # fmt: skip


def read_targets(path: str | Path) -> pd.DataFrame:
    """A targets file, checked: its columns, finite targets, one row per video (one line naming the file)."""
    table = read_csv(path, "per-video targets (vqaloop w2s-targets)", TARGET_COLUMNS, dtype={"video_id": str})
    if table.empty:
        raise UserError(f"{path}: no targets")
    dup = table.video_id.duplicated() | table.video_id.isna()
    if dup.any():
        raise UserError(f"{path}: row {int(np.flatnonzero(dup.to_numpy())[0]) + 2}: empty or repeated video_id")
    numeric_column(table, "target", path)
    return table.assign(target=pd.to_numeric(table.target).astype(float))


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_file, positive_int, seed

    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--teacher", type=Path, help="one teacher's scores (kind teacher: vqaloop w2s-teacher)")
    parser.add_argument("--pool", type=Path, help="the unlabelled pool manifest (kind teacher)")
    parser.add_argument("--shaped", type=Path, help="shaping picks (video_id): the pool videos kept (kind teacher)")
    parser.add_argument("--stage", type=int_in(1, STAGES, "a stage"), default=1,
                        help="the stage whose share of the shaped pool is scored (1, 2 or 3)")  # fmt: skip
    parser.add_argument("--stage-sizes", nargs=STAGES, type=positive_int, metavar="N",
                        help="videos of D(1), D(2), D(3); they sum to the shaped pool's size (kind teacher)")  # fmt: skip
    parser.add_argument("--split-seed", type=seed, default=0, help="seed of the stage split of the shaped pool")
    parser.add_argument("--source-manifest", type=Path, help="the labelled source manifest (kind source)")
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.w2s.pairs import stage_videos

    if args.kind == "teacher":
        if args.teacher is None or args.pool is None or args.shaped is None or args.stage_sizes is None:
            raise UserError("--kind teacher needs --teacher, --pool, --shaped and --stage-sizes")
        ids = stage_videos(args.pool, args.shaped, args.stage_sizes, args.split_seed, args.stage)
        targets = teacher_targets(args.teacher, ids)
    else:
        if args.source_manifest is None:
            raise UserError("--kind source needs --source-manifest")
        targets = source_targets(args.source_manifest)
    write_csv_atomic(targets[TARGET_COLUMNS].assign(target=targets.target.round(6)), args.out)
    outside = int(((targets.target < 1) | (targets.target > 5)).sum())
    log.info("%s: %d %s targets, mean %.3f, %d outside [1, 5] (clipped in training)", args.out, len(targets),
             args.kind, targets.target.mean(), outside)  # fmt: skip
    return 0
