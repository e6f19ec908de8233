"""W2S-VQA student losses over the five comparison levels: cross-entropy, the adaptive confidence loss, Burns et al.

Every loss has one signature, ``loss(logits, labels, step_frac) -> (loss, info)``: ``logits`` (B, C) are the
student's level logits (C = 5, :data:`vqaloop.w2s.soft_comparison.LEVELS` order), ``labels`` (B,) int64 the weak
level indices, ``step_frac`` in [0, 1] the fraction of training done; ``info`` holds ``ce``, ``conf`` (mean
entropy), ``lambda``, ``alpha`` and ``temperature`` as floats (0.0 where a loss has no such quantity), the same
keys for every loss so training logs share their columns. :func:`get_w2s_loss` builds one by name.

* ``ce``: mean cross-entropy against the weak labels (W2S-VQA Section 4.3, the baseline).
* ``confidence`` (W2S-VQA Eqs. 23-26, SPEC "Confidence loss", the authors' ``DynamicConfidenceLoss`` in
  ``llava/model/language_model/modeling_qwen2.py`` of commit 2c7ca75):
  L = (1 - lambda) CE + lambda H, H = mean over the batch of the entropy of softmax(logits) (Eq. 24),
  lambda = alpha min(1, t / T_warmup) (Eq. 25), alpha = exp(H/T) / (exp(H/T) + exp(CE/T)) (Eq. 26), detached;
  T falls linearly from 0.5 to 0.1 over the warm-up, then stays 0.1; T_warmup = 0.1 (10% of training).
  Decisions: alpha is computed as sigmoid((H - CE) / T), the same number without the overflow of exp(CE / T)
  (their float32 exp overflows to inf/inf = NaN once CE > ~8.9 at T = 0.1); H uses log_softmax, exact, where
  theirs adds 1e-8 inside the log; their unused ``lambda_max`` argument is left out (the paper's form has none);
  alpha is one scalar per batch, as in Eq. 26 and their code. A warm-up of 0 means no warm-up (T = 0.1,
  lambda = alpha from the first step). Their loss runs over every token position of the full vocabulary; here
  over the answer's five level logits, which is what Eq. 24 describes for the student's answer token.
  Noticed, kept: Eq. 26 gives the larger of the two losses the larger weight, so a student that confidently
  disagrees with its weak label (CE large, H small) gets alpha -> 0 and is pulled back to the label, the
  opposite of the "reinforce its own confident predictions" motivation in Section 4.3.
* ``burns`` (Burns et al. 2023, "Weak-to-strong generalization", Section 4.3.2, the auxiliary confidence loss):
  L = (1 - a) CE(p, y_weak) + a CE(p, hardened(p)), hardened = one-hot of the argmax of the student's own
  detached prediction; a = a_max min(1, t / warmup). Numbers from the paper: a_max = 0.75 (their largest
  students; 0.5 otherwise), warmed up linearly over the first 20% of training (their released code defaults to
  aux_coef 0.5 and a 10% warm-up). Burns' hardening thresholds a binary prediction at the batch quantile set by
  the weak labels' class balance; for five classes that has no direct analogue, so the argmax is used. ``info``:
  lambda = a, alpha = a_max, temperature 0.0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from vqaloop.errors import UserError
from vqaloop.registry import Registry

T_START, T_END = 0.5, 0.1  # W2S-VQA Appendix C.2.2: T falls linearly from 0.5 to 0.1 over the warm-up
CONF_WARMUP = 0.1  # W2S-VQA Appendix C.2.2: T_warmup = 10% of the training steps
BURNS_A_MAX = 0.75  # Burns et al. 2023: alpha_max for the largest students
BURNS_WARMUP = 0.2  # Burns et al. 2023: alpha warmed up over the first 20% of training


def _check(logits: Tensor, labels: Tensor, step_frac: float) -> None:
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (B, C) and labels (B,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if not 0.0 <= step_frac <= 1.0:
        raise ValueError(f"step_frac must lie in [0, 1], got {step_frac}")


def warmup_fraction(step_frac: float, warmup: float) -> float:
    """min(1, t / warmup) (W2S-VQA Eq. 25); a warm-up of 0 is already over."""
    return 1.0 if warmup <= 0 else min(1.0, step_frac / warmup)


def mean_entropy(logits: Tensor) -> Tensor:
    """H = mean over the batch of -sum_c p_c log p_c, p = softmax(logits) (W2S-VQA Eq. 24)."""
    logp = logits.log_softmax(dim=-1)
    return -(logp.exp() * logp).sum(dim=-1).mean()


def _info(ce: Tensor, conf: Tensor, lam, alpha, temperature: float) -> dict[str, float]:
    def num(x) -> float:
        return float(x.detach()) if isinstance(x, Tensor) else float(x)

    return {"ce": num(ce), "conf": num(conf), "lambda": num(lam), "alpha": num(alpha), "temperature": num(temperature)}


@dataclass(frozen=True)
class CrossEntropyLoss:
    """Plain cross-entropy against the weak labels (the W2S-VQA baseline)."""

    def __call__(self, logits: Tensor, labels: Tensor, step_frac: float) -> tuple[Tensor, dict[str, float]]:
        _check(logits, labels, step_frac)
        ce = F.cross_entropy(logits, labels)
        with torch.no_grad():
            conf = mean_entropy(logits)
        return ce, _info(ce, conf, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ConfidenceLoss:
    """(1 - lambda) CE + lambda H with the adaptive, detached lambda of W2S-VQA Eqs. 23-26 (module doc)."""

    warmup: float = CONF_WARMUP
    t_start: float = T_START
    t_end: float = T_END

    def temperature(self, step_frac: float) -> float:
        """T: linear from t_start to t_end over the warm-up, then t_end (W2S-VQA Appendix C.2.2)."""
        return self.t_start + (self.t_end - self.t_start) * warmup_fraction(step_frac, self.warmup)

    def __call__(self, logits: Tensor, labels: Tensor, step_frac: float) -> tuple[Tensor, dict[str, float]]:
        _check(logits, labels, step_frac)
        ce = F.cross_entropy(logits, labels)
        conf = mean_entropy(logits)
        temperature = self.temperature(step_frac)
        # Eq. 26: exp(H/T) / (exp(H/T) + exp(CE/T)) = sigmoid((H - CE) / T), detached
        alpha = torch.sigmoid((conf - ce).detach() / temperature)
        lam = alpha * warmup_fraction(step_frac, self.warmup)  # Eq. 25
        loss = (1.0 - lam) * ce + lam * conf  # Eq. 23
        return loss, _info(ce, conf, lam, alpha, temperature)


@dataclass(frozen=True)
class BurnsLoss:
    """(1 - a) CE(weak labels) + a CE(the student's own hardened prediction), Burns et al. 2023 (module doc)."""

    a_max: float = BURNS_A_MAX
    warmup: float = BURNS_WARMUP

    def __call__(self, logits: Tensor, labels: Tensor, step_frac: float) -> tuple[Tensor, dict[str, float]]:
        _check(logits, labels, step_frac)
        ce = F.cross_entropy(logits, labels)
        hardened = logits.detach().argmax(dim=-1)  # one-hot argmax of the own prediction, no gradient
        self_ce = F.cross_entropy(logits, hardened)
        a = self.a_max * warmup_fraction(step_frac, self.warmup)
        loss = (1.0 - a) * ce + a * self_ce
        with torch.no_grad():
            conf = mean_entropy(logits)
        return loss, _info(ce, conf, a, self.a_max, 0.0)


W2SLoss = Callable[[Tensor, Tensor, float], tuple[Tensor, dict[str, float]]]

W2S_LOSSES: Registry[type] = Registry("W2S loss")
W2S_LOSSES.register("ce", CrossEntropyLoss)
W2S_LOSSES.register("confidence", ConfidenceLoss)  # W2S-VQA Eq. 24-26
W2S_LOSSES.register("burns", BurnsLoss)


def get_w2s_loss(name: str, **options) -> W2SLoss:
    """The loss ``name`` of :data:`W2S_LOSSES` with ``options`` (its dataclass fields); UserError otherwise."""
    cls = W2S_LOSSES.get(name)
    valid = [f.name for f in fields(cls)]
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise UserError(f"W2S loss {name!r} has no option(s) {unknown}; valid options: {valid or 'none'}")
    return cls(**options)
