"""``vqaloop finetune``: active fine-tuning of f with LoRA on the source training set plus the labelled
selections (MDS-VQA Sec. 3.4). Pairs are built only within one dataset, so MOS scales never meet."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import fit_logistic4
from vqaloop.io.readers import read_csv
from vqaloop.losses.fidelity import ranking_loss
from vqaloop.models.inputs import feature_paths, manifest_inputs, open_inputs, predict
from vqaloop.models.registry import Checkpoint, get_base_model_class, load_checkpoint
from vqaloop.training.common import add_optimiser_arguments
from vqaloop.training.data import Group
from vqaloop.training.distributed import is_main_process
from vqaloop.training.loops import merged_state, seed_everything, train_groups, with_lora
from vqaloop.training.vlm_grpo import add_grpo_arguments

log = logging.getLogger(__name__)


def labelled_group(labels_path: Path, features_root: Path, model_name: str) -> Group:
    """A revealed selection (video_id, dataset, mos) as one training group."""
    labels = read_csv(labels_path, "revealed labels (vqaloop reveal)", ("video_id", "dataset", "mos"),
                      dtype={"video_id": str, "dataset": str})  # fmt: skip
    if labels.dataset.nunique() != 1:
        raise UserError(f"{labels_path}: one dataset per labels file (found {sorted(labels.dataset.unique())})")
    dataset = str(labels.dataset.iloc[0])
    x = open_inputs(feature_paths(features_root, dataset, model_name), list(labels.video_id))
    return Group(dataset, x, torch.tensor(labels.mos.to_numpy(), dtype=torch.float32))


def finetune(base: Checkpoint, groups: list[Group], rank: int, args, full: bool = False) -> Checkpoint:
    """LoRA fine-tuning (MDS-VQA Sec. 3.4), or full fine-tuning of every weight (``full``, Table 9)."""
    seed_everything(args.seed)
    if full:
        model = base.build()
        for p in model.parameters():
            p.requires_grad_(True)
    else:
        model = with_lora(base.build(), list(get_base_model_class(base.name).LORA_TARGETS), rank)
    history = train_groups(model, groups, ranking_loss, epochs=args.epochs, lr=args.lr, batch_size=args.batch,
                           weight_decay=args.weight_decay, seed=args.seed, desc="active fine-tuning")  # fmt: skip
    state = model.state_dict() if full else merged_state(model)
    tuned = Checkpoint(base.name, base.kwargs, state, None, {"loss_history": [round(v, 6) for v in history],
                       "groups": {g.name: len(g.y) for g in groups}})  # fmt: skip
    source = groups[0]
    tuned.logistic = fit_logistic4(predict(tuned.build(), source.x), source.y.numpy())
    return tuned


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, output_file

    parser.add_argument("--base-model", required=True, type=Path)
    parser.add_argument("--source-manifest", required=True, type=Path)
    parser.add_argument("--labels", nargs="*", default=[], type=Path, help="revealed selections, one per dataset")
    parser.add_argument("--features-root", required=True, type=Path)
    parser.add_argument("--rank", type=int_in(1, 4096), default=64)
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA (Table 9)")
    add_optimiser_arguments(parser, epochs=10, lr=1e-3, batch=8)
    add_grpo_arguments(parser)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    base = load_checkpoint(args.base_model)
    manifest, x = manifest_inputs(args.source_manifest, args.features_root, base.name, split="train")
    groups = [Group(str(manifest.dataset.iloc[0]), x, torch.tensor(manifest.mos.to_numpy(), dtype=torch.float32))]
    # the revealed selections by dataset name: the order of --labels (of mds.targets) does not change the model
    groups += sorted((labelled_group(p, args.features_root, base.name) for p in args.labels), key=lambda g: g.name)
    if getattr(get_base_model_class(base.name), "TRAINER", None) == "grpo":  # a VLM: GRPO (vqaloop.training.vlm_grpo)
        from vqaloop.training.vlm_grpo import finetune_vlm

        if args.full:
            raise UserError(f"finetune --full: base model {base.name!r} is a VLM, fine-tuned with LoRA only")
        tuned = finetune_vlm(base, groups, args.rank, args)
    else:
        tuned = finetune(base, groups, args.rank, args, full=args.full)
    if is_main_process():  # under `accelerate launch`, every process holds the same model: one writes it
        tuned.save(args.out)
    log.info("fine-tuned on %s", tuned.meta["groups"])
    return 0
