"""The straightforward W2S of W2S-VQA Sec. 3 (issue 22, item 3): pointwise students learn per-video scores.

The rating targets and their loss are checked against hand computations; a student trained through the command
line (``w2s-targets`` -> ``w2s-train --targets`` -> ``w2s-evaluate``) must reproduce its per-video targets on the
MOS scale (a pairwise student, trained on comparisons and scored by soft comparison, gives scores on a Thurstone
scale around 0 and fails it); the workflow trains Table 5's main rows on targets, never on pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import error_line, run_cli

from vqaloop.features.io import write_features
from vqaloop.w2s.pointwise import expected_rating, rating_distribution, soft_cross_entropy
from vqaloop.w2s.students import PairTransformer, StudentCheckpoint, is_pointwise, load_student

KW = {"in_dim": 12, "spatial_dim": 8, "hidden": 16, "layers": 1, "heads": 2}


def test_a_target_is_the_two_point_rating_distribution_with_its_mean():
    got = rating_distribution(torch.tensor([1.0, 2.3, 4.75, 5.0, 0.2, 7.0])).numpy()
    want = np.zeros((6, 5))
    want[0, 0] = 1.0  # 1.0: all on the rating 1
    want[1, 1], want[1, 2] = 0.7, 0.3  # 2.3 = 0.7 * 2 + 0.3 * 3
    want[2, 3], want[2, 4] = 0.25, 0.75  # 4.75 = 0.25 * 4 + 0.75 * 5
    want[3, 4] = 1.0
    want[4, 0] = 1.0  # clipped to 1
    want[5, 4] = 1.0  # clipped to 5
    assert np.allclose(got, want, atol=1e-6)
    assert np.allclose(got @ np.arange(1, 6), [1.0, 2.3, 4.75, 5.0, 1.0, 5.0], atol=1e-6)


def test_the_loss_is_cross_entropy_against_the_target_and_the_score_its_expected_rating():
    logits = torch.tensor([[0.5, -1.0, 2.0, 0.0, 0.3], [1.0, 1.0, 1.0, 1.0, 1.0]])
    target = rating_distribution(torch.tensor([3.4, 1.0]))
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    by_hand = -np.mean([0.6 * np.log(p[0, 2]) + 0.4 * np.log(p[0, 3]), np.log(p[1, 0])])
    assert float(soft_cross_entropy(logits, target)) == pytest.approx(by_hand, rel=1e-6)
    assert expected_rating(logits).numpy() == pytest.approx([p[0] @ np.arange(1, 6), 3.0], rel=1e-6)
    # the target's own log-probabilities are the minimum (Gibbs' inequality)
    best = soft_cross_entropy(torch.log(target.clamp_min(1e-12)), target)
    assert float(best) < float(soft_cross_entropy(logits, target))


def test_a_pointwise_student_is_the_compact_student_on_one_video():
    torch.manual_seed(3)
    pair = PairTransformer(**KW)
    torch.manual_seed(3)
    point = PairTransformer(**KW, mode="pointwise")
    assert pair.state_dict().keys() == point.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(pair.state_dict().values(), point.state_dict().values(), strict=True))
    x = torch.randn(4, 3, 12)
    point.eval()
    assert point(x).shape == (4, 5)
    with pytest.raises(ValueError, match="pointwise student takes one"):
        point(x, x)
    with pytest.raises(ValueError, match="pairwise student takes two"):
        pair(x)


N_TRAIN, N_TEST, F = 160, 40, 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A pointwise student trained through the commands on a source whose MOS is a smooth function of the
    features, and its evaluation on held-out videos."""
    root = tmp_path_factory.mktemp("pointwise")
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_TEST
    ids = [f"v{i:03d}" for i in range(n)]
    spatial = rng.normal(size=(n, F, 8)).astype("float32")
    motion = rng.normal(size=(n, F, 4)).astype("float32")
    drive = spatial[:, :, :3].mean(axis=(1, 2)) * 2.0 + motion[:, :, 0].mean(1)
    mos = 1.0 + 4.0 / (1.0 + np.exp(-1.5 * drive))  # on (1, 5), spread over the scale
    write_features(root / "feat/src/efficientnet_lite0.npz", ids, spatial, "efficientnet_lite0", None)
    write_features(root / "feat/src/motion.npz", ids, motion, "motion", None)
    split = ["train"] * N_TRAIN + ["test"] * N_TEST
    pd.DataFrame({"video_id": ids, "path": [f"{v}.mp4" for v in ids], "mos": mos.round(6), "split": split,
                  "dataset": "src", "content_id": ids}).to_csv(root / "src.csv", index=False)  # fmt: skip
    out = root / "out"
    out.mkdir()
    run_cli("w2s-targets", "--kind", "source", "--source-manifest", str(root / "src.csv"), "--out",
            str(out / "targets.csv"), check=True)  # fmt: skip
    run_cli("w2s-train", "--targets", str(out / "targets.csv"), "--manifests", str(root / "src.csv"), "--features-root",
            str(root / "feat"), "--hidden", "32", "--layers", "1", "--heads", "2", "--epochs", "60", "--lr", "0.003",
            "--batch", "32", "--seed", "1", "--out", str(out / "student.pt"), check=True)  # fmt: skip
    run_cli("w2s-evaluate", "--model", str(out / "student.pt"), "--sets", f"{root / 'src.csv'}:test", "--features-root",
            str(root / "feat"), "--scores-out", str(out / "scores.csv"), "--out", str(out / "eval.csv"), check=True)  # fmt: skip
    return root, mos


def test_the_pointwise_student_trains_on_per_video_targets(trained):
    root, mos = trained
    targets = pd.read_csv(root / "out/targets.csv")
    assert len(targets) == N_TRAIN and set(targets.kind) == {"source"}
    assert np.allclose(targets.target, mos[:N_TRAIN], atol=1e-6)  # the per-video MOS, not pairs of them
    student = load_student(root / "out/student.pt")
    assert is_pointwise(student) and student.meta["targets"] == {"source": N_TRAIN}
    assert "pairs" not in student.meta and student.meta["train_mae"] < 0.25
    scores = pd.read_csv(root / "out/scores.csv").set_index("video_id").score
    test_ids = [f"v{i:03d}" for i in range(N_TRAIN, N_TRAIN + N_TEST)]
    # held-out videos: the expected ratings track the per-video MOS *on the MOS scale* (a soft-comparison score of
    # a pairwise student lives on a Thurstone scale around 0: this fails for it)
    error = np.abs(scores.loc[test_ids].to_numpy() - mos[N_TRAIN:])
    assert error.mean() < 0.5, error.mean()
    evaluation = pd.read_csv(root / "out/eval.csv")
    assert evaluation.n.tolist() == [N_TEST] and evaluation.srcc.iloc[0] > 0.8


def test_a_pointwise_student_scores_without_anchors_and_refuses_them(trained):
    root, _ = trained
    model = str(root / "out/student.pt")
    base = ["--model", model, "--manifest", str(root / "src.csv"), "--split", "test", "--features-root",
            str(root / "feat")]  # fmt: skip
    proc = run_cli("score", *base)
    assert proc.returncode == 0, proc.stderr
    printed = pd.read_csv(pd.io.common.StringIO(proc.stdout)).set_index("video_id").score
    stored = pd.read_csv(root / "out/scores.csv").set_index("video_id").score
    assert np.allclose(printed, stored.loc[printed.index], atol=1e-6)
    anchors = root / "anchors.csv"
    pd.DataFrame({"video_id": ["v000", "v001"], "dataset": "src", "path": "x.mp4", "mos": [1.0, 5.0]}).to_csv(anchors,
                                                                                                          index=False)  # fmt: skip
    assert "pointwise student rates each video alone" in error_line(run_cli("score", *base, "--anchors", str(anchors)))
    line = error_line(run_cli("w2s-evaluate", "--model", model, "--anchors", str(anchors), "--sets", str(root / "src.csv"),
                              "--features-root", str(root / "feat"), "--scores-out", str(root / "s.csv"), "--out",
                              str(root / "e.csv")))  # fmt: skip
    assert "takes no --anchors" in line and not (root / "e.csv").exists()


def test_a_pairwise_checkpoint_cannot_continue_on_targets_nor_a_pointwise_one_on_pairs(trained, tmp_path):
    root, _ = trained
    torch.manual_seed(0)
    StudentCheckpoint("pair_transformer", dict(KW), PairTransformer(**KW).state_dict(),
                      ("efficientnet_lite0", "motion")).save(tmp_path / "pair.pt")  # fmt: skip
    common = ["--manifests", str(root / "src.csv"), "--features-root", str(root / "feat"), "--epochs", "1"]
    line = error_line(run_cli("w2s-train", "--targets", str(root / "out/targets.csv"), "--init",
                              str(tmp_path / "pair.pt"), *common, "--out", str(tmp_path / "a.pt")))  # fmt: skip
    assert "a pairwise student trains on --pairs" in line
    pd.DataFrame({"first": ["v000"], "second": ["v001"], "label": [3], "kind": "source"}).to_csv(tmp_path / "p.csv",
                                                                                                index=False)  # fmt: skip
    line = error_line(run_cli("w2s-train", "--pairs", str(tmp_path / "p.csv"), "--init", str(root / "out/student.pt"),
                              *common, "--out", str(tmp_path / "b.pt")))  # fmt: skip
    assert "a pointwise student trains on --targets" in line
    line = error_line(run_cli("w2s-train", "--targets", str(root / "out/targets.csv"), "--loss", "confidence",
                              *common, "--out", str(tmp_path / "c.pt")))  # fmt: skip
    assert "cross-entropy (ce) only" in line


def test_table5s_rows_learn_from_targets_and_the_pairwise_variant_from_pairs():
    from vqaloop.tables.w2s_spec import row_key, student_recipes, table_spec

    teachers = ["brisque", "niqe"]
    recipes = student_recipes(teachers, ["pointwise", "pairwise"])
    for t in teachers:
        assert recipes[f"{t}_labeled"]["targets"] == f"teacher_{t}" and recipes[f"{t}_labeled"]["pairs"] == []
        assert recipes[f"{t}_labeled_pairwise"]["pairs"] == [f"homogeneous_{t}"]
        assert recipes[f"{t}_labeled_pairwise"]["targets"] is None
    assert recipes["lsvq_labeled"]["targets"] == "source" and recipes["lsvq_labeled_pairwise"]["pairs"] == ["source"]
    assert student_recipes(teachers, "pairwise")["brisque_labeled"]["pairs"] == ["homogeneous_brisque"]
    cfg = {"teachers": {"brisque": {"kind": "classical", "paper_key": "x_vqa"}, "niqe": {"kind": "classical"}},
           "test_sets": {"a": {"block": "in_domain"}, "b": {"block": "ood"}}, "seeds": [0],
           "single_teacher": ["pointwise", "pairwise"]}  # fmt: skip
    rows = table_spec("w2s_table5", cfg, "t", "h")["rows"]
    assert [r["key"] for r in rows] == [
        "x_vqa",
        "niqe",
        "x_vqa_labeled",
        "niqe_labeled",
        "lsvq_labeled",
        "x_vqa_labeled_pairwise",
        "niqe_labeled_pairwise",
        "lsvq_labeled_pairwise",
    ]
    assert rows[2]["note"].startswith("pointwise") and rows[5]["note"].startswith("pairwise")
    assert row_key("brisque_labeled_pairwise", cfg["teachers"]) == "x_vqa_labeled_pairwise"
    assert [r["id"] for r in table_spec("w2s_table1", cfg, "t", "h")["rows"]][2:] == ["w2s_i", "w2s_ii", "w2s_iii",
                                                                                      "w2s_iv", "w2s_v"]  # fmt: skip
