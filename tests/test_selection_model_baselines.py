"""The baselines that query the base model (MC dropout, NoiseStability) and FreeSel with its pattern encoder.

Each rule is checked against a computation written out here independently (same seed, same noise), so a method
that returns any other valid-looking list of indices fails.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import pan_clip, run_cli

from vqaloop.models.effnet_head import EffNetMotionHead
from vqaloop.selection.registry import ModelInputs, SelectionInputs, run_method

torch.set_num_threads(1)

N, F, D = 40, 4, 6


def tiny_model(dropout: float = 0.5, seed: int = 0) -> EffNetMotionHead:
    torch.manual_seed(seed)
    model = EffNetMotionHead(in_dim=D, hidden=8, dropout=dropout)
    with torch.no_grad():  # non-trivial standardisation statistics
        model.mean.normal_()
        model.std.uniform_(0.5, 2.0)
    return model.eval()


def model_inputs(dropout: float = 0.5) -> SelectionInputs:
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(N, F, D)).astype(np.float32))
    return SelectionInputs(ids=[f"v{i}" for i in range(N)], model=ModelInputs(module=tiny_model(dropout), x=x))


# ---------------------------------------------------------------- MC dropout


def test_mc_dropout_ranks_by_the_variance_of_repeated_dropout_passes():
    inputs = model_inputs(dropout=0.5)
    module, x = inputs.model.module, inputs.model.x
    # independent replay: dropout on, everything else off, global RNG seeded, 10 full passes
    twin = copy.deepcopy(module)
    twin.dropout.train()
    torch.manual_seed(7)
    with torch.no_grad():
        passes = np.stack([twin(x).double().numpy() for _ in range(10)])
    variance = passes.var(axis=0)
    assert variance.min() > 0 and len(np.unique(variance)) == N
    expected = [int(i) for i in np.argsort(-variance)[:12]]

    rng_state = torch.get_rng_state()
    picks = run_method("mc_dropout", inputs, 12, 7)
    assert picks == expected
    assert torch.equal(torch.get_rng_state(), rng_state)  # the caller's global RNG is untouched
    assert not any(m.training for m in module.modules())  # the model is handed back in eval mode
    assert run_method("mc_dropout", inputs, 12, 7) == picks
    assert run_method("mc_dropout", inputs, 12, 8) != picks  # other seed, other masks
    more = run_method("mc_dropout", inputs, 12, 7, passes=30)
    assert more != picks  # T is honoured


def test_mc_dropout_without_randomness_has_zero_variance_and_still_picks_b():
    from vqaloop.selection.mc_dropout import mc_dropout_variance

    inputs = model_inputs(dropout=0.0)
    assert np.array_equal(mc_dropout_variance(inputs.model.module, inputs.model.x, seed=3), np.zeros(N))
    assert run_method("mc_dropout", inputs, 9, 3) == list(range(9))  # all tied: lowest indices first


# ---------------------------------------------------------------- NoiseStability


def replay_deviations(module, x, copies: int, alpha: float, seed: int, embeddings: bool) -> np.ndarray:
    """The deviation vectors, written out: noise drawn copy by copy, weight tensor by weight tensor."""

    def out(m):
        with torch.no_grad():
            o = m.frame_embeddings(x).mean(dim=1) if embeddings else m(x)[:, None]
        return o.double().numpy()

    base = out(module)
    norm = np.linalg.norm(base, axis=1, keepdims=True) + 1e-8
    gen = torch.Generator().manual_seed(seed)
    blocks = []
    for _ in range(copies):
        noisy = copy.deepcopy(module)
        with torch.no_grad():
            for name, p in noisy.named_parameters():
                if name.endswith("weight"):
                    noise = torch.randn(p.shape, generator=gen)
                    p += noise * (alpha * p.norm() / noise.norm())
        blocks.append((out(noisy) - base) / norm)
    return np.concatenate(blocks, axis=1)


def brute_force_kcenter(vectors: np.ndarray, budget: int) -> list[int]:
    picks: list[int] = []
    for _ in range(budget):
        best, best_d = -1, -1.0
        for j in range(len(vectors)):
            if j in picks:
                continue
            d = min([np.linalg.norm(vectors[j])] + [np.linalg.norm(vectors[j] - vectors[p]) for p in picks])
            if d > best_d:
                best, best_d = j, d
        picks.append(best)
    return picks


@pytest.mark.parametrize("embeddings", [True, False])
def test_noise_stability_is_kcenter_from_the_origin_on_replayed_deviations(embeddings):
    inputs = model_inputs()
    module, x = inputs.model.module, inputs.model.x
    vectors = replay_deviations(module, x, copies=30, alpha=1e-3, seed=5, embeddings=embeddings)
    assert vectors.shape == (N, 30 * (8 if embeddings else 1))
    params = {} if embeddings else {"use_embeddings": False}  # embeddings are the default
    picks = run_method("noise_stability", inputs, 10, 5, **params)
    assert picks[0] == int(np.argmax(np.linalg.norm(vectors, axis=1)))  # the most perturbation-sensitive video
    assert picks == brute_force_kcenter(vectors, 10)
    assert run_method("noise_stability", inputs, 10, 5, **params) == picks
    before = {k: v.clone() for k, v in module.state_dict().items()}
    run_method("noise_stability", inputs, 10, 6, **params)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())  # f itself is never perturbed


def test_noise_stability_noise_scale_is_relative_to_each_weight():
    inputs = model_inputs()
    module, x = inputs.model.module, inputs.model.x
    from vqaloop.selection.noise_stability import deviation_vectors

    small = deviation_vectors(module, x, copies=3, alpha=1e-4, seed=0).numpy()
    large = deviation_vectors(module, x, copies=3, alpha=1e-3, seed=0).numpy()
    # same noise directions, ten times the scale: deviations ~10x (f is smooth at this scale)
    np.testing.assert_allclose(large, 10 * small, rtol=0.05, atol=1e-2 * np.abs(large).max())


# ---------------------------------------------------------------- FreeSel


def test_freesel_never_takes_a_duplicate_before_every_distinct_video():
    rng = np.random.default_rng(0)
    n = 12
    patterns = rng.normal(size=(n, 8, 16)).astype(np.float32)
    patterns[7] = patterns[3]  # video 7 shows exactly what video 3 shows
    inputs = SelectionInputs(ids=[str(i) for i in range(n)], frames=patterns)
    for seed in range(15):
        picks = run_method("freesel", inputs, n, seed)
        pair = sorted([picks.index(3), picks.index(7)])
        assert pair[1] == n - 1, (seed, picks)  # the second of the two comes last
        assert not {3, 7} <= set(run_method("freesel", inputs, n - 1, seed))


def test_freesel_draws_patterns_with_probability_proportional_to_squared_cosine_distance():
    # videos 0..19 identical along e0; video 20 along e1 (cosine distance 1 from them); video 21 at cosine
    # distance 0.25 from them. Once a video of the cluster is picked, the rest of the cluster is at distance 0,
    # so the second pick is 20 with probability 1^2 / (1^2 + 0.25^2) = 0.941 (0.8 if it were d, 0.5 if uniform).
    patterns = np.zeros((22, 8, 3), dtype=np.float32)
    patterns[:20, :, 0] = 1.0
    patterns[20, :, 1] = 1.0
    patterns[21, :, 0], patterns[21, :, 1] = 0.75, np.sqrt(1 - 0.75**2)
    inputs = SelectionInputs(ids=[str(i) for i in range(22)], frames=patterns)
    second = [picks[1] for picks in (run_method("freesel", inputs, 2, seed) for seed in range(300)) if picks[0] < 20]
    assert len(second) > 200 and set(second) == {20, 21}
    assert abs(np.mean(np.array(second) == 20) - 1 / 1.0625) < 0.045


def test_freesel_is_deterministic_per_seed():
    patterns = np.random.default_rng(2).normal(size=(30, 8, 16)).astype(np.float32)
    inputs = SelectionInputs(ids=[str(i) for i in range(30)], frames=patterns)
    runs = {seed: run_method("freesel", inputs, 10, seed) for seed in range(4)}
    assert all(run_method("freesel", inputs, 10, seed) == picks for seed, picks in runs.items())
    assert len({tuple(p) for p in runs.values()}) > 1


# ---------------------------------------------------------------- every method


@pytest.mark.parametrize("method", ["mc_dropout", "noise_stability", "freesel"])
@pytest.mark.parametrize("budget", [1, 7, N])
def test_every_method_gives_b_distinct_indices_deterministically(method, budget):
    inputs = model_inputs()
    inputs.frames = np.random.default_rng(3).normal(size=(N, 8, 16)).astype(np.float32)
    params = {"copies": 4} if method == "noise_stability" else {}
    picks = run_method(method, inputs, budget, 11, **params)  # run_method itself checks count and distinctness
    assert len(picks) == budget == len(set(picks)) and all(0 <= i < N for i in picks)
    assert run_method(method, inputs, budget, 11, **params) == picks


# ---------------------------------------------------------------- effnet_patterns


@pytest.fixture(scope="module")
def patterns_encoder():
    from vqaloop.features import available, get_encoder

    ok, reason = available("effnet_patterns")
    if not ok:
        pytest.skip(reason)
    return get_encoder("effnet_patterns", batch=8)


def object_frame(y0: int = 40, x0: int = 150, size: int = 48) -> np.ndarray:
    """144 x 256: a flat grey background and one bright textured square (a checkerboard with noise)."""
    rng = np.random.default_rng(0)
    frame = np.full((144, 256, 3), 110, dtype=np.uint8)
    checker = ((np.arange(size)[:, None] // 6 + np.arange(size)[None] // 6) % 2) * 180 + 60
    noise = (rng.random((size, size)) > 0.5) * 200 + 40
    frame[y0 : y0 + size, x0 : x0 + size] = np.stack([checker, noise, checker], axis=-1).astype(np.uint8)
    return frame


def test_patterns_salient_positions_fall_on_the_object(patterns_encoder):
    y0, x0, size = 40, 150, 48
    maps = patterns_encoder.feature_maps(object_frame(y0, x0, size)[None])
    _, h, w, d = maps.shape
    assert (h, w, d) == (5, 8, 1280)
    top = patterns_encoder.salient(maps)[0]
    assert len(top) == 10  # 25% of 40 positions
    rows, cols = top // w, top % w
    # the cells the object covers (a cell is 144/5 x 256/8 pixels), and that box grown by one cell
    r0, r1 = y0 * h // 144, (y0 + size - 1) * h // 144
    c0, c1 = x0 * w // 256, (x0 + size - 1) * w // 256
    assert r0 <= rows[0] <= r1 and c0 <= cols[0] <= c1  # the most salient position is on the object
    assert np.all((rows >= r0 - 1) & (rows <= r1 + 1) & (cols >= c0 - 1) & (cols <= c1 + 1))


def test_patterns_shape_and_determinism(patterns_encoder):
    import skimage.data

    clip = pan_clip(skimage.data.astronaut(), n=4)  # 72 x 128: 3 x 4 positions, 3 salient per frame
    first = patterns_encoder.encode(clip)
    assert first.shape == (8, 1280) and first.dtype == np.float32
    assert np.array_equal(patterns_encoder.encode(clip), first)
    assert len(np.unique(first.round(4), axis=0)) == 8  # 12 salient vectors, 8 distinct centres
    flat_maps = patterns_encoder.feature_maps(clip).reshape(-1, 1280)
    assert np.all(np.isfinite(first)) and first.min() >= flat_maps.min() - 1e-5 and first.max() <= flat_maps.max()


def test_patterns_through_the_features_command(patterns_encoder, tmp_path):
    import skimage.data

    from vqaloop.features.io import load_features
    from vqaloop.io.video import encode

    rows = ["video_id,path,mos,split,dataset,content_id"]
    for k, name in enumerate(("astronaut", "coffee")):
        encode(pan_clip(getattr(skimage.data, name)(), n=6), tmp_path / f"{name}.mp4", fps=10)
        rows.append(f"{name},{name}.mp4,,pool,tiny,c{k}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "effnet_patterns.npz"
    args = ["--manifest", str(tmp_path / "m.csv"), "--data-root", str(tmp_path), "--encoder", "effnet_patterns"]
    proc = run_cli("features", *args, "--frames", "3", "--out", str(out), check=True)
    assert "2 videos (8 patterns x 1280)" in proc.stdout  # P patterns per video, whatever the number of frames
    loaded = load_features(out)
    assert loaded.ids == ["astronaut", "coffee"] and loaded.encoder == "effnet_patterns"
    assert loaded.frames.shape == (2, 8, 1280) and loaded.frame_indices is None
    assert not np.allclose(loaded.frames[0], loaded.frames[1])  # two photos, two sets of patterns
