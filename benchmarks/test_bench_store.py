"""pytest-benchmark timings of the features store and of selection from it, at a small size.

    pytest benchmarks/test_bench_store.py --benchmark-enable

Each timed call has its floor beside it in the same session (its group's ``*_floor`` test; the ratios end the
session, ``benchmarks/conftest.py``): a chunk read by the store against numpy reading the
same bytes (``np.fromfile`` at the array's offset), a training batch of random rows against the same rows indexed
in memory, a streamed greedy pick against the float32 working copy's. The 200,000- and 1,000,000-video figures
come from ``benchmarks/bench_selection_scale.py``.
"""

import numpy as np
import pytest
import torch

from vqaloop.features.io import write_features
from vqaloop.features.store import open_store
from vqaloop.selection.features_io import load_selection_inputs
from vqaloop.selection.mds import frames_tensor, mds_greedy, mds_greedy_streamed

N, F, D, PICKS = 20_000, 8, 64, 4


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("store")
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(N, F, D)).astype(np.float32)
    path = write_features(root / "f.npz", [f"v{i}" for i in range(N)], frames, "e", None)
    (root / "d.csv").write_text("video_id,difficulty\n" + "".join(f"v{i},{v:.6f}\n" for i, v in
                                                                  enumerate(rng.normal(size=N))))  # fmt: skip
    return open_store(path), frames, root


@pytest.mark.benchmark(group="store: sequential read")
def test_sequential_read(benchmark, store):
    s, frames, _ = store
    got = benchmark(s.frames.read_range, 0, N)
    assert np.array_equal(got, frames)


@pytest.mark.benchmark(group="store: sequential read")
def test_sequential_read_floor(benchmark, store):
    s, frames, _ = store
    got = benchmark(np.fromfile, s.path, dtype=np.float32, count=frames.size, offset=s.frames.offset)
    assert np.array_equal(got.reshape(frames.shape), frames)


@pytest.mark.benchmark(group="store: random batch")
def test_random_batch(benchmark, store):
    s, frames, _ = store
    rows = np.random.default_rng(1).choice(N, 32, replace=False)
    assert np.array_equal(benchmark(s.frames.read, rows), frames[rows])


@pytest.mark.benchmark(group="store: random batch")
def test_random_batch_floor(benchmark, store):
    _, frames, _ = store
    rows = np.random.default_rng(1).choice(N, 32, replace=False)
    benchmark(frames.__getitem__, rows)


@pytest.mark.benchmark(group="store: greedy picks")
def test_streamed_greedy(benchmark, store):
    _, _, root = store
    inputs = load_selection_inputs(root / "f.npz", root / "d.csv")
    picks = benchmark.pedantic(mds_greedy_streamed, args=(inputs.frames, inputs.difficulty, PICKS, 0.25), rounds=3)
    assert len(set(picks)) == PICKS


@pytest.mark.benchmark(group="store: greedy picks")
def test_resident_greedy_floor(benchmark, store):
    _, _, root = store
    inputs = load_selection_inputs(root / "f.npz", root / "d.csv")
    work, _ = frames_tensor(inputs, True, "cpu")
    picks = benchmark.pedantic(mds_greedy, args=(work, inputs.difficulty, PICKS, 0.25), rounds=3)
    assert picks == mds_greedy_streamed(inputs.frames, inputs.difficulty, PICKS, 0.25)
