"""``vqaloop w2s-pairs``: the labelled video pairs of W2S-VQA's first stage (Sec. 4.1, Fig. 5).

A pair file lists ``first, second, label, kind`` rows; ``label`` is the index in ``LEVELS`` (inferior, worse,
similar, better, superior) of **the second video's quality compared to the first** (the dual-video prompt of
Appendix B.2: "Compared to the first video, how would you rate the quality of the second video?").

Pair kinds:
- ``homogeneous``: two videos of the stage's pool, labelled from teachers on the MOS scale (W2S Sec. 4.1.2):
  Delta = mean(second) - mean(first), sigma_Delta = sqrt(var(first) + var(second)) with the variances taken
  over the teachers (ddof = 1); superior if Delta > 2 sigma, better if sigma < Delta <= 2 sigma, similar if
  -sigma < Delta <= sigma, worse if -2 sigma < Delta <= -sigma, inferior if Delta <= -2 sigma. A single
  teacher (Table 5) has no spread (decided): each of its scores gets the fixed per-video sigma that the source
  MOS get (``--single-sigma``, config ``w2s.pairs.single_sigma``, 0.25 MOS like ``source_sigma``), so a
  "<teacher>-labelled" student and the "LSVQ-labelled" one differ only in where the scores come from (W2S
  Sec. 3.1: the teacher's predictions are the supervision). ``--single-sigma rmse`` takes the teacher's RMSE on
  the source training set instead: with a weak teacher (RMSE 1.2 MOS for BRISQUE here) 97% of the pairs are
  then "similar" and the student learns almost no order.
- ``source``: two source training videos labelled by their MOS with a fixed sigma per video (decided,
  config ``w2s.pairs.source_sigma``), for the supervised "LSVQ-labelled" student of Table 5.
- ``synthetic``: two levels i != j of one distortion family on one content (W2S Sec. 4.1.3, the heterogeneous
  teachers): |i - j| > 1 gives superior/inferior, |i - j| = 1 better/worse, never similar; the higher level is
  the worse video.
Sampling is seeded; homogeneous pairs are drawn uniformly among ordered pairs of distinct videos; synthetic
pairs are drawn among all ordered level pairs with the paper's stage-1 proportions of spatial : temporal :
streaming (160k : 40k : 50k pairs, Appendix A.1 Table 2).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.corpus.distortions import get_family
from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import read_manifest
from vqaloop.io.readers import read_ids
from vqaloop.w2s.data import SHAPED, STAGES, pool_ids, stage_split
from vqaloop.w2s.soft_comparison import LEVELS

log = logging.getLogger(__name__)

PAIR_COLUMNS = ["first", "second", "label", "kind"]
MAX_SIGMA = 100.0  # a per-video sigma on the MOS scale; above this every pair is "similar"
INFERIOR, WORSE, SIMILAR, BETTER, SUPERIOR = range(5)
#: Shares of the synthetic pairs by distortion kind (W2S Appendix A.1 Table 2, stage 1: 160k, 40k, 50k pairs).
SYNTHETIC_KIND_SHARES = {"spatial": 160, "temporal": 40, "streaming": 50}


def five_level_labels(delta: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Level index of the second video vs the first from Delta and sigma_Delta (W2S Sec. 4.1.2 thresholds)."""
    delta, sigma = np.asarray(delta, dtype=float), np.asarray(sigma, dtype=float)
    labels = np.full(delta.shape, SIMILAR, dtype=np.int64)  # -sigma < Delta <= sigma
    labels[delta > sigma] = BETTER
    labels[delta > 2 * sigma] = SUPERIOR
    labels[delta <= -sigma] = WORSE
    labels[delta <= -2 * sigma] = INFERIOR
    return labels


def ensemble_statistics(scores: np.ndarray, single_sd: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per video mean and variance over teachers of (N, T) MOS-scale scores; one teacher: variance single_sd^2."""
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    if scores.shape[1] == 1:
        if single_sd is None:
            raise ValueError("a single teacher needs its sigma (single_sd)")
        return scores[:, 0], np.full(len(scores), float(single_sd) ** 2)
    return scores.mean(axis=1), scores.var(axis=1, ddof=1)


def label_pairs(mean: np.ndarray, var: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Five-level labels of (first, second) index pairs from per-video means and variances."""
    delta = mean[second] - mean[first]
    return five_level_labels(delta, np.sqrt(var[first] + var[second]))


def sample_index_pairs(n: int, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` ordered pairs of distinct indices below n, uniformly, without repeating a pair."""
    total = n * (n - 1)
    if n < 2:
        raise UserError(f"need at least 2 videos to build pairs, got {n}")
    take = min(count, total)
    codes = rng.choice(total, size=take, replace=False)
    first, rest = np.divmod(codes, n - 1)
    second = rest + (rest >= first)
    return first, second


def synthetic_level_label(first_level: np.ndarray, second_level: np.ndarray) -> np.ndarray:
    """Second vs first for levels of one family (higher level = more severe; never similar, W2S Sec. 4.1.3)."""
    gap = np.asarray(second_level) - np.asarray(first_level)
    if (gap == 0).any():
        raise ValueError("a synthetic pair needs two different levels")
    return np.select([gap > 1, gap == 1, gap == -1], [INFERIOR, WORSE, BETTER], SUPERIOR).astype(np.int64)


def all_synthetic_pairs(ladder: pd.DataFrame) -> pd.DataFrame:
    """Every ordered pair of two levels of one family on one content, with its label and distortion kind."""
    rows = []
    ladder = ladder[ladder.distortion != "pristine"]
    for (_content, family), group in ladder.groupby(["content_id", "distortion"], sort=True):
        ids, levels = group.video_id.to_numpy(), group.level.to_numpy(dtype=int)
        i, j = np.meshgrid(np.arange(len(ids)), np.arange(len(ids)), indexing="ij")
        keep = i != j
        i, j = i[keep], j[keep]
        rows.append(pd.DataFrame({"first": ids[i], "second": ids[j],
                                  "label": synthetic_level_label(levels[i], levels[j]),
                                  "family": family, "distortion_kind": get_family(family).kind}))  # fmt: skip
    if not rows:
        raise UserError("the synthetic ladder has no distorted videos")
    return pd.concat(rows, ignore_index=True)


def sample_synthetic(candidates: pd.DataFrame, count: int, rng: np.random.Generator) -> pd.DataFrame:
    """``count`` pairs without replacement, weighted so the kinds follow SYNTHETIC_KIND_SHARES."""
    shares = candidates.distortion_kind.map(SYNTHETIC_KIND_SHARES).fillna(0).to_numpy(dtype=float)
    per_kind = candidates.groupby("distortion_kind").distortion_kind.transform("size").to_numpy(dtype=float)
    weights = shares / per_kind
    take = min(count, int((weights > 0).sum()))
    if take < count:
        log.warning("only %d synthetic pairs exist, %d asked: using all", take, count)
    picked = rng.choice(len(candidates), size=take, replace=False, p=weights / weights.sum())
    return candidates.iloc[np.sort(picked)]


def source_pairs(manifest: Path, source: str, count: int, sigma: float, rng: np.random.Generator) -> pd.DataFrame:
    train = read_manifest(manifest)
    train = train[train.split == "train"].reset_index(drop=True)
    first, second = sample_index_pairs(len(train), count, rng)
    mos = train.mos.to_numpy(dtype=float)
    labels = label_pairs(mos, np.full(len(mos), sigma**2), first, second)
    ids = train.video_id.to_numpy()
    return pd.DataFrame({"first": ids[first], "second": ids[second], "label": labels, "kind": "source"})


def homogeneous_pairs(teacher_files: list[Path], ids: list[str], count: int, rng: np.random.Generator,
                      single_sigma: float | None = None) -> pd.DataFrame:  # fmt: skip
    """Pairs of ``ids`` labelled by the teachers' ensemble; one teacher: sigma ``single_sigma`` (None: its RMSE)."""
    from vqaloop.w2s.teachers import read_teacher

    columns, sds = [], []
    for path in teacher_files:
        table, stats = read_teacher(path)
        missing = [v for v in ids if v not in table.index]
        if missing:
            raise UserError(f"{path}: no score for {len(missing)} pool video(s), e.g. {missing[0]!r}")
        columns.append(table.loc[ids, "mos"].to_numpy(dtype=float))
        sds.append(stats.get("source_rmse"))
    single_sd = (sds[0] if single_sigma is None else single_sigma) if len(columns) == 1 else None
    mean, var = ensemble_statistics(np.stack(columns, axis=1), single_sd)
    first, second = sample_index_pairs(len(ids), count, rng)
    labels = label_pairs(mean, var, first, second)
    ids = np.asarray(ids)
    return pd.DataFrame({"first": ids[first], "second": ids[second], "label": labels, "kind": "homogeneous"})


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A pair file, checked: columns, labels in 0..4 (one line naming the file and row otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: pair file not found")
    try:
        table = pd.read_csv(path, dtype={"first": str, "second": str, "label": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable pair CSV ({type(err).__name__})") from None
    missing = [c for c in PAIR_COLUMNS if c not in table.columns]
    if missing:
        raise UserError(f"{path}: pair file lacks column(s) {missing}")
    label = pd.to_numeric(table.label, errors="coerce")
    bad = ~label.isin(range(len(LEVELS)))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(f"{path}: row {i + 2}: label {table.label.iloc[i]!r} is not one of 0..4 ({', '.join(LEVELS)})")
    return table.assign(label=label.astype(np.int64))


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, int_in, output_file, positive_int, seed

    parser.add_argument("--kind", required=True, choices=["homogeneous", "synthetic", "source"])
    parser.add_argument("--count", required=True, type=positive_int, help="pairs to draw")
    parser.add_argument("--teachers", nargs="*", type=Path, default=[], help="teacher score files (homogeneous)")
    parser.add_argument("--pool", type=Path, help="the unlabelled pool manifest (homogeneous)")
    parser.add_argument("--shaped", type=Path, help="shaping picks (video_id): the pool videos kept (homogeneous)")
    parser.add_argument("--stage", type=int_in(1, STAGES, "a stage"), default=1,
                        help="stage whose share of the shaped pool is used (1, 2 or 3)")  # fmt: skip
    parser.add_argument("--stage-sizes", nargs=STAGES, type=positive_int, metavar="N",
                        help="videos of D(1), D(2), D(3); they sum to the shaped pool's size (homogeneous)")  # fmt: skip
    parser.add_argument("--split-seed", type=seed, default=0, help="seed of the stage split of the shaped pool")
    parser.add_argument("--ladder", type=Path, help="the synthetic ladder manifest (synthetic)")
    parser.add_argument("--source-manifest", type=Path, help="the labelled source manifest (source)")
    parser.add_argument("--source-sigma", type=float_in(0.0, MAX_SIGMA, lo_open=True), default=0.25,
                        help=f"per-video sigma of source MOS (source), in (0, {MAX_SIGMA:g}]")  # fmt: skip
    parser.add_argument("--single-sigma", type=sigma_or_rmse, default="0.25",
                        help="per-video sigma of a single teacher's scores, or 'rmse' (homogeneous, one teacher)")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", required=True, type=output_file)


def sigma_or_rmse(value: str) -> str:
    """``type=`` of ``--single-sigma``: a number in (0, MAX_SIGMA], or ``rmse``."""
    import argparse

    try:
        parse_single_sigma(value)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return value


def parse_single_sigma(value: str) -> float | None:
    """``--single-sigma``: a positive number, or ``rmse`` (None: the teacher's RMSE on the source training set)."""
    if value == "rmse":
        return None
    try:
        sigma = float(value)
    except ValueError:
        sigma = float("nan")
    if not np.isfinite(sigma) or not 0 < sigma <= MAX_SIGMA:
        raise UserError(f"--single-sigma must be a number in (0, {MAX_SIGMA:g}] or 'rmse', got {value[:40]!r}")
    return sigma


def stage_videos(pool: Path, shaped: Path, sizes: list[int], split_seed: int, stage: int) -> list[str]:
    """The ids of D(stage), the stage's share of the shaped pool (every picked id checked against the pool)."""
    inside = set(pool_ids(pool))
    picked = read_ids(shaped, SHAPED, empty_ok=True)
    outside = [v for v in picked if v not in inside]
    if outside:
        raise UserError(f"{shaped}: {len(outside)} picked id(s) are not in {pool}, e.g. {outside[0]!r}")
    return stage_split(picked, sizes, seed=split_seed, what=str(shaped))[stage - 1]


def run(args) -> int:
    if args.count < 1:
        raise UserError(f"--count must be at least 1, got {args.count}")
    rng = np.random.default_rng([args.seed, 11, args.stage])
    if args.kind == "homogeneous":
        if not args.teachers or args.pool is None or args.shaped is None or args.stage_sizes is None:
            raise UserError("--kind homogeneous needs --teachers, --pool, --shaped and --stage-sizes")
        ids = stage_videos(args.pool, args.shaped, args.stage_sizes, args.split_seed, args.stage)
        pairs = homogeneous_pairs(args.teachers, ids, args.count, rng, parse_single_sigma(args.single_sigma))
    elif args.kind == "synthetic":
        if args.ladder is None:
            raise UserError("--kind synthetic needs --ladder")
        candidates = all_synthetic_pairs(read_manifest(args.ladder))
        pairs = sample_synthetic(candidates, args.count, rng).assign(kind="synthetic")
    else:
        if args.source_manifest is None:
            raise UserError("--kind source needs --source-manifest")
        pairs = source_pairs(args.source_manifest, "", args.count, args.source_sigma, rng)
    write_csv_atomic(pairs[PAIR_COLUMNS], args.out)
    counts = pairs.label.map(dict(enumerate(LEVELS))).value_counts().to_dict()
    log.info("%s: %d %s pairs, labels %s", args.out, len(pairs), args.kind, counts)
    return 0
