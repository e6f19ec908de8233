"""``vqaloop select`` for the methods that query the base model f: --model CKPT, --pool MANIFEST, --features-root.

f's inputs come from ``<root>/<dataset>/<encoder>.npz`` for the pool ids in manifest order; every missing or
mismatched input ends in one error line, exit status 2 and no OUT.csv.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import error_line

from vqaloop.features.io import write_features
from vqaloop.models.effnet_head import EffNetMotionHead
from vqaloop.models.registry import Checkpoint
from vqaloop.selection.registry import ModelInputs, SelectionInputs, run_method

torch.set_num_threads(1)

SRC = Path(__file__).resolve().parents[1] / "src"
N_TRAIN, N_POOL, F = 4, 16, 3
DIMS = {"efficientnet_lite0": 4, "motion": 2}  # effnet_motion reads both: D = 6


def vqaloop(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "vqaloop", "select", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """features/tiny/{efficientnet_lite0,motion}.npz (ids in an order unlike the manifest's), a manifest, a
    checkpoint of a tiny effnet_motion model (D = 6) and one expecting D = 7."""
    root = tmp_path_factory.mktemp("select_model")
    rng = np.random.default_rng(0)
    train = [f"t{i}" for i in range(N_TRAIN)]
    pool_ids = [f"p{i:02d}" for i in range(N_POOL)][::-1]  # manifest order: p15 ... p00
    file_ids = sorted(train + pool_ids)
    for encoder, dim in DIMS.items():
        frames = rng.normal(size=(len(file_ids), F, dim)).astype(np.float32)
        indices = np.tile(np.arange(F), (len(file_ids), 1))
        write_features(root / "features" / "tiny" / f"{encoder}.npz", file_ids, frames, encoder, indices)
    rows = [(v, "train", "3.0", f"c{v}") for v in train] + [(v, "pool", "", f"c{v}") for v in pool_ids]
    table = pd.DataFrame(rows, columns=["video_id", "split", "mos", "content_id"])
    table["path"] = table.video_id + ".mp4"
    table["dataset"] = "tiny"
    table.to_csv(root / "manifest.csv", index=False)
    for name, in_dim in (("ckpt.pt", 6), ("ckpt_d7.pt", 7)):
        torch.manual_seed(0)
        model = EffNetMotionHead(in_dim=in_dim, hidden=8, dropout=0.5)
        Checkpoint("effnet_motion", {"in_dim": in_dim, "hidden": 8, "dropout": 0.5}, model.state_dict()).save(
            root / name
        )
    return root, pool_ids


def args_for(root: Path, method: str, out: Path, *extra: str) -> list[str]:
    feats = root / "features" / "tiny" / "efficientnet_lite0.npz"
    return ["--method", method, "--features", str(feats), "--budget", "5", "--seed", "2", "--out", str(out), *extra]


def expected_picks(root: Path, pool_ids: list[str], method: str) -> list[str]:
    """The same selection done in-process on the inputs assembled by hand (pool order, both encoders)."""
    from vqaloop.features.io import load_features

    parts = []
    for encoder in DIMS:
        loaded = load_features(root / "features" / "tiny" / f"{encoder}.npz")
        parts.append(loaded.frames[[loaded.ids.index(v) for v in pool_ids]])
    x = torch.from_numpy(np.concatenate(parts, axis=2))
    torch.manual_seed(0)
    module = EffNetMotionHead(in_dim=6, hidden=8, dropout=0.5).eval()
    inputs = SelectionInputs(ids=pool_ids, model=ModelInputs(module=module, x=x))
    return [pool_ids[i] for i in run_method(method, inputs, 5, 2)]


@pytest.mark.parametrize("method", ["mc_dropout", "noise_stability"])
def test_model_methods_read_f_and_its_inputs_in_pool_order(pool, tmp_path, method):
    root, pool_ids = pool
    out = tmp_path / "sel.csv"
    extra = ["--pool", str(root / "manifest.csv"), "--model", str(root / "ckpt.pt")]
    if method == "noise_stability":  # explicit root; mc_dropout uses the default (grandparent of --features)
        extra += ["--features-root", str(root / "features")]
    proc = vqaloop(*args_for(root, method, out, *extra))
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out, dtype={"video_id": str})
    assert table["rank"].tolist() == [1, 2, 3, 4, 5]
    assert table["video_id"].tolist() == expected_picks(root, pool_ids, method)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pool", "{root}/manifest.csv"], r"'mc_dropout' queries the base model f: give --model CKPT$"),
        (["--model", "{root}/ckpt.pt"], r"'mc_dropout' queries the base model f: give --pool MANIFEST$"),
        ([], r"give --model CKPT and --pool MANIFEST$"),
        (
            ["--pool", "{root}/manifest.csv", "--model", "{root}/ckpt_d7.pt"],
            r"ckpt_d7.pt expects D=7 inputs, features give 6 \(under .*tiny\)$",
        ),
        (
            ["--pool", "{root}/manifest.csv", "--model", "{root}/ckpt.pt", "--features-root", "{root}/nowhere"],
            r"nowhere/tiny/efficientnet_lite0.npz: features file not found$",
        ),
        (["--pool", "{root}/manifest.csv", "--model", "{root}/missing.pt"], r"missing.pt: model checkpoint not found$"),
    ],
)
def test_model_inputs_errors_exit_2_with_one_line_and_no_output(pool, tmp_path, extra, message):
    import re

    root, _ = pool
    out = tmp_path / "sel.csv"
    proc = vqaloop(*args_for(root, "mc_dropout", out, *[e.format(root=root) for e in extra]))
    line = error_line(proc)
    assert re.search(message, line), line
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not out.exists() and not list(tmp_path.iterdir())
