"""Failure-predictor losses: the ranking (fidelity) loss of MDS-VQA and the Table 5 ablation losses.

Every loss in ``LOSSES`` has one signature, ``loss(scores, targets) -> scalar Tensor``: ``scores`` (N,) are the
failure predictor's outputs g(x) on a batch, ``targets`` (N,) what ``training_targets`` made of the base model's
errors e(x) = |f(x) - mu(x)| once, over the whole training set: the errors themselves (ranking, regression) or the
hard labels 1[e >= median e] (classification). A label never depends on which videos share its batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from vqaloop.registry import Registry

FIDELITY_EPS = 1e-8  # SPEC "Fidelity loss"


def thurstone_prob(gx: Tensor, gy: Tensor) -> Tensor:
    """P(x harder than y) = Phi((g(x) - g(y)) / sqrt(2)) (MDS-VQA Eq. 3)."""
    return torch.special.ndtr((gx - gy) / math.sqrt(2.0))


def fidelity_loss(p: Tensor, p_hat: Tensor, eps: float = FIDELITY_EPS) -> Tensor:
    """Mean over pairs of 1 - sqrt(p p_hat + eps) - sqrt((1-p)(1-p_hat) + eps) (MDS-VQA Eq. 5)."""
    per_pair = 1.0 - torch.sqrt(p * p_hat + eps) - torch.sqrt((1.0 - p) * (1.0 - p_hat) + eps)
    return per_pair.mean()


def pairwise_error_labels(errors: Tensor) -> Tensor:
    """(N, N) labels p[i, j] = 1 if e_i > e_j, 0 if e_i < e_j, 0.5 on ties (MDS-VQA Eq. 4; ties per SPEC)."""
    diff = errors[:, None] - errors[None, :]
    return 0.5 * (torch.sign(diff) + 1.0)


def ranking_loss(scores: Tensor, errors: Tensor) -> Tensor:
    """Fidelity loss (Eq. 5) of Thurstone probabilities (Eq. 3) against Eq. 4 labels, all pairs i != j."""
    p = pairwise_error_labels(errors.to(scores.dtype))
    p_hat = thurstone_prob(scores[:, None], scores[None, :])
    off_diagonal = ~torch.eye(len(scores), dtype=torch.bool, device=scores.device)
    return fidelity_loss(p[off_diagonal], p_hat[off_diagonal])


def hard_labels(errors: Tensor) -> Tensor:
    """1[e >= median e] over the errors given (Table 5 classification; SPEC: the median of the whole training set);
    an even count's median is the midpoint of the middle two."""
    return (errors >= torch.quantile(errors, 0.5)).to(errors.dtype)


def training_targets(loss: str, errors: Tensor) -> Tensor:
    """The per-video targets of ``loss``, computed once over the whole training set (module docstring)."""
    LOSSES.get(loss)  # one line naming the valid losses otherwise
    return hard_labels(errors) if loss == "classification" else errors


def classification_loss(scores: Tensor, hard: Tensor) -> Tensor:
    """Binary cross-entropy of sigmoid(g(x)) against hard = 1[e(x) >= median e] of the training set (Table 5)."""
    return F.binary_cross_entropy_with_logits(scores, hard.to(scores.dtype))


def regression_loss(scores: Tensor, errors: Tensor) -> Tensor:
    """MSE between g(x) and e(x) (Table 5 ablation; e on the MOS scale mapped to [1, 5] by the caller)."""
    return F.mse_loss(scores, errors.to(scores.dtype))


LossFn = Callable[[Tensor, Tensor], Tensor]

LOSSES: Registry[LossFn] = Registry("failure-predictor loss")
LOSSES.register("ranking", ranking_loss)  # MDS-VQA Eq. 5
LOSSES.register("classification", classification_loss)  # Table 5
LOSSES.register("regression", regression_loss)  # Table 5
