"""``vqaloop control-table``: one positive control's per-seed values (``<out stem>_seeds.csv``, what ``vqaloop claims``
pairs by seed) and their means with 95% Student-t intervals (the long CSV), read from the control's run files.

**MDS-VQA** (``--spec`` kind ``mds``; rows: ``mds`` = MDS-VQA at the configured lambda, ``lambda_0`` = difficulty only,
``random``, ``base_model`` = f before any selection, one seedless value):

* ``failure_identification`` (srcc, plcc): f's predictions against the revealed labels of the picks (MDS-VQA Table 2;
  lower = more failure-focused); the base model: on the whole pool;
* ``repair`` (srcc, plcc): the fine-tuned model's predictions against the oracle on the test videos that carry the
  planted error (the base model: f's); ``test``: the same on the whole test split (``vqaloop evaluate``, Table 3's
  criterion);
* ``redundancy`` (metric ``chamfer``): the mean pairwise Chamfer distance (MDS-VQA Eq. 7, or the authors' reading)
  of the picks' diversity frames, normalised as the selection normalises them: lower = more redundant;
* ``planted_share`` (metric ``share``): the share of the picks that carry a planted error.

**W2S-VQA** (kind ``w2s``; rows ``student`` (the ensemble's pairs, W2S Sec. 4.1.2: sigma from the teachers' spread),
``student_mean`` (pairs of the teachers' mean score as one teacher, with the fixed per-video sigma of single-teacher
pairs), ``ceiling`` (the ensemble's pairs when the teachers are the hidden MOS: the planted control only),
``teacher_1`` ... ``teacher_T`` (per seed: each seed draws its teachers' noise) and ``ensemble`` (the teachers' mean
score); columns: each test set under its W2S table key, the blocks' video-weighted ``overall_in_domain`` /
``overall_ood`` (``vqaloop.tables.w2s_build``), and ``heldout`` (the shaped pool's videos outside D(1), with their
hidden MOS). A teacher's cells are the W2S tables' (``teacher_cells``: its raw scores, oriented by its source SRCC).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.controls.paths import ControlPaths
from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.manifest import read_manifest
from vqaloop.io.readers import read_csv
from vqaloop.tables.mds_build import METRICS, SEED_COLUMNS, correlation, mean_ci, seed_records
from vqaloop.tables.published import LONG_COLUMNS

log = logging.getLogger(__name__)

MDS_METHODS = ("mds", "lambda_0", "random")  # the picks of every seed
FINETUNED = ("mds", "random")  # the picks fine-tuned on
HELDOUT = "heldout"
W2S_STUDENTS = ("student", "student_mean")  # the ensemble's pairs (W2S Sec. 4.1.2); the teachers' mean as one teacher


# ------------------------------------------------------------------------------------------------------- MDS


def mean_pairwise_chamfer(frames: np.ndarray, kind: str = "paper") -> float:
    """The mean Chamfer distance over the unordered pairs of a set of videos' frames (N, F, D)."""
    import torch

    from vqaloop.selection.chamfer import chamfer_matrix

    x = torch.as_tensor(np.ascontiguousarray(frames, dtype=np.float32))
    d = chamfer_matrix(x, x, kind=kind).double().numpy()
    return float(d[np.triu_indices(len(frames), 1)].mean()) if len(frames) > 1 else float("nan")


class MdsReader:
    """The files of one MDS control (planted or twin) under the run's work folder."""

    def __init__(self, spec: dict, work: str):
        self.spec, self.paths, self.kind = spec, ControlPaths(work), spec["control"]
        planted = read_csv(self.paths.mds_planted(self.kind), "the planted table (vqaloop control-mds)",
                           ("video_id", "split", "planted", "f", "truth"), dtype={"video_id": str})  # fmt: skip
        self.planted = planted.set_index("video_id")
        from vqaloop.selection.features_io import load_features

        features = load_features(spec["features"], need_frames=True)
        self.index = {v: i for i, v in enumerate(features.ids)}
        frames = np.asarray(features.frames, dtype=np.float32)  # an array or rows read on demand: one copy
        if spec.get("normalise", True):
            frames = frames / np.maximum(np.linalg.norm(frames, axis=-1, keepdims=True), 1e-12)
        self.frames = frames

    def picks(self, method: str, seed: int) -> list[str]:
        table = read_csv(self.paths.mds_selection(self.kind, method, seed), "a selection (vqaloop select)",
                         ("video_id",), dtype={"video_id": str})  # fmt: skip
        return list(table.video_id)

    def failure_identification(self, method: str, seed: int) -> dict[str, float]:
        labels = read_csv(self.paths.mds_labels(self.kind, method, seed), "revealed labels (vqaloop reveal)",
                          ("video_id", "mos"), dtype={"video_id": str})  # fmt: skip
        return correlation(self.planted.f.loc[labels.video_id].to_numpy(), labels.mos.to_numpy(dtype=float))

    def finetuned(self, method: str, seed: int) -> tuple[dict[str, float], dict[str, float]]:
        """(repair, test) cells of the model fine-tuned on ``method``'s picks."""
        pred = read_csv(self.paths.mds_predictions(self.kind, method, seed), "predictions (vqaloop predict)",
                        ("video_id", "score"), dtype={"video_id": str}).set_index("video_id").score  # fmt: skip
        ev = read_csv(self.paths.mds_eval(self.kind, method, seed), "an evaluation (vqaloop evaluate)",
                      ("srcc", "plcc"))  # fmt: skip
        return self.repair(pred), {m: float(ev[m].iloc[0]) for m in METRICS}

    def repair(self, scores: pd.Series) -> dict[str, float]:
        test = self.planted[(self.planted.split == "test") & (self.planted.planted == 1)]
        return correlation(scores.loc[test.index].to_numpy(), test.truth.to_numpy())

    def base_cells(self) -> dict[str, dict[str, float]]:
        pool = self.planted[self.planted.split == "pool"]
        test = self.planted[self.planted.split == "test"]
        return {"failure_identification": correlation(pool.f.to_numpy(), pool.truth.to_numpy()),
                "repair": self.repair(self.planted.f), "test": correlation(test.f.to_numpy(), test.truth.to_numpy())}  # fmt: skip

    def seed_cells(self, method: str, seed: int) -> dict[str, dict[str, float]]:
        ids = self.picks(method, seed)
        cells = {"failure_identification": self.failure_identification(method, seed),
                 "redundancy": {"chamfer": mean_pairwise_chamfer(self.frames[[self.index[v] for v in ids]],
                                                                 self.spec.get("chamfer", "paper"))},
                 "planted_share": {"share": float(self.planted.planted.loc[ids].mean())}}  # fmt: skip
        if method in FINETUNED:
            cells["repair"], cells["test"] = self.finetuned(method, seed)
        return cells


def mds_records(spec: dict, work: str) -> list[dict]:
    reader = MdsReader(spec, work)
    table, records = spec["table"], []
    for column, cell in reader.base_cells().items():
        for metric, value in cell.items():
            records += seed_records(table, "base_model", column, metric, [None], [value])
    for method in MDS_METHODS:
        per_seed = {s: reader.seed_cells(method, s) for s in spec["seeds"]}
        for column in per_seed[spec["seeds"][0]]:
            for metric in per_seed[spec["seeds"][0]][column]:
                records += seed_records(table, method, column, metric, list(spec["seeds"]),
                                        [per_seed[s][column][metric] for s in spec["seeds"]])  # fmt: skip
    return records


# ------------------------------------------------------------------------------------------------------- W2S


def with_heldout(cells: dict[str, dict], spec: dict, pool: str) -> dict[str, dict[str, float]]:
    """W2S column key -> {srcc, plcc} (the blocks' overall included) plus ``heldout`` (the pool's held-out set)."""
    from vqaloop.tables.w2s_build import with_overall

    out = with_overall(cells, spec)
    out[HELDOUT] = {m: cells[pool][m] for m in METRICS}
    return out


def w2s_records(spec: dict, work: str, test_rows: dict[str, pd.DataFrame]) -> list[dict]:
    from vqaloop.tables.w2s_build import student_cells, teacher_cells

    paths, table, kind, pool = ControlPaths(work), spec["table"], spec["control"], spec["pool"]
    seeds = list(spec["seeds"])
    rows: dict[str, list[dict]] = {}
    students = [(s, kind, s) for s in spec.get("students", W2S_STUDENTS)] + (
        [("ceiling", "ceiling", "student")] if spec.get("ceiling") else []
    )
    for seed in seeds:
        for row, who, student in students:
            cells = student_cells(Path(paths.w2s_eval(who, student, seed)))
            rows.setdefault(row, []).append(with_heldout(cells, spec, pool))
        for t in [*range(1, spec["teachers"] + 1), "mean"]:
            cells = teacher_cells(Path(paths.w2s_teacher(kind, seed, t)), test_rows)
            rows.setdefault("ensemble" if t == "mean" else f"teacher_{t}", []).append(with_heldout(cells, spec, pool))
    records = []
    keys = [*(c["key"] for c in spec["columns"]), HELDOUT]
    for row, per_seed in rows.items():
        for key in keys:
            for m in METRICS:
                records += seed_records(table, row, key, m, seeds, [cells[key][m] for cells in per_seed])
    return records


def w2s_test_rows(manifests: list[Path], spec: dict) -> dict[str, pd.DataFrame]:
    """dataset -> its test rows (with MOS), for the test sets and the held-out set."""
    wanted = {c["dataset"] for c in spec["columns"] if c["dataset"]} | {spec["pool"]}
    out = {}
    for path in manifests:
        manifest = read_manifest(path)
        name = str(manifest.dataset.iloc[0])
        if name in wanted:
            out[name] = manifest[manifest.split == "test"].reset_index(drop=True)
    absent = sorted(wanted - set(out))
    if absent:
        raise UserError(f"--manifests: no test set of {', '.join(absent)} (the control's columns)")
    return out


# ------------------------------------------------------------------------------------------------------ output


def long_table(seeds: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Mean and 95% interval over seeds of every (row, column, metric), in the long format."""
    records = []
    for (row, column, metric), group in seeds.groupby(["row", "column", "metric"], sort=False):
        mean, lo, hi, n = mean_ci(list(group.value))
        records.append({"table": spec["table"], "row": row, "column": column, "metric": metric,
                        "value": round(mean, 4) if np.isfinite(mean) else None,
                        "ci_low": None if lo is None else round(lo, 4), "ci_high": None if hi is None else round(hi, 4),
                        "n_seeds": n, "run": spec["run"], "config_hash": spec["config_hash"],
                        "note": spec.get("note", "")})  # fmt: skip
    return pd.DataFrame.from_records(records, columns=[*LONG_COLUMNS, "note"])


def add_arguments(parser):
    from vqaloop.cli_checks import json_object, output_file

    parser.add_argument("--spec", required=True, type=json_object,
                        help="JSON: kind (mds | w2s), control (planted | twin), table, seeds, and the kind's files")  # fmt: skip
    parser.add_argument("--work", required=True, help="the run's work folder (the controls' files)")
    parser.add_argument("--manifests", nargs="*", default=[], type=Path,
                        help="W2S: the test sets' files and the held-out set (their MOS)")  # fmt: skip
    parser.add_argument("--out", required=True, type=output_file, help="long CSV; _seeds.csv beside it")


def derived_outputs(args) -> list[tuple[str, Path]]:
    from vqaloop.cli_checks import beside

    return [("--out (beside it)", p) for p in beside(args.out, "_seeds.csv")]


SPEC_KEYS = {"mds": ("kind", "control", "table", "seeds", "run", "config_hash", "features"),
             "w2s": ("kind", "control", "table", "seeds", "run", "config_hash", "columns", "pool", "teachers")}  # fmt: skip


def check_spec(spec) -> dict:
    if not isinstance(spec, dict) or spec.get("kind") not in SPEC_KEYS:
        raise UserError(f"--spec: a JSON object with kind mds or w2s expected, got {str(spec)[:80]!r}")
    missing = [k for k in SPEC_KEYS[spec["kind"]] if k not in spec]
    if missing:
        raise UserError(f"--spec: kind {spec['kind']} lacks key(s) {', '.join(missing)}")
    if not isinstance(spec["seeds"], list) or not spec["seeds"] or not all(isinstance(s, int) for s in spec["seeds"]):
        raise UserError(f"--spec: seeds must be a non-empty list of integers, got {spec['seeds']!r}")
    return spec


def run(args) -> int:
    spec = check_spec(json.loads(args.spec))
    if spec["kind"] == "mds":
        records = mds_records(spec, args.work)
    else:
        records = w2s_records(spec, args.work, w2s_test_rows(args.manifests, spec))
    seeds = pd.DataFrame.from_records(records, columns=SEED_COLUMNS).astype({"seed": "Int64"})
    long = long_table(seeds, spec)
    write_all_atomic([(f"{args.out.with_suffix('')}_seeds.csv", csv_writer(seeds)), (args.out, csv_writer(long))])
    shown = long[long.metric != "plcc"].pivot_table(index="row", columns="column", values="value", sort=False)
    log.info("%s:\n%s", spec["table"], shown.round(3).to_string())
    return 0
