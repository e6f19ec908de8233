"""pytest-benchmark timing of the batched Thurstone MAP (W2S-VQA Eq. 34) beside the authors' recipe.

    pytest benchmarks/test_bench_thurstone.py --benchmark-enable

``bench_thurstone``'s problems (five anchors of the authors' ``anchor.json``, one 6 x 6 matrix per test video):
``map_scores_batched`` on all videos at once against the reference, the authors' Adam recipe (lr 0.1, 100 steps,
sigmoid link) one video at a time as their ``infer_pair.py`` runs it. The 10,000-video figure comes from
``benchmarks/bench_thurstone.py``.
"""

import numpy as np
import pytest
import torch
from bench_thurstone import make_problems

from vqaloop.evaluation import thurstone

N = 100


@pytest.fixture(scope="module")
def matrices():
    torch.set_num_threads(1)
    m = make_problems(N, 0)
    thurstone.adam_recipe(m[0], steps=2)  # first calls (imports, allocator) outside the timing
    return m


@pytest.mark.benchmark(group="thurstone: MAP of 100 test videos")
def test_batched_map(benchmark, matrices):
    q = benchmark(thurstone.map_scores_batched, matrices, "sigmoid")
    assert q.shape == (N, matrices.shape[-1]) and np.isfinite(q).all()


@pytest.mark.benchmark(group="thurstone: MAP of 100 test videos")
def test_adam_one_by_one_reference(benchmark, matrices):
    def one_by_one():
        return [thurstone.adam_recipe(m, link="sigmoid", steps=100, lr=0.1, seed=0) for m in matrices]

    assert len(benchmark.pedantic(one_by_one, rounds=2, iterations=1)) == N
