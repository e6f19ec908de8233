"""Fidelity loss (MDS-VQA Eqs. 3-5), Eq. 4 labels and the Table 5 ablation losses."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from vqaloop.losses.fidelity import (
    LOSSES,
    classification_loss,
    fidelity_loss,
    hard_labels,
    pairwise_error_labels,
    ranking_loss,
    regression_loss,
    thurstone_prob,
    training_targets,
)

torch.set_num_threads(1)


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def test_thurstone_prob_eq3():
    gx, gy = torch.tensor([1.0, 0.0, -2.0]), torch.tensor([0.0, 0.0, 1.0])
    expected = [phi(1 / math.sqrt(2)), 0.5, phi(-3 / math.sqrt(2))]
    torch.testing.assert_close(thurstone_prob(gx, gy), torch.tensor(expected))


def test_fidelity_loss_hand_computed():
    eps = 1e-8
    p_hat = phi(1 / math.sqrt(2))  # g(x) - g(y) = 1
    expected_p1 = 1 - math.sqrt(p_hat + eps) - math.sqrt(eps)  # p = 1
    expected_p0 = 1 - math.sqrt(eps) - math.sqrt(1 - p_hat + eps)  # p = 0
    expected_half = 1 - math.sqrt(0.5 * p_hat + eps) - math.sqrt(0.5 * (1 - p_hat) + eps)
    t = torch.tensor
    dtype = torch.float64
    assert fidelity_loss(t([1.0], dtype=dtype), t([p_hat], dtype=dtype)).item() == pytest.approx(expected_p1)
    assert fidelity_loss(t([0.0], dtype=dtype), t([p_hat], dtype=dtype)).item() == pytest.approx(expected_p0)
    assert fidelity_loss(t([0.5], dtype=dtype), t([p_hat], dtype=dtype)).item() == pytest.approx(expected_half)
    both = fidelity_loss(t([1.0, 0.0], dtype=dtype), t([p_hat, p_hat], dtype=dtype)).item()
    assert both == pytest.approx((expected_p1 + expected_p0) / 2)  # mean over pairs


@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_fidelity_loss_is_minimal_at_p_hat_equal_p(p):
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64)
    losses = torch.stack([fidelity_loss(torch.tensor([p], dtype=torch.float64), q.reshape(1)) for q in grid])
    assert grid[int(torch.argmin(losses))].item() == pytest.approx(p, abs=1e-3)
    assert losses.min().item() == pytest.approx(0.0, abs=1e-3)  # eps shifts it by at most sqrt(eps)


def test_pairwise_error_labels_eq4_with_ties():
    errors = torch.tensor([0.3, 0.1, 0.3, 0.5])
    expected = torch.tensor(
        [
            [0.5, 1.0, 0.5, 0.0],
            [0.0, 0.5, 0.0, 0.0],
            [0.5, 1.0, 0.5, 0.0],
            [1.0, 1.0, 1.0, 0.5],
        ]
    )
    assert torch.equal(pairwise_error_labels(errors), expected)


def test_ranking_loss_uses_all_off_diagonal_pairs():
    scores = torch.tensor([0.2, -1.0, 0.7])
    errors = torch.tensor([0.5, 0.1, 0.5])
    total, count = 0.0, 0
    for i in range(3):
        for j in range(3):
            if i != j:
                p = 1.0 if errors[i] > errors[j] else 0.0 if errors[i] < errors[j] else 0.5
                p_hat = phi((scores[i] - scores[j]).item() / math.sqrt(2))
                total += 1 - math.sqrt(p * p_hat + 1e-8) - math.sqrt((1 - p) * (1 - p_hat) + 1e-8)
                count += 1
    assert ranking_loss(scores, errors).item() == pytest.approx(total / count, rel=1e-5)


def test_classification_and_regression_losses():
    errors = torch.tensor([0.1, 0.4, 0.2, 0.3])
    assert torch.equal(hard_labels(errors), torch.tensor([0.0, 1.0, 0.0, 1.0]))  # median 0.25
    scores = torch.tensor([0.0, 2.0, -1.0, 1.0])
    hard = torch.tensor([0.0, 1.0, 0.0, 1.0])
    expected_bce = np.mean(
        [
            -(h * math.log(1 / (1 + math.exp(-s))) + (1 - h) * math.log(1 - 1 / (1 + math.exp(-s))))
            for s, h in zip(scores.tolist(), hard.tolist(), strict=True)
        ]
    )
    assert classification_loss(scores, training_targets("classification", errors)).item() == pytest.approx(
        expected_bce, rel=1e-5
    )
    expected_mse = np.mean((scores.numpy() - errors.numpy()) ** 2)
    assert regression_loss(scores, errors).item() == pytest.approx(expected_mse, rel=1e-5)


def test_classification_labels_come_from_the_whole_set_not_the_batch():
    """Issue 22 item 4: a video's hard label is 1[e >= median of the training set], whatever its batch-mates are.

    Errors 0.1 ... 0.8: the set's median is 0.45, so exactly the four largest errors are "hard". A batch of the
    four smallest errors would call its own top two "hard" under a per-batch median; the labels made once over the
    set say none of them is, and the loss on that batch is the BCE against those set labels.
    """
    errors = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    targets = training_targets("classification", errors)
    assert targets.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    low = torch.tensor([0, 1, 2, 3])
    assert hard_labels(errors[low]).tolist() == [0.0, 0.0, 1.0, 1.0]  # what a per-batch median made of them
    scores = torch.tensor([0.5, -0.5, 1.0, 2.0])
    bce_set = torch.nn.functional.binary_cross_entropy_with_logits(scores, torch.zeros(4))
    assert classification_loss(scores, targets[low]).item() == pytest.approx(bce_set.item(), rel=1e-6)
    assert torch.equal(training_targets("ranking", errors), errors)
    assert torch.equal(training_targets("regression", errors), errors)


def test_losses_registry_has_one_signature():
    assert set(LOSSES) == {"ranking", "classification", "regression"}
    scores, errors = torch.randn(6, requires_grad=True), torch.rand(6)
    for loss in LOSSES.values():
        value = loss(scores, errors)
        assert value.ndim == 0
        value.backward()
        assert scores.grad is not None and torch.all(torch.isfinite(scores.grad))
        scores.grad = None


def test_linear_failure_predictor_learns_the_error_order_with_the_ranking_loss():
    torch.manual_seed(0)
    n, d = 256, 6
    features = torch.randn(n, d)
    w_true = torch.randn(d)
    errors = torch.exp(0.5 * features @ w_true)  # a known monotone function of a linear score
    train, test = slice(0, 192), slice(192, n)
    g = torch.nn.Linear(d, 1)
    optimiser = torch.optim.Adam(g.parameters(), lr=0.05)
    for _ in range(150):
        batch = torch.randint(0, 192, (32,))
        loss = ranking_loss(g(features[train][batch]).squeeze(1), errors[train][batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        predicted = g(features[test]).squeeze(1)
    assert stats.spearmanr(predicted.numpy(), errors[test].numpy()).statistic > 0.8


def test_the_variant_ids_know_exactly_the_registered_losses():
    """vqaloop.variants parses g and selection ids torch-free from its own list of loss names: the registry's."""
    from vqaloop.losses.fidelity import LOSSES
    from vqaloop.variants import G_LOSSES, parse_g_id, parse_variant

    assert sorted(G_LOSSES) == sorted(LOSSES.names())
    for name in LOSSES.names():
        assert parse_g_id(f"{name}_r8_oof") == (name, 8, "oof")
        assert parse_variant(f"mds_{name}_r8_base_lam0.25").loss == name
