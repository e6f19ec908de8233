"""``vqaloop adapt --role``: a paper dataset read by its adapter becomes the workflow's manifest and oracle with
the splits its role needs (vqaloop.corpus.external); bad inputs are one line and write nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import error_line, run_cli

from vqaloop.corpus.external import adapt_dataset, assign_splits
from vqaloop.datasets import get_adapter
from vqaloop.io.manifest import read_manifest


@pytest.fixture
def lsvq(tmp_path):
    """A placeholder LSVQ tree (official train/test split) of 12 videos."""
    root = tmp_path / "lsvq"
    get_adapter("lsvq").write_placeholder(root, 12, 0)
    return root


def test_target_role_turns_the_official_training_split_into_a_pool_with_hidden_mos(lsvq):
    read = get_adapter("lsvq").read(lsvq)
    manifest, oracle = adapt_dataset("lsvq", lsvq, None, "lsvq", "target", 0.2, 0)
    assert (manifest.split == "pool").sum() == (read.split == "train").sum()
    assert (manifest.split == "test").sum() == (read.split == "test").sum()
    assert manifest.loc[manifest.split == "pool", "mos"].isna().all()
    assert manifest.loc[manifest.split == "test", "mos"].notna().all()
    # the oracle holds exactly the pool's MOS, under the workflow's ids (dataset-prefixed published ids)
    published = read.set_index("video_id").mos
    assert set(oracle.video_id) == set(manifest.video_id[manifest.split == "pool"])
    for vid, mos in zip(oracle.video_id, oracle.mos, strict=True):
        assert vid.startswith("lsvq__") and mos == pytest.approx(published[vid.removeprefix("lsvq__")])
    assert all(pd.Series(manifest.path).map(lambda p: p.startswith("/")))


def test_roles_without_an_official_split_draw_whole_contents(tmp_path):
    table = pd.DataFrame({"video_id": [f"v{i}" for i in range(20)], "path": [f"v{i}.mp4" for i in range(20)],
                          "mos": [1.0 + i / 5 for i in range(20)], "split": "test", "dataset": "x",
                          "content_id": [f"c{i // 2}" for i in range(20)]})  # fmt: skip
    source = assign_splits(table, "source", 0.3, seed=4)
    test_contents = set(source.content_id[source.split == "test"])
    assert len(test_contents) == 3 and not test_contents & set(source.content_id[source.split == "train"])
    assert assign_splits(table, "source", 0.3, seed=4).equals(source)  # seeded
    assert set(assign_splits(table, "gmad", 0.3, 0).split) == {"test"}
    pool = assign_splits(table, "w2s_pool", 0.3, 0)
    assert set(pool.split) == {"pool"} and pool.mos.isna().all()


def test_cli_writes_manifest_and_oracle(lsvq, tmp_path):
    out, oracle = tmp_path / "out" / "m.csv", tmp_path / "out" / "o.csv"
    out.parent.mkdir()
    proc = run_cli("adapt", "--adapter", "lsvq", "--root", str(lsvq), "--dataset", "lsvq", "--role", "source",
                   "--out", str(out), "--oracle", str(oracle))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = read_manifest(out)
    assert set(manifest.split) == {"train", "test"} and len(pd.read_csv(oracle)) == 0


@pytest.mark.parametrize("kind", ["no root", "empty metadata", "binary metadata"])
def test_cli_bad_inputs_are_one_line_and_write_nothing(lsvq, tmp_path, kind):
    root = tmp_path / "absent" if kind == "no root" else lsvq
    metadata = lsvq / "labels_train_test.csv"
    if kind == "empty metadata":
        metadata.write_bytes(b"")
    elif kind == "binary metadata":
        metadata.write_bytes(b"\x00\x01\x02" * 100)
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("adapt", "--adapter", "lsvq", "--root", str(root), "--dataset", "lsvq", "--role", "source",
                   "--out", str(out / "m.csv"), "--oracle", str(out / "o.csv"))  # fmt: skip
    line = error_line(proc)
    assert str(root if kind == "no root" else metadata) in line
    assert not list(out.iterdir())


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--root", "{lsvq}", "--adapter", "lsvq", "--dataset", "lsvq", "--role", "source"], "--oracle"),
        (["--root", "{lsvq}", "--dataset", "lsvq", "--oracle", "{out}/o.csv"], "--role"),
        (
            [
                "--csv",
                "{lsvq}/labels_train_test.csv",
                "--dataset",
                "x",
                "--path-column",
                "name",
                "--mos-column",
                "mos",
                "--role",
                "source",
                "--oracle",
                "{out}/o.csv",
            ],
            "--role",
        ),  # fmt: skip
        (["--root", "{lsvq}", "--dataset", "lsvq", "--path-column", "name"], "--path-column"),
    ],
)
def test_the_modes_of_adapt_are_checked_in_one_line(lsvq, tmp_path, argv, named):
    """--role goes with --root and --oracle; a CSV's column options do not go with --root."""
    out = tmp_path / "out"
    out.mkdir()
    argv = [a.format(lsvq=lsvq, out=out) for a in argv]
    line = error_line(run_cli("adapt", *argv, "--out", str(out / "m.csv")))
    assert named in line
    assert not list(out.iterdir())


def test_a_role_keeps_the_adapters_own_split_and_names_the_workflow_dataset(lsvq, tmp_path):
    """The same published dataset through the plain and the role mode: the same videos and splits; the role mode's
    ids are ``<dataset>__<published id>`` and its paths absolute."""
    plain, role, oracle = tmp_path / "plain.csv", tmp_path / "role.csv", tmp_path / "o.csv"
    assert run_cli("adapt", "--root", str(lsvq), "--dataset", "lsvq", "--out", str(plain)).returncode == 0
    proc = run_cli("adapt", "--root", str(lsvq), "--adapter", "lsvq", "--dataset", "mine", "--role", "source", "--out",
                   str(role), "--oracle", str(oracle))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    a, b = read_manifest(plain), read_manifest(role)
    assert sorted("mine__" + a.video_id) == sorted(b.video_id)
    assert dict(zip("mine__" + a.video_id, a.split, strict=True)) == dict(zip(b.video_id, b.split, strict=True))
    assert set(b.dataset) == {"mine"} and all(Path(p).is_absolute() for p in b.path)
