"""``vqaloop w2s-evaluate``: a W2S student's soft-comparison scores and SRCC / PLCC on every test set.

Writes ``eval.csv`` (dataset, n, srcc, plcc: PLCC after the 4-parameter logistic, as everywhere) and
``scores.csv`` (video_id, dataset, split, score) for the test rows and the source training rows (the latter map
the student onto the MOS scale when it becomes a teacher of the next stage). The test rows are those of the
``--sets`` in split ``test``: in the workflow, each test set's ``vqaloop w2s-test-set`` file (the splits W2S-VQA
scores). A pointwise student (W2S Sec. 3) is scored by its expected rating, without ``--anchors``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import plcc, srcc
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.w2s.scoring import read_anchors, score_ids
from vqaloop.w2s.teachers import rows_to_score

log = logging.getLogger(__name__)


def evaluate_sets(scores: pd.Series, rows: pd.DataFrame) -> pd.DataFrame:
    """SRCC / PLCC per dataset over its test rows."""
    out = []
    for dataset, group in rows[rows.split == "test"].groupby("dataset", sort=False):
        pred, mos = scores.loc[list(group.video_id)].to_numpy(), group.mos.to_numpy(dtype=float)
        out.append({"dataset": dataset, "n": len(group), "srcc": round(srcc(pred, mos), 6),
                    "plcc": round(plcc(pred, mos), 6)})  # fmt: skip
    return pd.DataFrame(out, columns=["dataset", "n", "srcc", "plcc"])


def add_arguments(parser):
    from vqaloop.cli_checks import manifest_split, output_file, positive_float, threads

    parser.add_argument("--model", required=True, type=Path, help="W2S student checkpoint")
    parser.add_argument("--anchors", type=Path, help="soft-comparison anchors (pairwise students; none for pointwise)")
    parser.add_argument("--sets", nargs="+", required=True, type=manifest_split, metavar="MANIFEST[:split]")
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--temperature", type=positive_float, default=5.0)
    parser.add_argument("--link", choices=["normal", "sigmoid"], default="normal")
    parser.add_argument("--solver", choices=["newton", "lbfgs", "adam"], default="newton")
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--scores-out", required=True, type=output_file)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:

    from vqaloop.dispatch import set_compute_threads
    from vqaloop.w2s.students import is_pointwise, load_student

    set_compute_threads(args.threads)
    student = load_student(args.model)
    if is_pointwise(student) and args.anchors is not None:
        raise UserError(f"{args.model}: a pointwise student rates each video alone: it takes no --anchors")
    rows = rows_to_score(args.sets)
    groups = {str(ds): list(g.video_id) for ds, g in rows.groupby("dataset", sort=False)}
    anchors = read_anchors(args.anchors) if args.anchors is not None else None
    scores = score_ids(student, anchors, groups, args.features_root,
                       temperature=args.temperature, link=args.link, solver=args.solver)  # fmt: skip
    table = rows[["video_id", "dataset", "split"]].assign(score=scores.loc[list(rows.video_id)].round(6).to_numpy())
    evaluation = evaluate_sets(scores, rows)
    write_all_atomic([(args.scores_out, csv_writer(table)), (args.out, csv_writer(evaluation))])  # both or neither
    log.info("student %s:\n%s", args.model, json.dumps(evaluation.to_dict("records"), indent=0))
    return 0
