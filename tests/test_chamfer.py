"""Chamfer distance (MDS-VQA Eq. 7) against a brute-force double loop over frames."""

import numpy as np
import pytest
import torch

from vqaloop.selection.chamfer import chamfer_matrix, chamfer_to_one, l2_normalise_frames, squared_norms

torch.set_num_threads(1)


def brute_chamfer(x: np.ndarray, y: np.ndarray) -> float:
    """Eq. 7 written out frame by frame in float64."""
    x_to_y = np.mean([min(float(np.sum((u - v) ** 2)) for v in y) for u in x])
    y_to_x = np.mean([min(float(np.sum((v - u) ** 2)) for u in x) for v in y])
    return float(x_to_y + y_to_x)


def brute_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


SHAPES = [(1, 1, 1, 1), (5, 3, 4, 8), (7, 4, 2, 16), (4, 8, 8, 32), (3, 2, 5, 3)]  # (N, F, F2, D)


@pytest.mark.parametrize("n,f,f2,d", SHAPES)
@pytest.mark.parametrize("normalise", [False, True])
def test_chamfer_to_one_matches_brute_force(n, f, f2, d, normalise):
    rng = np.random.default_rng(n * 1000 + f * 100 + f2 * 10 + d)
    frames = rng.normal(size=(n, f, d)) * 3 + 1
    ref = rng.normal(size=(f2, d)) * 3 + 1
    if normalise:
        frames, ref = brute_normalise(frames), brute_normalise(ref)
    expected = np.array([brute_chamfer(frames[i], ref) for i in range(n)])
    got = chamfer_to_one(torch.tensor(frames, dtype=torch.float32), torch.tensor(ref, dtype=torch.float32))
    assert got.dtype == torch.float32 and got.shape == (n,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n,f,f2,d", SHAPES)
def test_chamfer_matrix_matches_brute_force(n, f, f2, d):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(n, f, d))
    b = rng.normal(size=(n + 1, f2, d))
    expected = np.array([[brute_chamfer(a[i], b[j]) for j in range(len(b))] for i in range(n)])
    got = chamfer_matrix(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_chamfer_is_symmetric_and_zero_on_itself():
    rng = np.random.default_rng(1)
    a = l2_normalise_frames(torch.tensor(rng.normal(size=(6, 4, 10)), dtype=torch.float32))
    m = chamfer_matrix(a, a)
    torch.testing.assert_close(m, m.T, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.diagonal(m), torch.zeros(6), rtol=0, atol=1e-5)
    assert torch.all(m >= 0)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100])
def test_chunking_gives_the_same_results(chunk):
    rng = np.random.default_rng(2)
    frames = torch.tensor(rng.normal(size=(11, 3, 8)), dtype=torch.float32)
    ref = torch.tensor(rng.normal(size=(5, 8)), dtype=torch.float32)
    # Identical up to float32 rounding: BLAS may pick another kernel for another block size.
    whole = chamfer_to_one(frames, ref, chunk=len(frames))
    torch.testing.assert_close(chamfer_to_one(frames, ref, chunk=chunk), whole, rtol=1e-6, atol=1e-5)
    full = chamfer_matrix(frames, frames[:4], chunk=len(frames))
    torch.testing.assert_close(chamfer_matrix(frames, frames[:4], chunk=chunk), full, rtol=1e-6, atol=1e-5)


def test_precomputed_norms_and_matrix_agree_with_to_one():
    rng = np.random.default_rng(3)
    frames = l2_normalise_frames(torch.tensor(rng.normal(size=(9, 4, 12))))
    column = chamfer_matrix(frames, frames[2:3])[:, 0]
    torch.testing.assert_close(chamfer_to_one(frames, frames[2]), column, rtol=1e-5, atol=1e-6)
    sq = squared_norms(frames)
    torch.testing.assert_close(sq, (frames * frames).sum(-1))
    assert torch.equal(chamfer_to_one(frames, frames[2], frames_sq=sq), chamfer_to_one(frames, frames[2]))


def test_l2_normalise_frames():
    x = torch.tensor([[[3.0, 4.0], [0.0, 0.0]]])
    y = l2_normalise_frames(x)
    torch.testing.assert_close(y, torch.tensor([[[0.6, 0.8], [0.0, 0.0]]]))
    assert y.dtype == torch.float32


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        chamfer_to_one(torch.zeros(3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError):
        chamfer_to_one(torch.zeros(3, 2, 4), torch.zeros(2, 5))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(4)
    frames = torch.tensor(rng.normal(size=(20, 4, 16)), dtype=torch.float32)
    ref = frames[3]
    cpu = chamfer_to_one(frames, ref)
    gpu = chamfer_to_one(frames.cuda(), ref.cuda())
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
