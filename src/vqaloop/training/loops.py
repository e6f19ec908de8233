"""Training loops shared by the base model, the failure predictor and active fine-tuning."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from vqaloop.training import distributed
from vqaloop.training.data import Group, group_batches

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> np.random.Generator:
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def train_groups(
    model: nn.Module,
    groups: list[Group],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    weight_decay: float,
    seed: int,
    desc: str,
) -> list[float]:
    """AdamW with a linear decay to zero (MDS-VQA Sec. 4.1); each batch from one group. Returns epoch losses."""
    rng = seed_everything(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps_per_epoch = len(group_batches(groups, batch_size, np.random.default_rng(0)))
    total = max(1, epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total))
    # under `accelerate launch`: each process trains on its shard of every global batch (training/distributed.py)
    parallel = distributed.DataParallel(model, optimizer) if distributed.launched() else None
    optimizer = optimizer if parallel is None else parallel.optimizer
    history = []
    model.train()
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not sys.stderr.isatty())
    for _ in bar:
        losses = []
        for g, rows in group_batches(groups, batch_size, rng):
            idx = torch.from_numpy(rows)
            if parallel is None:
                loss = loss_fn(model(groups[g].x[idx]), groups[g].y[idx])
                optimizer.zero_grad()
                loss.backward()
            else:
                optimizer.zero_grad()
                loss = parallel.backward(loss_fn, groups[g].x, groups[g].y, idx)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        history.append(float(np.mean(losses)) if losses else float("nan"))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    if parallel is not None:
        parallel.close()
    model.eval()
    log.info("%s: loss %.4f -> %.4f over %d epochs", desc, history[0], history[-1], epochs)
    return history


def with_lora(model: nn.Module, targets: list[str], rank: int, dropout: float = 0.05) -> nn.Module:
    """Freeze the model and attach LoRA (MDS-VQA Eq. 2: W0 + (alpha/r) B A) with alpha = 2r to ``targets``."""
    from peft import LoraConfig, get_peft_model  # imported here: peft pulls in transformers (seconds)

    for p in model.parameters():
        p.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout, target_modules=targets, bias="none")
    return get_peft_model(model, config)


def merged_state(peft_model: nn.Module) -> dict:
    """The plain model's state dict with the LoRA update merged into the frozen weights."""
    return peft_model.merge_and_unload().state_dict()
