"""Shared fixtures: small real-content clips and helpers to run the CLI and the real Snakefile."""
# ruff: noqa: E402, I001  (the dispatch pin must run before numpy and torch are imported)

from __future__ import annotations

# The tests compute under the same CPU-dispatch pin as every vqaloop command (vqaloop.dispatch), set before numpy
# or torch loads in this process, so a value computed here equals the one a command writes.
import sys

_FIRST_IMPORT = "vqaloop.dispatch" not in sys.modules  # test modules import this file again as `conftest`
from vqaloop.dispatch import LIBRARIES, pin

_LOADED_BEFORE_PIN = [name for name in LIBRARIES if name in sys.modules] if _FIRST_IMPORT else []
pin()

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

assert not _LOADED_BEFORE_PIN, f"{_LOADED_BEFORE_PIN} loaded before the dispatch pin (a pytest plugin?)"
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def pan_clip(image: np.ndarray, n: int = 12, h: int = 72, w: int = 128, step: int = 3) -> np.ndarray:
    """A slow horizontal pan over a real photo: (n, h, w, 3) uint8."""
    image = image[..., :3] if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return np.stack([image[20 : 20 + h, 10 + step * t : 10 + step * t + w] for t in range(n)]).astype(np.uint8)


@pytest.fixture(scope="session")
def photo_clip() -> np.ndarray:
    import skimage.data

    return pan_clip(skimage.data.astronaut())


def run_cli(*args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "vqaloop", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vqaloop {args} failed:\n{proc.stderr}")
    return proc


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The CLI's one error line (the last line of stderr), asserting the contract: exit 2, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("vqaloop: error: "), proc.stderr
    return line


def copy_workflow(dest: Path) -> Path:
    """A copy of the real workflow (Snakefile, rules, config, profiles) in ``dest``."""
    for item in ("Snakefile", "rules", "config", "profiles", "envs", "results/paper"):
        src = REPO / item
        if src.is_dir():
            shutil.copytree(src, dest / item)  # creates parent folders (results/paper)
        else:
            shutil.copy2(src, dest / item)
    return dest


# Snakemake's own default instead of the profile's 10 s (profiles/default): Snakemake waits for its last re-planning
# timer at exit, and the suite's many short runs would each wait up to 10 s
QUICK_EXIT = ("--max-jobs-per-timespan", "1000/1s")


def snakemake(cwd: Path, *args: str, timeout: int = 2400, umask: int | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """The real Snakemake in ``cwd`` (``umask``: the one its process and every job run under; ``env``: variables
    set on top of this process's environment)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "OMP_NUM_THREADS": "1",
           **(env or {})}  # fmt: skip
    return subprocess.run(
        [str(BIN / "snakemake"), *QUICK_EXIT, *args],  # before any "--" that ends the options
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


TINY_UMASK = 0o027  # the shared tiny build runs under a group-readable umask: every output must follow it


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> Path:
    """One complete build of config/tiny.yaml per test session (test_workflow's reference; the Slurm and
    apptainer tests copy it and rerun part of it elsewhere). Copy it (shutil.copytree keeps mtimes) before
    changing anything in it."""
    root = copy_workflow(tmp_path_factory.mktemp("wf_a"))
    proc = snakemake(root, "--cores", "2", "--configfile", "config/tiny.yaml", umask=TINY_UMASK)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def copy_build(build: Path, dest: Path) -> Path:
    """A copy of a built workflow that Snakemake finds up to date (file times and its metadata kept)."""
    shutil.copytree(build, dest, symlinks=True)
    return dest
