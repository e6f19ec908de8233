"""W2S command lines on small hand-made inputs: `vqaloop score` end to end and its bad inputs (one line, exit 2,
nothing written)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import error_line, run_cli

from vqaloop.features.io import write_features
from vqaloop.w2s.students import PairTransformer, StudentCheckpoint

IDS = [f"v{i}" for i in range(8)]


@pytest.fixture()
def setup(tmp_path):
    rng = np.random.default_rng(0)
    write_features(tmp_path / "feat/ds/efficientnet_lite0.npz", IDS, rng.normal(size=(8, 3, 8)).astype("float32"),
                   "efficientnet_lite0", None)  # fmt: skip
    write_features(tmp_path / "feat/ds/motion.npz", IDS, rng.normal(size=(8, 3, 4)).astype("float32"), "motion", None)
    pd.DataFrame({"video_id": IDS, "path": [f"{v}.mp4" for v in IDS], "mos": np.linspace(1, 5, 8), "split": "test",
                  "dataset": "ds", "content_id": IDS}).to_csv(tmp_path / "ds.csv", index=False)  # fmt: skip
    torch.manual_seed(0)
    kwargs = {"in_dim": 12, "spatial_dim": 8, "hidden": 16, "layers": 1, "heads": 2}
    StudentCheckpoint("pair_transformer", kwargs, PairTransformer(**kwargs).state_dict(),
                      ("efficientnet_lite0", "motion")).save(tmp_path / "student.pt")  # fmt: skip
    anchors = pd.DataFrame({"video_id": ["v0", "v3", "v7"], "dataset": "ds", "path": "x.mp4", "mos": [1.0, 3.0, 5.0]})
    anchors.to_csv(tmp_path / "anchors.csv", index=False)
    return tmp_path


def score(root, *extra):
    return run_cli("score", "--model", str(root / "student.pt"), "--anchors", str(root / "anchors.csv"),
                   "--manifest", str(root / "ds.csv"), "--features-root", str(root / "feat"), *extra)  # fmt: skip


def test_score_writes_one_score_per_video_and_each_matrix(setup):
    proc = score(setup, "--out", str(setup / "s.csv"), "--matrix-out", str(setup / "m.csv"))
    assert proc.returncode == 0, proc.stderr
    scores = pd.read_csv(setup / "s.csv")
    assert list(scores.video_id) == IDS and np.isfinite(scores.score).all()
    matrices = pd.read_csv(setup / "m.csv")
    assert len(matrices) == 8 * 4 * 4  # (3 anchors + the test video)^2 per video
    one = matrices[matrices.video_id == "v1"].pivot(index="row", columns="column", values="p")
    assert np.allclose(one.to_numpy() + one.to_numpy().T, 1.0)
    again = score(setup)  # stdout, same numbers
    assert again.returncode == 0 and again.stdout.splitlines()[1:] == (setup / "s.csv").read_text().splitlines()[1:]


def test_score_bad_inputs_are_one_line(setup):
    pd.read_csv(setup / "anchors.csv").head(1).to_csv(setup / "one.csv", index=False)
    line = error_line(run_cli("score", "--model", str(setup / "student.pt"), "--anchors", str(setup / "one.csv"),
                              "--manifest", str(setup / "ds.csv"), "--features-root", str(setup / "feat")))  # fmt: skip
    assert "at least 2 anchors" in line
    bad = pd.read_csv(setup / "anchors.csv")
    bad.loc[1, "mos"] = None
    bad.to_csv(setup / "anchors.csv", index=False)
    assert "has no MOS" in error_line(score(setup))
    bad.loc[1, "mos"] = 3.0
    bad.loc[2, "video_id"] = "nope"
    bad.to_csv(setup / "anchors.csv", index=False)
    assert "nope" in error_line(score(setup, "--out", str(setup / "s.csv")))
    assert not (setup / "s.csv").exists()
    torch.save({"name": "effnet_motion", "kwargs": {}, "state_dict": {}}, setup / "student.pt")
    assert "not a W2S student checkpoint" in error_line(score(setup))


W2S_COMMANDS = {
    "w2s-anchors": ["--source-manifest", "{f}", "--teachers", "{f}", "--out", "{o}"],
    "w2s-pairs": ["--kind", "synthetic", "--count", "5", "--ladder", "{f}", "--out", "{o}"],
    "w2s-train": ["--pairs", "{f}", "--manifests", "{f}", "--features-root", "{d}", "--out", "{o}"],
    "w2s-evaluate": [
        "--model",
        "{f}",
        "--anchors",
        "{f}",
        "--sets",
        "{f}",
        "--features-root",
        "{d}",
        "--scores-out",
        "{o}.s",
        "--out",
        "{o}",
    ],  # fmt: skip
    "w2s-teacher": [
        "--teacher",
        "brisque",
        "--kind",
        "classical",
        "--source",
        "x",
        "--sets",
        "{f}",
        "--data-root",
        "{d}",
        "--out",
        "{o}",
    ],  # fmt: skip
    "w2s-figure": ["--table5", "{f}", "--out", "{o}"],
    "score": ["--model", "{f}", "--anchors", "{f}", "{f}"],
    "w2s-mine": [
        "--student",
        "{f}",
        "--stage",
        "2",
        "--teachers",
        "{f}",
        "--pool",
        "{f}",
        "--shaped",
        "{f}",
        "--ladder",
        "{f}",
        "--source-manifest",
        "{f}",
        "--anchors",
        "{f}",
        "--features-root",
        "{d}",
        "--gmad-count",
        "3",
        "--synthetic-count",
        "3",
        "--stage-sizes",
        "1",
        "1",
        "1",
        "--out",
        "{o}",
    ],  # fmt: skip
    "w2s-table": [
        "--spec",
        '{{"table": "w2s_table5", "rows": [], "columns": [], "seeds": [0], "run": "t", "config_hash": "x"}}',
        "--work",
        "{d}",
        "--manifests",
        "{f}",
        "--out",
        "{o}",
    ],  # fmt: skip
}


@pytest.mark.parametrize("kind", ["empty", "binary"])
@pytest.mark.parametrize("command", sorted(W2S_COMMANDS))
def test_w2s_commands_answer_bad_files_in_one_line(tmp_path, command, kind):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"" if kind == "empty" else bytes(range(256)) * 20)
    out = tmp_path / "out.csv"
    args = [a.format(f=bad, o=out, d=tmp_path) for a in W2S_COMMANDS[command]]
    error_line(run_cli(command, *args))
    assert not out.exists()
