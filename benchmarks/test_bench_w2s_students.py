"""pytest-benchmark timing of the W2S students' training and scoring, the pairwise student as the floor.

    pytest benchmarks/test_bench_w2s_students.py --benchmark-enable

The embedded default's compact student (``pair_transformer``, sizes from config/config.yaml) on random 8-frame
1,284-d inputs (the cost does not depend on the values), one epoch at a smaller size: the pointwise single-teacher
student (``train_pointwise``, W2S-VQA Sec. 3) against the pairwise one every W2S table trains (``train_student``,
cross-entropy), and pointwise scoring against soft comparison with 5 anchors (W2S-VQA Eq. 33). The default's sizes
(857 videos, 3,000 pairs, 10 epochs) come from ``benchmarks/bench_w2s_students.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from vqaloop.dispatch import set_compute_threads
from vqaloop.losses.confidence import get_w2s_loss
from vqaloop.w2s.pointwise import pointwise_scores, train_pointwise
from vqaloop.w2s.scoring import soft_comparison_scores
from vqaloop.w2s.students import PairTransformer
from vqaloop.w2s.train import train_student

VIDEOS, PAIRS, SCORED, DIM, SPATIAL = 256, 512, 256, 1284, 1280
CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config/config.yaml").read_text())


@pytest.fixture(scope="module")
def setup():
    set_compute_threads(1)
    s, t = CONFIG["w2s"]["student"], CONFIG["w2s"]["training"]
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(VIDEOS + SCORED, CONFIG["features"]["frames"], DIM)).astype(np.float32))
    first, second = rng.integers(0, VIDEOS, size=(2, PAIRS))
    pairs = pd.DataFrame({"first_row": first, "second_row": second, "label": rng.integers(0, 5, PAIRS)})
    targets = torch.from_numpy(rng.uniform(1, 5, VIDEOS).astype(np.float32))
    optim = {"epochs": 1, "lr": t["lr"], "batch": t["batch"], "weight_decay": t.get("weight_decay", 0.05),
             "warmup": t.get("warmup", 0.03), "seed": 0}  # fmt: skip

    def model(mode):
        torch.manual_seed(0)
        m = PairTransformer(in_dim=DIM, spatial_dim=SPATIAL, hidden=s["hidden"], layers=s["layers"],
                            heads=s["heads"], mode=mode)  # fmt: skip
        m.set_input_statistics(x[:VIDEOS])
        return m

    return x, pairs, targets, optim, model


@pytest.mark.benchmark(group="w2s students: one epoch of training")
def test_pointwise_training(benchmark, setup):
    x, _, targets, optim, model = setup
    benchmark.pedantic(lambda: train_pointwise(model("pointwise"), x, torch.arange(VIDEOS), targets, **optim),
                       rounds=3, iterations=1)  # fmt: skip


@pytest.mark.benchmark(group="w2s students: one epoch of training")
def test_pairwise_training_floor(benchmark, setup):
    x, pairs, _, optim, model = setup
    benchmark.pedantic(lambda: train_student(model("pairwise"), x, pairs, get_w2s_loss("ce"), **optim), rounds=3,
                       iterations=1)  # fmt: skip


@pytest.mark.benchmark(group="w2s students: scoring 256 videos")
def test_pointwise_scoring(benchmark, setup):
    x, _, _, _, model = setup
    scores = benchmark(pointwise_scores, model("pointwise"), x[VIDEOS:])
    assert len(scores) == SCORED


@pytest.mark.benchmark(group="w2s students: scoring 256 videos")
def test_soft_comparison_scoring_reference(benchmark, setup):
    x, _, _, _, model = setup
    scores, _ = benchmark.pedantic(soft_comparison_scores, args=(model("pairwise"), x[:5], x[VIDEOS:]), rounds=3,
                                   iterations=1)  # fmt: skip
    assert len(scores) == SCORED
