"""W2S student losses: cross-entropy, the adaptive confidence loss (W2S-VQA Eqs. 23-26) and Burns et al.'s variant."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vqaloop.errors import UserError
from vqaloop.losses.confidence import (
    W2S_LOSSES,
    BurnsLoss,
    ConfidenceLoss,
    CrossEntropyLoss,
    get_w2s_loss,
    mean_entropy,
)

KEYS = {"ce", "conf", "lambda", "alpha", "temperature"}


def batch(seed=0, b=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((b, 5), generator=g, dtype=torch.float64) * 2, torch.randint(0, 5, (b,), generator=g)


@pytest.mark.parametrize(("t", "temperature"), [(0.0, 0.5), (0.05, 0.3), (0.1, 0.1), (0.5, 0.1), (1.0, 0.1)])
def test_temperature_and_weight_follow_the_schedule(t, temperature):
    logits, labels = batch()
    loss, info = ConfidenceLoss()(logits, labels, t)
    assert set(info) == KEYS and all(isinstance(v, float) for v in info.values())
    assert info["temperature"] == pytest.approx(temperature)
    alpha = 1.0 / (1.0 + math.exp((info["ce"] - info["conf"]) / temperature))  # Eq. 26
    assert info["alpha"] == pytest.approx(alpha)
    assert info["lambda"] == pytest.approx(alpha * min(1.0, t / 0.1))  # Eq. 25
    if t == 0.0:
        assert info["lambda"] == 0.0 and loss.item() == pytest.approx(info["ce"])
    if t >= 0.1:
        assert info["lambda"] == pytest.approx(info["alpha"])


def test_confidence_loss_equals_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5, 0.0], [0.0, 0.0, 3.0, 0.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 3])
    t = 0.03  # inside the warm-up: T = 0.5 - 0.4 * 0.3 = 0.38, lambda = 0.3 alpha
    ce = h = 0.0
    for row, y in zip(logits.tolist(), labels.tolist(), strict=True):
        z = sum(math.exp(v) for v in row)
        p = [math.exp(v) / z for v in row]
        ce += -math.log(p[y]) / 2
        h += -sum(pi * math.log(pi) for pi in p) / 2
    temperature = 0.38
    alpha = math.exp(h / temperature) / (math.exp(h / temperature) + math.exp(ce / temperature))
    lam = alpha * 0.3
    expected = (1 - lam) * ce + lam * h
    loss, info = ConfidenceLoss()(logits, labels, t)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert info["ce"] == pytest.approx(ce) and info["conf"] == pytest.approx(h)
    assert info["temperature"] == pytest.approx(temperature) and info["lambda"] == pytest.approx(lam)


def test_alpha_carries_no_gradient():
    logits, labels = batch(1)
    for t in (0.04, 0.5):
        x = logits.clone().requires_grad_(True)
        loss, info = ConfidenceLoss()(x, labels, t)
        (grad,) = torch.autograd.grad(loss, x)
        y = logits.clone().requires_grad_(True)
        lam = info["lambda"]  # a constant
        ref = (1 - lam) * F.cross_entropy(y, labels) + lam * mean_entropy(y)
        (grad_ref,) = torch.autograd.grad(ref, y)
        assert torch.allclose(grad, grad_ref, atol=1e-12)
        # an alpha that carried gradient would give a different one
        z = logits.clone().requires_grad_(True)
        ce, h = F.cross_entropy(z, labels), mean_entropy(z)
        alpha = torch.sigmoid((h - ce) / info["temperature"])
        lam_g = alpha * min(1.0, t / 0.1)
        (grad_wrong,) = torch.autograd.grad((1 - lam_g) * ce + lam_g * h, z)
        assert not torch.allclose(grad, grad_wrong, atol=1e-6)


@pytest.mark.parametrize("name", list(W2S_LOSSES))
def test_confident_correct_predictions_lower_the_loss(name):
    labels = torch.tensor([0, 2, 4, 1])
    loss_fn = get_w2s_loss(name)
    uniform = torch.zeros((4, 5))
    confident = F.one_hot(labels, 5).float() * 8.0
    wrong = F.one_hot((labels + 2) % 5, 5).float() * 8.0
    for t in (0.0, 0.05, 0.5, 1.0):
        lc, lu, lw = (loss_fn(x, labels, t)[0].item() for x in (confident, uniform, wrong))
        assert lc < lu and lc < lw


def test_no_overflow_for_large_losses():
    """exp(CE / T) overflows float32 at CE ~ 9 with T = 0.1; the sigmoid form does not."""
    logits = torch.tensor([[40.0, 0, 0, 0, 0]] * 3)
    labels = torch.tensor([4, 4, 4])
    loss, info = ConfidenceLoss()(logits, labels, 1.0)
    assert torch.isfinite(loss) and info["alpha"] == pytest.approx(0.0, abs=1e-30)
    assert loss.item() == pytest.approx(info["ce"], rel=1e-5)


def test_ce_loss_is_plain_cross_entropy():
    logits, labels = batch(2)
    loss, info = CrossEntropyLoss()(logits, labels, 0.7)
    assert loss.item() == pytest.approx(F.cross_entropy(logits, labels).item())
    assert info["lambda"] == info["alpha"] == info["temperature"] == 0.0
    assert info["conf"] == pytest.approx(mean_entropy(logits).item())


def test_burns_mixes_the_weak_labels_with_the_hardened_own_prediction():
    logits, labels = batch(3, 8)
    own = logits.argmax(dim=-1)
    ce_weak, ce_own = F.cross_entropy(logits, labels), F.cross_entropy(logits, own)
    burns = BurnsLoss()
    for t, a in [(0.0, 0.0), (0.1, 0.375), (0.2, 0.75), (0.9, 0.75)]:
        loss, info = burns(logits, labels, t)
        assert info["lambda"] == pytest.approx(a) and info["alpha"] == 0.75
        assert loss.item() == pytest.approx(((1 - a) * ce_weak + a * ce_own).item())
        # the same as cross-entropy against the mixed soft target (1 - a) y_weak + a hardened
        target = (1 - a) * F.one_hot(labels, 5).double() + a * F.one_hot(own, 5).double()
        assert loss.item() == pytest.approx(F.cross_entropy(logits, target).item())
    # weak labels that agree with the student: the loss is plain cross-entropy at any t
    assert burns(logits, own, 0.5)[0].item() == pytest.approx(ce_own.item())
    # the hardened target carries no gradient: the gradient is that of CE against a fixed target
    x = logits.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(BurnsLoss(a_max=1.0)(x, labels, 1.0)[0], x)
    y = logits.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(F.cross_entropy(y, own), y)
    assert torch.allclose(g, g_ref)
    assert BurnsLoss(a_max=0.5, warmup=0.0)(logits, labels, 0.0)[1]["lambda"] == 0.5


def test_registry_and_errors():
    assert set(W2S_LOSSES) == {"ce", "confidence", "burns"}
    assert isinstance(get_w2s_loss("confidence", warmup=0.2), ConfidenceLoss)
    assert get_w2s_loss("confidence", warmup=0.2).temperature(0.1) == pytest.approx(0.3)
    with pytest.raises(UserError, match="valid: burns, ce, confidence"):
        get_w2s_loss("focal")
    with pytest.raises(UserError, match="no option"):
        get_w2s_loss("ce", warmup=0.1)
    logits, labels = batch()
    with pytest.raises(ValueError, match="step_frac"):
        ConfidenceLoss()(logits, labels, 1.5)
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        ConfidenceLoss()(logits[0], labels, 0.5)
    # no warm-up: T = 0.1 and lambda = alpha from the start
    _, info = ConfidenceLoss(warmup=0.0)(logits, labels, 0.0)
    assert info["temperature"] == pytest.approx(0.1) and info["lambda"] == pytest.approx(info["alpha"])
