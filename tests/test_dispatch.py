"""The CPU-dispatch pin (vqaloop.dispatch): the same bits whatever dispatch the environment asks for.

HOSTILE sets every switch the pin fixes to another choice that any x86-64 CPU with AVX2 can run (scalar torch
kernels, SSE4.1 oneDNN, MKL's default branch, Sandybridge OpenBLAS kernels, numpy without AVX2, two threads):
under the portable pin a computation must not see it; under ``native`` it must (so these tests can fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import BIN, snakemake

from vqaloop.dispatch import ENV_SWITCH, PORTABLE_ENV, dispatch_settings, mode, pin
from vqaloop.errors import UserError
from vqaloop.provenance.compare import compare, load_run

HOSTILE = {
    "ATEN_CPU_CAPABILITY": "default",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "DNNL_MAX_CPU_ISA": "SSE41",
    "MKL_CBWR": "AUTO",
    "OPENBLAS_CORETYPE": "Sandybridge",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "OMP_NUM_THREADS": "2",
    "MKL_NUM_THREADS": "2",
    "OPENBLAS_NUM_THREADS": "2",
}

# One of each kind of kernel the pipeline runs, started as a vqaloop command starts (pin first, then imports);
# prints a digest of all results. `--threads 2` goes through set_compute_threads as every command's does.
PROBE = """
import hashlib
from vqaloop.dispatch import pin, set_compute_threads
pin()
import numpy as np, torch
from scipy.optimize import least_squares
set_compute_threads(2)
g = torch.Generator().manual_seed(0)
x, w = torch.randn(64, 300, generator=g), torch.randn(200, 300, generator=g)
img, k = torch.randn(2, 16, 36, 64, generator=g), torch.randn(32, 16, 3, 3, generator=g)
big = torch.randn(1_000_003, generator=g)
parts = [torch.nn.functional.linear(x, w), torch.log_softmax(x, 1), torch.nn.functional.conv2d(img, k, padding=1),
         big.sum(), torch.nn.functional.gelu(big)]
a = np.random.default_rng(0).standard_normal(100_003).astype(np.float32)
m = np.random.default_rng(1).standard_normal((200, 200))
xs = np.linspace(0, 1, 200); ys = 1 / (1 + np.exp(-(xs - 0.4) * 7))
fit = least_squares(lambda p: p[0] / (1 + np.exp(-(xs - p[1]) * p[2])) - ys, [1.0, 0.5, 1.0]).x
digest = hashlib.sha256()
for part in [p.numpy() for p in parts] + [np.exp(a), np.tanh(a), m @ m, fit]:
    digest.update(np.ascontiguousarray(part).tobytes())
print(digest.hexdigest())
"""


def probe(extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in PORTABLE_ENV and k != ENV_SWITCH}
    env.update(extra_env)
    proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def test_pin_sets_every_switch_and_overrides_the_environment():
    environ = dict(HOSTILE)
    assert pin(environ) == "portable"
    assert {k: environ[k] for k in PORTABLE_ENV} == PORTABLE_ENV
    assert dispatch_settings(environ)["mode"] == "portable"


def test_native_leaves_the_environment_alone():
    environ = {**HOSTILE, ENV_SWITCH: "native"}
    assert pin(environ) == "native"
    assert environ == {**HOSTILE, ENV_SWITCH: "native"}


def test_an_unknown_mode_is_one_line():
    with pytest.raises(UserError, match=r"VQALOOP_DISPATCH='fast': expected one of portable, native"):
        mode({ENV_SWITCH: "fast"})


def test_kernels_give_the_same_bits_under_hostile_settings_when_pinned():
    assert probe(HOSTILE) == probe({})


def test_the_same_hostile_settings_change_the_bits_without_the_pin():
    """The control: the settings above do reach the kernels (so the test before can fail)."""
    assert probe({**HOSTILE, ENV_SWITCH: "native"}) != probe({ENV_SWITCH: "native"})


def test_the_command_line_reports_the_pin_over_a_hostile_environment():
    env = {**os.environ, **HOSTILE, ENV_SWITCH: "portable"}
    out = subprocess.run([str(BIN / "vqaloop"), "dispatch"], env=env, capture_output=True, text=True, check=True)
    shown = dict(line.split("=", 1) for line in out.stdout.strip().splitlines())
    assert shown["MKL_CBWR"] == "COMPATIBLE" and shown["ATEN_CPU_CAPABILITY"] == "avx2"
    assert shown["OMP_NUM_THREADS"] == "1" and shown["mode"] == "portable"


# ---- the workflow: a slice of the tiny configuration rebuilt under the hostile settings ----------------------

# f, g, selection, reveal, fine-tuning and one W2S student (its teachers, pairs, training and scoring); the
# features and the W2S metrics first, so every numeric stage of the slice is recomputed under the settings.
SLICE_RULES = ("features", "w2s_metrics", "train_base", "score_base", "base_features", "train_g", "difficulty",
               "select", "reveal", "finetune", "w2s_teacher", "w2s_anchors", "w2s_pairs", "w2s_student",
               "w2s_scores")  # fmt: skip
SLICE_TARGETS = (
    "work/tiny/mds/effnet_motion/finetune/mds_ranking_r4_base_lam0.25/seed0/eval.csv",
    "work/tiny/w2s/students/w2s_iii/seed0/scores.csv",
)


@pytest.mark.slow
@pytest.mark.workflow
def test_a_slice_rebuilt_under_hostile_dispatch_settings_is_byte_identical(tiny_build, tmp_path):
    root = tmp_path / "wf"
    shutil.copytree(tiny_build, root, symlinks=True)
    records = root / "results/tiny/checksums"
    before = {p: p.stat().st_mtime_ns for p in records.rglob("*.json")}
    proc = snakemake(root, "--cores", "2", "--configfile", "config/tiny.yaml", "--config", "threads=2",
                     "--forcerun", *SLICE_RULES, "--", *SLICE_TARGETS, env=HOSTILE)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rerun = {
        p.relative_to(records).as_posix()[:-5] for p in records.rglob("*.json") if p.stat().st_mtime_ns != before[p]
    }
    assert {
        "mds/effnet_motion/train_base",
        "features/ugc",
        "w2s/student_w2s_iii",
    } <= rerun  # the slice really ran again (job names: log paths)
    assert "mds/effnet_motion/finetune_mds_ranking_r4_base_lam0.25" in rerun
    result = compare(load_run(tiny_build / "results/tiny/checksums"), load_run(records))
    assert result.differing == {}, result.differing


FEATURES_PROBE = """
import hashlib, numpy as np, torch
from vqaloop.features.efficientnet import EfficientNetLite0
from vqaloop.features.onednn import OneDnnConv2d, OneDnnConv2dSame
torch.set_num_threads(1)
encoder = EfficientNetLite0()
convs = [m for m in encoder.model.modules() if isinstance(m, torch.nn.Conv2d)]
assert convs and all(isinstance(m, (OneDnnConv2d, OneDnnConv2dSame)) for m in convs), "a convolution left on BLAS"
frames = np.random.default_rng(0).integers(0, 256, (8, 72, 128, 3), dtype=np.uint8)
print(hashlib.sha256(encoder.encode(frames).tobytes()).hexdigest())
"""


def test_efficientnet_features_are_the_same_under_every_isa_limit_even_unpinned():
    """Every convolution through oneDNN (vqaloop.features.onednn): its inference convolutions sum in the same order
    whatever kernels the ISA limit selects, so the features agree unpinned under AVX2, AVX-512 and under the pin
    (the BLAS path the 1x1 convolutions took before differed under MKL's branches)."""
    native = {ENV_SWITCH: "native", "OMP_NUM_THREADS": "1"}

    def run(extra):
        env = {k: v for k, v in os.environ.items() if k not in PORTABLE_ENV and k != ENV_SWITCH}
        env.update(extra)
        out = subprocess.run(
            [sys.executable, "-c", FEATURES_PROBE], env=env, capture_output=True, text=True, check=True
        )
        return out.stdout.strip().splitlines()[-1]

    pinned = run({})
    assert run({**native, "ONEDNN_MAX_CPU_ISA": "AVX2"}) == pinned
    assert run({**native, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}) == pinned
    assert run({**native, "MKL_CBWR": "AUTO", "ATEN_CPU_CAPABILITY": "default"}) == pinned
