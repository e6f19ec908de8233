"""Two gloo processes (``accelerate launch --multi_gpu --num_processes 2`` without CUDA) train f to the one-process
result with the same global batch (training/distributed.py), dropout included.

Tolerance: float rounding only. The two runs do the same arithmetic on the same rows grouped differently (two
half-batch forward passes, gradients summed across processes): measured, every weight agrees to ~3e-8 after 20
AdamW steps; we require 1e-6. One exception, by design of the loss: the fidelity ranking loss (MDS-VQA Eqs. 3-5)
sees only score DIFFERENCES, so the output bias ``head.bias`` has a zero gradient in exact arithmetic; AdamW
divides its rounding noise by its own tiny RMS and moves it by up to ~lr per step, in one process as in two. So
the output bias is compared only through the predictions, up to a constant shift (which the logistic mapping to
MOS absorbs). The check can fail: one process with HALF the batch (what two processes without the gather and
the shared dropout masks would amount to) lands orders of magnitude farther away.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import BIN

from vqaloop.features.io import write_features
from vqaloop.models.inputs import load_inputs
from vqaloop.models.registry import load_checkpoint

N, FRAMES, TOLERANCE = 45, 4, 1e-6
SHIFT_FREE = "head.bias"  # the ranking loss does not constrain the output bias (module docstring)


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    """A source training set of 45 videos whose MOS follows their features (effnet_motion's two encoders)."""
    root = tmp_path_factory.mktemp("mp")
    rng = np.random.default_rng(0)
    ids = [f"v{i:02d}" for i in range(N)]
    effnet, motion = rng.normal(size=(N, FRAMES, 12)), rng.normal(size=(N, FRAMES, 3))
    mos = 3 + np.tanh(effnet[:, :, :3].mean(axis=(1, 2)) + motion[:, :, 0].mean(axis=1))
    for name, frames in (("efficientnet_lite0", effnet), ("motion", motion)):
        write_features(root / f"features/src/{name}.npz", ids, frames, name, np.tile(np.arange(FRAMES), (N, 1)))
    pd.DataFrame({"video_id": ids, "path": [f"{i}.mp4" for i in ids], "mos": mos, "split": "train",
                  "dataset": "src", "content_id": ids}).to_csv(root / "src.csv", index=False)  # fmt: skip
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_base(root, out: str, batch: int, processes: int = 1) -> dict:
    args = ["train-base", "--base", "effnet_motion", "--manifest", str(root / "src.csv"), "--features-root",
            str(root / "features"), "--hidden", "16", "--epochs", "4", "--lr", "0.01", "--batch", str(batch),
            "--seed", "0", "--out", str(root / out)]  # fmt: skip
    if processes == 1:
        command = [sys.executable, "-m", "vqaloop", *args]
    else:
        # accelerate's torchrun launcher; without CUDA the processes use gloo (its --cpu flag would start ONE process)
        command = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines",
                   "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
                   "-m", "vqaloop", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in range(processes if processes > 1 else 0):
        assert f"data-parallel training: process {rank} of {processes} on cpu" in proc.stderr, proc.stderr[-3000:]
    return load_checkpoint(root / out).state_dict


def farthest(a: dict, b: dict) -> float:
    """Largest weight difference, the output bias left out (module docstring)."""
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if k != SHIFT_FREE)


def predictions(root, name: str) -> torch.Tensor:
    x = load_inputs([root / "features/src/efficientnet_lite0.npz", root / "features/src/motion.npz"],
                    [f"v{i:02d}" for i in range(N)])  # fmt: skip
    with torch.no_grad():
        return load_checkpoint(root / name).build()(x).double()


def test_two_gloo_processes_train_f_like_one_process_with_the_same_batch(fixture):
    one = train_base(fixture, "one.pt", batch=9)
    two = train_base(fixture, "two.pt", batch=9, processes=2)  # shards of 5 and 4 rows
    half = train_base(fixture, "half.pt", batch=5)
    gap, control = farthest(one, two), farthest(one, half)
    shift = predictions(fixture, "two.pt") - predictions(fixture, "one.pt")
    print(f"max |w| difference: two processes {gap:.2e}, half batch {control:.2e}; predictions up to a shift:"
          f" {float((shift - shift.mean()).abs().max()):.2e} (shift {float(shift.mean()):+.2e})")  # fmt: skip
    assert gap < TOLERANCE
    assert control > 1e-3
    assert float((shift - shift.mean()).abs().max()) < 10 * TOLERANCE
