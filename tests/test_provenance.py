"""Checksum records (vqaloop record-job) and where two runs part (vqaloop compare-runs)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vqaloop.cli import main
from vqaloop.provenance.compare import compare, dag_order, load_run

RUN = "results/r/checksums"


def record(root: Path, rule: str, job: str, inputs: list[str], outputs: list[str]) -> None:
    """Run record-job in ``root`` as a workflow job would (paths relative to the working folder)."""
    import os

    cwd = os.getcwd()
    os.chdir(root)
    try:
        args = ["record-job", "--log", f"logs/r/{job}.log", "--logs-root", "logs/r", "--into", RUN]
        assert main([*args, "--inputs", *inputs, "--outputs", *outputs]) == 0
    finally:
        os.chdir(cwd)


def build_run(root: Path, shift: float = 0.0) -> Path:
    """A small run: prep -> train -> score (a chain) and an independent summary job.

    ``shift`` is added to one column of train's output CSV (a planted divergence in the middle of the chain),
    which changes score's output too (downstream), but not prep's or the summary's.
    """
    (root / "data").mkdir(parents=True)
    (root / "data/in.csv").write_text("a,b\n1,2\n")
    (root / "work/prep").mkdir(parents=True)
    (root / "work/prep/x.npz").write_bytes(b"")
    np.savez(root / "work/prep/x.npz", ids=np.arange(3), frames=np.ones((3, 2), np.float32))
    (root / "work/prep/shard").mkdir()
    (root / "work/prep/shard/v.bin").write_bytes(b"video")
    (root / "work/prep/shard/timing.json").write_text(json.dumps({"total": 1.234 + shift}))  # never recorded
    record(root, "prep", "prep", ["data/in.csv"], ["work/prep/x.npz", "work/prep/shard"])
    train = pd.DataFrame({"video_id": ["a", "b", "c"], "score": [0.5, 0.25, 0.125], "rank": [1, 2, 3]})
    train.loc[1, "score"] += shift
    train.to_csv(root / "work/train.csv", index=False)
    torch.save({"w": torch.tensor([1.0, 2.0 + shift]), "b": torch.zeros(2)}, root / "work/model.pt")
    record(
        root, "train", "mds/train", ["work/prep/x.npz", "work/prep/shard/v.bin"], ["work/train.csv", "work/model.pt"]
    )
    (root / "results/r/tables").mkdir(parents=True)
    (root / "results/r/tables/t.csv").write_text(f"value\n{0.5 + shift}\n")
    record(root, "score", "tables/score", ["work/train.csv"], ["results/r/tables/t.csv"])
    (root / "results/r/tables/summary.csv").write_text("n\n3\n")
    record(root, "summary", "tables/summary", ["data/in.csv"], ["results/r/tables/summary.csv"])
    return root


def test_record_holds_each_output_file_checksum_and_leaves_timing_files_out(tmp_path):
    root = build_run(tmp_path / "a")
    rec = json.loads((root / RUN / "prep.json").read_text())
    assert rec["job"] == "prep"
    expected = {
        p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in ("work/prep/x.npz", "work/prep/shard/v.bin")
    }
    assert rec["outputs"] == expected  # the folder expanded into its files, timing.json left out
    assert rec["inputs"] == ["data/in.csv"]
    assert rec["dispatch"]["mode"] in ("portable", "native")
    assert (root / RUN / "mds/train.json").is_file()  # the job name keeps the log's sub-folders


def test_identical_runs_compare_identical(tmp_path, capsys):
    build_run(tmp_path / "a")
    build_run(tmp_path / "b")
    assert main(["compare-runs", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "identical: all 4 jobs wrote the same bits" in capsys.readouterr().out


def test_dag_order_puts_producers_first(tmp_path):
    run = load_run(build_run(tmp_path / "a") / RUN)
    order, parents = dag_order(run.records)
    assert order.index("prep") < order.index("mds/train") < order.index("tables/score")
    assert parents["tables/score"] == {"mds/train"}
    assert parents["mds/train"] == {"prep"}  # an input inside a folder output points at the folder's job


def test_a_planted_difference_names_its_job_first_with_the_right_magnitude(tmp_path, capsys):
    build_run(tmp_path / "a")
    build_run(tmp_path / "b", shift=0.25)
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    result = compare(a, b)
    assert list(result.differing) == ["mds/train", "tables/score"]  # DAG order; prep's timing.json ignored
    assert result.first == ["mds/train"]  # score differs only because train did
    assert main(["compare-runs", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "mds/train: 2 of 2 file(s) differ" in out
    assert "work/train.csv: max |diff| score 0.25" in out  # the column that moved, by how much
    assert "rank" not in out.split("work/train.csv:")[1].splitlines()[0]  # unchanged columns are not listed
    assert "work/model.pt: 1 of 2 tensors differ, max |diff| w 0.25" in out
    assert "1 differing job(s) downstream" in out
    assert "tables/score:" not in out  # listed with --all only


def test_a_snapshot_without_the_working_folder_still_finds_its_tables(tmp_path, capsys):
    build_run(tmp_path / "a")
    build_run(tmp_path / "b", shift=0.5)
    snapshot = tmp_path / "reference/r"  # like results/reference/demo: the records and the tables only
    shutil.copytree(tmp_path / "a" / RUN, snapshot / "checksums")
    shutil.copytree(tmp_path / "a/results/r/tables", snapshot / "tables")
    assert main(["compare-runs", str(tmp_path / "b"), str(snapshot / "checksums"), "--all"]) == 1
    out = capsys.readouterr().out
    assert "results/r/tables/t.csv: max |diff| value 0.5" in out
    assert "work/train.csv: checksums differ (the file is not at hand in both runs)" in out


def test_jobs_present_in_one_run_only_are_reported(tmp_path, capsys):
    build_run(tmp_path / "a")
    build_run(tmp_path / "b")
    (tmp_path / "b" / RUN / "tables/summary.json").unlink()
    assert main(["compare-runs", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert "jobs only in A: tables/summary" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["missing", "empty", "not_a_record"])
def test_bad_run_folders_are_one_line(tmp_path, capsys, bad):
    build_run(tmp_path / "a")
    other = tmp_path / "b"
    if bad == "empty":
        other.mkdir()
    elif bad == "not_a_record":
        other.mkdir()
        (other / "x.json").write_text("[1, 2]")
    assert main(["compare-runs", str(tmp_path / "a"), str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vqaloop: error: ") and str(other) in err[0]
