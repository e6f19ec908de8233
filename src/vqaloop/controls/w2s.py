"""``vqaloop control-w2s``: W2S-VQA's positive control: weak teachers that are the hidden MOS plus independent noise.

For one seed s and T teachers, every video v of a scored set (the source, every row: the teachers' MOS mapping is
fitted on its training split; the shaped pool, whose hidden MOS are read through the label oracle; each test set)
gets from teacher t the raw score

    score_{t,v} = y_v + noise * sd_set * z_{t,v},      z ~ N(0, 1) independent over teachers, videos and seeds

with y_v the video's MOS and sd_set the standard deviation of the MOS of its set (so the noise has the same known size
on every set: a teacher's Pearson correlation with the MOS is 1 / sqrt(1 + noise^2), 0.61 at noise 1.3, whatever the
set's spread). The files (``video_id, score``) go through the real ``vqaloop w2s-teacher --kind scores`` (the
4-parameter logistic to the MOS scale, fitted on the source training set), the real pairs (``w2s-pairs --kind
homogeneous``: the ensemble's mean and spread, W2S Sec. 4.1.2), the real student (``w2s-train``) and the real
soft-comparison scoring (``w2s-evaluate``), so the control measures whether that pipeline lets a student exceed
teachers whose errors are known to be independent noise. ``--noise 0`` gives the ceiling: teachers equal to the
hidden MOS, the best labels the same pipeline can be given.

``--mean-out`` also writes the teachers' mean score (one more raw score file): the ensemble as a single teacher, whose
noise is the teachers' divided by sqrt(T). Its pairs (``w2s-pairs`` with that one teacher and a fixed per-video
sigma, ``--single-sigma``) keep the order information that the ensemble rule of Sec. 4.1.2 discards when independent
teachers disagree (sigma_Delta from the teachers' spread makes most pairs "similar"; README "Positive controls").

**Negative twin** (``--twin``): the planted effect is that the teachers' errors are independent of one another and of
the video, so a student that learns quality from the videos can see through them. The twin's errors have the same
size but are systematic: one error per video, shared by every teacher and a function of the video's features,

    score_{t,v} = y_v + noise * sd_set * e_v,      e_v = the set's standardised  pooled_v . r,  r ~ N(0, I) (seeded)

(pooled_v: the video's pooled EfficientNet-Lite0 features, ``--features-root``), so averaging teachers removes
nothing and a student learns the error as if it were quality: it has nothing to exceed its teachers with. (Teachers
that carry no signal at all would not do: an untrained student's soft-comparison scores already correlate with
quality on a corpus whose features encode it, measured on the unit-level world of tests/test_controls.py.)
``--heldout`` also writes the held-out set: the shaped pool's videos outside D(1) (the stage-1 share the pairs are
drawn from; ``vqaloop.w2s.pairs.stage_videos``) with their hidden MOS, in split ``test``: videos of the student's own
distribution that it never trains on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.manifest import read_manifest

log = logging.getLogger(__name__)


def pool_truth(pool: Path, shaped: Path, oracle: Path) -> pd.DataFrame:
    """The shaped pool's rows (video_id, dataset, mos) with their hidden MOS (the oracle's evaluation labels)."""
    from vqaloop.evaluation.oracle import LabelOracle

    manifest = read_manifest(pool)
    dataset = str(manifest.dataset.iloc[0])
    picked = set(read_ids_checked(pool, shaped))
    rows = manifest[manifest.video_id.isin(picked)].reset_index(drop=True)
    labels = LabelOracle(oracle, dataset).evaluation_labels()
    missing = rows.video_id[~rows.video_id.isin(labels.index)]
    if len(missing):
        raise UserError(f"{oracle}: no hidden MOS for {len(missing)} shaped pool video(s), e.g. {missing.iloc[0]!r}")
    return rows.assign(mos=labels.loc[rows.video_id].to_numpy(dtype=float))[["video_id", "dataset", "split", "mos"]]


def read_ids_checked(pool: Path, shaped: Path) -> list[str]:
    """The shaped pool's ids, each checked against the pool manifest."""
    from vqaloop.io.readers import read_ids
    from vqaloop.w2s.data import SHAPED, pool_ids

    inside = set(pool_ids(pool))
    picked = read_ids(shaped, SHAPED, empty_ok=True)
    outside = [v for v in picked if v not in inside]
    if outside:
        raise UserError(f"{shaped}: {len(outside)} picked id(s) are not in {pool}, e.g. {outside[0]!r}")
    return picked


def labelled_rows(sets: list[Path]) -> pd.DataFrame:
    """The rows of the labelled sets (every row of each manifest: the source; a test-set file's test rows)."""
    parts = []
    for path in sets:
        manifest = read_manifest(path)
        rows = manifest[manifest.mos.notna()]
        if rows.empty:
            raise UserError(f"{path}: no labelled rows (a teacher's control scores need the MOS)")
        parts.append(rows[["video_id", "dataset", "split", "mos"]])
    return pd.concat(parts, ignore_index=True)


def heldout_set(pool: Path, shaped: Path, truth: pd.DataFrame, sizes: list[int], split_seed: int) -> pd.DataFrame:
    """The shaped pool's videos outside D(1) as a manifest of split ``test`` with their hidden MOS."""
    from vqaloop.w2s.pairs import stage_videos

    first = set(stage_videos(pool, shaped, sizes, split_seed, 1))
    manifest = read_manifest(pool)
    mos = truth.set_index("video_id").mos
    rows = manifest[manifest.video_id.isin(mos.index) & ~manifest.video_id.isin(first)].copy()
    rows["mos"] = mos.loc[rows.video_id].to_numpy()
    rows["split"] = "test"
    return rows.reset_index(drop=True)


def systematic_errors(rows: pd.DataFrame, features_root: Path, seed: int) -> np.ndarray:
    """e_v of the twin (module docstring): a seeded random projection of each video's pooled EfficientNet-Lite0
    features, standardised within its set."""
    from vqaloop.features.io import features_file
    from vqaloop.selection.features_io import load_features

    out = np.zeros(len(rows))
    direction = None
    for dataset, idx in rows.groupby("dataset", sort=True).indices.items():
        path = features_file(features_root, str(dataset), "efficientnet_lite0")
        features = load_features(path, need_frames=False)
        if features.pooled is None:
            raise UserError(f"{path}: no pooled features (the twin's errors are a projection of them)")
        index = {v: i for i, v in enumerate(features.ids)}
        missing = [v for v in rows.video_id.iloc[idx] if v not in index]
        if missing:
            raise UserError(f"{path}: no features for {len(missing)} video(s), e.g. {missing[0]!r}")
        pooled = np.asarray(features.pooled, dtype=np.float64)[[index[v] for v in rows.video_id.iloc[idx]]]
        if direction is None:
            direction = np.random.default_rng([seed, 24]).normal(size=pooled.shape[1])
        p = pooled @ direction
        out[idx] = (p - p.mean()) / p.std() if len(idx) > 1 and p.std() > 0 else 0.0
    return out


def teacher_scores(rows: pd.DataFrame, teachers: int, noise: float, seed: int,
                   systematic: np.ndarray | None = None) -> list[pd.DataFrame]:  # fmt: skip
    """T raw score tables (video_id, score) of ``rows`` (one row per video id; module docstring): independent noise,
    or ``systematic`` errors (the twin: one per video, the same for every teacher)."""
    y = rows.mos.to_numpy(dtype=float)
    spread = np.zeros(len(rows))
    for _dataset, idx in rows.groupby("dataset", sort=True).indices.items():
        spread[idx] = np.std(y[idx], ddof=1) if len(idx) > 1 else 0.0
    rng = np.random.default_rng([seed, 23])
    errors = [systematic if systematic is not None else rng.normal(size=len(y)) for _ in range(teachers)]
    return [pd.DataFrame({"video_id": rows.video_id, "score": (y + noise * spread * e).round(6)}) for e in errors]


def mean_scores(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The teachers' mean raw score per video (the ensemble as one teacher)."""
    return tables[0].assign(score=(sum(t.score for t in tables) / len(tables)).round(6))


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, int_in, output_file, seed

    parser.add_argument("--sets", nargs="+", required=True, type=Path,
                        help="labelled manifests the teachers score: the source and each test set's file")  # fmt: skip
    parser.add_argument("--pool", required=True, type=Path, help="the unlabelled W2S pool manifest")
    parser.add_argument("--shaped", required=True, type=Path, help="the shaped pool's ids (vqaloop shape)")
    parser.add_argument("--oracle", required=True, type=Path, help="the pool's hidden MOS (its oracle file)")
    parser.add_argument("--noise", type=float_in(0.0, 100.0), default=1.3,
                        help="noise sd as a multiple of each set's MOS sd, in [0, 100] (default 1.3)")  # fmt: skip
    parser.add_argument("--twin", action="store_true",
                        help="the negative twin: systematic errors (a projection of the features, shared by the teachers)")  # fmt: skip
    parser.add_argument("--features-root", type=Path, help="features folder (--twin: the errors' features)")
    parser.add_argument("--mean-out", type=output_file, help="the teachers' mean raw score (video_id, score)")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", nargs="*", default=[], type=output_file,
                        help="one raw score file (video_id, score) per teacher")  # fmt: skip
    parser.add_argument("--heldout", type=output_file, help="the held-out set (shaped pool outside D(1), with MOS)")
    parser.add_argument("--stage-sizes", nargs=3, type=int_in(1), metavar="N",
                        help="D(1), D(2), D(3) (w2s.stage_sizes; needed by --heldout)")  # fmt: skip
    parser.add_argument("--split-seed", type=seed, default=0, help="seed of the stage split (as w2s-pairs)")


def run(args) -> int:
    if not args.out and args.heldout is None:
        raise UserError("nothing to write: give --out (the teachers' scores) and/or --heldout")
    if args.mean_out is not None and not args.out:
        raise UserError("--mean-out is the mean of the teachers of --out: give --out")
    if args.twin and args.features_root is None:
        raise UserError("--twin needs --features-root (its errors are a projection of the videos' features)")
    truth = pool_truth(args.pool, args.shaped, args.oracle)
    rows = pd.concat([labelled_rows(args.sets), truth], ignore_index=True)
    rows = rows.drop_duplicates("video_id").reset_index(drop=True)
    systematic = systematic_errors(rows, args.features_root, args.seed) if args.twin and args.out else None
    tables = teacher_scores(rows, len(args.out), args.noise, args.seed, systematic) if args.out else []
    writes = [(path, csv_writer(table)) for path, table in zip(args.out, tables, strict=True)]
    if args.mean_out is not None:
        writes.append((args.mean_out, csv_writer(mean_scores(tables))))
    if args.heldout is not None:
        if args.stage_sizes is None:
            raise UserError("--heldout needs --stage-sizes (the held-out set is the shaped pool outside D(1))")
        writes.append((args.heldout, csv_writer(heldout_set(args.pool, args.shaped, truth, args.stage_sizes,
                                                            args.split_seed))))  # fmt: skip
    write_all_atomic(writes)
    if args.out:
        log.info("%d %s teachers (noise %g x each set's MOS sd) of %d videos, seed %d", len(args.out),
                 "systematic-error" if args.twin else "noisy-oracle", args.noise, rows.video_id.nunique(), args.seed)  # fmt: skip
    return 0
