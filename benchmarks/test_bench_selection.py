"""pytest-benchmark timings of the selection kernels at a small size, each beside its floor.

    pytest benchmarks/test_bench_selection.py --benchmark-enable

- ``chamfer_to_one`` (MDS-VQA Eq. 7 of every pool video to one video) against its Gram GEMM alone;
- ``mds_greedy`` (Eq. 9, B picks) against the same Gram GEMMs with nothing around them
  (``bench_selection.same_gram_gemms``).

The full-size figures (N = 42,000, F = 8, D = 512, B = 5%) come from ``benchmarks/bench_selection.py``.
"""

import pytest
import torch
from bench_selection import same_gram_gemms

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


@pytest.mark.benchmark(group="selection: chamfer to one video")
def test_chamfer_to_one(benchmark, pool):
    frames, _ = pool
    sq = squared_norms(frames)
    result = benchmark(chamfer_to_one, frames, frames[0], frames_sq=sq)
    assert result.shape == (N,)


@pytest.mark.benchmark(group="selection: chamfer to one video")
def test_chamfer_gram_floor(benchmark, pool):
    frames, _ = pool
    flat = frames.reshape(-1, D)
    assert benchmark(torch.mm, flat, frames[0].t()).shape == (N * F, F)


@pytest.mark.benchmark(group="selection: MDS-VQA greedy")
def test_mds_greedy(benchmark, pool):
    frames, difficulty = pool
    picks = benchmark.pedantic(mds_greedy, args=(frames, difficulty, B, 0.25), rounds=3, iterations=1)
    assert len(set(picks)) == B


@pytest.mark.benchmark(group="selection: MDS-VQA greedy")
def test_mds_gram_gemms_floor(benchmark, pool):
    frames, _ = pool
    benchmark.pedantic(same_gram_gemms, args=(frames, B), rounds=3, iterations=1)
