"""pytest-benchmark timings of the selection baselines at a small size, each beside the work it cannot avoid.

    pytest benchmarks/test_bench_baselines.py --benchmark-enable

Inputs and floors are ``bench_baselines``'s (clustered embeddings, an untrained ``effnet_motion`` f, unit-norm
patterns): core-set, RD, greedy and ALCS against B distance passes over the pool; MC dropout (T = 10 forward passes
of f) and NoiseStability (K + 1 = 31) against one forward pass, so that ratios near 10 and 31 mean no work beyond the
passes; FreeSel against B passes over the patterns. The paper-size figures
(N = 42,000, B = 2,100) come from ``benchmarks/bench_baselines.py``.
"""

import numpy as np
import pytest
import torch
from bench_baselines import make_embeddings, make_patterns, model_inputs

from vqaloop.selection.registry import SelectionInputs, run_method

N, DIM, CENTRES, B, MODEL_N, PATTERN_N = 4000, 128, 200, 40, 1000, 1000
SEED = 0
# MC dropout runs T = 10 passes of f, NoiseStability K + 1 = 31 (bench_baselines.MC_PASSES, NOISE_PASSES): their
# ratios to one pass are those counts when nothing else costs
MODEL_GROUP = "baselines: model methods, against one pass of f"


@pytest.fixture(scope="module")
def embeddings():
    torch.set_num_threads(1)
    x = make_embeddings(N, DIM, CENTRES, SEED)
    return x, SelectionInputs(ids=[f"v{i}" for i in range(N)], frames=x[:, None, :], pooled=x)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    inputs = model_inputs(MODEL_N, SEED)
    return inputs, SelectionInputs(ids=[f"v{i}" for i in range(MODEL_N)], model=inputs)


@pytest.fixture(scope="module")
def patterns():
    p = make_patterns(PATTERN_N, SEED)
    return p, SelectionInputs(ids=[f"v{i}" for i in range(PATTERN_N)], frames=p)


def distance_passes(x: np.ndarray, picks: np.ndarray) -> None:
    for i in picks:
        x @ x[i]


def forward_passes(module, x: torch.Tensor, passes: int) -> None:
    with torch.no_grad():
        for _ in range(passes):
            module(x)


def pattern_passes(patterns: np.ndarray, videos: np.ndarray) -> None:
    flat = patterns.reshape(-1, patterns.shape[-1])
    for v in videos:
        flat @ patterns[v].T


def run(benchmark, name: str, inputs: SelectionInputs, rounds: int = 3) -> None:
    picks = benchmark.pedantic(run_method, args=(name, inputs, B, SEED), rounds=rounds, iterations=1)
    assert len(set(picks)) == B


@pytest.mark.benchmark(group="baselines: feature methods")
@pytest.mark.parametrize("name", ["coreset", "rd", "greedy", "alcs"])
def test_feature_method(benchmark, embeddings, name):
    run(benchmark, name, embeddings[1])


@pytest.mark.benchmark(group="baselines: feature methods")
def test_distance_passes_floor(benchmark, embeddings):
    picks = np.random.default_rng(SEED).integers(N, size=B)
    benchmark.pedantic(distance_passes, args=(embeddings[0], picks), rounds=3, iterations=1)


@pytest.mark.benchmark(group=MODEL_GROUP)
@pytest.mark.parametrize("name", ["mc_dropout", "noise_stability"])
def test_model_method(benchmark, model, name):
    run(benchmark, name, model[1], rounds=2)


@pytest.mark.benchmark(group=MODEL_GROUP)
def test_one_forward_pass_floor(benchmark, model):
    benchmark.pedantic(forward_passes, args=(model[0].module, model[0].x, 1), rounds=3, iterations=1)


@pytest.mark.benchmark(group="baselines: FreeSel")
def test_freesel(benchmark, patterns):
    run(benchmark, "freesel", patterns[1])


@pytest.mark.benchmark(group="baselines: FreeSel")
def test_pattern_passes_floor(benchmark, patterns):
    videos = np.random.default_rng(SEED).integers(PATTERN_N, size=B)
    benchmark.pedantic(pattern_passes, args=(patterns[0], videos), rounds=3, iterations=1)
