"""W2S-VQA pairs: five-level labels at the sigma boundaries, synthetic ladders, the stage split, the pool rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, error_line, run_cli

from vqaloop.corpus.plan import ladder_chains
from vqaloop.errors import UserError
from vqaloop.w2s.anchors import choose_anchors
from vqaloop.w2s.data import pool_ids, stage_split
from vqaloop.w2s.pairs import (
    BETTER,
    INFERIOR,
    SIMILAR,
    SUPERIOR,
    WORSE,
    all_synthetic_pairs,
    ensemble_statistics,
    five_level_labels,
    homogeneous_pairs,
    label_pairs,
    read_pairs,
    sample_index_pairs,
    sample_synthetic,
)


def test_five_level_labels_at_the_sigma_boundaries():
    s = 0.5
    delta = np.array([2 * s + 1e-9, 2 * s, s + 1e-9, s, 0.0, -s + 1e-9, -s, -2 * s + 1e-9, -2 * s, -5.0])
    expected = [SUPERIOR, BETTER, BETTER, SIMILAR, SIMILAR, SIMILAR, WORSE, WORSE, INFERIOR, INFERIOR]
    assert five_level_labels(delta, np.full(len(delta), s)).tolist() == expected


def test_ensemble_labels_use_the_teachers_spread():
    # video 0: teachers agree at 2.0; video 1: mean 3.0, spread large; video 2: mean 3.0 agreeing
    scores = np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 5.0], [3.0, 3.0, 3.0]])
    mean, var = ensemble_statistics(scores)
    assert np.allclose(mean, [2, 3, 3]) and np.allclose(var, [0, 4, 0])
    # second = 2 vs first = 0: Delta = 1 > 2 * 0 -> superior; second = 1 vs first = 0: sigma = 2, Delta = 1 -> similar
    assert label_pairs(mean, var, np.array([0, 0]), np.array([2, 1])).tolist() == [SUPERIOR, SIMILAR]


def test_a_single_teacher_uses_its_source_error_as_sigma():
    mean, var = ensemble_statistics(np.array([[1.0], [1.3], [2.0]]), single_sd=0.2)
    assert np.allclose(var, 0.04)
    # sigma_Delta = sqrt(0.08) = 0.283: 0.3 is better (<= 2 sigma), 1.0 superior
    assert label_pairs(mean, var, np.array([0, 0]), np.array([1, 2])).tolist() == [BETTER, SUPERIOR]
    with pytest.raises(ValueError):
        ensemble_statistics(np.array([[1.0], [2.0]]))


def test_a_single_teachers_pairs_use_the_fixed_sigma_or_its_rmse(tmp_path):
    # one teacher, scores 1.0 .. 4.0 in steps of 0.1; its source RMSE 1.2 (a weak teacher)
    from vqaloop.w2s.teachers import TEACHER_COLUMNS

    ids = [f"v{i:02d}" for i in range(31)]
    scores = 1.0 + 0.1 * np.arange(31)
    table = pd.DataFrame({"video_id": ids, "dataset": "w2s", "split": "pool", "raw": scores, "mos": scores})
    path = tmp_path / "t.csv"
    table[TEACHER_COLUMNS].to_csv(path, index=False)
    path.with_suffix(".json").write_text('{"source_rmse": 1.2}')
    fixed = homogeneous_pairs([path], ids, 400, np.random.default_rng(0), single_sigma=0.25)
    rmse = homogeneous_pairs([path], ids, 400, np.random.default_rng(0))
    assert fixed[["first", "second"]].equals(rmse[["first", "second"]])  # same pairs, other labels
    delta = pd.Series(scores, index=ids)
    delta = delta[fixed.second].to_numpy() - delta[fixed["first"]].to_numpy()
    assert fixed.label.tolist() == five_level_labels(delta, np.full(len(delta), np.sqrt(2) * 0.25)).tolist()
    assert rmse.label.tolist() == five_level_labels(delta, np.full(len(delta), np.sqrt(2) * 1.2)).tolist()
    # RMSE 1.2 on a 3-MOS range: no pair is superior or inferior; the fixed sigma orders most pairs
    assert not rmse.label.isin([SUPERIOR, INFERIOR]).any()
    assert (fixed.label != SIMILAR).mean() > 0.6


def test_single_sigma_option_is_checked():
    from vqaloop.w2s.pairs import parse_single_sigma

    assert parse_single_sigma("rmse") is None and parse_single_sigma("0.3") == 0.3
    for bad in ("0", "-1", "nan", "wide"):
        with pytest.raises(UserError, match="--single-sigma"):
            parse_single_sigma(bad)


def ladder_manifest(contents=("a", "b"), families=("resize", "stutter")) -> pd.DataFrame:
    rows = []
    for c in contents:
        for chain in ladder_chains(list(families)):
            ((family, level),) = chain
            rows.append({"video_id": f"{c}_{family}{level}", "content_id": c, "distortion": family, "level": level})
    return pd.DataFrame(rows)


def test_synthetic_pairs_are_never_similar_and_follow_the_level_gap():
    pairs = all_synthetic_pairs(ladder_manifest())
    assert SIMILAR not in set(pairs.label)
    levels = ladder_manifest().set_index("video_id")
    gap = levels.level.loc[pairs.second].to_numpy() - levels.level.loc[pairs.first].to_numpy()
    expected = np.select([gap > 1, gap == 1, gap == -1], [INFERIOR, WORSE, BETTER], SUPERIOR)
    assert (pairs.label.to_numpy() == expected).all()
    same = levels.loc[pairs.first, ["content_id", "distortion"]].to_numpy() == levels.loc[
        pairs.second, ["content_id", "distortion"]].to_numpy()  # fmt: skip
    assert same.all()  # one content and one family per pair
    # 2 contents x (5 x 4 resize + 3 x 2 stutter) ordered pairs
    assert len(pairs) == 2 * (20 + 6)


def test_synthetic_sampling_follows_the_kind_shares():
    candidates = all_synthetic_pairs(ladder_manifest(contents=[f"c{i}" for i in range(30)]))
    picked = sample_synthetic(candidates, 200, np.random.default_rng(0))
    share = picked.distortion_kind.value_counts(normalize=True)
    assert share["spatial"] == pytest.approx(0.8, abs=0.08)  # 160 : 40 of the two kinds present


def test_sampled_index_pairs_are_distinct_and_ordered_uniformly():
    first, second = sample_index_pairs(10, 90, np.random.default_rng(1))
    assert (first != second).all() and len(set(zip(first, second, strict=True))) == 90  # every ordered pair once


def test_stage_split_gives_the_stage_sizes_asked_for():
    """Issue 22 item 2: explicit counts (the paper's 200k : 100k : 50k at scale), not shares of whatever the pool
    holds: 4 : 2 : 1 of a 200k pool was 114k / 57k / 29k."""
    ids = [f"v{i:03d}" for i in range(70)]
    parts = stage_split(ids, [40, 20, 10], seed=3)
    assert [len(p) for p in parts] == [40, 20, 10]
    assert sorted(sum(parts, [])) == ids
    assert stage_split(ids, [40, 20, 10], seed=3) == parts and stage_split(ids, [40, 20, 10], seed=4) != parts
    assert [len(p) for p in stage_split(ids, [50, 15, 5], seed=3)] == [50, 15, 5]
    with pytest.raises(UserError, match="has 70 videos but the stage sizes \\[40, 20, 11\\] sum to 71"):
        stage_split(ids, [40, 20, 11], seed=3)


def test_the_paper_config_shapes_the_sum_of_the_papers_stage_sizes():
    import yaml

    from vqaloop.config import with_defaults

    paper = yaml.safe_load((REPO / "config/paper.yaml").read_text())
    assert paper["w2s"]["stage_sizes"] == [200_000, 100_000, 50_000]  # W2S Table 2
    default = with_defaults({"w2s": {}}, "w2s")["stage_sizes"]
    assert default == [200_000, 100_000, 50_000]  # the schema's default: the paper's
    assert "size" not in paper["w2s"]["shaping"]  # the shaping size is their sum (rules/w2s.smk), stated once


def test_anchors_spread_over_the_mos_range_and_pick_agreeing_teachers():
    train = pd.DataFrame({"video_id": [f"v{i}" for i in range(10)], "dataset": "ugc", "path": "p",
                          "mos": np.linspace(1, 5, 10)})  # fmt: skip
    sd = np.array([0.5, 0.1, 0.3, 0.9, 0.2, 0.4, 0.8, 0.05, 0.6, 0.7])
    anchors = choose_anchors(train, sd, 5)
    assert list(anchors.video_id) == ["v1", "v2", "v4", "v7", "v8"]  # the calmest of each pair of MOS bins
    with pytest.raises(UserError):
        choose_anchors(train, sd, 1)


def test_the_pool_must_be_unlabelled(tmp_path):
    manifest = pd.DataFrame({"video_id": ["a", "b"], "path": ["a.mp4", "b.mp4"], "mos": [None, None],
                             "split": "pool", "dataset": "w2s", "content_id": ["c1", "c2"]})  # fmt: skip
    manifest.to_csv(tmp_path / "pool.csv", index=False)
    assert pool_ids(tmp_path / "pool.csv") == ["a", "b"]
    manifest.loc[1, "mos"] = 3.2
    manifest.to_csv(tmp_path / "labelled.csv", index=False)
    with pytest.raises(UserError, match="must be unlabelled"):
        pool_ids(tmp_path / "labelled.csv")


def test_a_pair_label_outside_the_five_levels_is_one_line(tmp_path):
    (tmp_path / "pairs.csv").write_text("first,second,label,kind\na,b,2,homogeneous\na,c,7,homogeneous\n")
    with pytest.raises(UserError, match=r"row 3: label '7' is not one of 0..4"):
        read_pairs(tmp_path / "pairs.csv")
    (tmp_path / "pool.csv").write_text("video_id,path,mos,split,dataset,content_id\na,a.mp4,,pool,w2s,c\n")
    proc = run_cli("w2s-train", "--pairs", str(tmp_path / "pairs.csv"), "--manifests", str(tmp_path / "pool.csv"),
                   "--features-root", str(tmp_path), "--out", str(tmp_path / "m.pt"))  # fmt: skip
    assert "label '7'" in error_line(proc) and not (tmp_path / "m.pt").exists()
