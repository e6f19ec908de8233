"""pytest-benchmark timings of the selection kernels at a small size.

    pytest benchmarks/test_bench_selection.py --benchmark-enable

The full-size figures (N = 42,000, F = 8, D = 512, B = 5%) come from ``benchmarks/bench_selection.py``.
"""

import pytest
import torch

from vqaloop.selection.chamfer import chamfer_to_one, l2_normalise_frames, squared_norms
from vqaloop.selection.mds import mds_greedy

N, F, D, B = 4000, 8, 512, 50


@pytest.fixture(scope="module")
def pool():
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    frames = l2_normalise_frames(torch.randn((N, F, D), generator=generator))
    difficulty = torch.randn(N, generator=generator, dtype=torch.float64)
    return frames, difficulty


def test_chamfer_to_one(benchmark, pool):
    frames, _ = pool
    sq = squared_norms(frames)
    result = benchmark(chamfer_to_one, frames, frames[0], frames_sq=sq)
    assert result.shape == (N,)


def test_mds_greedy(benchmark, pool):
    frames, difficulty = pool
    picks = benchmark.pedantic(mds_greedy, args=(frames, difficulty, B, 0.25), rounds=3, iterations=1)
    assert len(set(picks)) == B
