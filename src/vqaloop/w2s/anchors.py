"""``vqaloop w2s-anchors``: the anchor videos of soft comparison, chosen from the labelled source training set.

W2S-VQA uses five anchors whose MOS spread over the range (Appendix C.3). Decided (SPEC "Anchors"): cut the
source training MOS into ``count`` quantile bins and take, in each bin, the video whose teachers agree most
(the smallest standard deviation of the teachers' MOS-scale scores; ties by id).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.w2s.data import labelled_split
from vqaloop.w2s.teachers import read_teacher

log = logging.getLogger(__name__)


def choose_anchors(train: pd.DataFrame, teacher_sd: np.ndarray, count: int) -> pd.DataFrame:
    """One video per MOS quantile bin: the one with the smallest teacher spread (W2S Appendix C.3, SPEC)."""
    if count < 2 or count > len(train):
        raise UserError(f"--count {count}: anchors must number between 2 and the {len(train)} source training videos")
    order = np.argsort(train.mos.to_numpy(dtype=float), kind="stable")
    picks = []
    for chunk in np.array_split(order, count):
        best = min(chunk, key=lambda i: (round(float(teacher_sd[i]), 12), train.video_id.iloc[i]))
        picks.append(best)
    out = train.iloc[picks][["video_id", "dataset", "path", "mos"]].reset_index(drop=True)
    return out.assign(teacher_sd=np.round(teacher_sd[picks], 6))


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_file

    parser.add_argument("--source-manifest", required=True, type=Path)
    parser.add_argument("--teachers", nargs="+", required=True, type=Path, help="teacher score files")
    parser.add_argument("--count", type=int_in(2), default=5, help="anchors, at most the source training videos")
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    train = labelled_split(args.source_manifest, "train")
    scores = []
    for path in args.teachers:
        table, _ = read_teacher(path)
        missing = [v for v in train.video_id if v not in table.index]
        if missing:
            raise UserError(f"{path}: no score for source training video {missing[0]!r}")
        scores.append(table.loc[list(train.video_id), "mos"].to_numpy(dtype=float))
    sd = np.std(np.stack(scores, axis=1), axis=1, ddof=1) if len(scores) > 1 else np.zeros(len(train))
    anchors = choose_anchors(train, sd, args.count)
    write_csv_atomic(anchors, args.out)
    log.info("anchors: %s", anchors[["video_id", "mos", "teacher_sd"]].to_dict("records"))
    return 0
