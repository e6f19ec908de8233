"""``vqaloop mds-table4``: MDS-VQA Table 4 (SRCC rank vs gMAD rank) and a Fig. 3-style figure of gMAD pairs.

* **SRCC rank** from Table 3's long CSV: the ``mean`` column's ``srcc`` value of each row, rank 1 = highest;
  ties broken by the ``mean`` PLCC (higher first), then by the row key.
* **gMAD rank** from one or more ``vqaloop gmad`` result JSONs (one per seed): each model's global gMAD score
  (a_i + r_i) / 2 is averaged over the JSONs, then ranked among the table's rows (rank 1 = highest; ties by the
  averaged a_i, then by row key). ``delta_rank = srcc_rank - gmad_rank`` (positive: better under gMAD).
* **Extra metric** ``gmad_rank_thurstone``: the rank of the Thurstone MAP score q (averaged over the JSONs; ties
  by row key), the alternative global ranking of the SPEC; it has no published counterpart.
* ``--rows KEY=NAME`` maps a Table 3 row key to the model name used in the gMAD JSONs; without it, every Table 3
  row whose key is also a gMAD model name (identity mapping).

Outputs like ``vqaloop mds-table``: the long CSV, ``<stem>_wide.csv`` (one row per method, in SRCC-rank order)
and ``<stem>_vs_paper.csv`` (joined to ``results/paper/mds_table4.csv``).

The figure (``--figure``) shows, for one pair of models (default: the two best gMAD ranks), two levels of each
role (the lowest and the highest level that gave a pair) with the middle frame of both videos, each titled with
both models' scores and the MOS.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.evaluation.gmad import rank_by
from vqaloop.io.atomic import csv_writer, figure_writer, write_all_atomic
from vqaloop.io.manifest import read_manifest
from vqaloop.io.readers import read_csv, read_json
from vqaloop.tables.mds_build import side_by_side
from vqaloop.tables.published import LONG_COLUMNS

log = logging.getLogger(__name__)
TABLE = "mds_table4"
METRICS = ("srcc_rank", "gmad_rank", "delta_rank", "gmad_rank_thurstone")
THURSTONE_NOTE = "extra: Thurstone MAP rank (not in the paper)"


def read_gmad(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        data = read_json(path, "gMAD result")
        if not isinstance(data, dict):
            raise UserError(f"{path}: not a gMAD result JSON (an object expected)")
        missing = [k for k in ("models", "a", "gmad_score", "thurstone_q") if k not in data]
        if missing:
            raise UserError(f"{path}: gMAD result lacks key(s) {missing}")
        out.append(data)
    return out


def read_table3(path: Path) -> pd.DataFrame:
    """Table 3's ``mean`` column as a frame indexed by row key with columns srcc, plcc, n_seeds, run, config_hash."""
    df = read_csv(path, "Table 3 long CSV", ("row", "column", "metric", "value"),
                  dtype={"row": str, "run": str, "config_hash": str}, keep_default_na=False, na_values=[""])  # fmt: skip
    mean = df[(df.column == "mean") & df.metric.isin(["srcc", "plcc"])]
    if mean.empty:
        raise UserError(f"{path}: has no 'mean' column srcc/plcc values")
    repeated = mean.duplicated(["row", "metric"])
    if repeated.any():
        raise UserError(
            f"{path}: row {mean.row[repeated].iloc[0]!r} has two 'mean' {mean.metric[repeated].iloc[0]} values"
        )
    wide = mean.pivot_table(index="row", columns="metric", values="value", aggfunc="first", dropna=False)
    for extra in ("n_seeds", "run", "config_hash"):
        if extra in mean.columns:
            wide[extra] = mean[mean.metric == "srcc"].set_index("row")[extra]
    return wide


def _row_mapping(rows: list[str] | None, table3: pd.DataFrame, models: set[str]) -> dict[str, str]:
    if not rows:
        mapping = {k: k for k in table3.index if k in models}
        if len(mapping) < 2:
            raise UserError(f"no Table 3 row key is a gMAD model name (models: {sorted(models)}); give --rows")
        return mapping
    mapping: dict[str, str] = {}
    for item in rows:
        key, sep, name = item.partition("=")
        key, name = key.strip(), (name.strip() if sep else key.strip())
        if key in mapping:
            raise UserError(f"--rows {item!r}: row key {key!r} given twice")
        mapping[key] = name
    return mapping


def build_long(gmad: list[dict], table3: pd.DataFrame, mapping: dict[str, str], run: str = "",
               config_hash: str = "", sources: list[Path] | None = None) -> pd.DataFrame:  # fmt: skip
    keys = list(mapping)
    for key in keys:
        if key not in table3.index:
            raise UserError(f"Table 3 has no row {key!r} in its 'mean' column (rows: {list(table3.index)})")
        if not np.isfinite(float(table3.loc[key, "srcc"])):
            raise UserError(f"Table 3 row {key!r} has no mean SRCC (unavailable?); leave it out of --rows")
    for n, data in enumerate(gmad):
        where = sources[n] if sources else f"gMAD result {n}"
        absent = [m for m in mapping.values() if m not in data["models"]]
        if absent:
            raise UserError(f"{where}: no model {absent[0]!r} (models: {data['models']})")

    def averaged(field: str) -> np.ndarray:
        return np.array([np.mean([float(d[field][mapping[k]]) for d in gmad]) for k in keys])

    srcc = table3.loc[keys, "srcc"].to_numpy(dtype=float)
    plcc = table3.loc[keys, "plcc"].to_numpy(dtype=float) if "plcc" in table3 else np.zeros(len(keys))
    ranks = {
        "srcc_rank": rank_by(keys, srcc, np.nan_to_num(plcc, nan=-np.inf)),
        "gmad_rank": rank_by(keys, averaged("gmad_score"), averaged("a")),
        "gmad_rank_thurstone": rank_by(keys, averaged("thurstone_q")),
    }
    ranks["delta_rank"] = ranks["srcc_rank"] - ranks["gmad_rank"]
    n_t3 = table3["n_seeds"] if "n_seeds" in table3 else pd.Series(1, index=table3.index)
    records = []
    for pos in np.argsort(ranks["srcc_rank"], kind="stable"):
        key = keys[pos]
        for metric in METRICS:
            n = n_t3.get(key) if metric == "srcc_rank" else len(gmad)
            records.append({
                "table": TABLE, "row": key, "column": "rank", "metric": metric, "value": int(ranks[metric][pos]),
                "ci_low": None, "ci_high": None, "n_seeds": None if pd.isna(n) else int(n), "run": run,
                "config_hash": config_hash, "note": THURSTONE_NOTE if metric == "gmad_rank_thurstone" else "",
            })  # fmt: skip
    return pd.DataFrame.from_records(records, columns=[*LONG_COLUMNS, "note"])


def wide(long: pd.DataFrame) -> pd.DataFrame:
    """Paper-shaped: one row per method (SRCC-rank order), one column per rank metric."""
    table = long.pivot(index="row", columns="metric", values="value")
    return table.loc[long.row.unique(), [m for m in METRICS if m in table.columns]].reset_index()


# ------------------------------------------------------------------------------------------------ figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def middle_frame(path: Path) -> np.ndarray:
    from vqaloop.io.video import count_frames, read_frames, uniform_indices

    return read_frames(path, uniform_indices(count_frames(path), 1))[0]


def no_pairs_plot(message: str):
    """A figure that says why there is no pair to show."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9, wrap=True)
    return fig


def gmad_pairs_plot(pairs_csv: Path, manifest: Path, data_root: Path, model_a: str, model_b: str):
    """2 levels x 2 roles of gMAD pairs between two models (MDS-VQA Fig. 3): middle frames, scores, MOS (the
    figure; :func:`no_pairs_plot`'s when a role has no pair)."""
    from vqaloop.io.manifest import read_manifest

    pairs = read_csv(pairs_csv, "gMAD pairs CSV", ("attacker", "defender", "level"),
                     dtype={"video_high": str, "video_low": str, "attacker": str, "defender": str})  # fmt: skip
    paths = read_manifest(manifest).set_index("video_id")["path"]
    roles = [(model_a, model_b), (model_b, model_a)]
    chosen = []
    for att, dfd in roles:
        sub = pairs[(pairs.attacker == att) & (pairs.defender == dfd)].sort_values("level")
        if sub.empty:  # a pool too small for any level set (e.g. the tiny test config): say so in the figure
            log.warning("%s: no gMAD pair with attacker %r and defender %r", pairs_csv, att, dfd)
            return no_pairs_plot(f"no gMAD pair between {att} and {dfd}: the pool is too small for any level set")
        chosen.append([sub.iloc[0], sub.iloc[-1]] if len(sub) > 1 else [sub.iloc[0]])
    plt = _plt()
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4), squeeze=False)
    for c, ((att, dfd), levels) in enumerate(zip(roles, chosen, strict=True)):
        for r in range(2):
            for side, which in enumerate(("high", "low")):
                ax = axes[r, 2 * c + side]
                ax.axis("off")
                if r >= len(levels):
                    continue
                p = levels[r]
                vid = p[f"video_{which}"]
                if vid not in paths.index:
                    raise UserError(f"{manifest}: no video {vid!r} (named in {pairs_csv})")
                ax.imshow(middle_frame(Path(data_root) / str(paths[vid])))
                ax.set_title(f"{att}: {p[f'attacker_score_{which}']:.2f}  {dfd}: {p[f'defender_score_{which}']:.2f}\n"
                             f"MOS {p[f'mos_{which}']:.2f}  (level {int(p.level)}, {which})", fontsize=8)  # fmt: skip
        axes[0, 2 * c].annotate(f"attacker {att} / defender {dfd}", xy=(1.0, 1.32), xycoords="axes fraction",
                                ha="center", fontsize=10, weight="bold")  # fmt: skip
    fig.tight_layout()
    return fig


def gmad_figure(pairs_csv: Path, manifest: Path, data_root: Path, model_a: str, model_b: str):
    """:func:`gmad_pairs_plot`'s writer (``vqaloop.io.atomic.figure_writer``)."""
    return figure_writer(gmad_pairs_plot(pairs_csv, manifest, data_root, model_a, model_b), dpi=100)


# --------------------------------------------------------------------------------------------------- CLI


def add_arguments(parser):
    from vqaloop.cli_checks import output_file

    parser.add_argument("--gmad", required=True, nargs="+", type=Path, help="vqaloop gmad result JSON(s), one per seed")
    parser.add_argument("--table3", required=True, type=Path, help="Table 3 long CSV (its 'mean' column)")
    parser.add_argument("--rows", nargs="+", metavar="KEY=NAME", help="Table 3 row key = gMAD model name")
    parser.add_argument("--paper-root", default="results/paper", type=Path)
    parser.add_argument("--run", default=None, help="run label (default: Table 3's)")
    parser.add_argument("--config-hash", default=None, help="config hash (default: Table 3's)")
    parser.add_argument(
        "--out", required=True, type=output_file, help="long CSV; _wide.csv and _vs_paper.csv beside it"
    )
    parser.add_argument("--figure", type=output_file, help="PNG of representative gMAD pairs (Fig. 3)")
    parser.add_argument("--figure-models", nargs=2, metavar=("A", "B"), help="gMAD model names (default: top two)")
    parser.add_argument("--pairs", type=Path, help="pairs CSV for the figure (default: the first JSON's)")
    parser.add_argument("--manifest", type=Path, help="gMAD pool manifest for the figure (default: the JSON's)")
    parser.add_argument("--data-root", type=Path, help="folder the manifest paths are relative to (figure)")


def derived_outputs(args) -> list[tuple[str, Path]]:
    from vqaloop.cli_checks import beside

    return [("--out (beside it)", p) for p in beside(args.out, "_wide.csv", "_vs_paper.csv")]


def _first(table3: pd.DataFrame, col: str) -> str:
    if col not in table3:
        return ""
    values = [v for v in table3[col] if isinstance(v, str) and v]
    return values[0] if values else ""


def run(args) -> int:
    gmad = read_gmad(args.gmad)
    table3 = read_table3(args.table3)
    models = set.intersection(*(set(d["models"]) for d in gmad))
    mapping = _row_mapping(args.rows, table3, models)
    run_label = args.run if args.run is not None else _first(table3, "run")
    chash = args.config_hash if args.config_hash is not None else _first(table3, "config_hash")
    long = build_long(gmad, table3, mapping, run_label, chash, args.gmad)
    if args.figure is not None and args.data_root is None:
        raise UserError("--figure needs --data-root (the videos' folder)")
    if args.figure is not None:  # the figure's inputs are checked before anything is written
        pairs = args.pairs or (Path(gmad[0]["pairs"]) if gmad[0].get("pairs") else None)
        manifest = args.manifest or (Path(gmad[0]["manifest"]) if gmad[0].get("manifest") else None)
        if pairs is None or manifest is None:
            raise UserError(f"{args.gmad[0]}: names no pairs CSV / manifest; give --pairs and --manifest")
        read_csv(pairs, "gMAD pairs CSV", ("attacker", "defender", "level"))
        read_manifest(manifest)
    stem = args.out.with_suffix("")
    writes = [(f"{stem}_wide.csv", csv_writer(wide(long))),
              (f"{stem}_vs_paper.csv", csv_writer(side_by_side(long, TABLE, args.paper_root))), (args.out, csv_writer(long))]  # fmt: skip
    if args.figure is not None:
        if args.figure_models:
            model_a, model_b = args.figure_models
        else:
            g = long[long.metric == "gmad_rank"].sort_values("value")
            model_a, model_b = (mapping[k] for k in g.row.iloc[:2])
        writes.append((args.figure, gmad_figure(pairs, manifest, args.data_root, model_a, model_b)))
        log.info("gMAD figure: %s vs %s", model_a, model_b)
    write_all_atomic(writes)  # the tables and the figure, or nothing
    log.info("%s:\n%s", TABLE, wide(long).to_string(index=False))
    return 0
