"""Every bad argument of every command (issue 19): exit status 2, one line naming the option or the file, and no
file created, changed or deleted (checksums of the whole folder before and after each case).

``TABLE`` has one entry per command of ``vqaloop.cli.COMMANDS`` (a command without one fails
``test_every_command_has_an_entry``): a valid command line, bad values for each of its options (zero, negative,
NaN, inf, huge, wrong type, out of set), its outputs (each tried as a folder, as one of its inputs, in a missing
folder, with a 5,000-character path and a 300-character name), the options that become a path component (tried
with ``..``), and cases of bad data (NaN scores, a manifest's ``dataset=../x``, ...). Every option that takes a
value must appear (``test_every_option_has_bad_values``), so a new option cannot escape either.

The commands run in this process (``vqaloop.cli.main``): a traceback surfaces as the exception itself.

``python tests/test_bad_arguments.py [COMMAND...]`` prints, per command, how each case ended (clean, traceback,
wrong success, overwrite, partial, deletion): the counts of the issue's closing note.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import REPO, error_line, pan_clip, run_cli  # noqa: E402

IDS = [f"v{i}" for i in range(8)]
POOL = [f"p{i}" for i in range(8)]  # the W2S pool (another dataset)
SPLITS = ["train"] * 4 + ["test"] * 2 + ["pool"] * 2
DS = "toy"

# ---------------------------------------------------------------------------------------------- valid inputs


def csv(path: Path, df: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")
    return path


def build_inputs(root: Path) -> dict[str, Path]:
    """One valid file of every kind a command reads, all of one tiny dataset of 8 real clips."""
    import skimage.data
    import torch

    from vqaloop.evaluation.metrics import LogisticFit
    from vqaloop.features.io import write_features
    from vqaloop.io.video import encode
    from vqaloop.models.registry import Checkpoint, get_base_model_class
    from vqaloop.w2s.students import PairTransformer, StudentCheckpoint

    data, work = root / "data", root / "work"
    f: dict[str, Path] = {"root": root, "data": data, "work": work}
    clip = pan_clip(skimage.data.astronaut(), n=8, h=64, w=96, step=4)
    for i, vid in enumerate(IDS):
        f[f"video{i}"] = encode(np.roll(clip, i * 3, axis=2), data / DS / "shard0" / "videos" / f"{vid}.mp4", fps=4)
    f["mp4"] = f["video0"]
    mos = [1.5, 2.0, 3.5, 4.0, 2.5, 3.0, np.nan, np.nan]
    manifest = pd.DataFrame({"video_id": IDS, "path": [f"{DS}/shard0/videos/{v}.mp4" for v in IDS], "mos": mos,
                             "split": SPLITS, "dataset": DS, "content_id": IDS, "distortion": "blur", "level": 1,
                             "n_frames": 8, "fps": 4, "chain": "blur:1"})  # fmt: skip
    f["manifest"] = csv(data / "manifests" / f"{DS}.csv", manifest)
    pool = manifest.assign(split="pool", mos=np.nan, dataset="pool", video_id=POOL, content_id=POOL)  # W2S's D_w2s
    f["pool"] = csv(work / "pool.csv", pool)
    ladder = manifest.iloc[:6].assign(split="test", mos=[5.0, 4.0, 3.0, 5.0, 4.0, 3.0], content_id=["c0"] * 3 + ["c1"] * 3,
                                      level=[1, 2, 3] * 2)  # fmt: skip
    f["ladder"] = csv(work / "ladder.csv", ladder)
    f["oracle"] = csv(data / "oracle" / f"{DS}.csv", pd.DataFrame({"video_id": IDS[6:], "dataset": DS, "mos": [2, 4]}))
    rng = np.random.default_rng(0)
    for enc, dim in (("efficientnet_lite0", 1280), ("motion", 4)):
        f[enc] = write_features(data / "features" / DS / f"{enc}.npz", IDS, rng.normal(size=(8, 2, dim)), enc,
                                np.zeros((8, 2), np.int64))  # fmt: skip
        write_features(data / "features" / "pool" / f"{enc}.npz", POOL, rng.normal(size=(8, 2, dim)), enc,
                       np.zeros((8, 2), np.int64))  # fmt: skip
    f["features_root"] = data / "features"
    torch.manual_seed(0)
    model = get_base_model_class("effnet_motion")(in_dim=1284, hidden=4)
    f["model"] = work / "f.pt"
    Checkpoint("effnet_motion", {"in_dim": 1284, "hidden": 4}, model.state_dict(),
               LogisticFit("linear", (1.0, 0.0))).save(f["model"])  # fmt: skip
    kwargs = {"in_dim": 1284, "spatial_dim": 1280, "hidden": 16, "layers": 1, "heads": 2}
    f["student"] = work / "student.pt"
    StudentCheckpoint("pair_transformer", kwargs, PairTransformer(**kwargs).state_dict(),
                      ("efficientnet_lite0", "motion")).save(f["student"])  # fmt: skip
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
    t5 = long.assign(table="w2s_table5", row=["brisque", "brisque_labeled"] * 2,
                     column=["overall_in_domain"] * 2 + ["overall_ood"] * 2, note=["teacher", ""] * 2)  # fmt: skip
    f["table5"] = csv(work / "w2s_table5.csv", t5)
    f["gmad"] = work / "gmad.json"
    f["gmad"].write_text(
        json.dumps({"models": ["base_model", "lambda_0"], "a": {}, "gmad_score": {}, "thurstone_q": {}})
    )
    f["pairs"] = csv(work / "gmad_pairs.csv", pd.DataFrame({"attacker": ["a"], "defender": ["b"], "level": [1]}))
    f["w2s_pairs"] = csv(work / "pairs.csv", pd.DataFrame({"first": ["v0", "v1", "v2"], "second": ["v1", "v2", "v3"],
                                                          "label": [1, 3, 2], "kind": "source"}))  # fmt: skip
    teacher = pd.DataFrame({"video_id": IDS + POOL, "dataset": [DS] * 8 + ["pool"] * 8, "split": SPLITS + ["pool"] * 8,
                            "raw": np.arange(16.0), "mos": np.linspace(1, 5, 16)})  # fmt: skip
    f["teacher_a"] = csv(work / "teacher_a.csv", teacher)
    f["teacher_b"] = csv(work / "teacher_b.csv", teacher.assign(mos=np.linspace(1.2, 4.6, 16)[::-1].copy()))
    f["shaped"] = csv(work / "shaped.csv", pd.DataFrame({"video_id": POOL}))
    f["anchors"] = csv(work / "anchors.csv", manifest.iloc[[0, 2, 3]][["video_id", "dataset", "path", "mos"]])
    f["raw_scores"] = csv(work / "raw_scores.csv", pd.DataFrame({"video_id": IDS, "score": np.arange(8.0)}))
    metrics = pd.DataFrame({"video_id": IDS, **{m: rng.uniform(0, 10, 8) for m in ("blockiness", "blur_cpbd",
                            "contrast", "noise", "flicker", "colourfulness", "luminance", "si", "ti")}})  # fmt: skip
    f["candidates"] = csv(work / "candidates.csv", metrics)
    f["reference"] = csv(work / "reference.csv", metrics.iloc[:5])
    f["matrix"] = work / "matrix.csv"
    f["matrix"].write_text(",a,b,c\na,,0.7,0.6\nb,0.3,,0.4\nc,0.4,0.6,\n")
    f["tables"] = work / "tables"
    f["tables"].mkdir()
    for name in ("tiny", "paper"):
        f[f"{name}_config"] = root / f"{name}.yaml"
        shutil.copy(REPO / "config" / f"{name}.yaml", f[f"{name}_config"])
    f["inventory"] = csv(root / "inventory.csv", pd.DataFrame({"source_id": ["skimage_x"], "category": ["photo"],
                         "origin": ["o"], "path": ["x.png"], "license": ["l"]}))  # fmt: skip
    f["catalogue"] = csv(root / "catalogue.csv", pd.DataFrame({"content_id": ["render_testsrc2"], "category": "render",
                         "source_id": "lavfi", "origin": "ffmpeg lavfi", "path": "testsrc2", "start": 0.0,
                         "params": "{}", "license": "x"}))  # fmt: skip
    f["plan"] = csv(root / "plans" / f"{DS}.csv", pd.DataFrame({"video_id": ["r0"], "dataset": DS,
                    "content_id": ["render_testsrc2"], "category": "render", "split": "test", "chain": "blur:1",
                    "distortion": "blur", "level": 1, "shard": 0, "seed": 1}))  # fmt: skip
    shard = data / "rendered" / "shard0"
    f["shard"] = shard
    csv(shard / "labels.csv", pd.DataFrame({"video_id": ["r0"], "path": ["x.mp4"], "mos": [3.0]}))
    (shard / "toolchain.json").write_text(json.dumps({"ffmpeg": "ffmpeg version x", "imageio_ffmpeg": "y"}))
    f["cache"] = root / "cache"
    f["cache"].mkdir()
    f["out"] = root / "out"
    f["out"].mkdir()
    for folder in ("home", "nest/deeper"):  # HOME and a working folder for the cases that name them (tiny-vlm)
        f[folder] = root / folder
        f[folder].mkdir(parents=True)
        (f[folder] / "notes.txt").write_text("a user's file\n")
    f["records"], f["logs"] = root / "records", root / "logs"  # checksum records of two runs; a job's log
    for run in ("a", "b"):
        (f["records"] / run).mkdir(parents=True)
        (f["records"] / run / "adapt.json").write_text(json.dumps({"job": "adapt", "rule": "adapt", "inputs": [],
                                                                   "declared_outputs": [], "outputs": {}}))  # fmt: skip
    f["logs"].mkdir()
    (f["logs"] / "adapt.log").write_text("")
    f["folder"] = root / "a_folder"  # an existing folder with a user's file in it
    f["folder"].mkdir()
    (f["folder"] / "keep.txt").write_text("a user's file\n")
    return f


# ---------------------------------------------------------------------------------------------- the table

INT1 = ("0", "-1", "x", "2.5", "nan", "99999999999999999999")  # a count >= 1
INT0 = ("-1", "x", "2.5", "99999999999999999999")  # a count >= 0
SEED = ("-1", "x", "1e23", "100000000000000000000000")
THREADS = ("0", "-2", "x", "100000")
POS = ("0", "-1", "nan", "inf", "x", "1e999")  # a finite number > 0
NONNEG = ("-1", "nan", "inf", "-inf", "x")  # a finite number >= 0
FRACTION = ("-0.5", "2", "nan", "inf", "x")  # a number in [0, 1]
NAME = ("../x", "..", "a/b", ".hidden", "x" * 300)
CHOICE = ("nope",)
JSON = ("{not json", "[1, 2")
OPTIMISER = {"--epochs": INT1, "--lr": POS, "--batch": ("1", *INT1), "--weight-decay": NONNEG, "--seed": SEED,
             "--threads": THREADS}  # fmt: skip
GRPO = {"--generations": INT1 + ("5000",), "--temperature": POS, "--max-new-tokens": INT1, "--beta": NONNEG,
        "--clip-eps": POS, "--micro-batch": INT1, "--mixed-precision": CHOICE, "--train-frames": INT1}  # fmt: skip


@dataclass
class Case:
    """One bad invocation: its arguments and what the error line must name."""

    label: str
    argv: list[str]
    names: tuple[str, ...]  # the line must contain one of these (an option, a file)
    cwd: str = ""  # the working folder, relative to the inputs' root (never a folder outside it)


@dataclass
class Entry:
    """A command's valid line, the bad values of its options, its outputs and its bad-data cases."""

    args: Callable[[dict], list[str]]
    bad: dict[str, tuple[str, ...]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=lambda: {"--out": "file"})  # option -> file | dir | into
    same_as: str | None = None  # an input option an output is set to (output = input)
    names: tuple[str, ...] = ()  # options whose value becomes a path component
    free: dict[str, str] = field(default_factory=dict)  # options taking any value, with why
    data: Callable[[dict, Path], list[Case]] | None = None  # bad data (files written under the given folder)


def s(path) -> str:
    return str(path)


def manifest_case(f: dict, tmp: Path, label: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    """A copy of the valid manifest changed by ``edit`` (a bad-data case)."""
    df = pd.read_csv(f["manifest"], dtype={"video_id": str, "content_id": str})
    return csv(tmp / f"{label}.csv", edit(df))


def thurstone_cases(f, tmp):
    corner = tmp / "corner.csv"
    corner.write_text(",a\na,\n")  # one item: only the corner and a blank diagonal
    huge = tmp / "huge.csv"
    huge.write_text(",a,b\na,,1e300\nb,0,\n")
    both = tmp / "both.csv"
    both.write_text(",a,b\na,,0.9\nb,0.9,\n")
    return [Case("one item", ["--matrix", s(corner), "--counts"], (s(corner),)),
            Case("huge counts", ["--matrix", s(huge), "--counts"], (s(huge),)),
            Case("P(a>b) + P(b>a) != 1", ["--matrix", s(both)], (s(both),))]  # fmt: skip


def manifest_data_cases(command: str, option: str) -> Callable:
    """A manifest whose dataset escapes the root, and one with an absurd MOS, for a command reading ``option``."""

    def cases(f, tmp):
        out = []
        for label, edit in (("dotdot", lambda d: d.assign(dataset="../x")),
                            ("huge_mos", lambda d: d.assign(mos=d.mos.where(d.mos.isna(), 1e308))),
                            ("escaping_path", lambda d: d.assign(path="../../../etc/passwd"))):  # fmt: skip
            bad = manifest_case(f, tmp, label, edit)
            argv = with_option(TABLE[command].args(f), option, s(bad))
            out.append(Case(label, argv, (s(bad),)))
        return out

    return cases


def w2s_pairs_cases(f, tmp):
    nan = csv(tmp / "nan.csv", pd.read_csv(f["teacher_a"]).assign(mos=np.nan))
    inf = csv(tmp / "inf.csv", pd.read_csv(f["teacher_a"]).assign(mos=np.inf))
    base = ["--kind", "homogeneous", "--count", "5", "--pool", s(f["pool"]), "--shaped", s(f["shaped"]),
            "--stage-sizes", "4", "2", "2", "--out", s(f["out"] / "p.csv")]  # fmt: skip
    return [Case("nan teacher", [*base, "--teachers", s(nan), s(f["teacher_b"])], (s(nan),)),
            Case("one nan teacher", [*base, "--teachers", s(nan)], (s(nan),)),
            Case("inf teacher", [*base, "--teachers", s(inf), s(f["teacher_b"])], (s(inf),))]  # fmt: skip


def w2s_anchors_cases(f, tmp):
    nan = csv(tmp / "nan.csv", pd.read_csv(f["teacher_a"]).assign(mos=np.nan))
    text = csv(tmp / "text.csv", pd.read_csv(f["teacher_a"]).assign(mos="high"))
    base = ["--source-manifest", s(f["manifest"]), "--count", "2", "--out", s(f["out"] / "a.csv")]
    return [Case("nan teacher", [*base, "--teachers", s(nan), s(f["teacher_b"])], (s(nan),)),
            Case("text teacher", [*base, "--teachers", s(text), s(f["teacher_b"])], (s(text),))]  # fmt: skip


def reveal_cases(f, tmp):
    oracle = pd.read_csv(f["oracle"])
    dup = csv(tmp / "dup" / f"{DS}.csv", pd.concat([oracle, oracle]))
    nan = csv(tmp / "nan" / f"{DS}.csv", oracle.assign(mos=np.nan))
    inf = csv(tmp / "inf" / f"{DS}.csv", oracle.assign(mos=np.inf))
    base = ["--dataset", DS, "--out", s(f["out"] / "l.csv")]
    return [Case("oracle as selection", [*base, "--selection", s(f["oracle"]), "--oracle", s(f["oracle"])],
                 (s(f["oracle"]),)),
            *[Case(label, [*base, "--selection", s(f["selection"]), "--oracle", s(p)], (s(p),))
              for label, p in (("duplicate ids", dup), ("nan oracle", nan), ("inf oracle", inf))]]  # fmt: skip


def score_cases(f, tmp):
    no_test = manifest_case(f, tmp, "no_test", lambda d: d[d.split != "test"])
    anchors = pd.read_csv(f["anchors"])
    dup = csv(tmp / "dup_anchors.csv", pd.concat([anchors, anchors.iloc[:1]]))
    base = ["--model", s(f["student"]), "--features-root", s(f["features_root"]), "--out", s(f["out"] / "s.csv")]
    return [Case("empty split", [*base, "--anchors", s(f["anchors"]), "--manifest", s(no_test), "--split", "test"],
                 (s(no_test),)),
            Case("duplicate anchor", [*base, "--anchors", s(dup), "--manifest", s(f["manifest"])], (s(dup),))]  # fmt: skip


def model_split_cases(command: str) -> Callable:
    def cases(f, tmp):
        no_test = manifest_case(f, tmp, "no_test", lambda d: d[d.split != "test"])
        one_test = manifest_case(f, tmp, "one_test", lambda d: d.drop(index=5))
        option = "--manifests" if command == "evaluate" else "--manifest"
        argv = [*with_option(TABLE[command].args(f), option, s(no_test)), "--split", "test"]
        out = [Case("empty split", argv, (s(no_test),))]
        if command == "evaluate":
            out.append(Case("one test video", with_option(TABLE[command].args(f), option, s(one_test)), (s(one_test),)))
        return out

    return cases


def features_cases(f, tmp):
    return [Case("more frames than the clip", with_option(TABLE["features"].args(f), "--frames", "9"), ("--frames",))]


def iqa_cases(f, tmp):
    return [Case("rate above the clip's", with_option(TABLE["iqa"].args(f), "--frames-per-second", "5"),
                 ("--frames-per-second",))]  # fmt: skip


def plan_memory_cases(f, tmp):
    import yaml

    out = []
    for label, edit in (("frames eight", ("frames", "eight")), ("negative batch", ("per_device_batch", -4))):
        config = yaml.safe_load(f["paper_config"].read_text())
        config["paper_scale"]["models"]["f"][edit[0]] = edit[1]
        bad = tmp / f"{label.replace(' ', '_')}.yaml"
        bad.write_text(yaml.safe_dump(config))
        out.append(Case(label, ["--config", s(bad)], (s(bad),)))
    return out


def validate_config_cases(f, tmp):
    import yaml

    config = yaml.safe_load(f["tiny_config"].read_text())
    config["seed"] = 10**29
    bad = tmp / "big_seed.yaml"
    bad.write_text(yaml.safe_dump(config))
    return [Case("seed 1e29", [s(bad)], (s(bad),))]


def claims_cases(f, tmp):
    out = s(f["out"] / "c.csv")
    return [Case("missing tables folder", ["--tables-dir", s(tmp / "nowhere"), "--out", out], ("--tables-dir",)),
            Case("missing gmad file", ["--tables-dir", s(f["tables"]), "--gmad", s(tmp / "nowhere.json"), "--out", out],
                 ("--gmad",))]  # fmt: skip


def shape_cases(f, tmp):
    huge = csv(tmp / "huge.csv", pd.read_csv(f["candidates"]).assign(contrast=1e308))
    return [Case("metric 1e308", with_option(TABLE["shape"].args(f), "--candidates", s(huge)), (s(huge),))]


def check_manifest_cases(f, tmp):
    return manifest_data_cases("check-manifest", "manifest")(f, tmp)


def anchors_dataset_cases(f, tmp):
    bad = csv(tmp / "anchors.csv", pd.read_csv(f["anchors"]).assign(dataset="../x"))
    return [Case("anchors dataset ..", with_option(TABLE["score"].args(f), "--anchors", s(bad)), (s(bad),))]


def score_data(f, tmp):
    return score_cases(f, tmp) + anchors_dataset_cases(f, tmp) + manifest_data_cases("score", "--manifest")(f, tmp)


def adapt_cases(f, tmp):
    table = pd.read_csv(f["manifest"])
    huge = csv(tmp / "huge.csv", table.assign(mos=table.mos.where(table.mos.isna(), 1e308)))
    escape = csv(tmp / "escape.csv", table.assign(path="../../../../etc/passwd"))
    return [Case("mos 1e308", with_option(TABLE["adapt"].args(f), "--csv", s(huge)), (s(huge),)),
            Case("path ..", with_option(TABLE["adapt"].args(f), "--csv", s(escape)), (s(escape),))]  # fmt: skip


def tiny_vlm_cases(f, tmp):
    """The working folder and its parent, and the home folder: all inside the inputs' root (HOME points there while
    a case runs), so a regression deletes test files, never the machine's. "/" is checked without a run
    (``test_protected_folders_are_never_replaceable``)."""
    argv = ["--arch", "qwen2_5_vl", "--out"]
    return [Case("--out .", [*argv, "."], ("--out",), cwd="nest/deeper"),
            Case("--out parent", [*argv, ".."], ("--out",), cwd="nest/deeper"),
            Case("--out home", [*argv, s(f["home"])], ("--out",), cwd="nest/deeper")]  # fmt: skip


def w2s_stage_cases(f, tmp):
    base = ["--kind", "homogeneous", "--count", "5", "--teachers", s(f["teacher_a"]), s(f["teacher_b"]), "--pool",
            s(f["pool"]), "--shaped", s(f["shaped"]), "--out", s(f["out"] / "p.csv")]  # fmt: skip
    sizes = ["--stage-sizes", "4", "2", "2"]
    return (
        [Case(f"--stage {k}", [*base, *sizes, "--stage", k], ("--stage",)) for k in ("0", "99", "-1")]
        + [
            Case(
                "stage sizes not summing to the shaped pool", [*base, "--stage-sizes", "4", "2", "1"], (s(f["shaped"]),)
            ),
            Case("no stage sizes", base, ("--stage-sizes",)),
        ]
        + w2s_pairs_cases(f, tmp)
    )


def w2s_test_set_cases(f, tmp):
    """A pool split without the oracle holding its MOS; a split the manifest lacks; 'all' beside a split name."""
    base = ["--manifest", s(f["manifest"]), "--out", s(f["out"] / "ts.csv")]
    no_v7 = csv(tmp / "oracle" / f"{DS}.csv", pd.read_csv(f["oracle"]).iloc[:1])
    return [Case("pool without --oracle", [*base, "--splits", "pool"], ("--oracle",)),
            Case("oracle lacking a pool video", [*base, "--splits", "all", "--oracle", s(no_v7)], (s(f["manifest"]),)),
            Case("all and test", [*base, "--splits", "all", "test"], ("--splits",))]  # fmt: skip


def w2s_targets_cases(f, tmp):
    nan = csv(tmp / "nan.csv", pd.read_csv(f["teacher_a"]).assign(mos=np.nan))
    base = ["--kind", "teacher", "--pool", s(f["pool"]), "--shaped", s(f["shaped"]), "--out", s(f["out"] / "tg.csv")]
    return [Case("nan teacher", [*base, "--teacher", s(nan), "--stage-sizes", "4", "2", "2"], (s(nan),)),
            Case("no stage sizes", [*base, "--teacher", s(f["teacher_a"])], ("--stage-sizes",)),
            Case("source without its manifest", ["--kind", "source", "--out", s(f["out"] / "tg.csv")],
                 ("--source-manifest",))]  # fmt: skip


def batch_cases(f, tmp):
    good = f"reveal --selection {f['selection']} --oracle {f['oracle']} --dataset {DS} --out {f['out'] / 'l.csv'}"
    bad = f"reveal --selection {f['selection']} --oracle {f['oracle']} --dataset {DS} --out {f['folder']}"
    return [Case("a later command's bad output", [good, bad], ("--out",))]


MDS_SPEC = json.dumps({"table": "mds_table2", "rows": [{"key": "base_model", "kind": "base", "variant": None, "note": "",
                       "base": "effnet_motion"}], "columns": [DS], "paper_key": {}, "seeds": [0], "run": "t",
                       "config_hash": "x", "ablation_dataset": DS})  # fmt: skip
W2S_SPEC = json.dumps({"table": "w2s_table5", "rows": [], "columns": [], "seeds": [0], "run": "t", "config_hash": "x"})


# fmt: off
def TABLE_ENTRIES() -> dict[str, Entry]:  # noqa: N802 (a table, built lazily: it names REPO files)
    clip = '{"width": 16, "height": 16, "fps": 4, "seconds": 1}'
    paper = s(REPO / "results" / "paper")
    return {
        "validate-config": Entry(lambda f: [s(f["tiny_config"])], outputs={}, data=validate_config_cases),
        "sources": Entry(lambda f: ["--cache", s(f["cache"]), "--sources", "skimage", "--out", s(f["out"] / "i.csv")],
                         {"--sources": CHOICE}, outputs={"--out": "file", "--cache": "cache"}),
        "catalogue": Entry(lambda f: ["--inventory", s(f["inventory"]), "--cache", s(f["cache"]), "--clip-seconds", "1",
                                      "--params", "{}", "--seed", "1", "--out", s(f["out"] / "c.csv")],
                           {"--clip-seconds": POS + ("31",), "--params": JSON, "--seed": SEED}, same_as="--inventory"),
        "plan": Entry(lambda f: ["--catalogue", s(f["catalogue"]), "--dataset", DS, "--allocation", "{}", "--spec", "{}",
                                 "--seed", "1", "--shards", "1", "--out", s(f["out"] / "p.csv")],
                      {"--seed": SEED, "--shards": INT1, "--allocation": JSON, "--spec": JSON}, same_as="--catalogue",
                      names=("--dataset",)),
        "render": Entry(lambda f: ["--plan", s(f["plan"]), "--catalogue", s(f["catalogue"]), "--shard", "0",
                                   "--data-root", s(f["data"]), "--clip", clip, "--out", s(f["data"] / DS / "shard9")],
                        {"--shard": INT0, "--rater-noise-sd": NONNEG + ("6",), "--clip": JSON + ('{"width": -2}',),
                         "--x265-preset": CHOICE, "--jitter-crop": CHOICE}, outputs={"--out": "dir"}),
        "manifest": Entry(lambda f: ["--plan", s(f["plan"]), "--shards", s(f["shard"]), "--out", s(f["out"] / "m.csv"),
                                     "--oracle", s(f["out"] / "o.csv")],
                          outputs={"--out": "file", "--oracle": "file"}, same_as="--plan"),
        "corpus-summary": Entry(lambda f: ["--manifests", s(f["manifest"]), "--oracles", s(f["oracle"]), "--data-root",
                                           s(f["data"]), "--analogues", "{}", "--table", s(f["out"] / "t.csv"),
                                           "--figure", s(f["out"] / "f.png")],
                                {"--analogues": JSON, "--domains": JSON, "--per-dataset": INT1, "--seed": SEED},
                                outputs={"--table": "file", "--figure": "file"}, same_as="--manifests"),
        "placeholder-tree": Entry(lambda f: ["--config", s(f["paper_config"]), "--out", s(f["out"] / "tree")],
                                  {"--videos": ("1", *INT1, "1000000"), "--seed": SEED}, outputs={"--out": "dir"}),
        "adapt": Entry(lambda f: ["--csv", s(f["manifest"]), "--dataset", DS, "--path-column", "path", "--mos-column",
                                  "mos", "--out", s(f["out"] / "m.csv")],
                       {"--test-fraction": FRACTION + ("1",), "--seed": SEED, "--adapter": CHOICE, "--role": CHOICE},
                       outputs={"--out": "file", "--oracle": "file"}, same_as="--csv", names=("--dataset",),
                       free={o: "a column of the user's CSV (a missing one is named)" for o in
                             ("--path-column", "--mos-column", "--id-column", "--content-column", "--split-column")},
                       data=adapt_cases),
        "check-manifest": Entry(lambda f: [s(f["manifest"])], outputs={}, data=check_manifest_cases),
        "select": Entry(lambda f: ["--method", "coreset", "--features", s(f["efficientnet_lite0"]), "--budget", "2",
                                   "--out", s(f["out"] / "s.csv")],
                        {"--method": CHOICE, "--budget": ("0", "-1", "nan", "inf", "x", "1.5", "99"),
                         "--lambda": NONNEG, "--seed": SEED, "--device": ("tpu9", "cuda:x"), "--chamfer": CHOICE,
                         "--storage": CHOICE, "--sample-epsilon": ("-0.5", "1", "2", "nan", "inf", "x")},
                        same_as="--features"),
        "features": Entry(lambda f: ["--manifest", s(f["manifest"]), "--data-root", s(f["data"]), "--encoder", "motion",
                                     "--out", s(f["out"] / "m.npz")],
                          {"--encoder": CHOICE, "--encoders": CHOICE, "--frames": INT1 + ("100000",), "--batch": INT1,
                           "--device": ("tpu9",), "--threads": THREADS, "--options": JSON},
                          outputs={"--out": "file", "--out-dir": "into"}, same_as="--manifest",
                          free={"--model": "an open_clip model name (the encoder refuses an unknown one)"},
                          data=features_cases),
        "train-base": Entry(lambda f: ["--base", "effnet_motion", "--manifest", s(f["manifest"]), "--features-root",
                                       s(f["features_root"]), "--epochs", "1", "--out", s(f["out"] / "f.pt")],
                            {"--base": CHOICE, "--hidden": INT1, "--rank": INT1, "--dtype": CHOICE, "--scores": CHOICE,
                             **OPTIMISER, **GRPO},
                            same_as="--manifest", free={"--weights": "a VLM folder or a Hugging Face id"}),
        "predict": Entry(lambda f: ["--model", s(f["model"]), "--manifest", s(f["manifest"]), "--features-root",
                                    s(f["features_root"]), "--out", s(f["out"] / "p.csv")],
                         {"--split": CHOICE, "--column": CHOICE, "--threads": THREADS}, same_as="--manifest",
                         data=lambda f, t: model_split_cases("predict")(f, t)
                         + manifest_data_cases("predict", "--manifest")(f, t)),
        "embed": Entry(lambda f: ["--model", s(f["model"]), "--manifest", s(f["manifest"]), "--features-root",
                                  s(f["features_root"]), "--out", s(f["out"] / "e.npz")],
                       {"--threads": THREADS}, same_as="--model"),
        "oof-errors": Entry(lambda f: ["--base", "effnet_motion", "--manifest", s(f["manifest"]), "--features-root",
                                       s(f["features_root"]), "--folds", "2", "--epochs", "1", "--out",
                                       s(f["out"] / "e.csv")],
                            {"--base": CHOICE, "--hidden": INT1, "--folds": ("1", *INT1), **OPTIMISER},
                            same_as="--manifest"),
        "train-g": Entry(lambda f: ["--base-model", s(f["model"]), "--manifest", s(f["manifest"]), "--features-root",
                                    s(f["features_root"]), "--loss", "ranking", "--rank", "2", "--epochs", "1",
                                    "--out", s(f["out"] / "g.pt")],
                         {"--loss": CHOICE, "--rank": INT1, "--recipe": CHOICE, **OPTIMISER, **GRPO},
                         same_as="--base-model"),
        "reveal": Entry(lambda f: ["--selection", s(f["selection"]), "--oracle", s(f["oracle"]), "--dataset", DS,
                                   "--out", s(f["out"] / "l.csv")],
                        same_as="--oracle", names=("--dataset",), data=reveal_cases),
        "finetune": Entry(lambda f: ["--base-model", s(f["model"]), "--source-manifest", s(f["manifest"]), "--labels",
                                     s(f["labels"]), "--features-root", s(f["features_root"]), "--epochs", "1",
                                     "--out", s(f["out"] / "ft.pt")],
                          {"--rank": INT1, **OPTIMISER, **GRPO}, same_as="--base-model"),
        "evaluate": Entry(lambda f: ["--model", s(f["model"]), "--manifests", s(f["manifest"]), "--features-root",
                                     s(f["features_root"]), "--out", s(f["out"] / "e.csv")],
                          {"--split": CHOICE, "--threads": THREADS}, same_as="--manifests",
                          data=lambda f, t: model_split_cases("evaluate")(f, t)
                          + manifest_data_cases("evaluate", "--manifests")(f, t)),
        "gmad": Entry(lambda f: ["--predictions", f"a={f['predictions']}", f"b={f['pred_b']}", "--manifest",
                                 s(f["manifest"]), "--out", s(f["out"] / "g.json"), "--pairs", s(f["out"] / "p.csv")],
                      {"--predictions": ("nonsense",), "--split": CHOICE, "--levels": INT1, "--delta": NONNEG},
                      outputs={"--out": "file", "--pairs": "file"}, same_as="--manifest",
                      free={"--score-column": "a column of the prediction CSVs (a missing one is named)"}),
        "thurstone": Entry(lambda f: ["--matrix", s(f["matrix"]), "--out", s(f["out"] / "q.csv")], {"--link": CHOICE},
                           same_as="--matrix", data=thurstone_cases),
        "mds-figures": Entry(lambda f: ["--predictions", s(f["predictions"]), "--oracle", s(f["oracle"]), "--dataset", DS,
                                        "--mds-selection", s(f["selection"]), "--random-selection", s(f["selection"]),
                                        "--table6", s(f["table6"]), "--scatter", s(f["out"] / "a.png"), "--tradeoff",
                                        s(f["out"] / "b.png")],
                             outputs={"--scatter": "file", "--tradeoff": "file"}, same_as="--predictions",
                             names=("--dataset",)),
        "mds-table": Entry(lambda f: ["--spec", MDS_SPEC, "--data-root", s(f["data"]), "--work", s(f["work"]),
                                      "--paper-root", paper, "--out", s(f["out"] / "mds_table2.csv")],
                           {"--spec": JSON}, free={"--data-root": "the corpus root (read only)",
                                                   "--work": "the run's work folder (read only)"}),
        "mds-methods-figure": Entry(lambda f: ["--tables", s(f["table2"]), "--paper-root", paper,
                                               "--out", s(f["out"] / "m.png")], same_as="--tables"),
        "mds-table4": Entry(lambda f: ["--gmad", s(f["gmad"]), "--table3", s(f["table3"]), "--paper-root", paper,
                                       "--out", s(f["out"] / "mds_table4.csv")],
                            outputs={"--out": "file", "--figure": "file"}, same_as="--table3",
                            free={"--rows": "KEY=NAME pairs (an unknown key is named)", "--run": "a run label",
                                  "--config-hash": "a hash label", "--figure-models": "gMAD model names"}),
        "w2s-teacher": Entry(lambda f: ["--teacher", "ext", "--kind", "scores", "--scores", s(f["raw_scores"]), "--source",
                                        DS, "--sets", s(f["manifest"]), "--out", s(f["out"] / "t.csv")],
                             {"--kind": CHOICE, "--threads": THREADS}, same_as="--scores", names=("--teacher", "--source"),
                             outputs={"--out": "file", "--cache": "cache"}),
        "w2s-anchors": Entry(lambda f: ["--source-manifest", s(f["manifest"]), "--teachers", s(f["teacher_a"]),
                                        s(f["teacher_b"]), "--count", "2", "--out", s(f["out"] / "a.csv")],
                             {"--count": ("1", *INT1, "1000")}, same_as="--teachers", data=w2s_anchors_cases),
        "w2s-pairs": Entry(lambda f: ["--kind", "source", "--count", "5", "--source-manifest", s(f["manifest"]),
                                      "--out", s(f["out"] / "p.csv")],
                           {"--kind": CHOICE, "--count": INT1, "--stage": ("0", "4", "99", "-1", "x"),
                            "--stage-sizes": ("0", "-1", "x"),
                            "--split-seed": SEED, "--source-sigma": POS, "--single-sigma": POS, "--seed": SEED},
                           same_as="--source-manifest", data=w2s_stage_cases),
        "w2s-test-set": Entry(lambda f: ["--manifest", s(f["manifest"]), "--splits", "test", "pool", "--oracle",
                                         s(f["oracle"]), "--out", s(f["out"] / "ts.csv")],
                              {"--splits": CHOICE}, same_as="--manifest", data=w2s_test_set_cases),
        "w2s-targets": Entry(lambda f: ["--kind", "source", "--source-manifest", s(f["manifest"]), "--out",
                                        s(f["out"] / "tg.csv")],
                             {"--kind": CHOICE, "--stage": ("0", "4", "x"), "--stage-sizes": ("0", "-1", "x"),
                              "--split-seed": SEED}, same_as="--source-manifest", data=w2s_targets_cases),
        "w2s-train": Entry(lambda f: ["--pairs", s(f["w2s_pairs"]), "--manifests", s(f["manifest"]), "--features-root",
                                      s(f["features_root"]), "--hidden", "16", "--layers", "1", "--heads", "2",
                                      "--epochs", "1", "--out", s(f["out"] / "st.pt")],
                           {"--student": CHOICE, "--loss": CHOICE, "--loss-warmup": ("0", *FRACTION),
                            "--student-options": JSON, "--hidden": INT1, "--layers": INT1, "--heads": INT1,
                            "--epochs": INT1, "--lr": POS, "--batch": ("1", *INT1), "--weight-decay": NONNEG,
                            "--warmup": FRACTION, "--seed": SEED, "--threads": THREADS}, same_as="--pairs"),
        "w2s-mine": Entry(lambda f: ["--student", s(f["student"]), "--stage", "2", "--teachers", s(f["teacher_a"]),
                                     s(f["teacher_b"]), "--pool", s(f["pool"]), "--shaped", s(f["shaped"]), "--ladder",
                                     s(f["ladder"]), "--source-manifest", s(f["manifest"]), "--anchors", s(f["anchors"]),
                                     "--features-root", s(f["features_root"]), "--gmad-count", "3", "--synthetic-count",
                                     "3", "--stage-sizes", "4", "2", "2", "--out", s(f["out"] / "mined.csv")],
                          {"--stage": ("1", "4", "x"), "--stage-sizes": ("0", "-1", "x"), "--gmad-count": INT1, "--synthetic-count": INT1,
                           "--levels": INT1, "--split-seed": SEED, "--temperature": POS, "--link": CHOICE,
                           "--solver": CHOICE, "--seed": SEED, "--threads": THREADS}, same_as="--shaped"),
        "w2s-evaluate": Entry(lambda f: ["--model", s(f["student"]), "--anchors", s(f["anchors"]), "--sets",
                                         f"{f['manifest']}:test", "--features-root", s(f["features_root"]),
                                         "--scores-out", s(f["out"] / "s.csv"), "--out", s(f["out"] / "e.csv")],
                              {"--temperature": POS, "--link": CHOICE, "--solver": CHOICE, "--threads": THREADS},
                              outputs={"--out": "file", "--scores-out": "file"}, same_as="--anchors"),
        "score": Entry(lambda f: ["--model", s(f["student"]), "--anchors", s(f["anchors"]), "--manifest",
                                  s(f["manifest"]), "--features-root", s(f["features_root"]), "--out",
                                  s(f["out"] / "s.csv")],
                       {"--split": CHOICE, "--frames": INT1, "--temperature": POS + ("-5",), "--link": CHOICE,
                        "--solver": CHOICE, "--threads": THREADS, "--fps": POS, "--frame-size": INT1,
                        "--prompt": CHOICE, "--dtype": CHOICE, "--device": ("tpu9",), "--vlm-batch": INT1},
                       outputs={"--out": "file", "--matrix-out": "file"}, same_as="--anchors", data=score_data),
        "w2s-table": Entry(lambda f: ["--spec", W2S_SPEC, "--work", s(f["work"]), "--manifests", s(f["manifest"]),
                                      "--paper-root", paper, "--out", s(f["out"] / "w2s_table5.csv")],
                           {"--spec": JSON}, same_as="--manifests", free={"--work": "the run's work folder (read only)"}),
        "w2s-figure": Entry(lambda f: ["--table5", s(f["table5"]), "--out", s(f["out"] / "w.png")], same_as="--table5"),
        "control-mds": Entry(lambda f: ["--manifest", s(f["manifest"]), "--predictions", s(f["predictions"]),
                                        "--features", s(f["features_root"] / DS / "efficientnet_lite0.npz"), "--seeds",
                                        "0", "--difficulty", s(f["out"] / "cd.csv"), "--out-manifest",
                                        s(f["out"] / "cm.csv"), "--out-oracle", s(f["out"] / "co.csv"), "--out",
                                        s(f["out"] / "cp.csv")],
                             {"--share": ("0", "1", *FRACTION), "--noise": NONNEG + ("101",),
                              "--g-noise": NONNEG + ("101",), "--seed": SEED, "--seeds": SEED},
                             outputs={"--out": "file", "--out-manifest": "file", "--out-oracle": "file",
                                      "--difficulty": "file"}, same_as="--manifest"),
        "control-w2s": Entry(lambda f: ["--sets", s(f["manifest"]), "--pool", s(f["pool"]), "--shaped", s(f["pool"]),
                                        "--oracle", s(f["oracle"]), "--out", s(f["out"] / "cw.csv")],
                             {"--noise": NONNEG + ("101",), "--seed": SEED, "--stage-sizes": ("0", "-1", "x"),
                              "--split-seed": SEED},
                             outputs={"--out": "file", "--mean-out": "file", "--heldout": "file"}, same_as="--pool"),
        "control-table": Entry(lambda f: ["--spec", "{}", "--work", s(f["root"]), "--out", s(f["out"] / "ct.csv")],
                               {"--spec": JSON}, free={"--work": "a folder the spec's paths are read from"},
                               same_as="--manifests"),
        "claims": Entry(lambda f: ["--tables-dir", s(f["tables"]), "--out", s(f["out"] / "c.csv"), "--markdown",
                                   s(f["out"] / "c.md")],
                        {"--level": ("0", "1", *FRACTION), "--margin": NONNEG + ("2",), "--papers": CHOICE,
                         "--controls": CHOICE},
                        outputs={"--out": "file", "--markdown": "file"}, same_as="--gmad", data=claims_cases),
        "metrics": Entry(lambda f: [s(f["video0"]), "--out", s(f["out"] / "m.csv")],
                         {"--split": CHOICE, "--flicker-threshold": NONNEG + ("300",)}, same_as="VIDEO"),
        "shape": Entry(lambda f: ["--candidates", s(f["candidates"]), "--reference", s(f["reference"]), "--size", "3",
                                  "--out", s(f["out"] / "s.csv"), "--report", s(f["out"] / "r.json"), "--figure",
                                  s(f["out"] / "f.png")],
                       {"--size": INT1 + ("9",), "--bins": INT1 + ("1000000",), "--edges": CHOICE,
                        "--time-limit": POS, "--mip-max-candidates": INT0, "--random-subsets": INT0 + ("10000000",),
                        "--seed": SEED},
                       outputs={"--out": "file", "--report": "file", "--figure": "file"}, same_as="--candidates",
                       free={"--metrics": "metric columns (a missing one is named)"}, data=shape_cases),
        "iqa": Entry(lambda f: [s(f["video0"]), "--method", "brisque", "--out", s(f["out"] / "q.csv")],
                     {"--method": CHOICE, "--frames-per-second": POS + ("1e9",), "--patch-size": INT1 + ("100000",)},
                     outputs={"--out": "file", "--cache": "cache"}, same_as="VIDEO", data=iqa_cases),
        "tiny-vlm": Entry(lambda f: ["--arch", "qwen2_5_vl", "--out", s(f["out"] / "tiny")],
                          {"--arch": CHOICE, "--seed": SEED}, outputs={"--out": "dir"}, data=tiny_vlm_cases),
        "plan-memory": Entry(lambda f: ["--config", s(f["paper_config"]), "--out", s(f["out"] / "m.csv")],
                             {"--gpu-gib": POS + ("-80",), "--headroom": FRACTION + ("1",)}, same_as="--config",
                             data=plan_memory_cases),
        "batch": Entry(lambda f: [f"reveal --selection {f['selection']} --oracle {f['oracle']} --dataset {DS} "
                                  f"--out {f['out'] / 'l.csv'}"],
                       {"--threads": THREADS, "COMMAND": ("nope x", "batch reveal", "")}, outputs={},
                       data=batch_cases),
        "gpu-run": Entry(lambda f: ["--lock-dir", s(f["cache"]), "--devices", "0", "--", "true"],
                         {"--count": ("-1", "x", "2.5", "1000"), "--timeout": NONNEG, "--devices": (",,", "0,0", "a b")},
                         outputs={"--lock-dir": "cache"}, free={"COMMAND": "any program (one not found is named)"}),
        "dispatch": Entry(lambda f: [], outputs={}),
        "compare-runs": Entry(lambda f: [s(f["records"] / "a"), s(f["records"] / "b")], outputs={}, names=("--run",),
                              free={"RUN_A": "a record or working folder (one not found is named)",
                                    "RUN_B": "a record or working folder (one not found is named)"}),
        "record-job": Entry(lambda f: ["--log", s(f["logs"] / "adapt.log"), "--logs-root",
                                       s(f["logs"]), "--into", s(f["out"] / "records"), "--outputs", s(f["manifest"])],
                            outputs={"--into": "cache"},
                            free={"--log": "the job's log (one outside --logs-root is named)",
                                  "--logs-root": "the run's log folder", "--outputs": "the job's outputs (read)",
                                  "--inputs": "the job's inputs (read)"}),
        "mds-replay": Entry(lambda f: ["--release", s(f["root"] / "no_release"), "--paper-root", paper, "--out",
                                       s(f["out"] / "mds_replay.csv"), "--claims", s(f["out"] / "replay_claims.csv")],
                            {"--budget": ("1", *INT1), "--draws": INT1, "--tie-orders": INT1, "--mos-bins": INT1,
                             "--seed": SEED, "--level": ("0", "1", *FRACTION)},
                            outputs={"--out": "file", "--claims": "file"}, same_as="--lambda0"),
        "mds-replay-inputs": Entry(lambda f: ["--release", s(f["root"] / "no_release"), "--difficulty",
                                              s(f["out"] / "g.csv"), "--ids", s(f["out"] / "ids.npz")],
                                   outputs={"--difficulty": "file", "--ids": "file"}),
    }
# fmt: on


TABLE: dict[str, Entry] = TABLE_ENTRIES()

# ---------------------------------------------------------------------------------------------- running a case


def positional(argv: list[str]) -> int:
    """Index of the first positional argument (a value that follows no option)."""
    return next(i for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or not argv[i - 1].startswith("-")))


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option``'s value(s) replaced by ``value`` (added when absent); a positional by its name."""
    argv = list(argv)
    if not option.startswith("-"):  # validate-config's config, check-manifest's manifest, VIDEO, COMMAND
        argv[positional(argv)] = value
        return argv
    if option not in argv:
        at = argv.index("--") if "--" in argv else len(argv)  # gpu-run: options before its command
        return argv[:at] + [option, value] + argv[at:]
    i = argv.index(option) + 1
    j = i
    while j < len(argv) and not argv[j].startswith("--"):
        j += 1
    return argv[:i] + [value] + argv[max(j, i + 1) :]


def value_of(argv: list[str], option: str) -> str:
    return argv[positional(argv)] if not option.startswith("-") else argv[argv.index(option) + 1]


def snapshot(root: Path) -> dict[str, str]:
    """Every file (its SHA-256) and folder under ``root``."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_dir():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "other"
        else:
            out[rel] = "dir"
    return out


def restore(root: Path, master: Path) -> None:
    """Put ``root`` back as ``master`` holds it (after a case changed it)."""
    for child in list(root.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    for child in master.iterdir():
        (shutil.copytree if child.is_dir() else shutil.copy2)(child, root / child.name)


class Exec(Exception):
    """``gpu-run`` reached ``exec``: it accepted its arguments."""


@dataclass
class Outcome:
    code: object  # exit status, or "traceback: ..."
    stderr: str
    changes: dict[str, list[str]]

    @property
    def line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""

    def kind(self) -> str:
        """How the case ended: deletion, overwrite, partial, traceback, wrong success, clean, or unclear."""
        if self.changes["removed"]:
            return "deletion"
        if self.changes["changed"]:
            return "overwrite"
        failed = self.code != 0
        if failed and self.changes["added"]:
            return "partial"
        if isinstance(self.code, str):
            return "traceback"
        if self.code == 0:
            return "wrong success"
        one_line = self.line.startswith(("vqaloop: error: ", "vqaloop ")) and ": error: " in self.line
        return "clean" if self.code == 2 and one_line else "unclear"


def run_case(command: str, argv: list[str], root: Path, timeout: int = 0, cwd_in_root: str = "") -> Outcome:
    """Run ``vqaloop COMMAND ARGV`` in this process, in ``root`` (or its subfolder ``cwd_in_root``) with HOME set to
    ``root/home``; what it did to ``root``."""
    import signal

    from vqaloop.cli import main

    def stop(*_):
        raise TimeoutError(f"still running after {timeout} s")

    def no_exec(*_):
        raise Exec()

    before = snapshot(root)
    err = io.StringIO()
    cwd, home = os.getcwd(), os.environ.get("HOME")
    os.environ["HOME"] = str(root / "home")  # Path.home(): a folder of the inputs, never the machine's
    execvpe, os.execvpe = os.execvpe, no_exec
    if timeout:
        signal.signal(signal.SIGALRM, stop)
        signal.alarm(timeout)
    try:
        os.chdir(root / cwd_in_root)
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([command, *argv])
    except SystemExit as exit_:
        code = exit_.code
    except Exec:
        code = 0
    except BaseException as exc:  # what a user would see as a traceback (or a run that did not stop)
        code = f"traceback: {type(exc).__name__}: {str(exc)[:100]}"
    finally:
        signal.alarm(0)
        os.execvpe = execvpe
        os.chdir(cwd)
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home
    after = snapshot(root)
    changes = {"removed": sorted(set(before) - set(after)), "added": sorted(set(after) - set(before)),
               "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k])}  # fmt: skip
    return Outcome(code, err.getvalue(), changes)


# ---------------------------------------------------------------------------------------------- the cases


def long_path(root: Path) -> str:
    return str(root / "/".join(["d" * 200] * 25) / "x.csv")  # 5,000+ characters


def cases_of(command: str, f: dict, scratch: Path) -> list[Case]:
    """Every bad invocation of ``command`` (module docstring)."""
    entry = TABLE[command]
    base = entry.args(f)
    out: list[Case] = []
    for option, values in entry.bad.items():
        for value in values:
            out.append(Case(f"{option} {value[:20]!r}", with_option(base, option, value), (option,)))
    for option in entry.names:
        for value in NAME:
            out.append(Case(f"{option} {value[:20]!r}", with_option(base, option, value), (option,)))
    for option, kind in entry.outputs.items():
        cases = {"missing folder": s(f["root"] / "missing" / "x.csv"), "5,000 characters": long_path(f["root"]),
                 "300-character name": s(f["out"] / ("n" * 300))}  # fmt: skip
        if kind == "file":
            cases["a folder"] = s(f["folder"])
        elif kind == "dir":
            cases["a foreign folder"] = s(f["folder"])
            cases["a file"] = s(f["folder"] / "keep.txt")
        else:  # a folder it writes into, or a cache
            cases["a file"] = s(f["folder"] / "keep.txt")
            cases.pop("missing folder")
        for label, value in cases.items():
            out.append(Case(f"{option} {label}", with_option(base, option, value), (option,)))
        if kind == "file" and entry.same_as:
            given = entry.same_as in base or not entry.same_as.startswith("-")
            argv = base if given else with_option(base, entry.same_as, s(f["selection"]))  # an existing file
            same = value_of(argv, entry.same_as)
            out.append(Case(f"{option} = {entry.same_as}", with_option(argv, option, same), (option, same)))
    if entry.data is not None:
        out += entry.data(f, scratch)
    return out


def check(command: str, case: Case, outcome: Outcome) -> str | None:
    """None when the case ended as it must (exit 2, one line naming the option or file, nothing touched)."""
    kind = outcome.kind()
    if kind != "clean":
        return f"{command} [{case.label}]: {kind} ({outcome.code}; {outcome.line[:150]!r}; {outcome.changes})"
    if not any(name.lower() in outcome.line.lower() for name in case.names):
        return f"{command} [{case.label}]: the line names none of {case.names}: {outcome.line[:200]!r}"
    return None


# ---------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bad_args")
    f = build_inputs(root)
    master = tmp_path_factory.mktemp("bad_args_master")
    shutil.rmtree(master)
    shutil.copytree(root, master, symlinks=True)
    f["master"] = master
    return f


def test_every_command_has_an_entry():
    """A new command must add its line and its options' bad values to TABLE."""
    from vqaloop.cli import COMMANDS

    assert sorted(set(COMMANDS) - set(TABLE)) == [], "commands without an entry in TABLE"
    assert sorted(set(TABLE) - set(COMMANDS)) == [], "entries of commands that no longer exist"


def parser_of(command: str) -> argparse.ArgumentParser:
    import importlib

    from vqaloop.cli import COMMANDS, Parser

    parser = Parser(prog=command)
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    return parser


@pytest.mark.parametrize("command", sorted(TABLE))
def test_every_option_has_bad_values(command):
    """Every option that takes a value is tried with bad values, is an output, a name, or is free text (why)."""
    from vqaloop.cli import COMMANDS

    if command not in COMMANDS:
        pytest.skip(f"{command} is not a command any more")
    entry = TABLE[command]
    covered = set(entry.bad) | set(entry.outputs) | set(entry.names) | set(entry.free) | {entry.same_as}
    missing = []
    for action in parser_of(command)._actions:
        if action.nargs == 0 or isinstance(action, argparse._HelpAction):
            continue
        option = max(action.option_strings, key=len) if action.option_strings else action.metavar or action.dest
        if option not in covered and action.type not in (Path,) and not hasattr(action.type, "input_paths"):
            missing.append(option)
    assert not missing, f"{command}: options with no bad value in TABLE: {missing}"


@pytest.mark.parametrize("command", sorted(TABLE))
def test_every_bad_argument_is_one_line_and_touches_nothing(inputs, tmp_path, command):
    from vqaloop.cli import COMMANDS

    if command not in COMMANDS:
        pytest.skip(f"{command} is not a command any more")
    root = inputs["root"]
    scratch = root / "case_files"
    scratch.mkdir(exist_ok=True)
    failures = []
    for case in cases_of(command, inputs, scratch):
        outcome = run_case(command, case.argv, root, cwd_in_root=case.cwd)
        problem = check(command, case, outcome)
        if problem:
            failures.append(problem)
        if any(outcome.changes.values()):
            restore(root, inputs["master"])
            scratch.mkdir(exist_ok=True)
            cases_of(command, inputs, scratch)  # the case files again
    shutil.rmtree(scratch, ignore_errors=True)
    assert not failures, f"{len(failures)} case(s):\n" + "\n".join(failures)


def test_protected_folders_are_never_replaceable(tmp_path, monkeypatch):
    """ "/", the home folder, the working folder and its parents are refused by the check itself (no command is run
    on them: a regression must not delete anything of the machine)."""
    from vqaloop.errors import UserError
    from vqaloop.io.paths import check_replaceable

    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "a"))
    for folder in ("/", tmp_path / "a", work, ".", "..", tmp_path):
        with pytest.raises(UserError, match="root, home, working or a parent folder"):
            check_replaceable(folder, "marker.json", "--out")


def test_tiny_vlm_out_dot_leaves_the_folder_alone(tmp_path):
    """The issue's data loss, as a user runs it: a real process in a folder holding a file."""
    (tmp_path / "notes.txt").write_text("mine\n")
    line = error_line(run_cli("tiny-vlm", "--arch", "qwen2_5_vl", "--out", ".", cwd=tmp_path))
    assert "--out" in line
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_tiny_vlm_replaces_only_its_own_folder(tmp_path, monkeypatch):
    """A folder tiny-vlm wrote (its marker) is replaced; a user's non-empty folder never is."""
    from vqaloop.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["tiny-vlm", "--arch", "qwen2_5_vl", "--out", "m"]) == 0
    assert main(["tiny-vlm", "--arch", "qwen2_5_vl", "--out", "m", "--seed", "1"]) == 0
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "a.txt").write_text("x")
    assert main(["tiny-vlm", "--arch", "qwen2_5_vl", "--out", "user"]) == 2
    assert [p.name for p in (tmp_path / "user").iterdir()] == ["a.txt"]


def test_a_manifest_dataset_never_reads_outside_the_features_root(inputs, tmp_path):
    """``dataset=../x``: check-manifest refuses it, and predict never opens <root>/../x/<encoder>.npz."""
    from vqaloop.cli import main

    outside = tmp_path / "x"  # where <features-root>/../x would point
    for enc in ("efficientnet_lite0", "motion"):
        outside.mkdir(exist_ok=True)
        shutil.copy(inputs[enc], outside / f"{enc}.npz")
    root = tmp_path / "features"
    root.mkdir()
    bad = manifest_case(inputs, tmp_path, "dotdot", lambda d: d.assign(dataset="../x"))
    assert main(["check-manifest", str(bad)]) == 2
    out = tmp_path / "p.csv"
    assert main(["predict", "--model", str(inputs["model"]), "--manifest", str(bad), "--features-root", str(root),
                 "--out", str(out)]) == 2  # fmt: skip
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- the counts


def run_forked(command: str, argv: list[str], root: Path, timeout: int, cwd: str = "") -> Outcome:
    """``run_case`` in a forked child (the counts of the code before the fix: a case may crash, exec or run on)."""
    import signal
    import time

    read, write = os.pipe()
    before = snapshot(root)
    pid = os.fork()
    if pid == 0:  # the child: run the case, send how it ended, leave at once
        os.close(read)
        try:
            outcome = run_case(command, argv, root, cwd_in_root=cwd)
            payload = json.dumps({"code": outcome.code, "stderr": outcome.stderr[-2000:]})
        except BaseException as exc:
            payload = json.dumps({"code": f"traceback: {type(exc).__name__}", "stderr": ""})
        os.write(write, payload.encode())
        os._exit(0)
    os.close(write)
    start, status = time.monotonic(), None
    while status is None:
        done, status_ = os.waitpid(pid, os.WNOHANG)
        if done:
            status = status_
        elif time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "timeout"
        else:
            time.sleep(0.05)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    if status == "timeout":
        result = {"code": f"timeout: still running after {timeout} s", "stderr": ""}
    elif os.WIFSIGNALED(status) or not data:
        result = {"code": f"traceback: crashed ({status})", "stderr": ""}
    else:
        result = json.loads(data)
    after = snapshot(root)
    changes = {"removed": sorted(set(before) - set(after)), "added": sorted(set(after) - set(before)),
               "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k])}  # fmt: skip
    return Outcome(result["code"], result["stderr"], changes)


def tally(commands: list[str], timeout: int = 60) -> dict[str, dict[str, int]]:
    """Run every case of ``commands`` and count how each ended (the issue's closing note)."""
    import tempfile

    counts: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root, master = Path(tmp) / "root", Path(tmp) / "master"
        root.mkdir()
        f = build_inputs(root)
        shutil.copytree(root, master, symlinks=True)
        scratch = root / "case_files"
        for command in commands:
            scratch.mkdir(exist_ok=True)
            counts[command] = {}
            for case in cases_of(command, f, scratch):
                outcome = run_forked(command, case.argv, root, timeout, case.cwd)
                kind = outcome.kind()
                if str(outcome.code).startswith("timeout"):
                    kind = "timeout"
                elif kind == "clean" and not any(n.lower() in outcome.line.lower() for n in case.names):
                    kind = "clean, unnamed"
                counts[command][kind] = counts[command].get(kind, 0) + 1
                if os.environ.get("TALLY_VERBOSE"):
                    print(f"{command} [{case.label}]: {kind} {str(outcome.code)[:80]} {outcome.line[:120]}",
                          file=sys.__stderr__)  # fmt: skip
                if any(outcome.changes.values()):
                    restore(root, master)
                    scratch.mkdir(exist_ok=True)
                    cases_of(command, f, scratch)
            shutil.rmtree(scratch, ignore_errors=True)
    return counts


if __name__ == "__main__":
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # a run away case fails instead of the machine
    names = sys.argv[1:] or sorted(TABLE)
    print(json.dumps(tally(names), sort_keys=True))
