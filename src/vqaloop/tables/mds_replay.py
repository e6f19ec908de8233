"""``vqaloop mds-replay``: MDS-VQA's YouTube-SFV SDR cells recomputed from the authors' published outputs through this
project's evaluation and selection code, and the paper's central claim tested on their human MOS.

Inputs: the authors' release (``vqaloop.datasets.mds_release``; their repository at a6834d5 or its transcription)
and the lambda-0 selection that ``vqaloop select --method mds --lambda 0`` made from their g
(``vqaloop mds-replay-inputs`` writes its inputs). Outputs (``--out``: ``mds_replay.csv``; beside it
``_wide.csv`` and ``_vs_paper.csv``; ``--claims``):

**The cells** (long format, ``vqaloop.tables.mds_build``'s wide form): SRCC / PLCC after the 4-parameter logistic
(``vqaloop.evaluation.metrics``) of

- ``base_model_pool``: f on the 1,624 pool videos (Table 2 / Tables 5-8 "Base model", failure identification);
- ``base_model_all``: f on all 2,030 SDR videos (pool + test; the same printed cell, read another way);
- ``base_model_test``: f on the 406 test videos (Table 3 "Base model"; Tables 5-7 active fine-tuning);
- ``mds``: f on the 64 videos MDS-VQA selected (Table 2 MDS-VQA; Table 6 lambda = 0.25; Tables 5, 7, 8 defaults);
- ``lambda_0``: f on ``vqaloop select``'s lambda-0 picks from the authors' g (Table 6 lambda = 0);
- ``mds_finetuned``: the authors' fine-tuned model on the test split (Table 3 MDS-VQA; Tables 5-8's default row);
- ``base_model_ugc_test``: f on the YouTube-UGC test split (Table 3), only where ``datasets/ugc.json`` is released.

``_vs_paper.csv`` puts each beside every printed cell it stands for (``PAPER_CELLS``), the difference and whether
it matches to the third decimal (the printed value equals ours rounded to three decimals).

**The claims** (``--claims``, claims-style: one row per statement, a statistic, a null distribution, an exact
empirical p-value, a verdict at ``--level``). Failure identification: lower SRCC / PLCC = more failure-focused.

- nulls: ``random`` = ``--draws`` uniform draws of ``budget`` pool videos without replacement; ``mos_matched`` =
  draws matched to the MOS distribution of the subject set (the pool cut into ``--mos-bins`` equal-count MOS bins,
  each draw taking as many videos from each bin as the subject has there: low SRCC can come from a narrow MOS range
  alone); ``tie_orders`` = lambda 0 with its ties in g broken by ``--tie-orders`` random orders of the pool;
  ``permutations`` = g's scores permuted over the pool (for g against f's errors).
- p-values: with N draws and k of them at or beyond the subject in the claimed direction, p = (1 + k) / (1 + N)
  (the exact p-value of a Monte-Carlo test: Phipson & Smyth 2010); ``p_opposite`` the same the other way.
  ``exact_p_value`` enumerates every subset instead when there are at most N of them.
- verdict: agree when p <= level, disagree when p_opposite <= level, else inconclusive.
- f's errors e = |logistic(f) - MOS| with the logistic fitted on the pool (MDS-VQA Eq. 4's error, on the
  authors' raw MOS).
- subjects and baselines needing only f's or g's scores, each the top ``budget`` of a score with ties to the pool
  order (g's file order) and its spread over random tie orders: MDS-VQA, lambda 0 (= top g), |f - median f|,
  lowest f, highest f, the length of f's reasoning text (original layout only).

SRCC of subsets and nulls: ``srcc_rows`` (scipy's rank correlation, average ranks); PLCC: ``plcc_rows`` (the same
logistic model, start and fallbacks as the cells' ``plcc``, fitted set by set in one vectorised solve; a subject's
PLCC in the claims comes from the same function as its null's). Everything random is seeded from ``--seed``.
"""

from __future__ import annotations

import argparse
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.datasets.mds_release import WHERE_TO_GET, Release, load_release
from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import apply_logistic4, fit_logistic4, plcc, plcc_rows, srcc, srcc_rows
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.readers import read_csv
from vqaloop.tables.mds_build import wide
from vqaloop.tables.published import LONG_COLUMNS

log = logging.getLogger(__name__)

TABLE = "mds_replay"
METRICS = ("srcc", "plcc")
SDR, UGC = "sfv_sdr", "youtube_ugc"  # the paper's column keys (results/paper)
CHUNK = 2000  # null rows evaluated at a time (memory)
DECIMALS = 6  # of the cells: rounding to 4 first would round some to 3 decimals the other way (0.31749 -> 0.318)

# row -> (column, what it is)
ROWS: dict[str, tuple[str, str]] = {
    "base_model_pool": (SDR, "f (VisualQuality-R1 on YouTube-UGC) on the pool (sdr_train_mos.txt)"),
    "base_model_all": (SDR, "f on every SDR video (pool + test)"),
    "base_model_test": (SDR, "f on the test split (sdr_test_mos.txt)"),
    "mds": (SDR, "f on the videos MDS-VQA selected (the authors' fine-tuning set, lambda = 0.25, CLIP)"),
    "lambda_0": (SDR, "f on vqaloop select --method mds --lambda 0 from the authors' g (ties: g's file order)"),
    "mds_finetuned": (SDR, "the authors' fine-tuned model (sdr_active_finetuning) on the test split"),
    "base_model_ugc_test": (UGC, "f (datasets/ugc.json) on the YouTube-UGC test split (ugc_test_set.txt)"),
}
# row -> the printed cells it stands for: (table, row, column); the first is the one the row reproduces
PAPER_CELLS: dict[str, list[tuple[str, str, str]]] = {
    "base_model_pool": [("mds_table2", "base_model", SDR)]
    + [(t, "base_model", "failure_identification") for t in ("mds_table5", "mds_table6", "mds_table7")],
    "base_model_all": [("mds_table2", "base_model", SDR)]
    + [(t, "base_model", "failure_identification") for t in ("mds_table5", "mds_table6", "mds_table7")],
    "base_model_test": [("mds_table3", "base_model", SDR)]
    + [(t, "base_model", "active_finetuning") for t in ("mds_table5", "mds_table6", "mds_table7")],
    "mds": [
        ("mds_table2", "mds", SDR),
        ("mds_table5", "ranking", "failure_identification"),
        ("mds_table6", "lambda_0.25", "failure_identification"),
        ("mds_table7", "clip", "failure_identification"),
        ("mds_table8", "rank_64", "failure_identification"),
    ],  # fmt: skip
    "lambda_0": [("mds_table6", "lambda_0", "failure_identification")],
    "mds_finetuned": [
        ("mds_table3", "mds", SDR),
        ("mds_table5", "ranking", "active_finetuning"),
        ("mds_table6", "lambda_0.25", "active_finetuning"),
        ("mds_table7", "clip", "active_finetuning"),
        ("mds_table8", "rank_64", "active_finetuning"),
    ],  # fmt: skip
    "base_model_ugc_test": [("mds_table3", "base_model", UGC)],
}
VS_PAPER_COLUMNS = ["table", "row", "column", "metric", "ours", "n_videos", "paper_table", "paper_row", "paper_column",
                    "paper", "difference", "matches_3dp", "note"]  # fmt: skip
CLAIM_COLUMNS = ["claim", "statement", "subject", "metric", "statistic", "null", "n_null", "null_mean", "null_sd",
                 "null_q025", "null_median", "null_q975", "p_value", "p_opposite", "level", "verdict", "detail"]  # fmt: skip
AGREE, DISAGREE, INCONCLUSIVE, NOT_COMPUTED = "agree", "disagree", "inconclusive", "not computed"


@dataclass
class Settings:
    budget: int = 64
    draws: int = 10000
    tie_orders: int = 10000
    mos_bins: int = 10
    seed: int = 0
    level: float = 0.05

    def rng(self, stream: int) -> np.random.Generator:
        """One independent, seeded stream per null (the same settings give the same draws)."""
        return np.random.default_rng([self.seed, stream])


@dataclass
class Pool:
    """The pool in g's file order (the pool order of the selection): ids, f, raw MOS, g, f's errors."""

    ids: list[str]
    f: np.ndarray
    mos: np.ndarray
    g: np.ndarray
    reasoning: np.ndarray | None = None
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def index(self, videos) -> np.ndarray:
        where = {v: i for i, v in enumerate(self.ids)}
        return np.array([where[v] for v in videos], dtype=np.int64)


def make_pool(release: Release) -> Pool:
    """The pool arrays; f's errors e = |logistic(f) - MOS| with the logistic fitted on the pool (Eq. 4's error)."""
    ids = release.g.index.tolist()
    f = release.f.loc[ids].to_numpy(float)
    mos = release.pool.loc[ids].to_numpy(float)
    reasoning = None
    if release.f_reasoning_chars is not None:
        reasoning = release.f_reasoning_chars.loc[ids].to_numpy(float)
        if np.isnan(reasoning).any():
            reasoning = None  # no reasoning text for some videos: the answer-length baseline is not computed
    pool = Pool(ids, f, mos, release.g.to_numpy(float), reasoning)
    pool.errors = np.abs(apply_logistic4(fit_logistic4(f, mos), f) - mos)
    return pool


# ---------------------------------------------------------------------------------------------- cells


def correlations(pred, mos) -> dict[str, float]:
    """The project's evaluation: SRCC, and PLCC after the 4-parameter logistic fitted on the set itself."""
    return {"srcc": srcc(pred, mos), "plcc": plcc(pred, mos)}


def read_selection(path: Path, pool: Pool, budget: int) -> list[str]:
    """A ``vqaloop select`` output (``video_id,rank``) of ``budget`` pool videos, in pick order."""
    table = read_csv(path, "selection (vqaloop select)", ("video_id", "rank"), dtype={"video_id": str})
    ids = table.sort_values("rank", kind="stable").video_id.tolist()
    known = set(pool.ids)
    unknown = [v for v in ids if v not in known]
    if unknown:
        raise UserError(
            f"{path}: {len(unknown)} selected id(s) are not pool videos of the release (e.g. {unknown[0]!r})"
        )
    if len(ids) != budget or len(set(ids)) != budget:
        raise UserError(f"{path}: {len(set(ids))} distinct videos, expected the budget of {budget}")
    return ids


def cells(release: Release, lambda0: list[str]) -> dict[str, tuple[dict[str, float] | None, int, str]]:
    """Row -> (SRCC/PLCC or None, number of videos, note)."""
    f, pool, test = release.f, release.pool, release.test
    every = pd.concat([pool, test])
    out = {
        "base_model_pool": (correlations(f.loc[pool.index], pool), len(pool), ""),
        "base_model_all": (correlations(f.loc[every.index], every), len(every), ""),
        "base_model_test": (correlations(f.loc[test.index], test), len(test), ""),
        "mds": (
            correlations(f.loc[release.selected.index], pool.loc[release.selected.index]),
            len(release.selected),
            "",
        ),
        "lambda_0": (correlations(f.loc[lambda0], pool.loc[lambda0]), len(lambda0), ""),
        "mds_finetuned": (correlations(release.finetuned.loc[test.index], test), len(test), ""),
    }
    if release.ugc_f is not None and release.ugc_test is not None:
        missing = [v for v in release.ugc_test.index if v not in release.ugc_f.index]
        if missing:
            raise UserError(f"{release.paths['ugc_f']}: no score for {len(missing)} YouTube-UGC test video(s) "
                            f"(e.g. {missing[0]!r})")  # fmt: skip
        ugc = release.ugc_test
        out["base_model_ugc_test"] = (correlations(release.ugc_f.loc[ugc.index], ugc), len(ugc), "")
    else:
        why = "not computed: f's YouTube-UGC scores (datasets/ugc.json) are not in this release folder"
        out["base_model_ugc_test"] = (None, 0, why + (" (the transcription leaves them out)" if release.layout ==
                                                     "transcribed" else ""))  # fmt: skip
    return out


def long_table(values: dict, config_hash: str, why_missing: str = "") -> pd.DataFrame:
    records = []
    for row, (column, what) in ROWS.items():
        cell, n, note = values.get(row, (None, 0, why_missing))
        for metric in METRICS:
            value = None if cell is None else round(float(cell[metric]), DECIMALS)
            text = note or f"{what}; {n} videos"
            records.append({"table": TABLE, "row": row, "column": column, "metric": metric, "value": value,
                            "ci_low": None, "ci_high": None, "n_seeds": None, "run": "authors",
                            "config_hash": config_hash, "note": text})  # fmt: skip
    return pd.DataFrame.from_records(records, columns=[*LONG_COLUMNS, "note"])


def vs_paper(values: dict, paper_root: Path, why_missing: str = "") -> pd.DataFrame:
    """Every row beside each printed cell it stands for, the difference, whether it matches to 3 decimals (the
    printed value is ours rounded to three decimals), and a note from the numbers themselves (``line_note``)."""
    from vqaloop.tables.published import load_published

    published = {t: load_published(t, paper_root).set_index(["row", "column", "metric"]).value
                 for t in sorted({c[0] for cells_ in PAPER_CELLS.values() for c in cells_})}  # fmt: skip
    records = []
    for row, paper_cells in PAPER_CELLS.items():
        cell, n, note = values.get(row, (None, 0, why_missing))
        for table, paper_row, paper_column in paper_cells:
            for metric in METRICS:
                ours = None if cell is None else float(cell[metric])
                paper = float(published[table][(paper_row, paper_column, metric)])
                records.append({"table": TABLE, "row": row, "column": ROWS[row][0], "metric": metric,
                                "ours": None if ours is None else round(ours, DECIMALS), "n_videos": n or None,
                                "paper_table": table, "paper_row": paper_row, "paper_column": paper_column,
                                "paper": paper, "difference": None if ours is None else round(ours - paper, DECIMALS),
                                "matches_3dp": None if ours is None else bool(round(ours, 3) == round(paper, 3)),
                                "note": note})  # fmt: skip
    out = pd.DataFrame.from_records(records, columns=VS_PAPER_COLUMNS)
    out["note"] = [r.note or line_note(out, r) for r in out.itertuples()]
    return out


def line_note(table: pd.DataFrame, line) -> str:
    """What one comparison shows: a match; else which other row matches this printed cell, or which printed cell
    this row matches instead."""
    if line.matches_3dp:
        return "matches to 3 decimals"
    same_cell = table[(table.paper_table == line.paper_table) & (table.paper_row == line.paper_row)
                      & (table.paper_column == line.paper_column) & (table.metric == line.metric)
                      & (table.matches_3dp == True)]  # noqa: E712  # fmt: skip
    if len(same_cell):
        return f"row {', '.join(sorted(set(same_cell.row)))} matches this printed cell"
    own = table[(table.row == line.row) & (table.metric == line.metric) & (table.matches_3dp == True)]  # noqa: E712
    if len(own):
        cells_ = sorted({f"{t}/{r}/{c}" for t, r, c in zip(own.paper_table, own.paper_row, own.paper_column,
                                                             strict=True)})  # fmt: skip
        return f"this row reproduces {', '.join(cells_)}; no released output gives this printed value"
    return "no row matches this printed cell"


# ---------------------------------------------------------------------------------------------- nulls


def random_draws(n: int, k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, k) indices: ``count`` uniform draws of k of n without replacement."""
    return np.stack([rng.choice(n, size=k, replace=False) for _ in range(count)])


def mos_bins(mos: np.ndarray, bins: int) -> list[np.ndarray]:
    """The pool cut into ``bins`` equal-count bins by MOS (ties in MOS in pool order), as index arrays."""
    return np.array_split(np.argsort(mos, kind="stable"), bins)


def mos_matched_draws(
    mos: np.ndarray, subject: np.ndarray, bins: int, count: int, rng: np.random.Generator
) -> np.ndarray:
    """(count, k) draws with the subject's MOS distribution: per MOS bin, as many videos as the subject has there."""
    parts = mos_bins(mos, bins)
    member = np.empty(len(mos), dtype=np.int64)
    for b, part in enumerate(parts):
        member[part] = b
    quota = np.bincount(member[subject], minlength=len(parts))
    return np.stack([np.concatenate([rng.choice(part, size=q, replace=False) for part, q in zip(parts, quota,
                                                                                              strict=True) if q])
                     for _ in range(count)])  # fmt: skip


def top_k(score: np.ndarray, k: int, order: np.ndarray | None = None) -> np.ndarray:
    """The k highest scores, ties to the lowest position in ``order`` (default: the pool order). With ``order`` =
    the identity this is what ``vqaloop select --method mds --lambda 0`` picks (``selection.mds.top_by_difficulty``)."""
    order = np.arange(len(score)) if order is None else order
    return np.lexsort((order, -score))[:k]


def tie_order_draws(score: np.ndarray, k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, k): the top k of ``score`` with its ties broken by ``count`` random orders of the pool. Only the tie
    at the k-th score matters: every video above it is in, and a uniformly random order of the pool takes a
    uniformly random subset of the videos at it (as ``top_k(score, k, rng.permutation(n))`` would)."""
    kth = np.sort(score)[::-1][k - 1]
    above = np.flatnonzero(score > kth)
    tied = np.flatnonzero(score == kth)
    need = k - len(above)
    return np.stack([np.concatenate([above, rng.choice(tied, size=need, replace=False)]) for _ in range(count)])


def evaluate_rows(pool: Pool, rows: np.ndarray, metrics=METRICS) -> dict[str, np.ndarray]:
    """SRCC / PLCC of f against MOS on every row of subsets (``srcc_rows`` / ``plcc_rows``), chunk by chunk."""
    out = {m: np.empty(len(rows)) for m in metrics}
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        pred, mos = pool.f[part], pool.mos[part]
        if "srcc" in out:
            out["srcc"][start : start + len(part)] = srcc_rows(pred, mos)
        if "plcc" in out:
            out["plcc"][start : start + len(part)] = plcc_rows(pred, mos)
    return out


def empirical_p(observed: float, null: np.ndarray, direction: int) -> tuple[float, float]:
    """(p, p_opposite) of a Monte-Carlo test: (1 + #{null at or beyond observed}) / (1 + N), ``direction`` -1 =
    the claim is "lower than the null", +1 "higher"."""
    null = np.asarray(null, dtype=float)
    lower, higher = int(np.sum(null <= observed)), int(np.sum(null >= observed))
    below, above = (1 + lower) / (1 + len(null)), (1 + higher) / (1 + len(null))
    return (below, above) if direction < 0 else (above, below)


def exact_p_value(statistic, pool_size: int, k: int, subject: np.ndarray, direction: int, limit: int) -> float | None:
    """The exact p-value over every k-subset of the pool (the share at or beyond the subject's statistic, the
    subject's own subset included) when there are at most ``limit`` subsets; None otherwise. ``statistic(rows)``
    maps (S, k) index rows to S values."""
    import itertools

    if math.comb(pool_size, k) > limit:
        return None
    rows = np.array(list(itertools.combinations(range(pool_size), k)), dtype=np.int64)
    values = statistic(rows)
    observed = statistic(np.sort(subject)[None, :])[0]
    beyond = values <= observed + 1e-12 if direction < 0 else values >= observed - 1e-12
    return float(np.mean(beyond))


def verdict(p: float, p_opposite: float, level: float) -> str:
    if p <= level:
        return AGREE
    if p_opposite <= level:
        return DISAGREE
    return INCONCLUSIVE


def claim_row(claim: str, statement: str, subject: str, metric: str, observed: float, null_name: str,
              null: np.ndarray, direction: int, level: float, detail: str = "") -> dict:  # fmt: skip
    p, p_opposite = empirical_p(observed, null, direction)
    q025, median, q975 = np.quantile(null, [0.025, 0.5, 0.975])
    return {"claim": claim, "statement": statement, "subject": subject, "metric": metric,
            "statistic": round(float(observed), 4), "null": null_name, "n_null": len(null),
            "null_mean": round(float(np.mean(null)), 4), "null_sd": round(float(np.std(null, ddof=1)), 4),
            "null_q025": round(float(q025), 4), "null_median": round(float(median), 4),
            "null_q975": round(float(q975), 4), "p_value": _p(p), "p_opposite": _p(p_opposite), "level": level,
            "verdict": verdict(p, p_opposite, level), "detail": detail}  # fmt: skip


def _p(p: float) -> float:
    return float(f"{p:.3g}")


# ---------------------------------------------------------------------------------------------- the claims


def baselines(pool: Pool) -> dict[str, tuple[np.ndarray | None, str]]:
    """Top-``budget`` rules that need only f's or g's scores: name -> (score, what)."""
    out = {
        "lambda_0": (pool.g, "the top g (Eq. 9 with lambda = 0)"),
        "f_extreme": (np.abs(pool.f - np.median(pool.f)), "the largest abs(f - median f)"),
        "f_lowest": (-pool.f, "the lowest f"),
        "f_highest": (pool.f, "the highest f"),
        "f_answer_length": (pool.reasoning, "the longest reasoning text of f"),
    }
    return out


def spread(values: np.ndarray) -> str:
    q = np.quantile(values, [0.0, 0.025, 0.5, 0.975, 1.0])
    return (f"mean {np.mean(values):.4f}, median {q[2]:.4f}, 95% of tie orders {q[1]:.4f}..{q[3]:.4f}, "
            f"range {q[0]:.4f}..{q[4]:.4f}")  # fmt: skip


def claims_table(pool: Pool, subjects: dict[str, np.ndarray], s: Settings) -> tuple[pd.DataFrame, dict]:
    """The claims (module docstring) and, for the README, the distributions' summaries."""
    k = s.budget
    rows, summary = [], {}
    rand = evaluate_rows(pool, random_draws(len(pool.ids), k, s.draws, s.rng(1)))
    summary["random"] = rand
    observed = {name: evaluate_rows(pool, idx[None, :]) for name, idx in subjects.items()}
    observed = {name: {m: float(v[m][0]) for m in METRICS} for name, v in observed.items()}
    mean_errors = {name: float(pool.errors[idx].mean()) for name, idx in subjects.items()}
    words = {"mds": "MDS-VQA's selection", "lambda_0": "lambda 0 (top g, ties in g's file order)"}
    for stream, name in ((2, "mds"), (3, "lambda_0")):
        matched = evaluate_rows(pool, mos_matched_draws(pool.mos, subjects[name], s.mos_bins, s.draws, s.rng(stream)))
        summary[f"mos_matched_{name}"] = matched
        for metric in METRICS:
            gap_random = float(np.mean(rand[metric])) - observed[name][metric]
            gap_matched = float(np.mean(matched[metric])) - observed[name][metric]
            share = gap_matched / gap_random if gap_random else float("nan")
            mos_sd = float(np.std(pool.mos[subjects[name]]))
            rows.append(claim_row(f"replay_{name}_below_random_{metric}",
                                  f"{words[name]} has a lower failure-identification {metric.upper()} than random "
                                  f"{k}-video draws from the pool (MDS-VQA Table 2 / 6, on human MOS)", name, metric,
                                  observed[name][metric], "random", rand[metric], -1, s.level))  # fmt: skip
            rows.append(claim_row(f"replay_{name}_below_mos_matched_{metric}",
                                  f"{words[name]} has a lower {metric.upper()} than draws with its MOS distribution "
                                  f"({s.mos_bins} equal-count MOS bins)", name, metric, observed[name][metric],
                                  f"mos_matched_{name}", matched[metric], -1, s.level,
                                  f"gap to the null mean: random {gap_random:.4f}, MOS-matched {gap_matched:.4f} "
                                  f"(share of the gain that survives the control: {share:.2f}); MOS sd of the "
                                  f"subject {mos_sd:.3f}, of the pool {np.std(pool.mos):.3f}"))  # fmt: skip
    ties = evaluate_rows(pool, tie_order_draws(pool.g, k, s.tie_orders, s.rng(4)))
    summary["tie_orders"] = ties
    for metric in METRICS:
        rows.append(claim_row(f"replay_mds_below_lambda0_tie_orders_{metric}",
                              f"MDS-VQA (lambda = 0.25) is more failure-focused than lambda 0 with its ties in g "
                              f"broken at random (Table 6: 0.25 beats 0 on {metric.upper()})", "mds", metric,
                              observed["mds"][metric], "tie_orders", ties[metric], -1, s.level,
                              f"lambda 0 over tie orders: {spread(ties[metric])}; in g's file order "
                              f"{observed['lambda_0'][metric]:.4f}"))  # fmt: skip
    for name, (score, what) in baselines(pool).items():
        if name == "lambda_0":
            continue
        for metric in METRICS:
            claim = f"replay_baseline_{name}_below_random_{metric}"
            statement = (f"the top {k} by {what} (a rule on f's scores alone) has a lower {metric.upper()} than "
                         "random draws")  # fmt: skip
            if score is None:
                rows.append(not_computed(claim, statement, name, metric, "no reasoning text of f in this release "
                                         "folder (the transcription leaves it out)", s.level))  # fmt: skip
                continue
            pick = top_k(score, k)
            value = float(evaluate_rows(pool, pick[None, :], (metric,))[metric][0])
            orders = min(s.tie_orders, 1000)
            ties_ = evaluate_rows(pool, tie_order_draws(score, k, orders, s.rng(10)), (metric,))[metric]
            detail = (f"ties to the pool order; over {orders} random tie orders: {spread(ties_)}; MDS-VQA "
                      f"{observed['mds'][metric]:.4f}")  # fmt: skip
            rows.append(claim_row(claim, statement, name, metric, value, "random", rand[metric], -1, s.level, detail))
    rows += error_claims(pool, subjects, mean_errors, s)
    return pd.DataFrame.from_records(rows, columns=CLAIM_COLUMNS), summary


def error_claims(pool: Pool, subjects: dict[str, np.ndarray], mean_errors: dict[str, float], s: Settings) -> list:
    """How well g predicts f's actual errors on the pool, and whether the selections hold larger errors."""
    rows = []
    null = permutation_null(pool.g, pool.errors, s.draws, s.rng(5))
    rho = srcc(pool.g, pool.errors)
    rho_strict = srcc(strict_rank(pool.g), pool.errors)
    rng_t = s.rng(6)
    orders = np.stack([strict_rank(pool.g, rng_t.permutation(len(pool.g))) for _ in range(min(s.tie_orders, 1000))])
    tie_rhos = srcc_rows(orders, np.broadcast_to(pool.errors, orders.shape))
    distinct = len(np.unique(pool.g))
    rows.append(claim_row("replay_g_predicts_f_errors_srcc",
                          "the authors' g ranks the pool by f's actual errors abs(logistic(f) - MOS) (SRCC of g with "
                          "the errors above 0)", "g", "srcc", rho, "permutations", null, +1, s.level,
                          f"g takes {distinct} distinct values on {len(pool.g)} videos "
                          f"({np.mean(pool.g == np.median(pool.g)):.0%} at its median {np.median(pool.g):g}); "
                          "ties get average ranks"))  # fmt: skip
    rows.append(claim_row("replay_g_tie_broken_predicts_f_errors_srcc",
                          "g with its ties broken in a constant order (the pool order, as lambda 0's selection) "
                          "ranks the pool by f's errors", "g_tie_broken", "srcc", rho_strict, "permutations", null, +1,
                          s.level, f"over 1000 random tie orders: {spread(tie_rhos)}"))  # fmt: skip
    rand_idx = random_draws(len(pool.ids), s.budget, s.draws, s.rng(1))
    rand_err = pool.errors[rand_idx].mean(axis=1)
    for name in ("mds", "lambda_0"):
        rows.append(claim_row(f"replay_{name}_larger_errors_than_random",
                              f"the videos of {name} carry larger errors of f (mean abs(logistic(f) - MOS)) than random "
                              f"{s.budget}-video draws", name, "mean_error", mean_errors[name], "random", rand_err, +1,
                              s.level, f"pool mean error {pool.errors.mean():.4f}"))  # fmt: skip
    return rows


def strict_rank(score: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """``score`` as a ranking without ties (higher = higher score; ties by ``order``, default the pool order:
    the one lambda 0's selection uses), as floats for a rank correlation."""
    position = np.empty(len(score), dtype=np.int64)
    position[top_k(score, len(score), order)] = np.arange(len(score))
    return -position.astype(float)


def permutation_null(score: np.ndarray, target: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """SRCC of ``count`` random permutations of ``score`` with ``target`` (the null of "score ranks target")."""
    out = []
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        permuted = np.stack([rng.permutation(score) for _ in range(n)])
        out.append(srcc_rows(permuted, np.broadcast_to(target, permuted.shape)))
    return np.concatenate(out)


def not_computed(claim: str, statement: str, subject: str, metric: str, why: str, level: float) -> dict:
    row = dict.fromkeys(CLAIM_COLUMNS)
    row.update({"claim": claim, "statement": statement, "subject": subject, "metric": metric, "level": level,
                "verdict": NOT_COMPUTED, "detail": why})  # fmt: skip
    return row


# ---------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vqaloop.cli_checks import float_in, int_in, output_file, seed

    parser.add_argument("--release", required=True, type=Path,
                        help="the MDS-VQA authors' release folder (absent: the tables say where to get it)")  # fmt: skip
    parser.add_argument("--lambda0", type=Path, help="vqaloop select's lambda-0 picks from the authors' g")
    parser.add_argument("--budget", type=int_in(2, 1_000_000), default=64,
                        help="videos per selection and draw (authors: 64)")  # fmt: skip
    parser.add_argument("--draws", type=int_in(1, 10_000_000), default=10000,
                        help="random and MOS-matched draws per null")  # fmt: skip
    parser.add_argument("--tie-orders", type=int_in(1, 10_000_000), default=10000,
                        help="random tie orders of lambda 0")  # fmt: skip
    parser.add_argument("--mos-bins", type=int_in(1, 10_000), default=10,
                        help="equal-count MOS bins of the MOS-matched null")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--level", type=float_in(0.0, 1.0, lo_open=True, hi_open=True), default=0.05,
                        help="significance level of the verdicts, in (0, 1)")  # fmt: skip
    parser.add_argument("--paper-root", type=Path, default=Path("results/paper"))
    parser.add_argument(
        "--out", required=True, type=output_file, help="long CSV; _wide.csv and _vs_paper.csv beside it"
    )
    parser.add_argument("--claims", required=True, type=output_file, help="the claims-style CSV")


def derived_outputs(args) -> list[tuple[str, Path]]:
    """The wide and side-by-side files written beside ``--out``."""
    from vqaloop.cli_checks import beside

    return [("--out (beside it)", p) for p in beside(args.out, "_wide.csv", "_vs_paper.csv")]


def check_settings(args: argparse.Namespace) -> Settings:
    """The settings; each option's range is its type's and the paths were checked before (``vqaloop.cli_checks``:
    no output is an input or another output)."""
    return Settings(args.budget, args.draws, args.tie_orders, args.mos_bins, args.seed, args.level)


def settings_hash(s: Settings) -> str:
    from vqaloop.config import config_hash

    return config_hash({"mds_replay": vars(s)})


def run(args: argparse.Namespace) -> int:
    s = check_settings(args)
    stem = args.out.with_suffix("")
    if not args.release.exists():
        why = f"not computed: the MDS-VQA authors' release is not at {args.release} ({WHERE_TO_GET})"
        long = long_table({}, settings_hash(s), why)
        claims = pd.DataFrame(
            [not_computed("replay", "the replay's claims", "", "", why, s.level)], columns=CLAIM_COLUMNS
        )
        write_all(long, vs_paper({}, args.paper_root, why), claims, args, stem)
        log.warning("%s", why)
        return 0
    if args.lambda0 is None:
        raise UserError("--lambda0 (vqaloop select's lambda-0 picks from the authors' g) is required with a release")
    release = load_release(args.release)
    pool = make_pool(release)
    if s.budget > len(pool.ids) or s.mos_bins > len(pool.ids):
        raise UserError(f"--budget {s.budget} and --mos-bins {s.mos_bins} must not exceed the pool's {len(pool.ids)} "
                        "videos")  # fmt: skip
    lambda0 = read_selection(args.lambda0, pool, s.budget)
    if len(release.selected) != s.budget:
        raise UserError(f"{release.paths['selected']}: MDS-VQA selected {len(release.selected)} videos, but the "
                        f"replay's budget is {s.budget} (config mds_replay.budget)")  # fmt: skip
    values = cells(release, lambda0)
    long = long_table(values, settings_hash(s))
    subjects = {"mds": pool.index(release.selected.index), "lambda_0": pool.index(lambda0)}
    claims, _ = claims_table(pool, subjects, s)
    write_all(long, vs_paper(values, args.paper_root), claims, args, stem)
    log.info("%s:\n%s", TABLE, wide(long).to_string(index=False))
    return 0


def write_all(long: pd.DataFrame, paper: pd.DataFrame, claims: pd.DataFrame, args, stem: Path) -> None:
    """The four outputs together, or none of them (``write_all_atomic``)."""
    write_all_atomic([(f"{stem}_wide.csv", csv_writer(wide(long))), (f"{stem}_vs_paper.csv", csv_writer(paper)),
                      (args.claims, csv_writer(claims)), (args.out, csv_writer(long))])  # fmt: skip
