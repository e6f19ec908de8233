"""``vqaloop oof-errors``: f's out-of-fold errors on the source training set, for an extra MDS-VQA row.

MDS-VQA trains g on e(x) = |f(x) - mu(x)| over the labelled source training set (Eq. 4, SPEC). When f fits
that set almost perfectly (our small head: training SRCC 0.996), those in-sample errors are tiny and say
nothing about where f fails on new videos. Cross-fitting gives errors f would make on unseen videos:
1. the training contents are dealt into K folds (seeded shuffle, round robin), so every version of a content
   lands in the same fold and no fold model has seen any version of the videos it scores;
2. for each fold k, a fresh f_k is trained on the other folds with f's own recipe (``train_base_model``: same
   architecture, loss, optimiser and logistic mapping to MOS);
3. e_oof(x) = |f_k(x) - mu(x)| on the MOS scale, for x in fold k.
g is then trained on e_oof with the *full* f as its frozen base, exactly as with in-sample errors
(``vqaloop train-g --errors``); only the targets change. Rows using it are named ``mds_oof`` (not in the paper).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import apply_logistic4, srcc
from vqaloop.features.inputs import take_rows
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.models.inputs import manifest_inputs, predict
from vqaloop.training.base import train_base_model
from vqaloop.training.common import add_model_arguments, add_optimiser_arguments

log = logging.getLogger(__name__)
ERROR_COLUMNS = ["video_id", "fold", "oof_prediction", "mos", "error"]


def content_folds(contents: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index per row; all rows of one content share a fold (seeded shuffle of the sorted contents)."""
    unique = np.unique(contents)
    if folds < 2 or folds > len(unique):
        raise UserError(
            f"--folds {folds} (config mds.out_of_fold.folds): needs 2 <= folds <= {len(unique)}, the number of "
            "training contents"
        )
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[i]: rank % folds for rank, i in enumerate(order)}
    return np.array([fold_of[c] for c in contents], dtype=int)


def cross_fitted_predictions(name: str, x: torch.Tensor, mos: np.ndarray, fold: np.ndarray, hidden: int, args):
    """f_k(x) on the MOS scale for every row, f_k trained without row x's fold (steps 2-3 above)."""
    out = np.full(len(mos), np.nan)
    for k in np.unique(fold):
        train, held = fold != k, fold == k
        model = train_base_model(name, take_rows(x, train), torch.tensor(mos[train], dtype=torch.float32), hidden, args)
        out[held] = apply_logistic4(model.logistic, predict(model.build(), take_rows(x, held)))
        log.info("fold %d: trained on %d videos, scored %d held-out", k, int(train.sum()), int(held.sum()))
    return out


def read_errors(path: str | Path, video_ids: list[str]) -> np.ndarray:
    """The ``error`` column of an oof-errors CSV in the order of ``video_ids`` (every id must be there)."""
    from vqaloop.io.readers import read_csv

    path = Path(path)
    table = read_csv(path, "errors file (vqaloop oof-errors)", ("video_id", "error"), dtype={"video_id": str})
    errors = table.set_index("video_id")["error"]
    absent = [v for v in video_ids if v not in errors.index]
    if absent:
        raise UserError(f"{path}: no error for {len(absent)} training video(s), e.g. {absent[0]!r}")
    values = errors.loc[video_ids].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise UserError(f"{path}: non-finite error for {video_ids[int(np.argmin(np.isfinite(values)))]!r}")
    return values


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_file

    add_model_arguments(parser)
    parser.add_argument("--manifest", required=True, type=Path, help="source dataset manifest (train split used)")
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--folds", type=int_in(2, 1000), default=5, help="folds, 2 to 1000 (and at most the videos)")
    add_optimiser_arguments(parser, epochs=60, lr=1e-3, batch=32)
    parser.add_argument("--out", required=True, type=output_file, help="CSV: " + ", ".join(ERROR_COLUMNS))


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    manifest, x = manifest_inputs(args.manifest, args.features_root, args.base, split="train")
    mos = manifest.mos.to_numpy(dtype=float)
    try:
        fold = content_folds(manifest.content_id.astype(str).to_numpy(), args.folds, args.seed)
    except UserError as err:
        raise UserError(f"{args.manifest}: {err}") from None
    oof = cross_fitted_predictions(args.base, x, mos, fold, args.hidden, args)
    table = pd.DataFrame({"video_id": manifest.video_id, "fold": fold, "oof_prediction": oof.round(6), "mos": mos,
                          "error": np.abs(oof - mos).round(6)})  # fmt: skip
    write_csv_atomic(table, args.out)
    log.info("out-of-fold SRCC(f_k, MOS) = %.3f over %d folds; mean error %.3f", srcc(oof, mos), args.folds,
             float(table.error.mean()))  # fmt: skip
    return 0
