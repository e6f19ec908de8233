"""The W2S pairwise student: interface, strength over the teachers, checkpoints, learning, soft-comparison scores,
and the iterative stages' mining."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from vqaloop.errors import UserError
from vqaloop.evaluation.gmad import level_sets
from vqaloop.losses.confidence import get_w2s_loss
from vqaloop.models.alternatives import CnnFrames, TransformerTokens
from vqaloop.models.effnet_head import EffNetMotionHead
from vqaloop.w2s.pairs import INFERIOR, SUPERIOR, five_level_labels, sample_index_pairs
from vqaloop.w2s.scoring import soft_comparison_scores
from vqaloop.w2s.stages import gmad_pairs_between, misclassified_synthetic, most_differentiated_pairs, partition_delta
from vqaloop.w2s.students import PairTransformer, StudentCheckpoint, load_student
from vqaloop.w2s.train import lr_factor, train_student

torch.set_num_threads(1)
N, F, SPATIAL, MOTION = 120, 4, 12, 4


def toy_videos(seed=0):
    """Videos whose quality is the mean of their first spatial feature, plus nuisance dimensions."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, F, SPATIAL + MOTION, generator=g)
    quality = x[:, :, 0].mean(1).numpy()
    return x, quality


def toy_pairs(quality, count=3000, seed=0):
    first, second = sample_index_pairs(len(quality), count, np.random.default_rng(seed))
    labels = five_level_labels(quality[second] - quality[first], np.full(count, 0.2))
    return pd.DataFrame({"first_row": first, "second_row": second, "label": labels})


def test_the_student_compares_two_videos_into_five_logits_and_outgrows_every_teacher():
    model = PairTransformer(in_dim=1284, spatial_dim=1280, hidden=128, layers=2, heads=4)
    a, b = torch.randn(3, 8, 1284), torch.randn(3, 8, 1284)
    assert model(a, b).shape == (3, 5)
    params = sum(p.numel() for p in model.parameters())
    teachers = [EffNetMotionHead(1284, 128), TransformerTokens(1284, 64), CnnFrames(72 * 128, 64)]
    assert all(params > sum(p.numel() for p in t.parameters()) for t in teachers)
    assert any("motion" in name for name, _ in model.named_parameters())  # a motion branch of its own


def test_student_checkpoints_round_trip_and_refuse_the_wrong_kind(tmp_path):
    torch.manual_seed(0)
    model = PairTransformer(in_dim=SPATIAL + MOTION, spatial_dim=SPATIAL, hidden=16, layers=1, heads=2).eval()
    ckpt = StudentCheckpoint("pair_transformer", {"in_dim": 16, "spatial_dim": 12, "hidden": 16, "layers": 1,
                                                  "heads": 2}, model.state_dict(), ("a", "b"))  # fmt: skip
    ckpt.save(tmp_path / "s.pt")
    ckpt.save(tmp_path / "t.pt")
    assert (tmp_path / "s.pt").read_bytes() == (tmp_path / "t.pt").read_bytes()  # byte-deterministic
    x = torch.randn(2, F, 16)
    with torch.no_grad():
        assert torch.equal(load_student(tmp_path / "s.pt").build()(x, x.flip(0)), model(x, x.flip(0)))
    torch.save({"name": "effnet_motion", "kwargs": {}, "state_dict": {}}, tmp_path / "base.pt")
    with pytest.raises(UserError, match="not a W2S student checkpoint"):
        load_student(tmp_path / "base.pt")


def test_the_learning_rate_warms_up_then_decays_by_cosine():
    values = [lr_factor(s, 100, 0.1) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(values[10:], values[11:], strict=False)) and values[-1] < 0.01


@pytest.fixture(scope="module")
def trained():
    x, quality = toy_videos()
    pairs = toy_pairs(quality)
    torch.manual_seed(0)
    model = PairTransformer(in_dim=SPATIAL + MOTION, spatial_dim=SPATIAL, hidden=32, layers=1, heads=2)
    model.set_input_statistics(x)
    before = None
    with torch.no_grad():
        logits = model(
            x[torch.from_numpy(pairs.first_row.to_numpy())], x[torch.from_numpy(pairs.second_row.to_numpy())]
        )
        before = float((logits.argmax(1).numpy() == pairs.label.to_numpy()).mean())
    meta = train_student(model, x, pairs, get_w2s_loss("ce"), epochs=10, lr=3e-3, batch=64, weight_decay=0.0,
                         warmup=0.03, seed=0)  # fmt: skip
    return model, x, quality, pairs, before, meta


def test_training_learns_the_comparison(trained):
    _model, _x, _q, _pairs, before, meta = trained
    assert meta["loss_history"][-1] < meta["loss_history"][0]
    assert meta["train_accuracy"] > max(0.6, before + 0.3)


def test_soft_comparison_scores_follow_quality(trained):
    model, x, quality, _pairs, _before, _meta = trained
    anchors = torch.from_numpy(np.argsort(quality)[np.linspace(5, N - 6, 5).astype(int)])
    scores, matrices = soft_comparison_scores(model, x[anchors], x)
    assert matrices.shape == (N, 6, 6)
    assert np.allclose(matrices + matrices.transpose(0, 2, 1), 1.0, atol=1e-9)  # M_ij + M_ji = 1, diagonal 0.5
    assert stats.spearmanr(scores, quality).statistic > 0.8


def test_gmad_mining_takes_pairs_the_student_separates_within_a_teachers_level():
    rng = np.random.default_rng(0)
    teacher, student = rng.uniform(1, 5, 200), rng.normal(size=200)
    high, low, gap = most_differentiated_pairs(student, teacher, levels=4, per_level=1)
    # brute force: in each level set of the teacher, the pair with the largest student difference
    sets, delta = level_sets(teacher, 4, delta=partition_delta(teacher, 4))  # a partition of the range
    expected = set()
    for _k, _c, idx in sets:
        a, b = max(((i, j) for i in idx for j in idx), key=lambda p: student[p[0]] - student[p[1]])
        expected.add((int(a), int(b)))
    assert set(zip(high.tolist(), low.tolist(), strict=True)) == expected
    assert (gap > 0).all() and (np.abs(teacher[high] - teacher[low]) <= 2 * delta).all()
    assert sum(len(idx) for _k, _c, idx in sets) >= 200  # every video is in a level
    low2, high2 = gmad_pairs_between(student, teacher[:, None], levels=4, count=100)
    assert len(set(zip(low2.tolist(), high2.tolist(), strict=True))) == len(low2) > 8  # both roles, no pair twice


def test_stage_pairs_hold_only_misclassified_synthetic_pairs(trained):
    model, x, quality, _pairs, _before, _meta = trained
    order = np.argsort(quality)
    candidates = pd.DataFrame({"first": [f"v{i}" for i in order[:40]], "second": [f"v{i}" for i in order[-40:]],
                               "label": SUPERIOR})  # fmt: skip
    wrong_labels = candidates.assign(label=INFERIOR)  # deliberately wrong: the student should call them superior
    both = pd.concat([candidates, wrong_labels], ignore_index=True)

    def rows(ids):
        return torch.as_tensor([int(v[1:]) for v in ids])

    picked = misclassified_synthetic(model, x, rows, both, 1000, np.random.default_rng(0))
    with torch.no_grad():
        predicted = model(x[rows(picked["first"])], x[rows(picked["second"])]).argmax(1).numpy()
    assert (predicted != picked.label.to_numpy()).all()  # only pairs the student gets wrong
    assert (picked.label == INFERIOR).mean() > 0.9  # ... which are (almost all) the mislabelled ones
