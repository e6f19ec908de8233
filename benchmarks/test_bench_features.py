"""pytest-benchmark timing of feature extraction beside the EfficientNet-Lite0 forward pass it cannot avoid.

    pytest benchmarks/test_bench_features.py --benchmark-enable

``bench_features``'s clips (pans over photos, the corpus working format): ``extract_many`` with the four encoders
the features rule runs (one decode, one EfficientNet-Lite0 pass shared by the frame features and FreeSel's
patterns, plus motion and thumbnails) against the forward pass alone over the same frames decoded beforehand
(the floor). Goal (README "W2S-VQA and feature-extraction benchmarks"): at most 2x the floor.
"""

import pytest
import torch
from bench_features import ENCODERS, FRAMES, forward_only, render

from vqaloop.features.extract import extract_many, read_sampled
from vqaloop.features.registry import get_encoder

CLIPS = 4


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("clips")
    manifest = render(root, CLIPS)
    encoders = [get_encoder(name) for name in ENCODERS]
    decoded = [read_sampled(root / p, FRAMES, pairs=True)[0] for p in manifest.path]
    return root, manifest, encoders, decoded


@pytest.mark.benchmark(group="features: four encoders, 4 clips x 8 frames")
def test_extract_many(benchmark, clips):
    root, manifest, encoders, _ = clips
    arrays, _ = benchmark.pedantic(extract_many, args=(manifest, root, encoders, FRAMES), kwargs={"progress": False},
                                   rounds=3, iterations=1)  # fmt: skip
    assert [len(a) for a in arrays] == [CLIPS] * len(ENCODERS)


@pytest.mark.benchmark(group="features: four encoders, 4 clips x 8 frames")
def test_effnet_forward_floor(benchmark, clips):
    _, _, encoders, decoded = clips
    benchmark.pedantic(forward_only, args=(encoders[0], decoded), rounds=3, iterations=1)
