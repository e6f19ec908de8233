"""``vqaloop train-base``: train the base quality model f on the source training split.

Fidelity ranking loss on all within-batch pairs (p = 1[mu(x) > mu(y)], ties 0.5; MDS-VQA Eqs. 3-5 with
MOS in place of errors), then the VQEG 4-parameter logistic from f's raw output to MOS, fitted on the same
training set (SPEC "Failure-predictor labels").
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vqaloop.evaluation.metrics import fit_logistic4, srcc
from vqaloop.losses.fidelity import ranking_loss
from vqaloop.models.inputs import manifest_inputs, predict
from vqaloop.models.registry import Checkpoint, get_base_model_class
from vqaloop.training.common import add_model_arguments, add_optimiser_arguments
from vqaloop.training.data import Group
from vqaloop.training.distributed import is_main_process
from vqaloop.training.loops import seed_everything, train_groups

log = logging.getLogger(__name__)


def train_base_model(name: str, x: torch.Tensor, mos: torch.Tensor, hidden: int, args) -> Checkpoint:
    seed_everything(args.seed)
    model = get_base_model_class(name)(in_dim=x.shape[-1], hidden=hidden)
    model.set_input_statistics(x)
    history = train_groups(model, [Group("source", x, mos)], ranking_loss, epochs=args.epochs, lr=args.lr,
                           batch_size=args.batch, weight_decay=args.weight_decay, seed=args.seed, desc=f"train {name}")  # fmt: skip
    raw = predict(model, x)
    fit = fit_logistic4(raw, mos.numpy())
    meta = {"train_srcc": round(srcc(raw, mos.numpy()), 6), "loss_history": [round(v, 6) for v in history]}
    return Checkpoint(name, {"in_dim": x.shape[-1], "hidden": hidden}, model.state_dict(), fit, meta)


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_file
    from vqaloop.training.vlm_grpo import add_grpo_arguments

    add_model_arguments(parser)
    parser.add_argument("--manifest", required=True, type=Path, help="source dataset manifest")
    parser.add_argument("--features-root", required=True, type=Path)
    add_optimiser_arguments(parser, epochs=60, lr=1e-3, batch=32)
    parser.add_argument("--weights", help="VLM base models: the pretrained model (folder or Hugging Face id)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                        help="VLM base models: float32, bfloat16 or float16")  # fmt: skip
    parser.add_argument("--rank", type=int_in(1, 4096), default=64,
                        help="VLM base models: LoRA rank of the GRPO training")  # fmt: skip
    add_grpo_arguments(parser)
    parser.add_argument("--scores", choices=("deterministic", "sampled"), default="deterministic",
                        help="VLM base models: f's (and its g's) scores, stored in the checkpoint: the expected rating "
                        "of one forward pass, or one sampled answer (the MDS-VQA authors; config grpo.scores)")  # fmt: skip
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    manifest, x = manifest_inputs(args.manifest, args.features_root, args.base, split="train")
    mos = torch.tensor(manifest.mos.to_numpy(), dtype=torch.float32)
    if getattr(get_base_model_class(args.base), "TRAINER", None) == "grpo":  # a VLM: GRPO (vqaloop.training.vlm_grpo)
        from vqaloop.training.vlm_grpo import train_vlm_base

        checkpoint = train_vlm_base(args.base, x, mos, args)
    else:
        checkpoint = train_base_model(args.base, x, mos, args.hidden, args)
    if is_main_process():  # under `accelerate launch`, every process holds the same model: one writes it
        checkpoint.save(args.out)
    log.info(
        "base model %s: train SRCC %.3f, mapping %s", args.base, checkpoint.meta["train_srcc"], checkpoint.logistic.kind
    )
    return 0
