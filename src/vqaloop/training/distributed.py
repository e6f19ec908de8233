"""Data-parallel training of the compact models over several processes (``accelerate launch``).

``accelerate launch --multi_gpu --num_processes K -m vqaloop train-base ...`` (or ``torchrun --nproc_per_node K
-m vqaloop ...``) runs the same command in K processes: one GPU each, or gloo processes on the CPU when there is
no CUDA (accelerate 1.16's ``--cpu`` flag picks its one-process or mpirun launcher instead: not this).
``train_groups`` (training/loops.py) then trains through ``DataParallel``: every process draws the same global batches (same seed), takes its contiguous shard of each
(``numpy.array_split`` bounds), and the model is wrapped by ``Accelerator.prepare`` (DistributedDataParallel:
one gradient all-reduce per step). The result is the one-process result with the same global batch, up to
float rounding, because:

* the losses couple the rows of a batch (the fidelity loss sums over ALL within-batch pairs, MDS-VQA Eqs. 3-5),
  so each process gathers every shard's outputs and evaluates the loss on the whole batch; its own outputs
  keep their graph, the others' are constants. Process k's gradient is then exactly its shard's part of the
  full-batch gradient; DDP averages over K processes, so the loss is scaled by K to get their sum;
* dropout (the heads' ``nn.Dropout`` and LoRA's) draws, in every process, the mask of the WHOLE batch from the
  same generator state, as one process would, and applies its shard's rows of it (``sharded_dropout``).
  The attention dropout inside ``nn.MultiheadAttention`` is not an ``nn.Dropout`` module: a model with it
  (``transformer_tokens``) trains correctly but not row-for-row like one process (a warning says so).

The model is moved back to the CPU afterwards, so the code after training (prediction, checkpoint) is the
single-process code; only the main process writes files (``is_main_process``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


def launched() -> bool:
    """Whether this process is one of several started by ``accelerate launch`` (or torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_main_process() -> bool:
    """The process that writes the outputs (every process outside a launch)."""
    return int(os.environ.get("RANK", "0")) == 0


def shard_bounds(rows: int, processes: int) -> np.ndarray:
    """Start of each process's contiguous shard of a batch, and the end: sizes differ by at most one."""
    return np.concatenate([[0], np.cumsum([len(part) for part in np.array_split(np.arange(rows), processes)])])


def sharded_dropout(module: nn.Dropout, parallel: DataParallel, x: Tensor) -> Tensor:
    """``module(x)`` for this process's rows of the batch: the whole batch's mask, drawn as one process would
    (same shape, same generator state), then this shard's rows of it."""
    if not module.training or module.p == 0:
        return x
    rows, start, stop = parallel.span
    if x.shape[0] != stop - start:
        raise RuntimeError(f"dropout input of {x.shape[0]} rows in a shard of {stop - start} (batch must be dim 0)")
    mask = nn.functional.dropout(torch.ones((rows, *x.shape[1:]), dtype=x.dtype, device=x.device), module.p, True)
    return x * mask[start:stop]


class DataParallel:
    """One process's part of data-parallel training (module docstring)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        from accelerate import Accelerator  # imported here: only launched runs need it

        # gloo processes on the CPU when there is no CUDA (or ACCELERATE_USE_CPU is set), one GPU each otherwise
        cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true") or not torch.cuda.is_available()
        self.accelerator = Accelerator(cpu=cpu)
        if self.accelerator.num_processes != int(os.environ["WORLD_SIZE"]):
            raise RuntimeError(f"accelerate sees {self.accelerator.num_processes} process(es) of WORLD_SIZE "
                               f"{os.environ['WORLD_SIZE']}: no process group")  # fmt: skip
        self.rank, self.processes = self.accelerator.process_index, self.accelerator.num_processes
        self.model = model
        self.wrapped, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.span = (0, 0, 0)  # (batch rows, shard start, shard stop) of the current step
        self.dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        for m in self.dropouts:
            m.forward = functools.partial(sharded_dropout, m, self)
        if any(isinstance(m, nn.MultiheadAttention) and m.dropout > 0 for m in model.modules()):
            log.warning("attention dropout is drawn per shard: training differs from one process beyond rounding")
        log.info("data-parallel training: process %d of %d on %s", self.rank, self.processes, self.accelerator.device)

    def backward(self, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor, idx: Tensor) -> Tensor:
        """The whole batch's loss (the same in every process); its gradient, summed over processes, in .grad."""
        device = self.accelerator.device
        bounds = shard_bounds(len(idx), self.processes)
        start, stop = int(bounds[self.rank]), int(bounds[self.rank + 1])
        self.span = (len(idx), start, stop)
        mine = self.wrapped(x[idx[start:stop]].to(device))
        outputs = self.all_outputs(mine, np.diff(bounds))
        loss = loss_fn(outputs, y[idx].to(device))
        self.accelerator.backward(loss * self.processes)  # DDP averages the K shards' parts: K x mean = sum
        return loss

    def all_outputs(self, mine: Tensor, sizes: np.ndarray) -> Tensor:
        """Every shard's outputs in batch order: the others' as constants, this process's with its graph."""
        longest = int(sizes.max())
        padded = torch.cat([mine.detach(), mine.new_zeros((longest - len(mine), *mine.shape[1:]))])
        gathered = self.accelerator.gather(padded).reshape(self.processes, longest, *mine.shape[1:])
        parts = [mine if k == self.rank else gathered[k, : sizes[k]] for k in range(self.processes)]
        return torch.cat(parts)

    def close(self) -> None:
        """Plain modules again (dropout restored), on the CPU for the single-process code that follows."""
        for m in self.dropouts:
            del m.forward
        self.accelerator.wait_for_everyone()
        self.model.to("cpu")
