"""Atomic outputs: the modes a plain open() would give under the umask, and no temporaries left behind."""

from __future__ import annotations

import contextlib
import os
import stat

import numpy as np
import pandas as pd
import pytest

from vqaloop.io.atomic import (
    atomic_dir,
    atomic_path,
    remove_stale_temporaries,
    write_bytes_atomic,
    write_csv_atomic,
    write_text_atomic,
)


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def plain_modes(tmp_path, mask: int) -> tuple[int, int]:
    """What open() and mkdir() give under ``mask`` (computed by doing it, not from the formula)."""
    with umask(mask):
        (tmp_path / "plain.txt").write_text("x")
        (tmp_path / "plain_dir").mkdir()
    return mode(tmp_path / "plain.txt"), mode(tmp_path / "plain_dir")


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_every_kind_of_output_gets_the_umask_mode(tmp_path, mask):
    import torch

    from vqaloop.features.io import write_features
    from vqaloop.io.video import encode
    from vqaloop.models.registry import Checkpoint

    file_mode, dir_mode = plain_modes(tmp_path, mask)
    assert file_mode == 0o666 & ~mask and dir_mode == 0o777 & ~mask
    out = tmp_path / "out"
    frames = np.random.default_rng(0).integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    with umask(mask):
        write_csv_atomic(pd.DataFrame({"a": [1]}), out / "table.csv")
        write_text_atomic(out / "note.txt", "x")
        write_bytes_atomic(out / "blob.bin", b"x")
        write_features(out / "feats.npz", ["a"], np.zeros((1, 2, 3), np.float32), "test", None)
        Checkpoint("effnet_motion", {"in_dim": 3, "hidden": 2}, {"w": torch.zeros(2)}).save(out / "model.pt")
        encode(frames, out / "clip.mp4", fps=5)
        with atomic_path(out / "figure.png") as tmp:
            tmp.write_bytes(b"\x89PNG")
        with atomic_dir(out / "shard0", "labels.csv") as tmp:  # a render shard: a folder of files and folders
            (tmp / "videos").mkdir()
            encode(frames, tmp / "videos" / "v.mp4", fps=5)
            write_csv_atomic(pd.DataFrame({"a": [1]}), tmp / "labels.csv")
    files = [p for p in out.rglob("*") if p.is_file()]
    dirs = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert len(files) == 9 and len(dirs) == 3
    assert {p.name: oct(mode(p)) for p in files} == {p.name: oct(file_mode) for p in files}
    assert {p.name: oct(mode(p)) for p in dirs} == {p.name: oct(dir_mode) for p in dirs}
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_select_out_gets_the_umask_mode(tmp_path, mask):
    from vqaloop.cli import main
    from vqaloop.features.io import write_features

    file_mode, _ = plain_modes(tmp_path, mask)
    write_features(tmp_path / "f.npz", [f"v{i}" for i in range(5)], np.eye(5, dtype=np.float32)[:, None], "t", None)
    (tmp_path / "sel").mkdir()
    with umask(mask):
        code = main(["select", "--method", "random", "--features", str(tmp_path / "f.npz"), "--budget", "2",
                     "--out", str(tmp_path / "sel" / "picks.csv")])  # fmt: skip
    assert code == 0
    assert oct(mode(tmp_path / "sel" / "picks.csv")) == oct(file_mode)


def test_a_killed_writers_temporaries_are_removed_by_the_next_write(tmp_path):
    """A SIGKILL leaves .<name>.<8 random>.tmp* beside the target; the next write of that target removes them."""
    stale_file = tmp_path / ".table.csv.ab12cd_9.tmp.csv"
    stale_dir = tmp_path / ".shard0.zz99yy88.tmpdir"
    other = tmp_path / ".table.csv.bak.ab12cd_9.tmp.bak"  # belongs to target table.csv.bak
    stale_file.write_text("partial")
    (stale_dir / "videos").mkdir(parents=True)
    (stale_dir / "videos" / ".v.mp4.qwertyui.tmp.mp4").write_bytes(b"partial")
    other.write_text("not ours")
    write_text_atomic(tmp_path / "table.csv", "x")
    assert not stale_file.exists() and other.exists() and stale_dir.exists()
    with atomic_dir(tmp_path / "shard0", "labels.csv") as tmp:
        (tmp / "labels.csv").write_text("x")
    assert not stale_dir.exists() and (tmp_path / "shard0" / "labels.csv").exists()
    assert remove_stale_temporaries(tmp_path / "table.csv.bak") == [other] and not other.exists()
