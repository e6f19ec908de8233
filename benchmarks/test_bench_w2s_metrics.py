"""pytest-benchmark timing of the nine W2S low-level metrics (W2S-VQA Appendix A.2) beside decoding their frames.

    pytest benchmarks/test_bench_w2s_metrics.py --benchmark-enable

One clip of ``bench_w2s_metrics`` in the corpus working format (256x144 lossless, 15 fps, 2 s): ``frame_metrics``
on its 1 fps samples and their partner frames, and ``video_metrics`` end to end (probe, decode, metrics), against
decoding the same frames (``read_pairs``, the floor). Goal: metrics throughput >= 0.3 of decode throughput, i.e. a
ratio of at most 3.3; the 720p figures come from ``benchmarks/bench_w2s_metrics.py``.
"""

import numpy as np
import pytest
from bench_w2s_metrics import PHOTOS, pan

from vqaloop.benchmarking import photo
from vqaloop.io.video import encode
from vqaloop.w2s.metrics import clip_samples, frame_metrics, read_pairs, video_metrics

GROUP = "w2s metrics: one 256x144 clip"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    encode(pan(photo(PHOTOS[0], 144, 256), 30, 144, 256), path, fps=15, codec="lossless")
    indices, partners = clip_samples(path)
    frames, following = read_pairs(path, indices, partners)
    return path, indices, partners, frames, following


@pytest.mark.benchmark(group=GROUP)
def test_frame_metrics(benchmark, clip):
    _, _, _, frames, following = clip
    values = benchmark.pedantic(frame_metrics, args=(frames, following), rounds=5, iterations=1)
    assert np.isfinite(np.asarray(values, dtype=float)).all()


@pytest.mark.benchmark(group=GROUP)
def test_video_metrics(benchmark, clip):
    benchmark.pedantic(video_metrics, args=(clip[0],), rounds=5, iterations=1)


@pytest.mark.benchmark(group=GROUP)
def test_decode_floor(benchmark, clip):
    path, indices, partners, _, _ = clip
    benchmark.pedantic(read_pairs, args=(path, indices, partners), rounds=5, iterations=1)
