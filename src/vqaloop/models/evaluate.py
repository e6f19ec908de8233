"""``vqaloop evaluate``: SRCC and PLCC (after the 4-parameter logistic) of a model on test splits."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import plcc, srcc
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.models.inputs import manifest_inputs, predict
from vqaloop.models.registry import load_checkpoint

log = logging.getLogger(__name__)
MIN_VIDEOS = 2  # SRCC and PLCC of one video are undefined


def evaluate_model(model, manifests: list[Path], features_root: Path, name: str, split: str = "test") -> pd.DataFrame:
    rows = []
    for path in manifests:
        manifest, x = manifest_inputs(path, features_root, name, split=split)
        if len(manifest) < MIN_VIDEOS:
            raise UserError(
                f"{path}: split {split!r} has {len(manifest)} video(s); SRCC/PLCC need at least {MIN_VIDEOS}"
            )
        pred = predict(model, x)
        mos = manifest.mos.to_numpy()
        rows.append({"dataset": manifest.dataset.iloc[0], "split": split, "n": len(mos),
                     "srcc": round(srcc(pred, mos), 6), "plcc": round(plcc(pred, mos), 6)})  # fmt: skip
    return pd.DataFrame(rows)


def add_arguments(parser):
    from vqaloop.cli_checks import output_file, threads

    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--manifests", required=True, nargs="+", type=Path)
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    checkpoint = load_checkpoint(args.model)
    table = evaluate_model(checkpoint.build(), args.manifests, args.features_root, checkpoint.name, args.split)
    write_csv_atomic(table, args.out)
    log.info("evaluation:\n%s", table.to_string(index=False))
    return 0
