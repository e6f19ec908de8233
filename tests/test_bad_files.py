"""Every command, every file it reads: a 0-byte, a binary (an mp4) and a truncated file give exit status 2 and
one line ``vqaloop: error: <path>: ...`` naming the file, never a traceback, and nothing written.

The commands run in this process (``vqaloop.cli.main``): a traceback would surface here as the exception itself.
A few run as real subprocesses too (``error_line``: exit 2, no traceback, the last stderr line).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, error_line, run_cli

from vqaloop.cli import COMMANDS, main
from vqaloop.evaluation.metrics import LogisticFit
from vqaloop.features.io import write_features
from vqaloop.io.video import encode
from vqaloop.models.registry import Checkpoint, get_base_model_class

torch.set_num_threads(1)
IDS = [f"v{i}" for i in range(8)]
SPLITS = ["train"] * 4 + ["test"] * 2 + ["pool"] * 2
DS = "toy"


def csv(path: Path, df: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    return path


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, Path]:
    """One valid file of every kind a command reads (all of one tiny dataset), so each case spoils just one."""
    root = tmp_path_factory.mktemp("valid")
    (root / "out").mkdir()  # where every case writes (an output's folder must exist)
    data, work = root / "data", root / "work"
    f = {}
    mos = [1.5, 2.0, 3.5, 4.0, 2.5, 3.0, np.nan, np.nan]
    manifest = pd.DataFrame({"video_id": IDS, "path": [f"{DS}/shard0/videos/{v}.mp4" for v in IDS], "mos": mos,
                             "split": SPLITS, "dataset": DS, "content_id": IDS, "distortion": "blur", "level": 1,
                             "n_frames": 4, "chain": "blur:1"})  # fmt: skip
    f["manifest"] = csv(data / "manifests" / f"{DS}.csv", manifest)
    f["oracle"] = csv(data / "oracle" / f"{DS}.csv", pd.DataFrame({"video_id": IDS[6:], "dataset": DS, "mos": [2, 4]}))
    rng = np.random.default_rng(0)
    for enc, dim in (("efficientnet_lite0", 1280), ("motion", 4)):
        f[enc] = write_features(data / "features" / DS / f"{enc}.npz", IDS, rng.normal(size=(8, 2, dim)), enc,
                                np.zeros((8, 2), np.int64))  # fmt: skip
    model = get_base_model_class("effnet_motion")(in_dim=1284, hidden=4)
    f["model"] = work / "f.pt"
    Checkpoint("effnet_motion", {"in_dim": 1284, "hidden": 4}, model.state_dict(),
               LogisticFit("linear", (1.0, 0.0))).save(f["model"])  # fmt: skip
    f["selection"] = csv(work / "sel.csv", pd.DataFrame({"video_id": ["v6"], "rank": [1]}))
    f["difficulty"] = csv(work / "diff.csv", pd.DataFrame({"video_id": IDS, "difficulty": np.arange(8.0)}))
    f["errors"] = csv(work / "errors.csv", pd.DataFrame({"video_id": IDS[:4], "error": [0.1, 0.2, 0.3, 0.4]}))
    f["labels"] = csv(work / "labels.csv", pd.DataFrame({"video_id": ["v6"], "dataset": DS, "mos": [2.0]}))
    pred = pd.DataFrame({"video_id": IDS, "split": SPLITS, "score": np.arange(8.0), "mos_pred": np.arange(8.0)})
    f["predictions"] = csv(work / "pred.csv", pred)
    f["pred_b"] = csv(work / "pred_b.csv", pred.assign(score=-pred.score))
    long = pd.DataFrame({"table": "mds_table6", "row": ["base_model", "lambda_0"] * 2,
                         "column": ["failure_identification"] * 2 + ["active_finetuning"] * 2, "metric": "srcc",
                         "value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n_seeds": 2, "run": "t", "config_hash": "x",
                         "note": ""})  # fmt: skip
    f["table6"] = csv(work / "mds_table6.csv", long)
    f["table2"] = csv(work / "mds_table2.csv", long.assign(table="mds_table2", column="cgvds"))
    f["table3"] = csv(work / "mds_table3.csv", long.assign(table="mds_table3", column="mean", metric="srcc"))
    gmad = {"models": ["base_model", "lambda_0"], "a": {}, "gmad_score": {}, "thurstone_q": {}}
    f["gmad"] = work / "gmad.json"
    f["gmad"].write_text(json.dumps(gmad, indent=1))
    f["pairs"] = csv(work / "pairs.csv", pd.DataFrame({"attacker": ["a"], "defender": ["b"], "level": [1]}))
    f["config"] = root / "tiny.yaml"
    shutil.copy(REPO / "config" / "tiny.yaml", f["config"])
    f["inventory"] = csv(root / "inventory.csv", pd.DataFrame({"source_id": ["skimage_x"], "category": ["photo"],
                         "origin": ["o"], "path": ["x.png"], "license": ["l"]}))  # fmt: skip
    f["catalogue"] = csv(root / "catalogue.csv", pd.DataFrame({"content_id": ["render_testsrc2"], "category": "render",
                         "source_id": "lavfi", "origin": "ffmpeg lavfi", "path": "testsrc2", "start": 0.0,
                         "params": "{}", "license": "x"}))  # fmt: skip
    f["plan"] = csv(root / "plans" / f"{DS}.csv", pd.DataFrame({"video_id": ["r0"], "dataset": DS,
                    "content_id": ["render_testsrc2"], "category": "render", "split": "test", "chain": "blur:1",
                    "distortion": "blur", "level": 1, "shard": 0, "seed": 1}))  # fmt: skip
    shard = data / DS / "shard0"
    f["shard_labels"] = csv(shard / "labels.csv", pd.DataFrame({"video_id": ["r0"], "path": ["x.mp4"], "mos": [3.0]}))
    f["toolchain"] = shard / "toolchain.json"
    f["toolchain"].write_text(json.dumps({"ffmpeg": "ffmpeg version x", "imageio_ffmpeg": "y"}))
    f["mp4"] = encode(np.zeros((4, 16, 16, 3), np.uint8), root / "clip.mp4", fps=4)
    f.update(root=root, data=data, work=work, shard=shard)
    return f


def spoil(kind: str, good: Path, bad: Path, mp4: Path) -> None:
    """Write ``bad`` as a 0-byte, a binary (an mp4) or a truncated copy of ``good``."""
    bad.parent.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "binary":
        bad.write_bytes(mp4.read_bytes())
    else:  # truncated: a CSV in the middle of its first data row, any other file at half its size
        data = good.read_bytes()
        lines = data.split(b"\n")
        if good.suffix == ".csv" and len(lines) > 2:
            data = lines[0] + b"\n" + lines[1][: len(lines[1]) // 2]
        elif good.suffix == ".yaml":  # inside the first flow mapping past half the file: a prefix that is no YAML
            data = data[: data.index(b"{", len(data) // 2) + 1]
        else:
            data = data[: len(data) // 2]
        bad.write_bytes(data)


def cases(f: dict) -> list[tuple[str, str, list[str]]]:
    """(command, file key, arguments with {bad} where the spoilt file goes): every file argument of every command."""
    d, w, out = f["data"], f["work"], str(f["root"] / "out" / "x.csv")
    feats = str(d / "features")
    man, model = str(f["manifest"]), str(f["model"])
    return [
        ("validate-config", "config", ["{bad}"]),
        ("placeholder-tree", "config", ["--config", "{bad}", "--out", str(f["root"] / "out" / "tree")]),
        ("plan-memory", "config", ["--config", "{bad}", "--out", out]),
        ("sources", "cache", ["--cache", "{bad}", "--sources", "skimage", "--out", out]),
        ("catalogue", "inventory", ["--inventory", "{bad}", "--clip-seconds", "1", "--params", "{}", "--seed", "1",
                                    "--out", out]),
        ("plan", "catalogue", ["--catalogue", "{bad}", "--dataset", DS, "--allocation", "{}", "--spec", "{}",
                               "--seed", "1", "--shards", "1", "--out", out]),
        ("render", "plan", ["--plan", "{bad}", "--catalogue", str(f["catalogue"]), "--shard", "0", "--data-root", str(d),
                            "--clip", '{"width": 16, "height": 16, "fps": 4, "seconds": 1}', "--out", str(d / DS / "s9")]),
        ("render", "catalogue", ["--plan", str(f["plan"]), "--catalogue", "{bad}", "--shard", "0", "--data-root", str(d),
                                 "--clip", '{"width": 16, "height": 16, "fps": 4, "seconds": 1}', "--out",
                                 str(d / DS / "s9")]),
        ("manifest", "plan", ["--plan", "{bad}", "--shards", str(f["shard"]), "--out", out, "--oracle", out + ".o"]),
        ("manifest", "shard_labels", ["--plan", str(f["plan"]), "--shards", "{shard}", "--out", out, "--oracle",
                                      out + ".o"]),
        ("manifest", "toolchain", ["--plan", str(f["plan"]), "--shards", "{shard}", "--out", out, "--oracle", out + ".o"]),
        ("corpus-summary", "manifest", ["--manifests", "{bad}", "--oracles", str(f["oracle"]), "--data-root", str(d),
                                        "--analogues", "{}", "--table", out, "--figure", out + ".png"]),
        ("corpus-summary", "oracle", ["--manifests", man, "--oracles", "{bad}", "--data-root", str(d), "--analogues",
                                      "{}", "--table", out, "--figure", out + ".png"]),
        ("adapt", "manifest", ["--csv", "{bad}", "--dataset", DS, "--path-column", "path", "--mos-column", "mos",
                               "--out", out]),
        ("check-manifest", "manifest", ["{bad}"]),
        ("select", "efficientnet_lite0", ["--method", "coreset", "--features", "{bad}", "--budget", "2", "--out", out]),
        ("select", "difficulty", ["--method", "mds", "--features", str(f["efficientnet_lite0"]), "--difficulty", "{bad}",
                                  "--budget", "2", "--out", out]),
        ("select", "manifest", ["--method", "random", "--features", str(f["efficientnet_lite0"]), "--pool", "{bad}",
                                "--budget", "1", "--out", out]),
        ("select", "model", ["--method", "mc_dropout", "--features", str(f["efficientnet_lite0"]), "--pool", man,
                             "--model", "{bad}", "--budget", "1", "--out", out]),
        ("select", "motion", ["--method", "mc_dropout", "--features", str(f["efficientnet_lite0"]), "--pool", man,
                              "--model", model, "--features-root", "{root}", "--budget", "1", "--out", out]),
        ("select", "efficientnet_lite0", ["--method", "coreset", "--features", str(f["efficientnet_lite0"]), "--labelled", "{bad}",
                                "--labelled-manifest", man, "--budget", "1", "--out", out]),
        ("features", "manifest", ["--manifest", "{bad}", "--data-root", str(d), "--encoder", "motion", "--out", out]),
        ("train-base", "manifest", ["--base", "effnet_motion", "--manifest", "{bad}", "--features-root", feats,
                                    "--epochs", "1", "--out", out]),
        ("train-base", "motion", ["--base", "effnet_motion", "--manifest", man, "--features-root", "{root}",
                                  "--epochs", "1", "--out", out]),
        ("predict", "model", ["--model", "{bad}", "--manifest", man, "--features-root", feats, "--out", out]),
        ("predict", "manifest", ["--model", model, "--manifest", "{bad}", "--features-root", feats, "--out", out]),
        ("predict", "efficientnet_lite0", ["--model", model, "--manifest", man, "--features-root", "{root}",
                                           "--out", out]),
        ("embed", "model", ["--model", "{bad}", "--manifest", man, "--features-root", feats, "--out", out]),
        ("embed", "motion", ["--model", model, "--manifest", man, "--features-root", "{root}", "--out", out]),
        ("oof-errors", "manifest", ["--base", "effnet_motion", "--manifest", "{bad}", "--features-root", feats,
                                    "--folds", "2", "--out", out]),
        ("oof-errors", "motion", ["--base", "effnet_motion", "--manifest", man, "--features-root", "{root}",
                                  "--folds", "2", "--out", out]),
        ("train-g", "model", ["--base-model", "{bad}", "--manifest", man, "--features-root", feats, "--loss", "ranking",
                              "--rank", "2", "--out", out]),
        ("train-g", "manifest", ["--base-model", model, "--manifest", "{bad}", "--features-root", feats, "--loss",
                                 "ranking", "--rank", "2", "--out", out]),
        ("train-g", "errors", ["--base-model", model, "--manifest", man, "--features-root", feats, "--loss", "ranking",
                               "--rank", "2", "--errors", "{bad}", "--out", out]),
        ("reveal", "selection", ["--selection", "{bad}", "--oracle", str(f["oracle"]), "--dataset", DS, "--out", out]),
        ("reveal", "oracle", ["--selection", str(f["selection"]), "--oracle", "{bad}", "--dataset", DS, "--out", out]),
        ("finetune", "model", ["--base-model", "{bad}", "--source-manifest", man, "--features-root", feats,
                               "--out", out]),
        ("finetune", "manifest", ["--base-model", model, "--source-manifest", "{bad}", "--features-root", feats,
                                  "--out", out]),
        ("finetune", "labels", ["--base-model", model, "--source-manifest", man, "--labels", "{bad}",
                                "--features-root", feats, "--epochs", "1", "--out", out]),
        ("evaluate", "model", ["--model", "{bad}", "--manifests", man, "--features-root", feats, "--out", out]),
        ("evaluate", "manifest", ["--model", model, "--manifests", "{bad}", "--features-root", feats, "--out", out]),
        ("gmad", "predictions", ["--predictions", "a={bad}", f"b={f['pred_b']}", "--manifest", man, "--out", out]),
        ("gmad", "manifest", ["--predictions", f"a={f['predictions']}", f"b={f['pred_b']}", "--manifest", "{bad}",
                              "--out", out]),
        ("mds-figures", "predictions", ["--predictions", "{bad}", "--oracle", str(f["oracle"]), "--dataset", DS,
                                        "--mds-selection", str(f["selection"]), "--random-selection",
                                        str(f["selection"]), "--table6", str(f["table6"]), "--scatter", out + ".a.png",
                                        "--tradeoff", out + ".b.png"]),
        ("mds-figures", "oracle", ["--predictions", str(f["predictions"]), "--oracle", "{bad}", "--dataset", DS,
                                   "--mds-selection", str(f["selection"]), "--random-selection", str(f["selection"]),
                                   "--table6", str(f["table6"]), "--scatter", out + ".a.png", "--tradeoff",
                                   out + ".b.png"]),
        ("mds-figures", "selection", ["--predictions", str(f["predictions"]), "--oracle", str(f["oracle"]), "--dataset",
                                      DS, "--mds-selection", "{bad}", "--random-selection", str(f["selection"]),
                                      "--table6", str(f["table6"]), "--scatter", out + ".a.png", "--tradeoff",
                                      out + ".b.png"]),
        ("mds-figures", "table6", ["--predictions", str(f["predictions"]), "--oracle", str(f["oracle"]), "--dataset",
                                   DS, "--mds-selection", str(f["selection"]), "--random-selection",
                                   str(f["selection"]), "--table6", "{bad}", "--scatter", out + ".a.png",
                                   "--tradeoff", out + ".b.png"]),
        ("mds-table", "oracle", ["--spec", json.dumps({"table": "mds_table2", "rows": [{"key": "base_model",
                                 "kind": "base", "variant": None, "note": "", "base": "effnet_motion"}],
                                 "columns": [DS], "paper_key": {}, "seeds": [0], "run": "t", "config_hash": "x",
                                 "ablation_dataset": DS}), "--data-root", "{data}", "--work", str(w),
                                 "--out", out]),  # fmt: skip
        ("mds-methods-figure", "table2", ["--tables", "{bad}", "--out", out + ".png"]),
        ("mds-table4", "gmad", ["--gmad", "{bad}", "--table3", str(f["table3"]), "--out", out]),
        ("mds-table4", "table3", ["--gmad", str(f["gmad"]), "--table3", "{bad}", "--out", out]),
        ("w2s-test-set", "manifest", ["--manifest", "{bad}", "--splits", "test", "--oracle", str(f["oracle"]),
                                      "--out", out]),
        ("w2s-test-set", "oracle", ["--manifest", man, "--splits", "test", "--oracle", "{bad}", "--out", out]),
        ("w2s-targets", "manifest", ["--kind", "source", "--source-manifest", "{bad}", "--out", out]),
        *[("control-mds", key, ["--manifest", "{bad}" if key == "manifest" else man, "--predictions",
                                "{bad}" if key == "predictions" else str(f["predictions"]), "--features",
                                "{bad}" if key == "efficientnet_lite0" else str(f["efficientnet_lite0"]), "--seeds",
                                "0", "--difficulty", out + ".d", "--out-manifest", out + ".m", "--out-oracle",
                                out + ".o", "--out", out])
          for key in ("manifest", "predictions", "efficientnet_lite0")],
    ]  # fmt: skip


def place(f: dict, key: str, args: list[str], tmp: Path) -> tuple[Path, list[str]]:
    """Where the spoilt file goes for one case, and the arguments pointing at it."""
    if key == "cache":
        bad = tmp / "cache"
        return bad, [a.replace("{bad}", str(bad)) for a in args]
    if key in ("efficientnet_lite0", "motion") and any("{root}" in a for a in args):
        root = tmp / "features"  # a features root whose <dataset>/<encoder>.npz is the spoilt file
        for enc in ("efficientnet_lite0", "motion"):
            (root / DS).mkdir(parents=True, exist_ok=True)
            shutil.copy(f[enc], root / DS / f"{enc}.npz")
        return root / DS / f"{key}.npz", [a.replace("{root}", str(root)) for a in args]
    if key in ("shard_labels", "toolchain"):
        shard = tmp / "shard0"
        shutil.copytree(f["shard"], shard)
        return shard / f[key].name, [a.replace("{shard}", str(shard)) for a in args]
    if "{data}" in " ".join(args):  # mds-table reads <data>/oracle/<dataset>.csv
        data = tmp / "data"
        return data / "oracle" / f"{DS}.csv", [a.replace("{data}", str(data)) for a in args]
    bad = tmp / f"bad{f[key].suffix}"
    return bad, [a.replace("{bad}", str(bad)) for a in args]


# W2S-VQA and claims commands: their 0-byte / binary / malformed files are tested beside their own code.
COVERED_ELSEWHERE = {
    "thurstone": "test_thurstone.py::test_cli_binary_and_missing_files",
    "metrics": "test_w2s_metrics.py::test_cli_bad_inputs_one_line_and_nothing_written",
    "shape": "test_w2s_shaping.py::test_cli_bad_inputs_one_line_and_nothing_written",
    "iqa": "test_classical_iqa.py::test_cli_errors_are_one_line_and_write_nothing",
    "claims": "test_claims.py::test_malformed_seeds_file_is_one_error_line",
    "batch": "test_batch.py::test_a_failing_command_stops_the_batch_and_is_named",
    "gpu-run": "test_gpu_slots.py (no file arguments: a command, device lists)",
    "tiny-vlm": "test_vlm_scoring.py (no input files: it writes a model folder)",
    "compare-runs": "test_provenance.py::test_bad_run_folders_are_one_line",
    "record-job": "test_provenance.py (it reads the job's own outputs, only to hash their bytes)",
    "dispatch": "test_dispatch.py (no file arguments: it prints the pin)",
    "mds-replay": "test_mds_replay.py::test_bad_inputs_are_one_line_and_write_nothing",
    "mds-replay-inputs": "test_mds_release.py::test_bad_release_files_are_one_line",
    "control-w2s": "test_controls.py (it reads the run's own shaped pool and oracle; a twin without features refused)",
    "control-table": "test_controls.py (it reads only the controls' own outputs, named by --spec)",
    **{c: "test_w2s_cli.py::test_w2s_commands_answer_bad_files_in_one_line"
       for c in ("w2s-teacher", "w2s-anchors", "w2s-pairs", "w2s-train", "w2s-mine", "w2s-evaluate", "w2s-table",
                 "w2s-figure", "score")},
}  # fmt: skip


def test_every_command_is_covered(valid):
    """A new command must add its file arguments to ``cases`` (or name the test that covers it)."""
    assert {c for c, _, _ in cases(valid)} | set(COVERED_ELSEWHERE) == set(COMMANDS)


@pytest.mark.parametrize("kind", ["empty", "binary", "truncated"])
def test_every_command_refuses_a_bad_file_in_one_line(valid, tmp_path, capsys, kind):
    failures = []
    for n, (command, key, args) in enumerate(cases(valid)):
        tmp = tmp_path / f"case{n}"
        tmp.mkdir()
        bad, argv = place(valid, key, args, tmp)
        if key == "cache" and kind == "truncated":
            continue  # a folder argument: the 0-byte and binary files stand in for it
        spoil(kind, valid.get(key, valid["mp4"]), bad, valid["mp4"])
        capsys.readouterr()
        try:
            code = main([command, *argv])
        except SystemExit as err:  # argparse: a mistake in this test's arguments
            code = f"SystemExit({err.code})"
        except Exception as err:  # what a user would see as a traceback
            code = f"traceback ({type(err).__name__}: {str(err)[:80]})"
        err = capsys.readouterr().err.strip().splitlines()
        line = err[-1] if err else ""
        ok = code == 2 and line.startswith("vqaloop: error: ") and str(bad) in line
        written = [p for p in (valid["root"] / "out").glob("*")] if (valid["root"] / "out").exists() else []
        if not ok or written:
            failures.append(f"{command} {key}: exit {code}, {line!r}, written {written}")
    assert not failures, "\n".join(failures)


def test_the_reported_cases_in_real_processes(valid, tmp_path):
    """The issue's examples, as a user runs them: one line, exit 2, no traceback."""
    mp4, empty = valid["mp4"], tmp_path / "empty.csv"
    empty.write_bytes(b"")
    out = tmp_path / "m.csv"
    for bad in (empty, mp4):
        line = error_line(run_cli("adapt", "--csv", str(bad), "--dataset", "x", "--path-column", "p", "--mos-column",
                                  "m", "--out", str(out)))  # fmt: skip
        assert str(bad) in line
    line = error_line(run_cli("reveal", "--selection", str(empty), "--oracle", str(valid["oracle"]), "--dataset", DS,
                              "--out", str(out)))  # fmt: skip
    assert line == f"vqaloop: error: {empty}: empty file (0 bytes), expected a selection file (video_id,rank)"
    line = error_line(run_cli("select", "--method", "random", "--features", str(valid["predictions"]), "--budget", "1",
                              "--out", str(out)))  # fmt: skip
    assert line == f"vqaloop: error: {valid['predictions']}: not an .npz features file (not a zip archive)"
    assert not out.exists()
