"""Positive controls (issue 21): the planted effect is found by the real commands and the claim machinery, and the
negative twin (the effect removed) is not.

The unit-level controls build a small synthetic world (content families in the features, a quality direction, the
tiny configuration's model sizes) and run the same commands as rules/controls.smk, in this process (``vqaloop.cli.main``):
train-base / predict (f), control-mds, select, reveal, finetune, evaluate, predict, control-table, claims; and
control-w2s, w2s-teacher, w2s-pairs, w2s-train, w2s-evaluate, control-table, claims. Each asserts the planted control's
verdicts and that its twin says no agree: the test fails when the planted effect is removed (the twin is that removal).
The functions that plant the effects are checked against their definitions first (fast).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import error_line, run_cli  # noqa: E402

from vqaloop.controls import mds as cmds  # noqa: E402
from vqaloop.controls import w2s as cw2s  # noqa: E402
from vqaloop.controls.paths import ControlPaths  # noqa: E402

D_EFF, D_MOT, FRAMES = 24, 4, 2


# ------------------------------------------------------------------------------------------------ synthetic worlds


def csv(path: Path, df: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    return path


def videos(rng, dataset: str, contents: int, versions: int, split_of, w: np.ndarray, families: int = 5):
    """Manifest rows and features: content = its family's centre + its own offset, quality q along ``w``."""
    from vqaloop.features.io import write_features  # noqa: F401 (the caller writes)

    rows, eff, mot = [], [], []
    centres = rng.normal(0, 3.0, (families, D_EFF))
    for k in range(contents):
        centre = centres[k % families] + rng.normal(0, 1.0, D_EFF)
        for v in range(versions):
            q = rng.uniform(2, 4)
            vid = f"{dataset}__c{k:02d}__v{v:02d}"
            eff.append(centre + (q - 3) * w + rng.normal(0, 0.1, (FRAMES, D_EFF)))
            mot.append(rng.normal(0, 0.1, (FRAMES, D_MOT)) + (q - 3) * 0.1)
            rows.append({"video_id": vid, "path": f"{dataset}/{vid}.mp4", "mos": q, "split": split_of(k),
                         "dataset": dataset, "content_id": f"{dataset}_c{k:02d}"})  # fmt: skip
    return pd.DataFrame(rows), np.stack(eff).astype(np.float32), np.stack(mot).astype(np.float32)


def write_dataset(root: Path, df: pd.DataFrame, eff: np.ndarray, mot: np.ndarray) -> None:
    from vqaloop.features.io import write_features

    ds = df.dataset.iloc[0]
    for enc, arr in (("efficientnet_lite0", eff), ("motion", mot)):
        write_features(root / "features" / ds / f"{enc}.npz", list(df.video_id), arr, enc,
                       np.zeros(arr.shape[:2], np.int64))  # fmt: skip


def quality_direction(rng) -> np.ndarray:
    w = rng.normal(0, 1, D_EFF)
    return w / np.linalg.norm(w)


def mds_world(root: Path, seed: int = 0) -> Path:
    """A labelled source (src) and a target (tgt: 20 pool and 10 test contents of 8 versions)."""
    rng = np.random.default_rng(seed)
    w = quality_direction(rng)
    src, e, m = videos(rng, "src", 12, 6, lambda k: "train" if k < 10 else "test", w)
    write_dataset(root, src, e, m)
    csv(root / "manifests/src.csv", src)
    tgt, e, m = videos(rng, "tgt", 30, 8, lambda k: "pool" if k < 20 else "test", w)
    write_dataset(root, tgt, e, m)
    csv(root / "manifests/tgt.csv", tgt.assign(mos=tgt.mos.where(tgt.split == "test")))
    return root


def w2s_world(root: Path, seed: int = 0) -> Path:
    """A labelled source (src), an unlabelled pool (300 videos, hidden MOS in its oracle), a test set (tst)."""
    rng = np.random.default_rng(seed)
    w = quality_direction(rng)
    src, e, m = videos(rng, "src", 10, 6, lambda k: "train" if k < 7 else "test", w)
    write_dataset(root, src, e, m)
    csv(root / "manifests/src.csv", src)
    pool, e, m = videos(rng, "pool", 30, 10, lambda k: "pool", w)
    write_dataset(root, pool, e, m)
    csv(root / "oracle/pool.csv", pool[["video_id", "dataset", "mos"]])
    csv(root / "manifests/pool.csv", pool.assign(mos=np.nan))
    csv(root / "shaped.csv", pool[["video_id"]])
    tst, e, m = videos(rng, "tst", 8, 8, lambda k: "test", w)
    write_dataset(root, tst, e, m)
    csv(root / "manifests/tst.csv", tst)
    train = src[src.split == "train"].sort_values("mos")
    csv(root / "anchors.csv", train.iloc[[0, len(train) // 2, len(train) - 1]][["video_id", "dataset", "path", "mos"]])
    return root


def run(*argv) -> None:
    """One vqaloop command in this process (its output folders made first, as Snakemake makes them)."""
    from vqaloop.cli import main

    args = [str(a) for a in argv]
    for a in args:
        if "/work/" in a or "/tables/" in a:
            Path(a).parent.mkdir(parents=True, exist_ok=True)
    assert main(args) == 0, args


def verdicts(claims: Path) -> dict[str, str]:
    table = pd.read_csv(claims)
    return dict(zip(table.claim, table.verdict, strict=True))


# ------------------------------------------------------------------------------------------------ definitions


def test_planted_failure_reverses_f_on_a_content_cluster_in_both_splits():
    rng = np.random.default_rng(3)
    manifest = pd.DataFrame({"video_id": [f"v{i}" for i in range(100)], "content_id": [f"c{i // 5}" for i in range(100)],
                             "split": ["pool"] * 75 + ["test"] * 25})  # fmt: skip
    centres = rng.normal(size=(20, 8))
    pooled = centres[np.arange(100) // 5] + rng.normal(0, 0.05, (100, 8))
    f = rng.uniform(1, 5, 100)
    planted = cmds.plant(manifest, f, pooled, share=0.2, noise=0.0, seed=1)
    members = planted.planted.to_numpy() == 1
    # whole contents, round(0.2 * contents) of each split: 3 of 15 pool contents, 1 of 5 test contents
    by_content = planted.groupby("content_id").planted.agg(["min", "max"])
    assert (by_content["min"] == by_content["max"]).all()
    assert planted[members].groupby("split").content_id.nunique().to_dict() == {"pool": 3, "test": 1}
    # outside the cluster the oracle is f; inside, f reflected about the cluster's mean (order reversed)
    assert np.allclose(planted.truth[~members], f[~members])
    assert np.allclose(planted.truth[members], 2 * f[members].mean() - f[members])
    assert stats.spearmanr(planted.f[members], planted.truth[members])[0] == pytest.approx(-1)
    # the cluster is a half-space along the principal axis: its contents project beyond every other content of the
    # same split
    emb = cmds.content_embeddings(manifest.content_id, pooled)
    axis = cmds.principal_axis(emb.to_numpy())
    proj = pd.Series((emb.to_numpy() - emb.to_numpy().mean(0)) @ axis, index=emb.index)
    split_of = manifest.groupby("content_id").split.first()
    for split in ("pool", "test"):
        inside = set(planted[members & (planted.split == split)].content_id)
        outside = set(split_of[split_of == split].index) - inside
        assert proj[list(inside)].min() > proj[list(outside)].max()


def test_twin_deals_the_same_errors_to_random_videos():
    rng = np.random.default_rng(4)
    manifest = pd.DataFrame({"video_id": [f"v{i}" for i in range(200)], "content_id": [f"c{i // 10}" for i in range(200)],
                             "split": ["pool"] * 150 + ["test"] * 50})  # fmt: skip
    pooled = rng.normal(size=(20, 6))[np.arange(200) // 10]
    f = rng.uniform(1, 5, 200)
    planted = cmds.plant(manifest, f, pooled, share=0.3, noise=0.0, seed=2)
    twin = cmds.plant(manifest, f, pooled, share=0.3, noise=0.0, seed=2, twin=True)
    for split in ("pool", "test"):
        a = np.sort(planted.planted_error[planted.split == split].to_numpy())
        b = np.sort(twin.planted_error[twin.split == split].to_numpy())
        assert np.allclose(a, b)  # the same errors in each split
    # ... on random videos: no longer whole contents
    by_content = twin.groupby("content_id").planted.agg(["min", "max"])
    assert (by_content["min"] != by_content["max"]).any()
    # g knows the planted errors up to its noise, and nothing in the twin
    g = cmds.difficulty(planted, g_noise=0.0, seed=0, twin=False)
    assert np.allclose(g.difficulty, planted.planted_error[planted.split == "pool"].abs())
    assert np.allclose(cmds.difficulty(twin, g_noise=0.0, seed=0, twin=True).difficulty, 0.0)
    noisy = cmds.difficulty(twin, g_noise=0.5, seed=0, twin=True).difficulty
    assert 0.4 < noisy.std() < 0.6


def test_noisy_oracle_teachers_have_the_known_correlation(tmp_path):
    rng = np.random.default_rng(5)
    rows = pd.DataFrame({"video_id": [f"v{i}" for i in range(20000)], "dataset": ["a", "b"] * 10000,
                         "mos": np.r_[rng.uniform(1, 5, 10000), rng.uniform(4, 4.5, 10000)][np.argsort(
                             np.r_[np.arange(0, 20000, 2), np.arange(1, 20000, 2)])]})  # fmt: skip
    tables = cw2s.teacher_scores(rows, 3, noise=1.3, seed=0)
    expected = 1 / np.sqrt(1 + 1.3**2)  # whatever the set's spread
    for table in tables:
        for dataset in ("a", "b"):
            sel = (rows.dataset == dataset).to_numpy()
            assert np.corrcoef(table.score[sel], rows.mos[sel])[0, 1] == pytest.approx(expected, abs=0.02)
    assert np.corrcoef(tables[0].score, tables[1].score)[0, 1] < 0.9  # independent noise
    mean = cw2s.mean_scores(tables)
    assert np.allclose(mean.score, (tables[0].score + tables[1].score + tables[2].score) / 3, atol=1e-5)
    # the twin: one systematic error per video, the same for every teacher
    systematic = rng.normal(size=len(rows))
    twin = cw2s.teacher_scores(rows, 3, noise=1.3, seed=0, systematic=systematic)
    assert np.allclose(twin[0].score, twin[2].score)


def test_control_w2s_writes_one_file_per_teacher_and_refuses_a_twin_without_features(tmp_path):
    root = w2s_world(tmp_path / "w")
    m = lambda d: str(root / f"manifests/{d}.csv")  # noqa: E731
    common = ["--sets", m("src"), m("tst"), "--pool", m("pool"), "--shaped", str(root / "shaped.csv"),
              "--oracle", str(root / "oracle/pool.csv")]  # fmt: skip
    out = [str(tmp_path / f"t{k}.csv") for k in range(2)]
    run_cli("control-w2s", *common, "--noise", "1", "--seed", "3", "--out", *out, "--mean-out", str(tmp_path / "m.csv"),
            check=True)  # fmt: skip
    a, b, mean = (pd.read_csv(p) for p in (*out, tmp_path / "m.csv"))
    assert len(a) == len(b) == 60 + 64 + 300 and not np.allclose(a.score, b.score)
    assert np.allclose(mean.score, (a.score + b.score) / 2, atol=1e-5)
    line = error_line(run_cli("control-w2s", *common, "--twin", "--out", str(tmp_path / "x.csv")))
    assert "--features-root" in line


# ------------------------------------------------------------------------------------------------ unit-level controls


def mds_control(root: Path, kinds=("planted", "twin"), seeds=(0, 1, 2)) -> dict[str, str]:
    """rules/controls.smk's MDS-VQA commands on the synthetic world; the controls' verdicts."""
    man, feats = root / "manifests", root / "features"
    run("train-base", "--base", "effnet_motion", "--manifest", man / "src.csv", "--features-root", feats, "--hidden", 32,
        "--epochs", 30, "--lr", 0.003, "--batch", 8, "--seed", 1, "--out", root / "work/f.pt")  # fmt: skip
    run("predict", "--model", root / "work/f.pt", "--manifest", man / "tgt.csv", "--features-root", feats,
        "--out", root / "work/f_tgt.csv")  # fmt: skip
    c, diversity = ControlPaths(str(root / "work")), feats / "tgt/efficientnet_lite0.npz"
    tables = []
    for kind in kinds:
        run("control-mds", "--manifest", man / "tgt.csv", "--predictions", root / "work/f_tgt.csv", "--features",
            diversity, *(["--twin"] if kind == "twin" else []), "--seed", 5, "--seeds", *seeds, "--difficulty",
            *[c.mds_difficulty(kind, s) for s in seeds], "--out-manifest", c.mds_manifest(kind, "tgt"),
            "--out-oracle", c.mds_oracle(kind, "tgt"), "--out", c.mds_planted(kind))  # fmt: skip
        for s in seeds:
            for method, args in (("mds", ["--method", "mds", "--lambda", 0.25, "--difficulty", c.mds_difficulty(kind, s)]),
                                 ("lambda_0", ["--method", "mds", "--lambda", 0, "--difficulty", c.mds_difficulty(kind, s)]),
                                 ("random", ["--method", "random"])):  # fmt: skip
                run("select", *args, "--features", diversity, "--pool", man / "tgt.csv", "--budget", 16, "--seed", s,
                    "--out", c.mds_selection(kind, method, s))  # fmt: skip
                run("reveal", "--selection", c.mds_selection(kind, method, s), "--oracle", c.mds_oracle(kind, "tgt"),
                    "--dataset", "tgt", "--out", c.mds_labels(kind, method, s))  # fmt: skip
            for method in ("mds", "random"):
                model = c.mds_model(kind, method, s)
                run("finetune", "--base-model", root / "work/f.pt", "--source-manifest", man / "src.csv", "--labels",
                    c.mds_labels(kind, method, s), "--features-root", feats, "--rank", 8, "--epochs", 30, "--lr",
                    0.001, "--batch", 8, "--seed", s, "--out", model)  # fmt: skip
                run("evaluate", "--model", model, "--manifests", c.mds_manifest(kind, "tgt"), "--features-root", feats,
                    "--out", c.mds_eval(kind, method, s))  # fmt: skip
                run("predict", "--model", model, "--manifest", c.mds_manifest(kind, "tgt"), "--split", "test",
                    "--features-root", feats, "--out", c.mds_predictions(kind, method, s))  # fmt: skip
        table = "control_mds" if kind == "planted" else "control_mds_twin"
        spec = {"kind": "mds", "control": kind, "table": table, "seeds": list(seeds), "run": "unit", "config_hash": "x",
                "features": str(diversity)}  # fmt: skip
        run("control-table", "--spec", json.dumps(spec), "--work", root / "work", "--out", root / f"tables/{table}.csv")
        tables.append(table)
    run("claims", "--tables-dir", root / "tables", "--papers", "--controls", *tables, "--out", root / "claims.csv")
    return verdicts(root / "claims.csv")


@pytest.mark.slow
def test_mds_control_agrees_and_its_twin_does_not(tmp_path):
    found = mds_control(mds_world(tmp_path))
    planted = {k: v for k, v in found.items() if k.startswith("control_mds_") and "_twin_" not in k}
    twin = {k: v for k, v in found.items() if k.startswith("control_mds_twin_")}
    assert planted == {"control_mds_failure_identification": "agree", "control_mds_repair": "agree",
                       "control_mds_redundancy": "agree"}, found  # fmt: skip
    assert len(twin) == 3 and "agree" not in twin.values(), found
    claims = pd.read_csv(tmp_path / "claims.csv").set_index("claim")
    assert (claims.loc[list(planted), "control"] == "planted: expected agree").all()
    assert claims.detail.str.startswith("expectation met").all(), claims.detail.tolist()
    # what was planted shows in the table: MDS-VQA's picks are mostly planted videos, random's are not
    seeds = pd.read_csv(tmp_path / "tables/control_mds_seeds.csv")
    share = seeds[seeds.column == "planted_share"].groupby("row").value.mean()
    assert share["lambda_0"] == 1.0 and share["mds"] > 0.5 > share["random"]


def w2s_control(root: Path, kinds=("planted", "twin"), seeds=(0, 1, 2), teachers: int = 3) -> dict[str, str]:
    """rules/controls.smk's W2S-VQA commands (the ensemble's student) on the synthetic world; the verdicts."""
    m = lambda d: root / f"manifests/{d}.csv"  # noqa: E731
    c = ControlPaths(str(root / "work"))
    common = ["--sets", m("src"), m("tst"), "--pool", m("pool"), "--shaped", root / "shaped.csv", "--oracle",
              root / "oracle/pool.csv"]  # fmt: skip
    run("control-w2s", *common, "--heldout", c.w2s_heldout(), "--stage-sizes", 150, 100, 50, "--split-seed", 3)
    names = [*range(1, teachers + 1), "mean"]
    tables = []
    for kind in kinds:
        for s in seeds:
            twin = ["--twin", "--features-root", root / "features"] if kind == "twin" else []
            run("control-w2s", *common, "--noise", 1.3, *twin, "--seed", s, "--out",
                *[c.w2s_raw(kind, s, t) for t in names[:-1]], "--mean-out", c.w2s_raw(kind, s, "mean"))  # fmt: skip
            for t in names:
                run("w2s-teacher", "--teacher", f"control_{t}", "--kind", "scores", "--scores", c.w2s_raw(kind, s, t),
                    "--source", "src", "--sets", m("src"), m("pool"), m("tst"), "--pool-ids", root / "shaped.csv",
                    "--out", c.w2s_teacher(kind, s, t))  # fmt: skip
            for student, labellers in (("student", [c.w2s_teacher(kind, s, t) for t in names[:-1]]),
                                       ("student_mean", [c.w2s_teacher(kind, s, "mean"), "--single-sigma", 0.25])):  # fmt: skip
                run("w2s-pairs", "--kind", "homogeneous", "--count", 1500, "--teachers", *labellers, "--pool", m("pool"),
                    "--shaped", root / "shaped.csv", "--stage", 1, "--stage-sizes", 150, 100, 50, "--split-seed", 3,
                    "--seed", s, "--out", c.w2s_pairs(kind, student, s))  # fmt: skip
                run("w2s-train", "--pairs", c.w2s_pairs(kind, student, s), "--manifests", m("pool"), "--features-root",
                    root / "features", "--loss", "ce", "--batch", 32, "--student", "pair_transformer", "--hidden", 32,
                    "--layers", 1, "--heads", 2, "--epochs", 20, "--lr", 0.001, "--seed", s, "--out",
                    c.w2s_student(kind, student, s))  # fmt: skip
                run("w2s-evaluate", "--model", c.w2s_student(kind, student, s), "--anchors", root / "anchors.csv",
                    "--sets", m("src"), m("tst"), c.w2s_heldout(), "--features-root", root / "features",
                    "--scores-out", c.w2s_scores(kind, student, s), "--out", c.w2s_eval(kind, student, s))  # fmt: skip
        table = "control_w2s" if kind == "planted" else "control_w2s_twin"
        columns = [{"dataset": "src", "key": "src", "block": "in_domain"},
                   {"dataset": None, "key": "overall_in_domain", "block": "in_domain"},
                   {"dataset": "tst", "key": "tst", "block": "ood"}, {"dataset": None, "key": "overall_ood", "block": "ood"}]  # fmt: skip
        spec = {"kind": "w2s", "control": kind, "table": table, "seeds": list(seeds), "run": "unit", "config_hash": "x",
                "columns": columns, "pool": "pool", "teachers": teachers, "ceiling": False}  # fmt: skip
        run("control-table", "--spec", json.dumps(spec), "--work", root / "work", "--manifests", m("src"), m("tst"),
            c.w2s_heldout(), "--out", root / f"tables/{table}.csv")  # fmt: skip
        tables.append(table)
    run("claims", "--tables-dir", root / "tables", "--papers", "--controls", *tables, "--out", root / "claims.csv")
    return verdicts(root / "claims.csv")


@pytest.mark.slow
def test_w2s_control_student_exceeds_noisy_teachers_and_its_twin_does_not(tmp_path):
    found = w2s_control(w2s_world(tmp_path))
    # Three seeds of this small world do not always decide it: the students beat the best teacher by about 0.07 SRCC
    # with a seed-to-seed sd near 0.09 (measured over 5 seeds, with this student and with torch's encoder layer
    # before it), so the verdict may stay inconclusive; it may never go against the students. The effect itself is
    # asserted on the table below (each student's mean over the seeds above every teacher's).
    assert found["control_w2s_student_heldout"] in ("agree", "inconclusive"), found
    assert found["control_w2s_student_mean_heldout"] in ("agree", "inconclusive"), found
    twin = {k: v for k, v in found.items() if k.startswith("control_w2s_twin_")}
    assert len(twin) == 4 and "agree" not in twin.values(), found
    long = pd.read_csv(tmp_path / "tables/control_w2s.csv")
    cell = long[(long.metric == "srcc") & (long.column == "heldout")].set_index("row").value
    teachers = cell[[r for r in cell.index if r.startswith("teacher_")]]
    assert 0.45 < teachers.min() and teachers.max() < 0.8  # the noisy oracles' known size (Pearson 0.61)
    assert cell["ensemble"] > teachers.max()  # the mean of independent teachers beats each
    assert cell["student_mean"] > teachers.max() and cell["student"] > teachers.max()  # both students, on average
