"""MDS-VQA greedy selection (Eq. 9) against an independent brute force; the registry; random sampling."""

import itertools
import math

import numpy as np
import pytest
import torch

from vqaloop.errors import UserError
from vqaloop.selection.mds import mds_greedy
from vqaloop.selection.registry import SelectionInputs, get_method, method_names, run_method

torch.set_num_threads(1)


def brute_chamfer(x: np.ndarray, y: np.ndarray) -> float:
    """Eq. 7, frame by frame."""
    x_to_y = np.mean([min(float(np.sum((u - v) ** 2)) for v in y) for u in x])
    y_to_x = np.mean([min(float(np.sum((v - u) ** 2)) for u in x) for v in y])
    return float(x_to_y + y_to_x)


def brute_greedy(frames, g, budget, lam, normalise=True, first=None):
    """Eq. 9 evaluated literally for every candidate at every step; also returns the smallest win margin."""
    if normalise:
        frames = frames / np.linalg.norm(frames, axis=-1, keepdims=True)
    n = len(frames)
    dist = {(i, j): brute_chamfer(frames[i], frames[j]) for i, j in itertools.product(range(n), repeat=2)}
    picked: list[int] = []
    margin = math.inf
    for _ in range(budget):
        scores = {}
        for x in range(n):
            if x in picked:
                continue
            diversity = sum(dist[x, y] for y in picked) / len(picked) if picked else 0.0
            scores[x] = g[x] + lam * diversity
        if not picked and first is not None:
            picked.append(first)
            continue
        best = max(scores.values())
        winner = min(x for x, s in scores.items() if s == best)  # ties -> lowest index
        others = [s for x, s in scores.items() if x != winner]
        if others:
            margin = min(margin, best - max(others))
        picked.append(winner)
    return picked, margin


def make_pool(seed, n=12, f=3, d=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, f, d)), rng.normal(size=n)


@pytest.mark.parametrize("lam", [0.0, 0.1, 0.25, 1.0, 5.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("normalise", [True, False])
def test_greedy_matches_brute_force_eq9(lam, seed, normalise):
    frames, g = make_pool(seed)
    budget = 7
    expected, margin = brute_greedy(frames, g, budget, lam, normalise=normalise)
    assert margin > 1e-5, "test pool has a near tie; pick another seed"
    inputs = SelectionInputs(ids=[f"v{i}" for i in range(len(g))], frames=frames, difficulty=g)
    got = run_method("mds", inputs, budget, seed=123, lam=lam, normalise=normalise)
    assert got == expected


@pytest.mark.parametrize("chunk", [1, 5, None])
def test_greedy_whole_pool_with_chunks(chunk):
    frames, g = make_pool(7, n=10, f=2, d=5)
    expected, margin = brute_greedy(frames, g, 10, 0.5)
    assert margin > 1e-5
    inputs = SelectionInputs(ids=[str(i) for i in range(10)], frames=frames, difficulty=g)
    assert run_method("mds", inputs, 10, 0, lam=0.5, chunk=chunk) == expected


def test_lambda_zero_is_top_b_by_difficulty_with_ties_to_lowest_index():
    rng = np.random.default_rng(5)
    g = np.round(rng.normal(size=40), 1)  # many ties
    frames = rng.normal(size=(40, 2, 4))
    inputs = SelectionInputs(ids=[str(i) for i in range(40)], frames=frames, difficulty=g)
    expected = np.argsort(-g, kind="stable")[:15].tolist()
    assert run_method("mds", inputs, 15, 0, lam=0.0) == expected


def test_first_pick_is_argmax_difficulty_ties_to_lowest_index():
    frames, _ = make_pool(3, n=6)
    g = np.array([1.0, 3.0, 0.0, 3.0, 2.0, 3.0])
    inputs = SelectionInputs(ids=list("abcdef"), frames=frames, difficulty=g)
    assert run_method("mds", inputs, 1, 0)[0] == 1
    assert run_method("mds", inputs, 3, 0, lam=100.0)[0] == 1


def test_later_ties_go_to_lowest_pool_index_after_rows_move():
    # Integer features (no normalisation) make every distance exact, so the tie is exact. Video 0 is picked
    # first; its row is then filled by video 5, which ties with video 3 and must lose to it.
    frames = np.zeros((6, 2, 3))
    frames[1] = [[1, 0, 0], [0, 1, 0]]
    frames[2] = [[1, 1, 0], [0, 0, 0]]
    frames[3] = [[4, 0, 0], [0, 4, 0]]
    frames[4] = [[0, 0, 1], [0, 0, 0]]
    frames[5] = frames[3]
    g = np.array([10.0, 0, 0, 0, 0, 0])
    expected, _ = brute_greedy(frames, g, 3, 1.0, normalise=False)
    picks = mds_greedy(torch.tensor(frames, dtype=torch.float32), g, 3, 1.0)
    assert picks[:2] == [0, 3] == expected[:2]
    assert picks == expected


def test_diversity_only_first_pick_is_seeded_and_rest_is_greedy():
    frames, _ = make_pool(11, n=12)
    inputs = SelectionInputs(ids=[str(i) for i in range(12)], frames=frames)
    for seed in (0, 1, 2):
        first = int(np.random.default_rng(seed).integers(12))
        expected, margin = brute_greedy(frames, np.zeros(12), 6, 1.0, first=first)
        assert margin > 1e-5
        assert run_method("mds_diversity_only", inputs, 6, seed) == expected
    firsts = {run_method("mds_diversity_only", inputs, 1, seed)[0] for seed in range(10)}
    assert len(firsts) > 1


def test_greedy_does_not_modify_its_input():
    frames, g = make_pool(2)
    tensor = torch.tensor(frames, dtype=torch.float32)
    before = tensor.clone()
    mds_greedy(tensor, g, 6, 0.25)
    assert torch.equal(tensor, before)


def test_random_is_distinct_deterministic_and_seeded():
    inputs = SelectionInputs(ids=[str(i) for i in range(100)])
    a = run_method("random", inputs, 20, seed=1)
    assert len(a) == 20 and len(set(a)) == 20 and all(0 <= i < 100 for i in a)
    assert run_method("random", inputs, 20, seed=1) == a
    assert run_method("random", inputs, 20, seed=2) != a


def test_registry_names_and_errors():
    assert {"mds", "mds_diversity_only", "random"} <= set(method_names())
    with pytest.raises(UserError, match="unknown selection method 'nope'.*mds.*random"):
        get_method("nope")
    inputs = SelectionInputs(ids=["a", "b", "c"], frames=np.zeros((3, 1, 2)))
    with pytest.raises(UserError, match="mds.*difficulty"):
        run_method("mds", inputs, 1, 0)
    with pytest.raises(UserError, match="mds_diversity_only.*frame"):
        run_method("mds_diversity_only", SelectionInputs(ids=["a", "b"]), 1, 0)
    with pytest.raises(UserError, match="budget"):
        run_method("random", inputs, 4, 0)
    with pytest.raises(UserError, match="budget"):
        run_method("random", inputs, 0, 0)
