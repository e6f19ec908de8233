"""MC dropout baseline (Pop & Fulop 2018, regression form; SPEC "The eight baselines").

    var(x) = 1/T sum_t (f_t(x) - mean_t f_t(x))^2          f_t: the base model with fresh dropout masks

T stochastic forward passes of the base model f over the pool with its dropout layers in train mode (every
other layer stays in eval mode; for a LoRA model its LoRA dropout layers are dropout layers too); the B videos
with the largest predictive variance are picked, ties to the lowest pool index.

Randomness: the passes run inside ``torch.random.fork_rng`` after ``torch.manual_seed(seed)``, so the caller's
global RNG is untouched and the masks are a function of the seed alone. Pass t covers the pool in order, in
chunks of ``batch`` videos (with ``batch >= N``: one forward call per pass, which is what the tests replay).
Time O(T N F D H), memory O(N) beyond f's inputs (which the caller holds).
"""

from __future__ import annotations

import numpy as np

from vqaloop.errors import UserError
from vqaloop.selection.registry import SelectionInputs, register

DEFAULT_PASSES = 10  # Pop & Fulop; SPEC "The eight baselines"


def dropout_layers(module) -> list:
    """Every dropout layer of ``module`` (nn.Dropout, Dropout1d/2d/3d, AlphaDropout, ...)."""
    from torch import nn

    return [m for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def mc_dropout_variance(module, x, passes: int = DEFAULT_PASSES, seed: int = 0, batch: int = 4096, device="cpu"):
    """Predictive variance (N,) float64 of ``passes`` dropout-on forward passes of ``module`` over ``x`` (N, F, D)."""
    import torch

    from vqaloop.features.inputs import capped_batch

    if passes < 2:
        raise UserError(f"mc_dropout needs at least 2 passes, got {passes}")
    layers = dropout_layers(module)
    if not layers:
        raise UserError(f"mc_dropout: the base model {type(module).__name__} has no dropout layer")
    device = torch.device(device)
    modes = {m: m.training for m in module.modules()}
    home = next(module.parameters()).device
    n = x.shape[0]
    batch = capped_batch(x, batch)  # large rows (a VLM's frames): fewer per batch
    outputs = torch.zeros(passes, n, dtype=torch.float64)
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        module.to(device).eval()
        for layer in layers:
            layer.train()
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            for t in range(passes):
                for i in range(0, n, batch):
                    outputs[t, i : i + batch] = module(x[i : i + batch].to(device)).reshape(-1).double().cpu()
    finally:
        module.to(home)
        for m, training in modes.items():
            m.train(training)
    return outputs.var(dim=0, unbiased=False).numpy()  # two-pass: exactly 0 where every pass agrees


def top_by_score(scores: np.ndarray, budget: int) -> list[int]:
    """Indices of the ``budget`` largest scores, largest first, ties to the lowest index."""
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores, dtype=np.float64)))
    return [int(i) for i in order[:budget]]


@register(
    "mc_dropout",
    needs={"model"},
    help="Pop & Fulop: top-B predictive variance over T=10 dropout-on passes of f (seeded masks)",
)
def select_mc_dropout(
    inputs: SelectionInputs, budget: int, seed: int, passes: int = DEFAULT_PASSES, batch: int = 4096, device="cpu"
) -> list[int]:
    model = inputs.model
    variance = mc_dropout_variance(model.module, model.x, passes=passes, seed=seed, batch=batch, device=device)
    return top_by_score(variance, budget)
