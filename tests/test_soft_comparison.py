"""Soft comparison inference (W2S-VQA Appendix C.3): level probabilities, preferences, matrices and scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special

from vqaloop.evaluation import thurstone
from vqaloop.w2s import soft_comparison as sc


def consistent_anchors(q=(-1.2, -0.5, 0.0, 0.6, 1.3)):
    q = np.asarray(q)
    return special.ndtr(q[:, None] - q[None, :])


def test_constants_follow_the_paper_and_the_authors_code():
    assert sc.LEVELS == ("inferior", "worse", "similar", "better", "superior")
    assert sc.LEVEL_WEIGHTS == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert sc.DEFAULT_TEMPERATURE == 5.0 and sc.REFERENCE_ANCHOR_TEMPERATURE == 1.0


def test_probabilities_sum_to_one_and_match_numpy_and_torch():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (7, 5))
    for t in (0.5, 1.0, 5.0):
        p = sc.level_probabilities(logits, t)
        assert np.allclose(p.sum(axis=-1), 1.0) and (p > 0).all()
        pt = sc.level_probabilities(torch.tensor(logits), t)
        assert torch.is_tensor(pt) and np.allclose(pt.numpy(), p)
        assert np.allclose(sc.preference(torch.tensor(logits), t).numpy(), sc.preference(logits, t))
    # numerically stable for huge logits
    assert np.isfinite(sc.level_probabilities(np.array([1000.0, 0, 0, 0, -1000]), 1.0)).all()
    with pytest.raises(ValueError, match="5 level logits"):
        sc.level_probabilities(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="temperature"):
        sc.level_probabilities(np.zeros(5), 0.0)


def test_temperature_behaviour():
    logits = np.array([0.0, 1.0, 2.0, 3.0, 6.0])  # rising with the level: leans to "superior"
    # a very low temperature picks the argmax level's weight; a very high one tends to the uniform mean 0.5
    assert sc.preference(logits, 1e-3) == pytest.approx(1.0)
    assert sc.preference(np.array([0.0, 1.0, 2.0, 6.0, 3.0]), 1e-3) == pytest.approx(0.75)
    assert sc.preference(logits, 1e6) == pytest.approx(0.5, abs=1e-5)
    # logits rising with the weights: raising T moves the preference monotonically towards 0.5 (dp/dT = -Cov(w, l)/T^2)
    # and flattens the distribution
    ps = [sc.preference(logits, t) for t in (0.5, 1, 2, 5, 10, 50)]
    assert all(a > b for a, b in zip(ps, ps[1:], strict=False)) and ps[-1] > 0.5
    ents = [-(p * np.log(p)).sum() for p in (sc.level_probabilities(logits, t) for t in (0.5, 1, 5, 50))]
    assert all(a < b for a, b in zip(ents, ents[1:], strict=False))


def test_preference_orientation_swapping_first_and_second_flips_p():
    """A student that says 'worse' for (A, B) says 'better' for (B, A): reversing the level logits gives 1 - p."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (20, 5))
    p_ab = sc.preference(logits)
    p_ba = sc.preference(logits[:, ::-1])
    assert np.allclose(p_ab + p_ba, 1.0)
    assert sc.preference(np.array([0, 0, 0, 0, 50.0]), 1.0) == pytest.approx(1.0)  # "superior": second is better
    assert sc.preference(np.array([50.0, 0, 0, 0, 0]), 1.0) == pytest.approx(0.0)


def test_anchor_matrix_from_one_order_and_both_orders():
    truth = consistent_anchors()
    n = len(truth)
    forward = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(i + 1, n):
            forward[i, j] = truth[j, i]  # first = i, second = j: P(j better than i)
    m = sc.anchor_matrix(forward)
    assert np.allclose(m, truth) and np.allclose(np.diag(m), 0.5) and np.allclose(m + m.T, 1.0)
    # both orders from a student with a position bias b (says "second better" b too often): averaging cancels b
    truth2 = consistent_anchors((-0.6, -0.25, 0.0, 0.3, 0.65))
    b = 0.08
    biased = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            if i != j:
                biased[i, j] = truth2[j, i] + b
    assert np.allclose(sc.anchor_matrix(biased), truth2)
    assert np.allclose(
        sc.anchor_matrix(biased, orders="first")[np.triu_indices(n, 1)], truth2[np.triu_indices(n, 1)] - b
    )
    # only the reverse order of a pair: it is used
    rev = forward.copy()
    rev[0, 1], rev[1, 0] = np.nan, truth[0, 1]
    assert np.allclose(sc.anchor_matrix(rev), truth)
    with pytest.raises(ValueError, match="no preference"):
        sc.anchor_matrix(rev, orders="first")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sc.anchor_matrix(np.array([[np.nan, 1.5], [np.nan, np.nan]]))


def test_anchor_order_is_recovered_from_a_consistent_matrix():
    q_true = np.array([0.3, -1.0, 1.4, -0.2, 0.8])
    for link in ("normal", "sigmoid"):
        q = thurstone.map_scores(consistent_anchors(q_true), link)
        assert (np.argsort(q) == np.argsort(q_true)).all()


def test_test_matrices_layout():
    a = consistent_anchors()
    p = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.8, 0.7, 0.6, 0.5]])
    m = sc.test_matrices(a, p)
    assert m.shape == (2, 6, 6)
    assert np.allclose(m[:, :5, :5], a)
    assert np.allclose(m[:, 5, :5], p) and np.allclose(m[:, :5, 5], 1 - p) and np.allclose(m[:, 5, 5], 0.5)
    assert sc.test_matrices(a, p[0]).shape == (1, 6, 6)
    with pytest.raises(ValueError, match="do not fit"):
        sc.test_matrices(a, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sc.test_matrices(a, np.full(5, 1.2))


def test_scores_are_monotone_in_the_test_preferences():
    a = consistent_anchors()
    rng = np.random.default_rng(2)
    base = rng.uniform(0.1, 0.8, (30, 5))
    more = np.minimum(base + rng.uniform(0.01, 0.2, (30, 5)), 1.0)  # preferred more over every anchor
    for link in ("normal", "sigmoid"):
        s0 = sc.scores_from_preferences(a, base, link)
        s1 = sc.scores_from_preferences(a, more, link)
        assert (s1 > s0).all()
    # a test video that beats every anchor outranks one that loses to every anchor; 0.5 everywhere sits in between
    s = sc.scores_from_preferences(a, np.array([np.full(5, 0.95), np.full(5, 0.5), np.full(5, 0.05)]))
    assert s[0] > s[1] > s[2]


def test_a_test_video_equal_to_an_anchor_scores_near_it():
    q_true = np.array([-1.2, -0.5, 0.0, 0.6, 1.3])
    a = consistent_anchors(q_true)
    p = special.ndtr(0.6 - q_true)  # a copy of anchor 3 (P(test better than anchor k) = Phi(q_3 - q_k))
    m = thurstone.map_scores(sc.test_matrices(a, p)[0])
    assert m[-1] == pytest.approx(m[3], abs=1e-9)


@pytest.mark.parametrize("link", ["normal", "sigmoid"])
def test_batched_equals_single_and_the_solvers_agree(link):
    a = consistent_anchors()
    p = np.random.default_rng(3).uniform(0, 1, (25, 5))
    batched = sc.scores_from_preferences(a, p, link)
    single = np.array([sc.scores_from_preferences(a, p[b], link)[0] for b in range(25)])
    assert batched.shape == (25,) and np.abs(batched - single).max() < 1e-9
    assert np.abs(sc.scores_from_preferences(a, p, link, solver="lbfgs") - batched).max() < 1e-9
    adam = sc.scores_from_preferences(a, p, link, solver="adam", adam_steps=2000)
    # the reference recipe heads for the same optimum (Adam at a constant lr 0.1 in float32 keeps jittering near it)
    assert np.abs(adam - batched).max() < 0.05
    scaled = sc.scores_from_preferences(a, p, link, minmax=True)
    assert scaled.min() >= -1e-9 and scaled.max() <= 100 + 1e-9
    with pytest.raises(ValueError, match="solver"):
        sc.scores_from_preferences(a, p, solver="sgd")
