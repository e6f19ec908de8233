"""``vqaloop mds-table``: build one MDS-VQA table (long CSV, paper-shaped wide CSV, side-by-side with paper).

Cells: failure identification (Table 2) = SRCC/PLCC between the *base* model's predictions and the revealed
MOS on a selected subset (lower = more failure-focused); active fine-tuning (Table 3) = SRCC/PLCC of the
fine-tuned model on each test split. Each cell is the mean over seeds with a 95% t-interval.

Beside the long CSV, ``<stem>_seeds.csv`` keeps every seed's value (``table,row,column,metric,seed,value``;
the base model has one row with an empty seed; unavailable rows have none): ``vqaloop claims`` pairs them by seed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import plcc, srcc
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.readers import parse_json_argument, read_csv
from vqaloop.tables.published import LONG_COLUMNS, load_published
from vqaloop.workflow_paths import MdsPaths

log = logging.getLogger(__name__)
METRICS = ("srcc", "plcc")
SEED_COLUMNS = ["table", "row", "column", "metric", "seed", "value"]


def mean_ci(values: list[float]) -> tuple[float, float | None, float | None, int]:
    """Mean and 95% Student-t interval over seeds (no interval from a single seed)."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), None, None, 0
    if len(v) == 1:
        return float(v[0]), None, None, 1
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half), len(v)


def correlation(pred: pd.Series, mos: pd.Series) -> dict[str, float]:
    """SRCC and PLCC; NaN (left out of the seed mean) for fewer than 2 videos (a budget of 1)."""
    if len(pred) < 2:
        return {"srcc": float("nan"), "plcc": float("nan")}
    return {"srcc": srcc(pred, mos), "plcc": plcc(pred, mos)}


class CellReader:
    """Reads per-seed values of failure identification and active fine-tuning from the run's files."""

    def __init__(self, data_root: str, work: str):
        self.data_root, self.work = data_root, work
        self._pred: dict[tuple[str, str], pd.Series] = {}

    def paths(self, base: str) -> MdsPaths:
        return MdsPaths(self.data_root, self.work, base)

    def predictions(self, base: str, dataset: str) -> pd.Series:
        if (base, dataset) not in self._pred:
            df = read_csv(self.paths(base).f_predictions(dataset), "prediction file", ("video_id", "score"),
                          dtype={"video_id": str})  # fmt: skip
            self._pred[base, dataset] = df.set_index("video_id")["score"]
        return self._pred[base, dataset]

    def failure_identification(self, row: dict, dataset: str, seed) -> dict[str, float]:
        p = self.paths(row["base"])
        if row["kind"] == "base":  # the base model on the whole pool, before any selection
            labels = read_csv(p.oracle(dataset), "oracle labels", ("video_id", "mos"), dtype={"video_id": str})
        else:
            path = p.scoped(row["variant"]).labels(row["variant"], seed, dataset)
            labels = read_csv(path, "revealed labels (vqaloop reveal)", ("video_id", "mos"), dtype={"video_id": str})
        pred = self.predictions(row["base"], dataset).loc[labels.video_id]
        return correlation(pred.to_numpy(), labels.mos.to_numpy())

    def g_answers_note(self, row: dict, seeds: list) -> str:
        """For a row whose g is a vision-language model trained with GRPO: how many of the answers it sampled
        could not be parsed (SPEC "Answer parsing": counted, never replaced by a guess); "" otherwise."""
        from vqaloop.models.registry import get_base_model_class, load_checkpoint
        from vqaloop.variants import parse_variant

        variant = parse_variant(row["variant"]) if row["kind"] == "variant" else None
        if (
            variant is None
            or not variant.needs_g
            or getattr(get_base_model_class(row["base"]), "TRAINER", "") != "grpo"
        ):
            return ""
        unparsable = answers = 0
        for seed in seeds:
            path = Path(self.paths(row["base"]).g_model(variant.g_id, seed))
            if not path.is_file():
                return ""
            meta = load_checkpoint(path).meta
            if "answers" not in meta:  # a compact g (no text answers)
                return ""
            unparsable, answers = unparsable + int(meta["unparsable"]), answers + int(meta["answers"])
        return f"g (GRPO): {unparsable} of {answers} sampled answers unparsable (counted, never guessed)"

    def active_finetuning(self, row: dict, dataset: str, seed) -> dict[str, float]:
        p = self.paths(row["base"])
        path = p.f_eval() if row["kind"] == "base" else p.ft_eval(row["variant"], seed)
        ev = read_csv(path, "an evaluation CSV (vqaloop evaluate)", ("dataset", *METRICS)).set_index("dataset")
        return {m: float(ev.loc[dataset, m]) for m in METRICS}


def per_seed_values(spec: dict, reader: CellReader, row: dict) -> dict[tuple[str, str], list[float]]:
    """(column, metric) -> one value per seed (the base model has no seed: one value)."""
    seeds = [None] if row["kind"] == "base" else spec["seeds"]
    table = spec["table"]
    out: dict[tuple[str, str], list[float]] = {}
    for seed in seeds:
        cells: dict[str, dict[str, float]] = {}
        if table in ("mds_table2", "mds_table3"):
            for col in spec["columns"]:
                fn = reader.failure_identification if table == "mds_table2" else reader.active_finetuning
                cells[col] = fn(row, col, seed)
            cells["mean"] = {m: float(np.mean([cells[c][m] for c in spec["columns"]])) for m in METRICS}
        else:
            ds = spec["ablation_dataset"]
            cells["failure_identification"] = reader.failure_identification(row, ds, seed)
            cells["active_finetuning"] = reader.active_finetuning(row, ds, seed)
        for col, values in cells.items():
            for m in METRICS:
                out.setdefault((col, m), []).append(values[m])
    return out


def build_long(spec: dict, reader: CellReader) -> pd.DataFrame:
    records = []
    columns = spec["columns"] + (["mean"] if spec["table"] in ("mds_table2", "mds_table3") else [])
    for row in spec["rows"]:
        if row["kind"] == "unavailable":
            values = {(c, m): None for c in columns for m in METRICS}
        else:
            values = per_seed_values(spec, reader, row)
        note = "; ".join(n for n in (row.get("note", ""), reader.g_answers_note(row, spec["seeds"])) if n)
        for (col, metric), seeds in values.items():
            mean, lo, hi, n = mean_ci(seeds) if seeds is not None else (float("nan"), None, None, 0)
            records.append({
                "table": spec["table"], "row": row["key"], "column": spec["paper_key"].get(col, col), "metric": metric,
                "value": round(mean, 4) if np.isfinite(mean) else None,
                "ci_low": None if lo is None else round(lo, 4), "ci_high": None if hi is None else round(hi, 4),
                "n_seeds": n, "run": spec["run"], "config_hash": spec["config_hash"], "note": note,
            })  # fmt: skip
    return pd.DataFrame.from_records(records, columns=[*LONG_COLUMNS, "note"])


def seed_records(table: str, row_key: str, column: str, metric: str, seeds: list, values: list[float]) -> list[dict]:
    """One long record per seed (seed ``None``: a seedless row such as the base model or a teacher)."""
    return [{"table": table, "row": row_key, "column": column, "metric": metric, "seed": seed,
             "value": None if value is None or not np.isfinite(value) else float(value)}
            for seed, value in zip(seeds, values, strict=True)]  # fmt: skip


def build_seeds(spec: dict, reader: CellReader) -> pd.DataFrame:
    """Every seed's value of every available cell (the per-seed data behind :func:`build_long`'s means)."""
    records = []
    for row in spec["rows"]:
        if row["kind"] == "unavailable":
            continue
        seeds = [None] if row["kind"] == "base" else spec["seeds"]
        for (col, metric), values in per_seed_values(spec, reader, row).items():
            column = spec["paper_key"].get(col, col)
            records += seed_records(spec["table"], row["key"], column, metric, seeds, values)
    return pd.DataFrame.from_records(records, columns=SEED_COLUMNS).astype({"seed": "Int64"})


def wide(long: pd.DataFrame, value_col: str = "value") -> pd.DataFrame:
    """Paper-shaped: one row per method, one column per dataset/ablation column, cells 'SRCC / PLCC'."""

    def cell(group: pd.DataFrame) -> str:
        notes = [n for n in group.note if isinstance(n, str) and n]
        if notes and group[value_col].isna().all():  # a cell without values says why (e.g. "unavailable: ...")
            return notes[0]
        v = group.set_index("metric")[value_col]
        return " / ".join("n/a" if pd.isna(v.get(m)) else f"{float(v.get(m)):.3f}" for m in METRICS)

    cells = long.groupby(["row", "column"], sort=False).apply(cell, include_groups=False).rename("cell").reset_index()
    table = cells.pivot(index="row", columns="column", values="cell")
    return table.loc[long.row.unique(), long.column.unique()].reset_index()


def side_by_side(long: pd.DataFrame, table: str, paper_root: Path) -> pd.DataFrame:
    """Our values joined to the published ones on (row, column, metric)."""
    try:
        paper = load_published(table, paper_root)[["row", "column", "metric", "value"]].rename(
            columns={"value": "paper"}
        )
    except Exception as err:  # a table without published values still gets our columns
        log.warning("no published values for %s: %s", table, err)
        paper = pd.DataFrame(columns=["row", "column", "metric", "paper"])
    ours = long.rename(columns={"value": "ours", "ci_low": "ours_ci_low", "ci_high": "ours_ci_high"})
    joined = ours[["table", "row", "column", "metric", "ours", "ours_ci_low", "ours_ci_high", "n_seeds", "note"]].merge(
        paper, on=["row", "column", "metric"], how="outer"
    )
    joined["table"] = table
    joined["paper"] = pd.to_numeric(joined["paper"], errors="coerce")
    joined["difference"] = (joined["ours"] - joined["paper"]).round(4)
    return joined


def add_arguments(parser):
    from vqaloop.cli_checks import json_object, output_file

    parser.add_argument("--spec", required=True, type=json_object, help="JSON from vqaloop.tables.mds_spec.table_spec")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--paper-root", default="results/paper", type=Path)
    parser.add_argument("--out", required=True, type=output_file,
                        help="long CSV; _wide.csv, _vs_paper.csv and _seeds.csv beside it")  # fmt: skip


def check_spec(spec: dict) -> None:
    """A table spec names its table and has rows and columns (``--spec``, from the workflow's table_spec)."""
    for key in ("table", "rows", "columns"):
        if not spec.get(key):
            raise UserError(f"--spec: no {key!r} (expected the JSON of a table spec, with rows and columns)")


def derived_outputs(args) -> list[tuple[str, Path]]:
    from vqaloop.cli_checks import beside

    return [("--out (beside it)", p) for p in beside(args.out, "_wide.csv", "_vs_paper.csv", "_seeds.csv")]


def run(args) -> int:
    spec = parse_json_argument(args.spec, "--spec")
    check_spec(spec)
    reader = CellReader(args.data_root, args.work)
    long = build_long(spec, reader)
    stem = args.out.with_suffix("")
    write_all_atomic([(f"{stem}_wide.csv", csv_writer(wide(long))),
                      (f"{stem}_vs_paper.csv", csv_writer(side_by_side(long, spec["table"], args.paper_root))),
                      (f"{stem}_seeds.csv", csv_writer(build_seeds(spec, reader))),
                      (args.out, csv_writer(long))])  # fmt: skip
    log.info("%s:\n%s", spec["table"], wide(long).to_string(index=False))
    return 0
