"""``vqaloop predict``: scores of a trained model on a manifest (all rows or one split).

``--column score`` writes video_id, split, score (raw) and mos_pred (the model's logistic mapping);
``--column difficulty`` writes ``video_id,difficulty`` (the contract of ``vqaloop select --difficulty``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from vqaloop.evaluation.metrics import apply_logistic4
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.models.inputs import manifest_inputs, predict
from vqaloop.models.registry import load_checkpoint

log = logging.getLogger(__name__)


def add_arguments(parser):
    from vqaloop.cli_checks import output_file, threads

    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--split", choices=["train", "test", "pool"], help="only this split")
    parser.add_argument("--column", choices=["score", "difficulty"], default="score")
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    checkpoint = load_checkpoint(args.model)
    manifest, x = manifest_inputs(args.manifest, args.features_root, checkpoint.name, split=args.split)
    raw = predict(checkpoint.build(), x).round(6)
    if args.column == "difficulty":
        out = pd.DataFrame({"video_id": manifest.video_id, "difficulty": raw})
    else:
        mapped = apply_logistic4(checkpoint.logistic, raw).round(6) if checkpoint.logistic else raw
        out = pd.DataFrame({"video_id": manifest.video_id, "split": manifest.split, "score": raw, "mos_pred": mapped})
    write_csv_atomic(out, args.out)
    log.info("%s: %d predictions", args.out, len(out))
    return 0
