"""``vqaloop gmad``: the group maximum differentiation (gMAD) competition (MDS-VQA Table 4; W2S Eq. 1).

For an ordered pair of models (attacker i, defender j) on a labelled pool:

* **Levels.** The defender's score range on the pool, [min, max], is cut into ``levels`` equal-width levels of
  width w; level k has centre c_k = min + (k + 1/2) w. Its *level set* is every video whose defender score lies
  within +-delta of c_k. Default ``delta = w / 4`` (half the half-width): the defender sees the videos of a
  level set as near-equal (spread <= 2 delta = w / 2), and neighbouring level sets are disjoint. A level set with
  fewer than two videos gives no pair; it is recorded in ``skipped``. A constant defender (range 0) has a single
  level, the whole pool.
* **Pair.** Within a level set, the attacker's highest-scored video (``index_high``) and lowest-scored one
  (``index_low``); ties in the attacker's score go to the lowest pool index.
* **Judge.** The attacker wins (1) when the video it scores higher has the higher MOS, loses (0) when it has the
  lower MOS; a tie in MOS, or an attacker that scores both videos the same (it claims no difference), counts 0.5.
* **Matrices.** Aggressiveness A_ij = mean over i's pairs against j of the wins; resistance R_ji = 1 - A_ij
  (how well j resisted i). Per model a_i = mean_{j != i} A_ij, r_i = mean_{j != i} R_ij, and the global gMAD
  score (a_i + r_i) / 2; rank 1 = highest score, ties broken by a_i (higher first), then by name.
* **Thurstone alternative.** W_ij = the number of "i beats j" outcomes from both roles: the sum of i's wins when
  i attacks j plus the sum of (1 - j's wins) when j attacks i (i resisted). So W_ij + W_ji = the number of pairs
  the two models were judged on. The MAP scores q maximise sum_ij W_ij log Phi(q_i - q_j) - sum_i q_i^2 / 2
  (strictly concave; solved by :func:`vqaloop.evaluation.thurstone.map_scores`, L-BFGS then Newton to a gradient
  <= 1e-10); rank 1 = highest q, ties by name.

The pool comes from a manifest split (default ``test``: the gMAD pool is labelled); each ``--predictions
NAME=CSV`` gives video_id and a score column for every video of the pool (extra ids are ignored).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.evaluation import thurstone
from vqaloop.io.atomic import csv_writer, text_writer, write_all_atomic
from vqaloop.io.manifest import read_manifest

log = logging.getLogger(__name__)

#: delta = DELTA_FRACTION * level width (= half the half-width of a level).
DELTA_FRACTION = 0.25


@dataclass(frozen=True)
class Pair:
    """One gMAD pair: the attacker's extremes within one level set of the defender."""

    level: int
    centre: float
    index_high: int  # the attacker's top-scored video of the level set (pool index)
    index_low: int  # the attacker's bottom-scored video
    attacker_high: float
    attacker_low: float
    defender_high: float
    defender_low: float
    n_level: int  # size of the level set


@dataclass(frozen=True)
class Skipped:
    level: int
    centre: float
    n_level: int
    reason: str


class Pairs(list):
    """A list of :class:`Pair` with the levels that gave none in ``skipped``."""

    def __init__(self, pairs=(), skipped=None):
        super().__init__(pairs)
        self.skipped = list(skipped or [])


def level_sets(defender: np.ndarray, levels: int = 5, delta: float | None = None):
    """(level, centre, indices) of each level set of the defender; ``delta`` defaults to width / 4."""
    d = np.asarray(defender, dtype=float)
    if d.ndim != 1 or len(d) == 0 or not np.isfinite(d).all():
        raise ValueError("defender scores must be a non-empty 1-D array of finite numbers")
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}")
    lo, hi = float(d.min()), float(d.max())
    if hi == lo:  # a constant defender sees the whole pool as one level
        return [(0, lo, np.arange(len(d)))], 0.0
    width = (hi - lo) / levels
    delta = DELTA_FRACTION * width if delta is None else float(delta)
    if delta < 0:
        raise ValueError(f"delta must be >= 0, got {delta}")
    out = []
    for k in range(levels):
        centre = lo + (k + 0.5) * width
        out.append((k, centre, np.flatnonzero(np.abs(d - centre) <= delta)))
    return out, delta


def gmad_pairs(attacker: np.ndarray, defender: np.ndarray, levels: int = 5, delta: float | None = None) -> Pairs:
    """The attacker's highest- and lowest-scored videos within each level set of the defender (module doc)."""
    a = np.asarray(attacker, dtype=float)
    d = np.asarray(defender, dtype=float)
    if a.shape != d.shape:
        raise ValueError(f"attacker and defender scores differ in shape: {a.shape} vs {d.shape}")
    if not np.isfinite(a).all():
        raise ValueError("attacker scores must be finite")
    sets, _ = level_sets(d, levels, delta)
    pairs, skipped = [], []
    for k, centre, idx in sets:
        if len(idx) < 2:
            skipped.append(Skipped(k, float(centre), len(idx), f"level set has {len(idx)} video(s), needs 2"))
            continue
        sub = a[idx]
        hi_i, lo_i = int(idx[np.argmax(sub)]), int(idx[np.argmin(sub)])  # argmax/argmin: first = lowest index
        if hi_i == lo_i:  # attacker constant on the level set: any two distinct videos
            lo_i = int(idx[1]) if hi_i == int(idx[0]) else int(idx[0])
        pairs.append(Pair(k, float(centre), hi_i, lo_i, float(a[hi_i]), float(a[lo_i]),
                          float(d[hi_i]), float(d[lo_i]), len(idx)))  # fmt: skip
    return Pairs(pairs, skipped)


def judge(pairs: list[Pair], mos: np.ndarray) -> np.ndarray:
    """Per pair: 1 if the attacker's higher-scored video has the higher MOS, 0 if the lower, 0.5 on ties."""
    mos = np.asarray(mos, dtype=float)
    wins = np.empty(len(pairs))
    for n, p in enumerate(pairs):
        if p.attacker_high == p.attacker_low:
            wins[n] = 0.5
        else:
            diff = mos[p.index_high] - mos[p.index_low]
            wins[n] = 1.0 if diff > 0 else 0.0 if diff < 0 else 0.5
    return wins


def thurstone_gradient(q: np.ndarray, wins: np.ndarray) -> np.ndarray:
    """Gradient of the log posterior sum_ij W_ij log Phi(q_i - q_j) - |q|^2 / 2 (zero at the MAP)."""
    return thurstone.gradient(q, np.nan_to_num(np.asarray(wins, dtype=float)), link="normal")


def thurstone_map(wins: np.ndarray) -> np.ndarray:
    """MAP Thurstone (Case V) scores from a pairwise win-count matrix W (W_ij = times i beat j; diagonal ignored)."""
    w = np.nan_to_num(np.asarray(wins, dtype=float))
    if w.ndim != 2 or w.shape[0] != w.shape[1] or (w < 0).any():
        raise ValueError("the win matrix must be square and non-negative")
    return thurstone.map_scores(w, link="normal")


def rank_by(names: list[str], *keys: np.ndarray) -> np.ndarray:
    """Rank 1 = largest first key; ties (to 12 decimals) broken by the next keys (larger first), then by name."""
    rounded = [np.round(np.asarray(k, dtype=float), 12) for k in keys]
    order = sorted(range(len(names)), key=lambda n: (*(-k[n] for k in rounded), names[n]))
    ranks = np.empty(len(names), dtype=int)
    ranks[order] = np.arange(1, len(names) + 1)
    return ranks


@dataclass
class Result:
    names: list[str]
    aggressiveness: np.ndarray  # A[i, j]: i attacks j (NaN diagonal)
    resistance: np.ndarray  # R[j, i] = 1 - A[i, j]
    n_pairs: np.ndarray  # n[i, j]: pairs of i attacking j
    wins: np.ndarray  # W[i, j]: "i beats j" outcomes from both roles
    a: np.ndarray
    r: np.ndarray
    score: np.ndarray  # (a + r) / 2
    rank: np.ndarray
    thurstone_q: np.ndarray
    thurstone_rank: np.ndarray
    pairs: dict[tuple[str, str], Pairs]
    pair_wins: dict[tuple[str, str], np.ndarray]

    def to_json(self) -> dict:
        def mat(m):
            return {i: {j: (None if i == j else float(m[a, b])) for b, j in enumerate(self.names)}
                    for a, i in enumerate(self.names)}  # fmt: skip

        def vec(v, cast=float):
            return {n: cast(v[k]) for k, n in enumerate(self.names)}

        skipped = [{"attacker": i, "defender": j, "level": s.level, "centre": s.centre, "n_level": s.n_level,
                    "reason": s.reason} for (i, j), p in self.pairs.items() for s in p.skipped]  # fmt: skip
        return {
            "models": list(self.names),
            "aggressiveness": mat(self.aggressiveness),
            "resistance": mat(self.resistance),
            "n_pairs": mat(self.n_pairs),
            "thurstone_wins": mat(self.wins),
            "a": vec(self.a),
            "r": vec(self.r),
            "gmad_score": vec(self.score),
            "gmad_rank": vec(self.rank, int),
            "thurstone_q": vec(self.thurstone_q),
            "thurstone_rank": vec(self.thurstone_rank, int),
            "skipped_levels": skipped,
        }


def competition(scores: dict[str, np.ndarray], mos: np.ndarray, levels: int = 5, delta: float | None = None) -> Result:
    """Every ordered (attacker, defender) gMAD contest among ``scores`` (all on the same pool as ``mos``)."""
    names = list(scores)
    if len(names) < 2:
        raise ValueError("a gMAD competition needs at least two models")
    m = len(names)
    A = np.full((m, m), np.nan)
    n_pairs = np.zeros((m, m))
    win_sum = np.zeros((m, m))  # sum of i's wins attacking j
    all_pairs, all_wins = {}, {}
    for i, ni in enumerate(names):
        for j, nj in enumerate(names):
            if i == j:
                continue
            pairs = gmad_pairs(scores[ni], scores[nj], levels, delta)
            wins = judge(pairs, mos)
            if not pairs:  # a pool too small for any level set: no evidence either way (A = 0.5, 0 pairs)
                A[i, j] = 0.5
            else:
                A[i, j], n_pairs[i, j], win_sum[i, j] = wins.mean(), len(wins), wins.sum()
            all_pairs[(ni, nj)], all_wins[(ni, nj)] = pairs, wins
    R = 1.0 - A.T
    off = ~np.eye(m, dtype=bool)
    a = np.array([A[i, off[i]].mean() for i in range(m)])
    r = np.array([R[i, off[i]].mean() for i in range(m)])
    score = (a + r) / 2
    W = win_sum + (n_pairs.T - win_sum.T)  # i's wins attacking j + i's resisted pairs when j attacks i
    np.fill_diagonal(W, np.nan)
    q = thurstone_map(W)
    return Result(names, A, R, n_pairs, W, a, r, score, rank_by(names, score, a), q, rank_by(names, q),
                  all_pairs, all_wins)  # fmt: skip


PAIR_COLUMNS = [
    "attacker", "defender", "level", "level_centre", "n_level", "video_high", "video_low", "attacker_score_high",
    "attacker_score_low", "defender_score_high", "defender_score_low", "mos_high", "mos_low", "win",
]  # fmt: skip


def pairs_table(result: Result, video_ids: np.ndarray, scores: dict[str, np.ndarray], mos: np.ndarray) -> pd.DataFrame:
    """Every gMAD pair, one row each (a header only when no level set held a pair)."""
    rows = []
    for (att, dfd), pairs in result.pairs.items():
        for p, w in zip(pairs, result.pair_wins[(att, dfd)], strict=True):
            h, lo = p.index_high, p.index_low
            rows.append({
                "attacker": att, "defender": dfd, "level": p.level, "level_centre": p.centre, "n_level": p.n_level,
                "video_high": video_ids[h], "video_low": video_ids[lo],
                "attacker_score_high": scores[att][h], "attacker_score_low": scores[att][lo],
                "defender_score_high": scores[dfd][h], "defender_score_low": scores[dfd][lo],
                "mos_high": mos[h], "mos_low": mos[lo], "win": w,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


# --------------------------------------------------------------------------------------------------- CLI


def _parse_named(items: list[str], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"{what} {item!r}: expected NAME=PATH")
        if name in out:
            raise UserError(f"{what} {item!r}: model name {name!r} given twice")
        out[name] = Path(path)
    return out


def read_scores(path: Path, video_ids: pd.Series, column: str = "score") -> np.ndarray:
    """Scores of ``path`` (video_id + ``column``) in the order of ``video_ids``; UserError naming the file."""
    from vqaloop.io.readers import read_csv

    df = read_csv(path, "prediction file", ("video_id", column), dtype={"video_id": str})
    dup = df.video_id.duplicated()
    if dup.any():
        raise UserError(f"{path}: duplicate video_id {df.video_id[dup].iloc[0]!r}")
    s = df.set_index("video_id")[column]
    missing = video_ids[~video_ids.isin(s.index)]
    if len(missing):
        raise UserError(f"{path}: no score for {len(missing)} video(s) of the gMAD pool (first: {missing.iloc[0]!r})")
    values = pd.to_numeric(s.loc[video_ids], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(values).all():
        bad = video_ids.iloc[int(np.flatnonzero(~np.isfinite(values))[0])]
        raise UserError(f"{path}: {column} of video {bad!r} is not a finite number")
    return values


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, int_in, name_equals_path, output_file

    parser.add_argument("--predictions", required=True, nargs="+", type=name_equals_path, metavar="NAME=CSV",
                        help="one per model: a CSV with video_id and a score column for the gMAD pool")  # fmt: skip
    parser.add_argument("--manifest", required=True, type=Path, help="manifest of the (labelled) gMAD pool")
    parser.add_argument("--split", default="test", choices=["train", "test", "pool", "all"],
                        help="manifest split that forms the pool ('all' for every row)")  # fmt: skip
    parser.add_argument("--score-column", default="score", help="column of the prediction CSVs (score | mos_pred)")
    parser.add_argument("--levels", type=int_in(1, 1000), default=5, help="level sets, 1 to 1000")
    parser.add_argument("--delta", type=float_in(0.0), default=None,
                        help="half-width of a level set, >= 0 (default: width / 4)")  # fmt: skip
    parser.add_argument("--out", required=True, type=output_file, help="result JSON")
    parser.add_argument("--pairs", type=output_file, help="CSV of every pair (attacker, defender, level, videos, win)")


def run(args) -> int:
    named = _parse_named(args.predictions, "--predictions")
    if len(named) < 2:
        raise UserError("--predictions: a gMAD competition needs at least two models")
    manifest = read_manifest(args.manifest)
    pool = manifest if args.split == "all" else manifest[manifest.split == args.split]
    if len(pool) < 2:
        raise UserError(f"{args.manifest}: split {args.split!r} has {len(pool)} video(s); gMAD needs at least 2")
    if pool.mos.isna().any():
        vid = pool.video_id[pool.mos.isna()].iloc[0]
        raise UserError(f"{args.manifest}: video {vid!r} of the gMAD pool has no MOS")
    ids = pool.video_id.reset_index(drop=True)
    mos = pool.mos.to_numpy(dtype=float)
    scores = {name: read_scores(path, ids, args.score_column) for name, path in named.items()}
    try:
        result = competition(scores, mos, args.levels, args.delta)
    except ValueError as err:
        raise UserError(f"{args.manifest}: {err}") from None
    payload = {
        "manifest": str(args.manifest), "split": args.split, "n_videos": len(ids), "levels": args.levels,
        "delta": args.delta, "delta_rule": f"{DELTA_FRACTION} x level width" if args.delta is None else "given",
        "score_column": args.score_column, "predictions": {k: str(v) for k, v in named.items()},
        "pairs": None if args.pairs is None else str(args.pairs), **result.to_json(),
    }  # fmt: skip
    writes = [(args.out, text_writer(json.dumps(payload, indent=2) + "\n"))]
    if args.pairs is not None:
        writes.append((args.pairs, csv_writer(pairs_table(result, ids.to_numpy(), scores, mos))))
    write_all_atomic(writes)  # both files or neither
    summary = pd.DataFrame({"a": result.a, "r": result.r, "score": result.score, "rank": result.rank,
                            "thurstone_q": result.thurstone_q, "thurstone_rank": result.thurstone_rank},
                           index=result.names).sort_values("rank")  # fmt: skip
    log.info("gMAD on %d videos, %d levels:\n%s", len(ids), args.levels, summary.round(4).to_string())
    return 0
