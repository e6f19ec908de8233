"""benchmarks/learning_curves.py (issue 21's learning curves) on a synthetic world whose quality is a direction of
its features: the source sets are nested and hold the source before the pool, and f learns the quality from rows
whose features and labels stay aligned across datasets (a misaligned read would leave its SRCC near 0)."""

from __future__ import annotations

import importlib.util
from argparse import Namespace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_controls import csv, quality_direction, videos, write_dataset

from vqaloop.errors import UserError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curves.py"


def script():
    spec = importlib.util.spec_from_file_location("learning_curves", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def world(root: Path) -> dict:
    rng = np.random.default_rng(0)
    w = quality_direction(rng)
    src, e, m = videos(rng, "src", 10, 5, lambda k: "train" if k < 6 else "test", w)  # 30 train, 20 test
    write_dataset(root, src, e, m)
    csv(root / "manifests/src.csv", src)
    tgt, e, m = videos(rng, "tgt", 6, 5, lambda k: "pool" if k < 4 else "test", w)
    write_dataset(root, tgt, e, m)
    csv(root / "manifests/tgt.csv", tgt.assign(mos=tgt.mos.where(tgt.split == "test")))
    csv(root / "oracle/tgt.csv", tgt[tgt.split == "pool"][["video_id", "dataset", "mos"]])
    pool, e, m = videos(rng, "pool", 8, 5, lambda k: "pool", w)  # 40 unlabelled candidates
    write_dataset(root, pool, e, m)
    csv(root / "manifests/pool.csv", pool.assign(mos=np.nan))
    csv(root / "oracle/pool.csv", pool[["video_id", "dataset", "mos"]])
    train = {"epochs": 30, "lr": 0.01, "batch": 8, "hidden": 16}
    return {"mds": {"source": "src", "targets": ["tgt"], "base": "effnet_motion",
                    "default": {"loss": "ranking", "rank": 4},
                    "training": {"base": train, "g": {"epochs": 5, "lr": 0.002, "batch": 8}}},
            "w2s": {"pool": "pool"}}  # fmt: skip


def test_source_sets_are_nested_and_put_the_source_first():
    lc = script()
    source = pd.DataFrame({"video_id": [f"s{i}" for i in range(6)], "dataset": "src", "mos": np.arange(6.0)})
    extra = pd.DataFrame({"video_id": [f"p{i}" for i in range(9)], "dataset": "pool", "mos": np.arange(9.0)})
    a, b = lc.source_order(source, extra, 0), lc.source_order(source, extra, 1)
    assert set(a.video_id[:6]) == set(source.video_id) and set(a.video_id[6:]) == set(extra.video_id)
    assert list(a.video_id) != list(b.video_id) and list(a.video_id) == list(lc.source_order(source, extra, 0).video_id)
    assert dict(zip(a.video_id, a.mos, strict=True)) == {**dict(zip(source.video_id, source.mos, strict=True)),
                                                          **dict(zip(extra.video_id, extra.mos, strict=True))}  # fmt: skip


def test_curves_learn_from_aligned_rows_of_two_datasets(tmp_path):
    lc = script()
    cfg = world(tmp_path)
    args = Namespace(data_root=tmp_path, sizes=[10, 30, 70, 500], seeds=[0, 1], models=None)
    rows = pd.DataFrame(lc.learning_rows(args, cfg))
    assert sorted(rows["size"].unique()) == [10, 30, 70]  # 500 > 30 source + 40 pool videos: skipped
    assert list(rows.extra_videos.unique()) == [0, 40]
    assert {"g_tgt", "g_mean", "ood_tgt", "in_domain"} <= set(rows.columns)
    largest = rows[rows["size"] == 70]
    assert (largest.in_domain > 0.6).all() and (largest.ood_tgt > 0.6).all(), largest  # source and pool rows aligned
    curve = rows.groupby("size").in_domain.mean()
    assert curve.is_monotonic_increasing and curve[70] - curve[10] > 0.2, curve  # more labelled videos, a better f
    assert rows.g_mean.between(-1, 1).all()
    lc.plot(rows.to_dict("records"), tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_bad_arguments_are_one_line_and_write_nothing(tmp_path, capsys):
    lc = script()
    world(tmp_path / "w")
    (tmp_path / "c.yaml").write_text("mds: {}\n")
    base = ["--config", str(tmp_path / "c.yaml"), "--data-root", str(tmp_path / "w")]
    cases = {
        "--out": [*base, "--out", str(tmp_path / "curves.csv")],  # not .json
        "--data-root": [
            "--config",
            str(tmp_path / "c.yaml"),
            "--data-root",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o.json"),
        ],  # fmt: skip
        "--config": [
            "--config",
            str(tmp_path / "none.yaml"),
            "--data-root",
            str(tmp_path / "w"),
            "--out",
            str(tmp_path / "o.json"),
        ],  # fmt: skip
    }
    for key, argv in cases.items():
        assert lc.main(argv) == 2, key
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and key in err, err
    out = tmp_path / "w" / "manifests" / "x.json"  # inside --data-root
    assert lc.main([*base, "--out", str(out)]) == 2 and "--data-root" in capsys.readouterr().err
    for bad in (["--sizes", "0"], ["--sizes", "-5"], ["--seeds", "nan"]):
        with pytest.raises(SystemExit):
            lc.parse_args([*base, *bad])
    assert not list(tmp_path.glob("*.json")) and not list(tmp_path.glob("*.png"))


def test_an_unknown_model_is_one_line(tmp_path):
    lc = script()
    cfg = world(tmp_path)
    args = Namespace(data_root=tmp_path, sizes=[10], seeds=[0], models=["no_such_model"], config=Path("c.yaml"))
    with pytest.raises(UserError, match="--models: no_such_model not in c.yaml"):
        lc.learning_rows(args, cfg)
