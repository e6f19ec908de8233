"""The straightforward weak-to-strong student of W2S-VQA Sec. 3 (Table 5): one video in, a quality score out.

Sec. 3.1: a weak model's prediction y_j = f_weak(x_j) on each unlabelled video x_j is the supervision; Sec. 3.2
trains the strong model "with the standard cross-entropy loss"; Appendix B.2's single-video prompt asks "What is
your overall rating of the quality of this video?" and the answer is "[quality score]". The student's answer is
read where a language model reads it, as the distribution over the five rating tokens "1" ... "5" at the answer
position (``llava_onevision`` in mode pointwise; the compact ``pair_transformer``'s head gives the same five
logits for one video), and:

- target (decided): the per-video score t (a teacher's MOS-scale score, or a source MOS) as the two-point
  distribution on the ratings around it, p(floor t) = 1 - (t - floor t), p(floor t + 1) = t - floor t (t clipped to
  [1, 5]): the distribution whose mean is t and whose mass sits on the nearest ratings. Cross-entropy against it
  (:func:`soft_cross_entropy`) is the paper's loss with the answer's digit as the label, made exact for
  non-integer pseudo-scores (a rounded digit would throw the scores' order inside a rating away);
- score: the expected rating sum_k k softmax(logits)_k (:func:`expected_rating`), the deterministic read-out this
  project uses for VisualQuality-R1 too (``vqaloop.vlm.scoring``: softmax over the tokens "1" to "5").

No anchors and no soft comparison: those belong to the pairwise students. ``train_pointwise`` is
``vqaloop.w2s.train.train_student`` with one video per sample (the same AdamW, warm-up and cosine schedule,
seeded order).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

RATINGS = (1, 2, 3, 4, 5)  # the rating tokens "1" ... "5" of the single-video answer
LOW, HIGH = float(RATINGS[0]), float(RATINGS[-1])


def rating_distribution(scores: Tensor) -> Tensor:
    """(N,) scores on [1, 5] -> (N, 5) two-point distributions on the ratings with mean = the (clipped) score."""
    t = scores.to(torch.float32).clamp(LOW, HIGH) - LOW
    lower = t.floor().clamp(max=len(RATINGS) - 2).long()  # a score of exactly 5 is all on the rating 5
    upper_weight = t - lower.to(t.dtype)
    out = torch.zeros(len(t), len(RATINGS), dtype=torch.float32, device=t.device)
    out.scatter_(1, lower[:, None], (1.0 - upper_weight)[:, None])
    out.scatter_add_(1, (lower + 1)[:, None], upper_weight[:, None])
    return out


def soft_cross_entropy(logits: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of -sum_k target_k log softmax(logits)_k."""
    return -(target * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


def expected_rating(logits: Tensor) -> Tensor:
    """sum_k k softmax(logits)_k over the ratings 1..5 (the score of a pointwise student)."""
    weights = torch.tensor(RATINGS, dtype=torch.float32, device=logits.device)
    return F.softmax(logits.float(), dim=-1) @ weights


@torch.no_grad()
def pointwise_scores(model: torch.nn.Module, x, rows: Tensor | None = None, batch: int = 512) -> np.ndarray:
    """(N,) expected ratings of a pointwise student on the inputs ``x`` (N, F, D), or on its rows ``rows``, read
    a batch at a time (``x`` may be a tensor or inputs read on demand)."""
    model.eval()
    rows = torch.arange(len(x)) if rows is None else rows
    out = [expected_rating(model(x[rows[i : i + batch]])) for i in range(0, len(rows), batch)]
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def train_pointwise(model: torch.nn.Module, x: Tensor, rows: Tensor, targets: Tensor, *, epochs: int, lr: float,
                    batch: int, weight_decay: float, warmup: float, seed: int) -> dict:  # fmt: skip
    """Soft-label cross-entropy on per-video targets; returns per-epoch losses and the final mean absolute error
    of the expected rating against the (clipped) targets on the training videos."""
    from tqdm import tqdm

    from vqaloop.w2s.train import lr_factor

    rng = np.random.default_rng([seed, 7])
    torch.manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = max(1, epochs * math.ceil(len(rows) / batch))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total, warmup))
    soft = rating_distribution(targets)
    history, step = [], 0
    model.train()
    for _ in tqdm(range(epochs), desc="w2s pointwise student", unit="epoch", disable=not sys.stderr.isatty()):
        losses = []
        order = torch.from_numpy(rng.permutation(len(rows)))
        for start in range(0, len(order), batch):
            take = order[start : start + batch]
            loss = soft_cross_entropy(model(x[rows[take]]), soft[take])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
        history.append(round(float(np.mean(losses)), 6))
    predicted = pointwise_scores(model, x, rows)
    clipped = targets.double().clamp(LOW, HIGH).numpy()
    return {"loss_history": history, "train_mae": round(float(np.abs(predicted - clipped).mean()), 6),
            "steps": step}  # fmt: skip
