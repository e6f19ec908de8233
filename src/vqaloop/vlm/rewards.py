"""GRPO rewards and advantages for the VLM quality model f and the VLM failure predictor g (pure tensor code).

Every reward takes the parsed scores of one GRPO batch, ``preds`` (B, G): G sampled answers for each of B
videos, NaN where an answer was unparsable (``vqaloop.vlm.answers.parse_score`` returned None). An unparsable
answer gets 0 for the score part of its reward (every score reward below is >= 0, 0 being the worst), never a
guessed number, and it is left out of its group's statistics.

Score rewards (``SCORE_REWARDS``):

- ``ranking`` (f: VisualQuality-R1's fidelity reward; g: the MDS-VQA Eq. 5 fidelity, Table 5 "ranking"):
  for answer j of video i and every other video z of the *whole* batch with at least one parsed answer,
  p = Phi((pred_ij - mean_z) / sqrt(var_i + var_z + 1e-6)) (Thurstone, MDS-VQA Eq. 3, with the spread of the
  sampled answers as the variance), gt = 1, 0 or 0.5 from the order of the targets (MOS for f, errors e(x)
  for g: MDS-VQA Eq. 4), reward = sqrt(p gt + eps) + sqrt((1-p)(1-gt) + eps) = 1 - fidelity loss (Eq. 5),
  averaged over z (SPEC "VisualQuality-R1"). mean/var are over a group's parsed answers; var is the unbiased
  sample variance as in the public code (``torch.var``), 0 for a group with one parsed answer.
- ``classification`` (g, Table 5): the answer s in [1, 5] read as q = (s - 1) / 4 = P(hard), clipped to [0, 1];
  reward = q^h (1 - q)^(1 - h) = exp(-BCE), the likelihood of the hard label h = 1[e >= median e] (SPEC "Loss
  ablation"). The likelihood rather than -BCE keeps the reward in [0, 1], so an unparsable answer (0) is never
  better than a parsed one.
- ``regression`` (g, Table 5): reward = max(0, 1 - (s - t)^2 / 16) with t = 1 + e, e on the MOS scale mapped to
  [1, 5] (so e in [0, 4] and t in [1, 5]): 1 - the squared error as a fraction of the largest one on [1, 5].

The cross-sample reward needs every video's group statistics: each process generates whole groups for its own
videos, then ``all_gather_rows`` collects (mean, var, count, target) of every group of the global batch, and
``ranking_rewards`` scores the local answers against all of them (``offset`` = where the local videos sit in
the gathered rows). One process and N processes give the same rewards.

The format reward is 1 when the whole answer has the prompt's layout: ``<think>.*?</think>\\s*<answer>.*?</answer>``
for f (MDS-VQA Table 10, VisualQuality-R1's format reward); ``<answer>.*?</answer>`` for g, whose Table-1 prompt
asks for the answer tags only.
Advantage = (r - group mean) / (group std + 1e-4) (GRPO; unbiased std as in trl / VLM-R1).

The MDS-VQA authors' recipe for g (``authors_failure_losses``; ``vqaloop train-g --recipe authors``, config
``grpo.g_recipe``) differs: one answer per video, pairs inside the local batch, unit variances, ties count as
harder, and the trainer's advantage is minus the summed losses (fidelity + format), with no group baseline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
from torch import Tensor

REWARD_EPS = 1e-6  # VisualQuality-R1 public code: both the variance floor and the sqrt floor
ADVANTAGE_EPS = 1e-4
# the answer layout each prompt asks for: Table 10 (f) think then answer; Table 1 (g) the answer tags only
FORMAT_PATTERNS = {
    "quality": re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL),
    "failure": re.compile(r"<answer>.*?</answer>", re.DOTALL),
}
SCORE_REWARDS = ("ranking", "classification", "regression")


def format_rewards(texts: Sequence[str], layout: str = "quality") -> Tensor:
    """1.0 where the whole answer (surrounding whitespace stripped) has the layout its prompt asks for
    (``FORMAT_PATTERNS``: "quality" = ``<think>...</think> <answer>...</answer>``, "failure" = ``<answer>...</answer>``)."""
    pattern = FORMAT_PATTERNS[layout]
    return torch.tensor([1.0 if pattern.fullmatch(t.strip()) else 0.0 for t in texts], dtype=torch.float64)


def scores_tensor(parsed: Sequence[Sequence[float | None]]) -> Tensor:
    """(B, G) float64 of parsed scores, NaN where the answer was unparsable."""
    return torch.tensor([[math.nan if s is None else float(s) for s in row] for row in parsed], dtype=torch.float64)


def group_statistics(preds: Tensor) -> Tensor:
    """(B, 3): mean, unbiased variance and count of each group's parsed answers (NaN = unparsable).

    A group with no parsed answer has mean 0, var 0, count 0 (it is skipped as a comparison); one parsed answer
    has var 0.
    """
    valid = ~torch.isnan(preds)
    count = valid.sum(1).to(preds.dtype)
    filled = torch.where(valid, preds, torch.zeros_like(preds))
    mean = filled.sum(1) / count.clamp_min(1)
    squares = torch.where(valid, (preds - mean[:, None]) ** 2, torch.zeros_like(preds)).sum(1)
    var = torch.where(count > 1, squares / (count - 1).clamp_min(1), torch.zeros_like(count))
    return torch.stack([mean, var, count], dim=1)


def order_labels(targets_i: Tensor, targets_z: Tensor) -> Tensor:
    """(B, M) gt[i, z] = 1 if t_i > t_z, 0 if t_i < t_z, 0.5 on ties (MOS order for f; MDS-VQA Eq. 4 for g)."""
    return 0.5 * (torch.sign(targets_i[:, None] - targets_z[None, :]) + 1.0)


def fidelity(p: Tensor, gt: Tensor, eps: float = REWARD_EPS) -> Tensor:
    """sqrt(p gt + eps) + sqrt((1-p)(1-gt) + eps), i.e. 1 - the fidelity loss (MDS-VQA Eq. 5)."""
    return torch.sqrt(p * gt + eps) + torch.sqrt((1.0 - p) * (1.0 - gt) + eps)


def ranking_rewards(preds: Tensor, stats_all: Tensor, targets_all: Tensor, offset: int = 0) -> Tensor:
    """(B, G) cross-sample fidelity rewards of the local groups against every group of the batch.

    ``preds`` (B, G) are the local parsed scores; ``stats_all`` (M, 3) = ``group_statistics`` of all M groups of
    the (gathered) batch and ``targets_all`` (M,) their targets; the local groups are rows offset..offset+B-1.
    """
    b = preds.shape[0]
    stats_all = stats_all.to(preds.dtype)
    targets_all = targets_all.to(preds.dtype)
    own = torch.arange(b, device=preds.device) + offset
    mean_z, var_z, count_z = stats_all[:, 0], stats_all[:, 1], stats_all[:, 2]
    var_i = stats_all[own, 1]
    gt = order_labels(targets_all[own], targets_all)  # (B, M)
    # (B, G, M): answer j of video i against the answer distribution of video z (SPEC "VisualQuality-R1")
    z = (preds[:, :, None] - mean_z[None, None, :]) / torch.sqrt(
        var_i[:, None, None] + var_z[None, None, :] + REWARD_EPS
    )
    per_pair = fidelity(torch.special.ndtr(z), gt[:, None, :])
    usable = (count_z[None, :] > 0) & (own[:, None] != torch.arange(len(stats_all), device=preds.device)[None, :])
    usable = usable[:, None, :].expand_as(per_pair)
    total = torch.where(usable, per_pair, torch.zeros_like(per_pair)).nansum(2)
    n = usable.sum(2)
    rewards = torch.where(n > 0, total / n.clamp_min(1), torch.zeros_like(total))
    return torch.where(torch.isnan(preds), torch.zeros_like(rewards), rewards)


def classification_rewards(preds: Tensor, hard: Tensor) -> Tensor:
    """(B, G) likelihood q^h (1-q)^(1-h) of the hard label h (B,) with q = (s - 1) / 4 clipped to [0, 1]."""
    q = ((preds - 1.0) / 4.0).clamp(0.0, 1.0)
    h = hard.to(preds.dtype)[:, None]
    rewards = h * q + (1.0 - h) * (1.0 - q)  # = q^h (1-q)^(1-h) for h in {0, 1}
    return torch.where(torch.isnan(preds), torch.zeros_like(rewards), rewards)


def regression_rewards(preds: Tensor, target: Tensor) -> Tensor:
    """(B, G) max(0, 1 - (s - t)^2 / 16) for the target t (B,) = 1 + e, e on the [1, 5] MOS scale."""
    rewards = (1.0 - (preds - target.to(preds.dtype)[:, None]) ** 2 / 16.0).clamp_min(0.0)
    return torch.where(torch.isnan(preds), torch.zeros_like(rewards), rewards)


def authors_failure_losses(preds: Tensor, errors: Tensor, eps: float = REWARD_EPS) -> Tensor:
    """(B, G) the MDS-VQA authors' g loss (their ``grpo_jsonl.py: accuracy_loss_difficult``; config
    ``grpo.g_recipe: authors``): for answer i and every other video j of the *local* batch (no gather),
    p = Phi((s_i - s_j) / sqrt(1 + 1 + eps)) (Eq. 3 with unit variances), gt = 1 if e_i >= e_j else 0 (Eq. 4, ties
    count as harder), loss = 1 - sqrt(p gt + eps) - sqrt((1-p)(1-gt) + eps) (Eq. 5), averaged over j. Each video
    has one answer in their recipe (G = 1); with G > 1 every answer is compared with the other videos' answers
    one to one (column by column). An unparsable answer gets the largest loss, 1, and is nobody's partner (their
    code draws a random score instead: never guessed here)."""
    b, g = preds.shape
    valid = ~torch.isnan(preds)
    filled = torch.where(valid, preds, torch.zeros_like(preds))
    z = (filled[:, None, :] - filled[None, :, :]) / math.sqrt(2.0 + eps)  # (B, B, G): i against j
    p = torch.special.ndtr(z)
    gt = (errors[:, None] >= errors[None, :]).to(preds.dtype)[:, :, None]
    loss = 1.0 - torch.sqrt(p * gt + eps) - torch.sqrt((1.0 - p) * (1.0 - gt) + eps)
    partner = valid[None, :, :] & ~torch.eye(b, dtype=torch.bool, device=preds.device)[:, :, None]
    total = torch.where(partner, loss, torch.zeros_like(loss)).sum(1)
    count = partner.sum(1)
    mean = torch.where(count > 0, total / count.clamp_min(1), torch.zeros_like(total))
    return torch.where(valid, mean, torch.ones_like(mean))


def group_advantages(rewards: Tensor) -> Tensor:
    """(B, G) (r - group mean) / (group std + 1e-4) (GRPO; unbiased std over the G answers of a video)."""
    return (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + ADVANTAGE_EPS)


def all_gather_rows(x: Tensor) -> tuple[Tensor, int]:
    """Rows of ``x`` (B, K) from every process in rank order, and where this process's rows start.

    Processes may hold different B (the last batch): sizes are gathered first and rows padded to the largest.
    Without an initialised ``torch.distributed`` process group this is (x, 0).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    world, rank = dist.get_world_size(), dist.get_rank()
    size = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    counts = [int(s.item()) for s in sizes]
    padded = torch.zeros((max(counts), *x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[: x.shape[0]] = x
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:c] for p, c in zip(parts, counts, strict=True)]), sum(counts[:rank])


def batch_ranking_rewards(preds: Tensor, targets: Tensor) -> Tensor:
    """Ranking rewards of the local groups against the groups of every process (an all-gather when distributed)."""
    local = torch.cat([group_statistics(preds), targets.to(preds.dtype)[:, None]], dim=1)
    gathered, offset = all_gather_rows(local)
    return ranking_rewards(preds, gathered[:, :3], gathered[:, 3], offset)


def score_rewards(kind: str, preds: Tensor, targets: Tensor) -> Tensor:
    """(B, G) score rewards of one kind (``SCORE_REWARDS``); ``targets`` (B,) as that kind expects them."""
    if kind == "ranking":
        return batch_ranking_rewards(preds, targets)
    if kind == "classification":
        return classification_rewards(preds, targets)
    if kind == "regression":
        return regression_rewards(preds, targets)
    raise ValueError(f"unknown reward {kind!r}; valid: {SCORE_REWARDS}")
