"""``vqaloop train-g``: the LoRA failure predictor g on the frozen base model f (MDS-VQA Sec. 3.2).

Labels come from f's errors on the labelled source training set, e(x) = |f(x) - mu(x)| with f mapped to the
MOS scale by its 4-parameter logistic (SPEC, Eq. 4). The loss is chosen by name (``vqaloop.losses.LOSSES``):
ranking (Thurstone fidelity, Eqs. 3-5; the default), classification or regression (Table 5 ablation).
The LoRA update is merged into a plain checkpoint of the same architecture. ``--errors`` replaces the in-sample
errors by f's out-of-fold errors (``vqaloop oof-errors``; an extra row, not in the paper).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import apply_logistic4, srcc
from vqaloop.losses.fidelity import LOSSES, training_targets
from vqaloop.models.inputs import manifest_inputs, predict
from vqaloop.models.registry import Checkpoint, get_base_model_class, load_checkpoint
from vqaloop.training.common import add_optimiser_arguments
from vqaloop.training.data import Group
from vqaloop.training.distributed import is_main_process
from vqaloop.training.errors import read_errors
from vqaloop.training.loops import merged_state, seed_everything, train_groups, with_lora
from vqaloop.training.vlm_grpo import add_grpo_arguments

log = logging.getLogger(__name__)


def base_errors(base: Checkpoint, x: torch.Tensor, mos: np.ndarray) -> np.ndarray:
    """e(x) = |f(x) - mu(x)| with f on the MOS scale (MDS-VQA Eq. 4 inputs)."""
    return np.abs(apply_logistic4(base.logistic, predict(base.build(), x)) - mos)


def train_failure_predictor(
    base: Checkpoint, x: torch.Tensor, errors: np.ndarray, loss: str, rank: int, args
) -> Checkpoint:
    LOSSES.get(loss)  # one line naming the valid losses otherwise
    seed_everything(args.seed)
    targets = list(get_base_model_class(base.name).LORA_TARGETS)
    g = with_lora(base.build(), targets, rank)
    y = training_targets(loss, torch.tensor(errors, dtype=torch.float32))  # over the whole set, not per batch
    history = train_groups(g, [Group("source", x, y)], LOSSES[loss], epochs=args.epochs, lr=args.lr,
                           batch_size=args.batch, weight_decay=args.weight_decay, seed=args.seed,
                           desc=f"train g ({loss}, r={rank})")  # fmt: skip
    trained = predict(g, x)
    meta = {"loss": loss, "rank": rank, "train_srcc_vs_error": round(srcc(trained, errors), 6),
            "loss_history": [round(v, 6) for v in history]}  # fmt: skip
    return Checkpoint(base.name, base.kwargs, merged_state(g), None, meta)


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_file

    parser.add_argument("--base-model", required=True, type=Path)
    parser.add_argument("--manifest", required=True, type=Path, help="source dataset manifest (train split used)")
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--loss", required=True, choices=LOSSES.names())
    parser.add_argument("--rank", required=True, type=int_in(1, 4096))
    parser.add_argument("--errors", type=Path, help="targets from an oof-errors CSV instead of f's in-sample errors")
    add_optimiser_arguments(parser, epochs=30, lr=2e-3, batch=8)
    add_grpo_arguments(parser)
    parser.add_argument("--recipe", choices=("paper", "authors"), default="paper",
                        help="VLM g: paper = this project's reading; authors = the MDS-VQA authors' code (one answer "
                        "per video, batch-local pairs, unit variances, advantage = minus the loss; config "
                        "grpo.g_recipe)")  # fmt: skip
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    if args.rank < 1:
        raise UserError(f"--rank must be at least 1, got {args.rank}")
    base = load_checkpoint(args.base_model)
    manifest, x = manifest_inputs(args.manifest, args.features_root, base.name, split="train")
    given = None if args.errors is None else read_errors(args.errors, list(manifest.video_id))
    if getattr(get_base_model_class(base.name), "TRAINER", None) == "grpo":  # a VLM: GRPO (training.vlm_failure)
        from vqaloop.training.vlm_failure import train_vlm_failure_predictor

        g = train_vlm_failure_predictor(base, x, manifest.mos.to_numpy(), args.loss, args.rank, args, given,
                                        recipe=args.recipe)  # fmt: skip
    else:
        if args.recipe != "paper":
            raise UserError(f"--recipe {args.recipe}: a GRPO recipe of vision-language g; {base.name} is not one")
        errors = base_errors(base, x, manifest.mos.to_numpy()) if given is None else given
        g = train_failure_predictor(base, x, errors, args.loss, args.rank, args)
    if is_main_process():  # under `accelerate launch`, every process holds the same model: one writes it
        g.save(args.out)
    log.info("g %s r=%d: train SRCC(g, e) = %.3f", args.loss, args.rank, g.meta["train_srcc_vs_error"])
    return 0
