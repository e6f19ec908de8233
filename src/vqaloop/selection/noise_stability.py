"""NoiseStability baseline (Li et al. 2024, "Deep active learning with noise stability"; SPEC "The eight baselines").

K copies of the base model f, each with Gaussian noise added to every weight tensor W (the ``.weight``
parameters: linear, convolution and normalisation weights; biases stay as they are, as in the authors' code),
scaled so that ||noise|| = alpha * ||W||. Per pool video the feature-deviation vector

    v(x) = concat_k (o_k(x) - o(x)) / (||o(x)|| + 1e-8)          (K * dim(o) values)

with o the clean model's output and o_k the k-th noisy copy's; then k-center greedy on the v(x) starting from
the origin: the first pick is the video with the largest ||v(x)|| (the most perturbation-sensitive), every
later pick maximises the distance to the nearest of {origin} and the videos already picked.

What o is: with ``use_embeddings`` (the default for a model with ``frame_embeddings``, i.e. every registered base
model) o(x) is f's pooled internal embedding, mean over frames of ``frame_embeddings(x)`` (the representation
``forward`` feeds its head). Without it o(x) is the scalar score f(x) and ||o(x)|| = |f(x)|. Why the embedding
by default: (1) our f is trained with a ranking loss, so its scores are on an arbitrary scale and cross zero;
dividing by |f(x)| would make the videos whose predicted score happens to be near 0 look maximally unstable
whatever their true sensitivity; (2) the authors' code does the same for its regression task, where it takes the
penultimate features instead of the outputs; (3) a K-value vector per video is a poor basis for k-center
diversity. ``use_embeddings=False`` gives the scalar form.

Randomness: one ``torch.Generator`` seeded with ``seed`` on the CPU draws the noise for copy 0, weight tensor
by weight tensor in ``named_parameters`` order, then for copy 1, and so on (the same noise on every device).
Time O(K N F D H) for the K + 1 passes plus O(N B K dim(o)) for k-center; memory O(N K dim(o)) for the
deviation vectors (float32, 645 MB at N = 42,000 with K = 30, H = 128).
"""

from __future__ import annotations

import copy

import numpy as np

from vqaloop.errors import UserError
from vqaloop.selection.registry import SelectionInputs, register

DEFAULT_COPIES = 30  # K, Li et al. 2024
DEFAULT_ALPHA = 1e-3  # ||noise|| / ||W||
NORM_EPS = 1e-8


def weight_tensors(module) -> list[tuple[str, object]]:
    """(name, parameter) of every weight tensor of ``module`` (parameters named ``...weight``), in order."""
    return [(name, p) for name, p in module.named_parameters() if name.rsplit(".", 1)[-1] == "weight"]


def representation(module, x, use_embeddings: bool):
    """o(x): the pooled embedding (n, H) or the score as a column (n, 1)."""
    if use_embeddings:
        return module.frame_embeddings(x).mean(dim=1)
    return module(x).reshape(-1, 1)


def outputs(module, x, use_embeddings: bool, batch: int, device):
    import torch

    from vqaloop.features.inputs import capped_batch

    batch = capped_batch(x, batch)  # large rows (a VLM's frames): fewer per batch
    with torch.no_grad():
        parts = [representation(module, x[i : i + batch].to(device), use_embeddings) for i in range(0, len(x), batch)]
        return torch.cat(parts).float()


def deviation_vectors(
    module,
    x,
    copies: int = DEFAULT_COPIES,
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
    use_embeddings: bool | None = None,
    batch: int = 4096,
    device="cpu",
):
    """The (N, K * dim(o)) float32 deviation vectors v(x) on ``device`` (module docstring)."""
    import torch

    if copies < 1:
        raise UserError(f"noise_stability needs at least 1 noisy copy, got {copies}")
    if not alpha > 0:
        raise UserError(f"noise_stability: alpha must be > 0, got {alpha}")
    has_embeddings = callable(getattr(module, "frame_embeddings", None))
    if use_embeddings is None:
        use_embeddings = has_embeddings
    elif use_embeddings and not has_embeddings:
        raise UserError(f"noise_stability: the base model {type(module).__name__} has no frame_embeddings")
    device = torch.device(device)
    clean = copy.deepcopy(module).to(device).eval()
    noisy = copy.deepcopy(clean)
    clean_weights = [p.detach() for _, p in weight_tensors(clean)]
    noisy_weights = [p for _, p in weight_tensors(noisy)]
    if not clean_weights:
        raise UserError(f"noise_stability: the base model {type(module).__name__} has no weight tensors")
    base = outputs(clean, x, use_embeddings, batch, device)
    scale = 1.0 / (base.norm(dim=1, keepdim=True) + NORM_EPS)
    width = base.shape[1]
    vectors = torch.empty((len(x), copies * width), dtype=torch.float32, device=device)
    generator = torch.Generator().manual_seed(int(seed))
    for k in range(copies):
        with torch.no_grad():
            for w, target in zip(clean_weights, noisy_weights, strict=True):
                noise = torch.randn(w.shape, generator=generator, dtype=torch.float32)
                noise *= alpha * float(w.norm()) / float(noise.norm())
                target.copy_(w + noise.to(device=device, dtype=w.dtype))
        vectors[:, k * width : (k + 1) * width] = (outputs(noisy, x, use_embeddings, batch, device) - base) * scale
    return vectors


def kcenter_from_origin(vectors, budget: int) -> list[int]:
    """k-center greedy with the origin as the first centre: each pick maximises the distance to its nearest centre
    (ties to the lowest index). Squared distances ||v||^2 + ||c||^2 - 2 v.c, one matrix-vector product a pick,
    on the vectors centred on their mean (float32 keeps the differences when they share a large offset; the
    distance to the origin, the first centre, is taken on the raw vectors)."""
    import torch

    n = vectors.shape[0]
    if not 1 <= budget <= n:
        raise ValueError(f"budget {budget} is outside 1..{n}")
    nearest = (vectors * vectors).sum(dim=1)  # squared distance to the nearest centre; the origin is the first one
    vectors = vectors - vectors.mean(dim=0, dtype=torch.float64).to(vectors.dtype)
    squared = (vectors * vectors).sum(dim=1)
    picks: list[int] = []
    for _ in range(budget):
        i = int(torch.argmax(nearest))  # first maximum
        picks.append(i)
        d2 = (squared - 2.0 * (vectors @ vectors[i]) + squared[i]).clamp_min_(0.0)
        torch.minimum(nearest, d2, out=nearest)
        nearest[i] = -float("inf")  # never picked twice, even when every distance left is 0
    return picks


@register(
    "noise_stability",
    needs={"model"},
    help="Li et al. 2024: k-center from the origin on f's deviations under K=30 weight-noise copies (alpha 1e-3)",
)
def select_noise_stability(
    inputs: SelectionInputs,
    budget: int,
    seed: int,
    copies: int = DEFAULT_COPIES,
    alpha: float = DEFAULT_ALPHA,
    use_embeddings: bool | None = None,
    batch: int = 4096,
    device="cpu",
) -> list[int]:
    model = inputs.model
    vectors = deviation_vectors(model.module, model.x, copies, alpha, seed, use_embeddings, batch, device)
    return [int(i) for i in np.asarray(kcenter_from_origin(vectors, budget))]
