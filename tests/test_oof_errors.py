"""Out-of-fold errors for g (the extra mds_oof row): folds, cross-fitting, the errors file, the variant ids."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import torch

from vqaloop.errors import UserError
from vqaloop.features.io import write_features
from vqaloop.training import errors as oof
from vqaloop.training.base import train_base_model
from vqaloop.variants import parse_g_id, parse_variant


def test_folds_keep_every_content_together_and_balance_contents():
    contents = np.array([f"c{i // 3}" for i in range(30)])  # 10 contents, 3 versions each
    fold = oof.content_folds(contents, 4, seed=1)
    for c in np.unique(contents):
        assert len(set(fold[contents == c])) == 1
    per_fold = [len(set(contents[fold == k])) for k in range(4)]
    assert sorted(per_fold) == [2, 2, 3, 3]
    assert (oof.content_folds(contents, 4, seed=1) == fold).all()
    assert not (oof.content_folds(contents, 4, seed=2) == fold).all()
    with pytest.raises(UserError, match="folds"):
        oof.content_folds(contents, 11, seed=0)


def optim(epochs=40):
    return argparse.Namespace(epochs=epochs, lr=3e-3, batch=8, weight_decay=0.0, seed=0, threads=1)


def test_each_video_is_scored_by_a_model_that_never_saw_its_fold(monkeypatch):
    rng = np.random.default_rng(0)
    n = 40
    x = torch.from_numpy(rng.standard_normal((n, 2, 6)).astype(np.float32))
    x[:, 0, 0] = torch.arange(n, dtype=torch.float32) * 100  # row marker, visible to the recorder below
    mos = rng.uniform(1, 5, n)
    fold = oof.content_folds(np.array([f"c{i // 2}" for i in range(n)]), 4, seed=0)
    seen = []

    def recording(name, x_train, mos_train, hidden, args):
        seen.append(set((x_train[:, 0, 0] / 100).round().int().tolist()))
        return train_base_model(name, x_train, mos_train, hidden, args)

    monkeypatch.setattr(oof, "train_base_model", recording)
    pred = oof.cross_fitted_predictions("effnet_motion", x, mos, fold, 8, optim(epochs=2))
    assert len(seen) == 4 and np.isfinite(pred).all()
    for k, rows in enumerate(seen):
        assert rows == set(np.flatnonzero(fold != k).tolist())  # trained on exactly the other folds


def test_out_of_fold_errors_exceed_in_sample_errors_of_a_model_that_memorises():
    # MOS is pure noise: f can memorise its training set but cannot predict held-out videos
    rng = np.random.default_rng(3)
    n = 48
    x = torch.from_numpy(rng.standard_normal((n, 2, 16)).astype(np.float32))
    mos = rng.uniform(1, 5, n)
    model = train_base_model("effnet_motion", x, torch.tensor(mos, dtype=torch.float32), 64, optim())
    from vqaloop.training.failure import base_errors

    in_sample = base_errors(model, x, mos)
    fold = oof.content_folds(np.array([f"c{i}" for i in range(n)]), 4, seed=0)
    out_of_fold = np.abs(oof.cross_fitted_predictions("effnet_motion", x, mos, fold, 64, optim()) - mos)
    assert out_of_fold.mean() > 1.5 * in_sample.mean()


def test_errors_file_is_read_in_manifest_order_and_checked(tmp_path):
    path = tmp_path / "oof.csv"
    pd.DataFrame({"video_id": ["b", "a", "c"], "error": [0.2, 0.1, 0.3]}).to_csv(path, index=False)
    assert oof.read_errors(path, ["a", "b", "c"]).tolist() == [0.1, 0.2, 0.3]
    with pytest.raises(UserError, match=r"oof\.csv.*'zz'"):
        oof.read_errors(path, ["a", "zz"])
    pd.DataFrame({"video_id": ["a"], "err": [0.1]}).to_csv(path, index=False)
    with pytest.raises(UserError, match=r"lacks column\(s\) error"):
        oof.read_errors(path, ["a"])
    with pytest.raises(UserError, match="not found"):
        oof.read_errors(tmp_path / "none.csv", ["a"])


def test_oof_variant_ids_round_trip_and_name_their_own_g():
    v = parse_variant("mds_ranking_r64_efficientnet_lite0_lam0.25_oof")
    assert v.errors == "oof" and v.id == "mds_ranking_r64_efficientnet_lite0_lam0.25_oof"
    assert v.g_id == "ranking_r64_oof" and parse_g_id(v.g_id) == ("ranking", 64, "oof")
    plain = parse_variant("mds_ranking_r64_efficientnet_lite0_lam0.25")
    assert plain.errors == "" and plain.g_id == "ranking_r64" and parse_g_id("ranking_r64") == ("ranking", 64, "")
    with pytest.raises(UserError):
        parse_g_id("ranking_r64_xyz")


def test_cli_too_many_folds_names_the_manifest_and_config_key_and_writes_nothing(tmp_path):
    from conftest import error_line, run_cli

    manifest = tmp_path / "ugc.csv"
    pd.DataFrame({
        "video_id": [f"v{i}" for i in range(4)], "path": [f"ugc/v{i}.mp4" for i in range(4)], "mos": [1.0, 2, 3, 4],
        "split": "train", "dataset": "ugc", "content_id": ["a", "a", "b", "b"],
    }).to_csv(manifest, index=False)  # fmt: skip
    features = tmp_path / "features" / "ugc"
    features.mkdir(parents=True)
    for encoder, dim in (("efficientnet_lite0", 6), ("motion", 4)):
        frames = np.random.default_rng(0).standard_normal((4, 2, dim)).astype(np.float32)
        write_features(features / f"{encoder}.npz", [f"v{i}" for i in range(4)], frames, encoder, None)
    out = tmp_path / "oof.csv"
    line = error_line(run_cli("oof-errors", "--base", "effnet_motion", "--manifest", str(manifest), "--features-root",
                              str(tmp_path / "features"), "--folds", "3", "--epochs", "1", "--out", str(out)))  # fmt: skip
    assert "ugc.csv" in line and "mds.out_of_fold.folds" in line and "2 <= folds <= 2" in line
    assert not out.exists()
