"""``vqaloop w2s-table``: build W2S-VQA Table 1 or 5 (long CSV, paper-shaped wide CSV, side by side with the paper).

The same builder as the MDS-VQA tables (``vqaloop.tables.mds_build``: mean and 95% t-interval over seeds, the
wide rendering, the join with ``results/paper``). Cells: SRCC / PLCC of a teacher's scores, or of a student's
soft-comparison scores, against the MOS of each test set's test split; "Overall" is the mean over the block's
sets weighted by their number of videos (the paper's "weighted average based on the number of videos"),
computed per seed before the interval. Teachers have no seed (one value). ``<stem>_seeds.csv`` beside the long
CSV keeps every seed's value (``table,row,column,metric,seed,value``; a teacher: one row, empty seed).
The test rows are those of ``--manifests`` in split ``test``: in the workflow, each test set's ``vqaloop
w2s-test-set`` file (``w2s.test_sets.<name>.splits``), so the weights are the numbers of videos scored. A student
row's ``note`` says how it learnt (Table 5: pointwise or pairwise, ``w2s.single_teacher``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import plcc, srcc
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.manifest import read_manifest
from vqaloop.tables.mds_build import METRICS, SEED_COLUMNS, check_spec, mean_ci, seed_records, side_by_side, wide
from vqaloop.tables.published import LONG_COLUMNS
from vqaloop.workflow_paths import W2sPaths

log = logging.getLogger(__name__)


def teacher_cells(teacher_csv: Path, test_rows: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """dataset -> {n, srcc, plcc} of a teacher's raw scores on each test set, oriented so that higher = better
    on the source training set (BRISQUE and NIQE grow with distortion): the sign of its source SRCC."""
    from vqaloop.w2s.teachers import read_teacher

    table, stats = read_teacher(teacher_csv)
    scores = table["raw"] * (-1.0 if stats.get("source_srcc", 1.0) < 0 else 1.0)
    out = {}
    for dataset, rows in test_rows.items():
        pred, mos = scores.loc[list(rows.video_id)].to_numpy(), rows.mos.to_numpy(dtype=float)
        out[dataset] = {"n": len(rows), "srcc": srcc(pred, mos), "plcc": plcc(pred, mos)}
    return out


def student_cells(eval_csv: Path) -> dict[str, dict]:
    try:
        table = pd.read_csv(eval_csv)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{eval_csv}: not a readable student evaluation ({type(err).__name__})") from None
    return {str(r.dataset): {"n": int(r.n), "srcc": float(r.srcc), "plcc": float(r.plcc)} for r in table.itertuples()}


def with_overall(cells: dict[str, dict], spec: dict) -> dict[str, dict[str, float]]:
    """Column key -> {srcc, plcc}, the blocks' video-weighted "Overall" included."""
    out = {}
    for block in ("in_domain", "ood"):
        block_cols = [c for c in spec["columns"] if c["block"] == block]
        weights, values = [], {m: [] for m in METRICS}
        for col in block_cols:
            if col["dataset"] is None:
                w = np.asarray(weights, dtype=float)
                out[col["key"]] = {m: float(np.dot(w, values[m]) / w.sum()) if w.sum() else float("nan")
                                   for m in METRICS}  # fmt: skip
                continue
            cell = cells[col["dataset"]]
            out[col["key"]] = {m: cell[m] for m in METRICS}
            weights.append(cell["n"])
            for m in METRICS:
                values[m].append(cell[m])
    return out


def per_seed_cells(spec: dict, paths: W2sPaths, test_rows: dict[str, pd.DataFrame], row: dict):
    """(seeds, one column-key -> {srcc, plcc} dict per seed); a teacher has the single seed ``None``."""
    if row["kind"] == "teacher":
        return [None], [with_overall(teacher_cells(Path(paths.teacher(row["id"])), test_rows), spec)]
    seeds = list(spec["seeds"])
    return seeds, [with_overall(student_cells(Path(paths.student_eval(row["id"], s))), spec) for s in seeds]


def build_seeds(spec: dict, paths: W2sPaths, test_rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every seed's value of every cell (the per-seed data behind :func:`build_long`'s means)."""
    records = []
    for row in spec["rows"]:
        seeds, per_seed = per_seed_cells(spec, paths, test_rows, row)
        for col in spec["columns"]:
            for m in METRICS:
                values = [cells[col["key"]][m] for cells in per_seed]
                records += seed_records(spec["table"], row["key"], col["key"], m, seeds, values)
    return pd.DataFrame.from_records(records, columns=SEED_COLUMNS).astype({"seed": "Int64"})


def build_long(spec: dict, paths: W2sPaths, test_rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    records = []
    for row in spec["rows"]:
        _seeds, per_seed = per_seed_cells(spec, paths, test_rows, row)
        for col in spec["columns"]:
            for m in METRICS:
                mean, lo, hi, n = mean_ci([cells[col["key"]][m] for cells in per_seed])
                records.append({
                    "table": spec["table"], "row": row["key"], "column": col["key"], "metric": m,
                    "value": round(mean, 4) if np.isfinite(mean) else None,
                    "ci_low": None if lo is None else round(lo, 4), "ci_high": None if hi is None else round(hi, 4),
                    "n_seeds": n, "run": spec["run"], "config_hash": spec["config_hash"],
                    "note": "teacher" if row["kind"] == "teacher" else row.get("note", ""),
                })  # fmt: skip
    return pd.DataFrame.from_records(records, columns=[*LONG_COLUMNS, "note"])


def add_arguments(parser):
    from vqaloop.cli_checks import json_object, output_file

    parser.add_argument("--spec", required=True, type=json_object, help="JSON from vqaloop.tables.w2s_spec.table_spec")
    parser.add_argument("--work", required=True, help="the run's work folder (teacher scores, student evaluations)")
    parser.add_argument("--manifests", nargs="+", required=True, type=Path, help="manifests of the test sets")
    parser.add_argument("--paper-root", default="results/paper", type=Path)
    parser.add_argument("--out", required=True, type=output_file,
                        help="long CSV; _wide.csv, _vs_paper.csv and _seeds.csv beside it")  # fmt: skip


def derived_outputs(args) -> list[tuple[str, Path]]:
    from vqaloop.cli_checks import beside

    return [("--out (beside it)", p) for p in beside(args.out, "_wide.csv", "_vs_paper.csv", "_seeds.csv")]


def run(args) -> int:
    spec = json.loads(args.spec)
    check_spec(spec)
    wanted = {c["dataset"] for c in spec["columns"] if c["dataset"]}
    test_rows = {}
    for path in args.manifests:
        manifest = read_manifest(path)
        name = str(manifest.dataset.iloc[0])
        if name in wanted:
            test_rows[name] = manifest[manifest.split == "test"].reset_index(drop=True)
    long = build_long(spec, W2sPaths(args.work), test_rows)
    stem = args.out.with_suffix("")
    write_all_atomic([(f"{stem}_wide.csv", csv_writer(wide(long))),
                      (f"{stem}_vs_paper.csv", csv_writer(side_by_side(long, spec["table"], args.paper_root))),
                      (f"{stem}_seeds.csv", csv_writer(build_seeds(spec, W2sPaths(args.work), test_rows))),
                      (args.out, csv_writer(long))])  # fmt: skip
    log.info("%s:\n%s", spec["table"], wide(long).to_string(index=False))
    return 0
