"""``vqaloop shape``: training-set shaping (Vonikakis et al. 2017, W2S-VQA Appendix A.2; SPEC "Training-set shaping").

Pick exactly N of K candidates so that their per-metric histograms match a reference set's (the source training
set, e.g. LSVQ in the paper): binary x_k, sum_k x_k = N; for every metric m and bin n,
|sum_k B_mnk x_k - ceil(p_mn N)| <= s_mn; minimise sum s_mn (B_mnk = 1 when candidate k is in bin n of metric
m, p_mn = the reference's proportion there). Solved with ``scipy.optimize.milp`` (HiGHS).

Decisions where the paper and SPEC are silent:

- **Bins.** ``bins`` (default 10) per metric, edges from the reference: ``uniform`` (default) = equal widths over
  the reference's [min, max], like the histograms of the paper's Fig. 9; or ``quantile`` = the reference's
  quantiles (equal reference mass per bin; repeated edges merge bins). In both the outer bins are open: a
  candidate below (above) the reference range counts in the first (last) bin, so every candidate is
  representable. A value on an inner edge belongs to the upper bin.
- **Targets.** ceil(p_mn N) computed exactly in integers, ceil(count_mn * N / R) (no float round-off). Their sum
  over bins exceeds N by up to the number of bins, so the optimum is rarely 0.
- **Exact grouping.** Candidates with the same bin signature (their bin in every metric) are interchangeable in
  the program, so it is solved on groups: integer y_g in [0, |g|] = how many of group g to take (an exact
  reformulation of the binary x_k: fewer variables, and no arbitrary choice among equivalent candidates).
  Group g contributes its first y_g members in candidate order: ties are broken by candidate order, and the
  same inputs give the same picks (HiGHS is deterministic; only a run stopped by the time limit can depend on
  the machine's speed, and the log says so).
- **MIP or LP.** Up to ``MIP_MAX_CANDIDATES`` = 3,000 candidates the MIP is solved (``time_limit``, default
  30 s; its status, MIP gap and dual bound are reported). Measured (benchmarks/bench_shaping.py: 9 correlated
  metrics x 10 bins, N = 5% and 25% of K, 2 instances each, 2 shared cores): up to K = 3,000 HiGHS proved the
  optimum on every instance in at most 7 s (mostly 1-3 s); at 5,000 it needed up to 13 s, at 10,000 up to
  16 s and once stopped at the 30 s limit (gap 0.23, objective 26, worse than the rounded LP's 24); at 20,000
  a 20 s limit stopped it on 3 of 4 instances tried. A run stopped by the limit is neither optimal nor reproducible across machines, hence
  the threshold. Above it: the LP relaxation (dual simplex, a basic solution: at most one fractional group per
  constraint row, about 60 of them), rounded two ways, keeping the better (ties: (a)):
  (a) the SPEC's top-N rounding of the fractional x (per candidate, x_k = 1 for the first floor(y_g) members of
  a group and the fraction for the next one; take all ones, then the largest fractions, ties by the holding
  candidate's order); (b) the best rounding of this LP solution: integral groups kept, the fractional ones
  choose floor or ceil in a small MIP (a few dozen binaries) limited to ``ROUNDING_NODE_LIMIT`` = 1,000
  branch-and-bound nodes, a deterministic amount of work. Measured, (b) lands 0-6 above the MIP optimum where
  (a) lands 8-44 above it; at K = 20,000 the whole LP path takes about 3 s. The LP objective is reported as the
  lower bound.
- **Histogram error.** Total variation distance between the shaped pool's and the reference's bin proportions,
  summed over metrics (0 = identical histograms, at most the number of metrics); reported for the candidate
  pool, the shaped pool and ``random_subsets`` (default 100) seeded random subsets of the same size.
- **Columns.** The candidates' and reference's id column is ``video_id`` (else ``path``, as ``vqaloop metrics``
  writes for bare files); metrics = the nine of ``vqaloop metrics`` by default, or ``--metrics a,b,c``, or
  ``--metrics common`` = every numeric column both files share. A per-frame table (``frame`` column) is refused.
  picks.csv holds the chosen ids (the candidates' id column) in candidate order.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, figure_writer, text_writer, write_all_atomic
from vqaloop.io.readers import MAX_VALUE
from vqaloop.w2s.metrics import METRIC_NAMES

log = logging.getLogger(__name__)

DEFAULT_BINS = 10
EDGE_RULES = ("uniform", "quantile")
MIP_MAX_CANDIDATES = 3000
TIME_LIMIT_S = 30.0
RANDOM_SUBSETS = 100
MAX_BINS = 1000  # bins per metric (the MIP grows with them)
MAX_RANDOM_SUBSETS = 1_000_000
ROUNDING_NODE_LIMIT = 1000  # branch-and-bound nodes of the rounding MIP: deterministic, bounded work
ID_COLUMNS = ("video_id", "path")


# ---------------------------------------------------------------- bins and histograms


@dataclass
class Bins:
    """Per-metric bin edges from the reference: ``inner[m]`` are the inner edges; outer bins are open."""

    lo: np.ndarray  # (M,) reference minimum per metric (for plotting)
    hi: np.ndarray  # (M,) reference maximum
    inner: list[np.ndarray]

    @property
    def counts(self) -> list[int]:
        return [len(edges) + 1 for edges in self.inner]

    def assign(self, values: np.ndarray) -> np.ndarray:
        """(K, M) metric values -> (K, M) bin indices (below / above the reference range: first / last bin)."""
        values = np.asarray(values, dtype=np.float64)
        return np.stack(
            [np.searchsorted(edges, values[:, m], side="right") for m, edges in enumerate(self.inner)], axis=1
        )


def make_bins(reference: np.ndarray, bins: int = DEFAULT_BINS, rule: str = "uniform") -> Bins:
    """Bin edges per metric from the reference values (R, M): equal widths or quantiles (module docstring)."""
    reference = np.asarray(reference, dtype=np.float64)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    lo, hi = reference.min(axis=0), reference.max(axis=0)
    inner = []
    for m in range(reference.shape[1]):
        if rule == "uniform":
            edges = np.linspace(lo[m], hi[m], bins + 1)[1:-1]
        elif rule == "quantile":
            edges = np.unique(np.quantile(reference[:, m], np.linspace(0, 1, bins + 1)[1:-1]))
        else:
            raise ValueError(f"unknown edge rule {rule!r}; valid: {list(EDGE_RULES)}")
        inner.append(edges)
    return Bins(lo=lo, hi=hi, inner=inner)


def bin_counts(bin_index: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    """Per metric, how many rows of (K, M) bin indices fall in each bin."""
    return [np.bincount(bin_index[:, m], minlength=n) for m, n in enumerate(counts)]


def proportions(bin_index: np.ndarray, counts: list[int]) -> list[np.ndarray]:
    return [c / max(len(bin_index), 1) for c in bin_counts(bin_index, counts)]


def histogram_error(bin_index: np.ndarray, reference_props: list[np.ndarray], counts: list[int]) -> float:
    """Total variation distance to the reference's proportions, summed over metrics (0 .. M)."""
    props = proportions(bin_index, counts)
    return float(sum(0.5 * np.abs(p - q).sum() for p, q in zip(props, reference_props, strict=True)))


def targets(reference_counts: list[np.ndarray], n_reference: int, size: int) -> np.ndarray:
    """ceil(p_mn N) for every (metric, bin), concatenated, in exact integer arithmetic."""
    return np.concatenate([(c.astype(np.int64) * size + n_reference - 1) // n_reference for c in reference_counts])


def objective(bin_index: np.ndarray, target: np.ndarray, counts: list[int]) -> int:
    """sum_mn |count_mn - ceil(p_mn N)| of a chosen subset (its (N, M) bin indices)."""
    return int(np.abs(np.concatenate(bin_counts(bin_index, counts)) - target).sum())


# ---------------------------------------------------------------- the program


@dataclass
class Groups:
    """Candidates grouped by bin signature; ``members`` lists candidate positions group by group, in order."""

    signature: np.ndarray  # (G, M) bin indices
    size: np.ndarray  # (G,)
    of_candidate: np.ndarray  # (K,) group of each candidate
    members: np.ndarray  # (K,) candidate positions sorted by (group, position)
    start: np.ndarray  # (G,) where each group begins in ``members``


def group_candidates(bin_index: np.ndarray) -> Groups:
    signature, of_candidate, size = np.unique(bin_index, axis=0, return_inverse=True, return_counts=True)
    of_candidate = of_candidate.ravel()
    members = np.argsort(of_candidate, kind="stable")
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    return Groups(signature, size, of_candidate, members, start)


def take(groups: Groups, y: np.ndarray) -> np.ndarray:
    """Candidate positions (sorted): the first y_g members of every group g, in candidate order."""
    rank = np.arange(len(groups.members)) - np.repeat(groups.start, groups.size)
    chosen = groups.members[rank < np.repeat(np.asarray(y, dtype=np.int64), groups.size)]
    return np.sort(chosen)


def incidence(signature: np.ndarray, counts: list[int]) -> sp.csr_array:
    """B as a (sum of bins) x G 0/1 matrix: row (m, n), column g = 1 when group g is in bin n of metric m."""
    g, m = signature.shape
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = (signature + offsets).ravel()
    cols = np.repeat(np.arange(g), m)
    return sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(int(sum(counts)), g))


def _solve(
    b: sp.csr_array, target: np.ndarray, size: int, lower, upper, integer: bool, time_limit: float, node_limit=None
):
    """min sum s  s.t.  sum y = N,  |B y - t| <= s,  lower <= y <= upper (integral if ``integer``)."""
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp

    j, g = b.shape
    eye = sp.eye_array(j, format="csr")
    cost = np.concatenate([np.zeros(g), np.ones(j)])
    if not integer:  # dual simplex: a basic solution, few fractional groups
        a_ub = sp.vstack([sp.hstack([b, -eye]), sp.hstack([-b, -eye])], format="csr")
        a_eq = sp.hstack([sp.csr_array(np.ones((1, g))), sp.csr_array((1, j))], format="csr")
        bounds = np.column_stack([np.concatenate([lower, np.zeros(j)]), np.concatenate([upper, np.full(j, np.inf)])])
        return linprog(
            cost,
            A_ub=a_ub,
            b_ub=np.concatenate([target, -target]),
            A_eq=a_eq,
            b_eq=[size],
            bounds=bounds,
            method="highs-ds",
            options={"time_limit": time_limit},
        )
    constraints = [
        LinearConstraint(sp.hstack([sp.csr_array(np.ones((1, g))), sp.csr_array((1, j))]), size, size),
        LinearConstraint(sp.hstack([b, -eye]), -np.inf, target),
        LinearConstraint(sp.hstack([b, eye]), target, np.inf),
    ]
    integrality = np.concatenate([np.ones(g), np.zeros(j)])
    bounds = Bounds(np.concatenate([lower, np.zeros(j)]), np.concatenate([upper, np.full(j, np.inf)]))
    options = {"time_limit": time_limit, **({} if node_limit is None else {"node_limit": int(node_limit)})}
    return milp(cost, constraints=constraints, integrality=integrality, bounds=bounds, options=options)


def _integral(values: np.ndarray) -> np.ndarray:
    return np.round(values).astype(np.int64)


def top_n_rounding(y: np.ndarray, size: int, groups: Groups) -> np.ndarray:
    """Group counts of the top-N rounding of the LP's x (module docstring): all ones, then the largest fractions."""
    floor = np.floor(y + 1e-9)
    fraction = np.where(y - floor > 1e-9, y - floor, 0.0)
    missing = size - int(floor.sum())
    # Ties by candidate order: the candidate holding a group's fraction is its member number floor(y_g).
    holder = groups.members[groups.start + np.minimum(floor.astype(np.int64), groups.size - 1)]
    order = np.lexsort((holder, -fraction))
    extra = np.zeros(len(y), dtype=np.int64)
    extra[order[:missing]] = 1
    return floor.astype(np.int64) + extra


def best_rounding(y, size, b, target, time_limit) -> np.ndarray | None:
    """Group counts of the best floor/ceil rounding of the fractional groups (a small MIP); None if it fails."""
    floor = np.floor(y + 1e-9)
    fractional = np.flatnonzero(y - floor > 1e-9)
    base = floor.astype(np.int64)
    missing = size - int(base.sum())
    if fractional.size == 0:
        return base
    sub = b[:, fractional]
    rest = target - b @ base
    ones = np.ones(len(fractional))
    res = _solve(sub, rest, missing, 0 * ones, ones, True, time_limit, node_limit=ROUNDING_NODE_LIMIT)
    if res.x is None:
        return None
    out = base.copy()
    out[fractional] += _integral(res.x[: len(fractional)])
    return out


@dataclass
class ShapeResult:
    picks: np.ndarray  # sorted candidate positions, exactly N
    objective: int  # sum_mn s_mn achieved
    lower_bound: float  # the solver's dual bound (MIP) or the LP objective
    method: str  # "mip" or "lp"
    status: str
    optimal: bool
    mip_gap: float | None
    groups: int
    seconds: float
    top_n_objective: int | None = None  # LP path: the top-N rounding's objective (before keeping the better)


def shape(
    candidate_bins: np.ndarray,
    target: np.ndarray,
    counts: list[int],
    size: int,
    time_limit: float = TIME_LIMIT_S,
    mip_max_candidates: int = MIP_MAX_CANDIDATES,
) -> ShapeResult:
    """Choose ``size`` candidates (rows of (K, M) bin indices) whose histograms meet the targets best."""
    start = time.perf_counter()
    k = len(candidate_bins)
    if not 1 <= size <= k:
        raise ValueError(f"size must be in 1..{k}, got {size}")
    groups = group_candidates(candidate_bins)
    b = incidence(groups.signature, counts)
    target = np.asarray(target, dtype=np.float64)
    lower, upper = np.zeros(len(groups.size)), groups.size.astype(np.float64)
    top_n = None
    if k <= mip_max_candidates:
        res = _solve(b, target, size, lower, upper, True, time_limit)
        if res.x is None:
            raise RuntimeError(f"HiGHS found no solution within {time_limit} s ({res.message})")
        y = _integral(res.x[: len(groups.size)])
        method, bound, gap, optimal = "mip", float(res.mip_dual_bound), float(res.mip_gap), res.status == 0
    else:
        res = _solve(b, target, size, lower, upper, False, time_limit)
        if res.status != 0:
            raise RuntimeError(f"HiGHS did not solve the LP relaxation ({res.message})")
        y_lp = res.x[: len(groups.size)]
        y = top_n_rounding(y_lp, size, groups)
        top_n = int(np.abs(b @ y - target).sum())
        better = best_rounding(y_lp, size, b, target, time_limit)
        if better is not None and np.abs(b @ better - target).sum() < top_n:
            y = better
        method, bound, gap, optimal = "lp", float(res.fun), None, False
    picks = take(groups, y)
    assert len(picks) == size
    return ShapeResult(
        picks=picks,
        objective=int(round(np.abs(b @ y - target).sum())),
        lower_bound=bound,
        method=method,
        status=str(res.message),
        optimal=bool(optimal),
        mip_gap=gap,
        groups=len(groups.size),
        seconds=time.perf_counter() - start,
        top_n_objective=top_n,
    )


def random_subset_errors(
    candidate_bins: np.ndarray, reference_props, counts, size: int, n: int = RANDOM_SUBSETS, seed: int = 0
) -> np.ndarray:
    """Histogram error of ``n`` seeded uniform random subsets of ``size`` candidates."""
    rng = np.random.default_rng(seed)
    k = len(candidate_bins)
    return np.array(
        [histogram_error(candidate_bins[rng.choice(k, size, replace=False)], reference_props, counts) for _ in range(n)]
    )


# ---------------------------------------------------------------- reading metric tables


def _one_line(err: Exception) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())


def read_metric_table(path: Path) -> tuple[pd.DataFrame, str]:
    """(table, id column) of a ``vqaloop metrics`` CSV, checked: readable, an id column, unique ids."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: metrics file not found")
    try:
        table = pd.read_csv(path, dtype={c: str for c in ID_COLUMNS})
    except Exception as err:
        raise UserError(f"{path}: not a readable CSV ({_one_line(err)})") from None
    id_column = next((c for c in ID_COLUMNS if c in table.columns), None)
    if id_column is None:
        raise UserError(f"{path}: no id column (video_id or path); has {list(table.columns)[:12]}")
    if "frame" in table.columns:
        raise UserError(f"{path}: a per-frame table (frame column); shape needs one row per video")
    if len(table) == 0:
        raise UserError(f"{path}: no rows")
    missing_id = table[id_column].isna()
    if missing_id.any():
        raise UserError(f"{path}: row {int(np.flatnonzero(missing_id)[0]) + 2} has an empty {id_column}")
    dup = table[id_column].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise UserError(f"{path}: duplicate {id_column} {table[id_column].iloc[row]!r} at row {row + 2}")
    return table, id_column


def choose_metrics(spec: str | None, candidates: pd.DataFrame, reference: pd.DataFrame, names: tuple[Path, Path]):
    """The metric columns: the nine by default, a comma list, or ``common`` (numeric columns both files share)."""
    if spec == "common":
        numeric = [
            c
            for c in candidates.columns
            if c not in ID_COLUMNS and c in reference.columns and pd.api.types.is_numeric_dtype(candidates[c])
        ]
        numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(reference[c])]
        if not numeric:
            raise UserError(f"{names[0]} and {names[1]} share no numeric column")
        return numeric
    metrics = list(METRIC_NAMES) if spec is None else [m.strip() for m in spec.split(",") if m.strip()]
    if not metrics:
        raise UserError("--metrics names no column")
    for table, name in zip((candidates, reference), names, strict=True):
        missing = [m for m in metrics if m not in table.columns]
        if missing:
            raise UserError(f"{name}: missing metric column(s) {missing}")
    return metrics


def metric_values(table: pd.DataFrame, metrics: list[str], id_column: str, path: Path) -> np.ndarray:
    """(rows, M) float64 values; UserError naming file, row and column for a non-numeric, NaN or infinite value."""
    values = np.empty((len(table), len(metrics)))
    for j, name in enumerate(metrics):
        column = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~(np.abs(column) <= MAX_VALUE)  # NaN, infinite, or a corrupt magnitude
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raw = table[name].iloc[row]
            raise UserError(
                f"{path}: row {row + 2} ({id_column} {table[id_column].iloc[row]}) has a non-finite {name} ({raw!r}; "
                f"at most +-{MAX_VALUE:g})"
            )
        values[:, j] = column
    return values


# ---------------------------------------------------------------- figure (Fig. 9 analogue)


def shaping_figure(bins: Bins, metrics: list[str], pool_bins, shaped_bins, reference_bins, title: str = ""):
    """One panel per metric: bin proportions of the candidate pool, the shaped pool and the reference (the figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = bins.counts
    pool, shaped, ref = (proportions(x, counts) for x in (pool_bins, shaped_bins, reference_bins))
    cols = 3
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 3.0 * rows), squeeze=False)
    for m, name in enumerate(metrics):
        ax = axes[m // cols][m % cols]
        edges = np.concatenate([[bins.lo[m]], bins.inner[m], [bins.hi[m]]])
        xlabel = f"{name} (outer bins open)"
        if not np.all(np.diff(edges) > 0):  # a constant reference metric: plot by bin number
            edges, xlabel = np.arange(counts[m] + 1, dtype=float), f"{name} bin"
        ax.stairs(pool[m], edges, fill=True, color="0.82", label="candidate pool")
        ax.stairs(ref[m], edges, color="tab:orange", lw=2.0, ls="--", label="reference")
        ax.stairs(shaped[m], edges, color="tab:blue", lw=1.6, label="shaped pool")
        ax.set_xlabel(xlabel, fontsize=9)
        ax.set_ylabel("proportion", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_title(name, fontsize=10)
    for m in range(len(metrics), rows * cols):
        axes[m // cols][m % cols].axis("off")
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vqaloop.cli_checks import float_in, int_in, nonneg_int, output_file, positive_int, seed

    parser.add_argument("--candidates", type=Path, required=True, help="metrics CSV of the candidate pool")
    parser.add_argument("--reference", type=Path, required=True, help="metrics CSV of the reference set")
    parser.add_argument("--size", type=positive_int, required=True,
                        help="number of candidates to pick (N, at most the candidates)")  # fmt: skip
    parser.add_argument("--out", type=output_file, required=True, help="picks CSV (the chosen ids, candidate order)")
    parser.add_argument("--bins", type=int_in(1, MAX_BINS), default=DEFAULT_BINS,
                        help=f"bins per metric, 1 to {MAX_BINS} (default {DEFAULT_BINS})")  # fmt: skip
    parser.add_argument("--edges", choices=EDGE_RULES, default="uniform", help="bin edge rule (default uniform)")
    parser.add_argument("--metrics", help="comma-separated metric columns, or 'common' (default: the nine)")
    parser.add_argument("--time-limit", type=float_in(0.0, 86400.0, lo_open=True), default=TIME_LIMIT_S,
                        help=f"solver seconds, at most a day ({TIME_LIMIT_S:g})")  # fmt: skip
    parser.add_argument(
        "--mip-max-candidates",
        type=nonneg_int,
        default=MIP_MAX_CANDIDATES,
        help=f"solve the MIP up to this many candidates, the rounded LP above (default {MIP_MAX_CANDIDATES})",
    )
    parser.add_argument("--random-subsets", type=int_in(0, MAX_RANDOM_SUBSETS), default=RANDOM_SUBSETS,
                        help=f"random subsets to compare, 0 to {MAX_RANDOM_SUBSETS}")  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0, help="seed of the random subsets")
    parser.add_argument(
        "--figure", type=output_file, help="PNG: histograms of pool, shaped pool and reference (Fig. 9)"
    )
    parser.add_argument("--report", type=output_file, help="JSON: objective, bound, status, histogram errors")


def run(args: argparse.Namespace) -> int:
    if args.bins < 1:
        raise UserError(f"--bins must be >= 1, got {args.bins}")
    if not args.time_limit > 0:
        raise UserError(f"--time-limit must be > 0, got {args.time_limit}")
    if args.random_subsets < 0:
        raise UserError(f"--random-subsets must be >= 0, got {args.random_subsets}")
    candidates, cand_id = read_metric_table(args.candidates)
    reference, ref_id = read_metric_table(args.reference)
    metrics = choose_metrics(args.metrics, candidates, reference, (args.candidates, args.reference))
    cand_values = metric_values(candidates, metrics, cand_id, args.candidates)
    ref_values = metric_values(reference, metrics, ref_id, args.reference)
    if not 1 <= args.size <= len(candidates):
        raise UserError(
            f"--size {args.size} must be between 1 and the {len(candidates)} candidates of {args.candidates}"
        )
    log.info("shaping on %d metrics: %s", len(metrics), ", ".join(metrics))

    bins = make_bins(ref_values, args.bins, args.edges)
    counts = bins.counts
    cand_bins, ref_bins = bins.assign(cand_values), bins.assign(ref_values)
    ref_props = proportions(ref_bins, counts)
    target = targets(bin_counts(ref_bins, counts), len(ref_values), args.size)
    result = shape(cand_bins, target, counts, args.size, args.time_limit, args.mip_max_candidates)
    shaped_error = histogram_error(cand_bins[result.picks], ref_props, counts)
    pool_error = histogram_error(cand_bins, ref_props, counts)
    random_errors = random_subset_errors(cand_bins, ref_props, counts, args.size, args.random_subsets, args.seed)

    log.info(
        "%s on %d candidates (%d groups), N=%d: objective %d, lower bound %.3f, status %r, %.2f s%s",
        result.method.upper(),
        len(candidates),
        result.groups,
        args.size,
        result.objective,
        result.lower_bound,
        result.status,
        result.seconds,
        "" if result.optimal or result.method == "lp" else " (NOT proven optimal: the time limit stopped it)",
    )
    if len(random_errors):
        log.info(
            "histogram error (TV summed over %d metrics): shaped %.4f, pool %.4f, %d random subsets min %.4f"
            " median %.4f; shaped beats %d of them",
            len(metrics),
            shaped_error,
            pool_error,
            len(random_errors),
            random_errors.min(),
            float(np.median(random_errors)),
            int((shaped_error < random_errors).sum()),
        )
    picks = pd.DataFrame({cand_id: candidates[cand_id].iloc[result.picks].to_numpy()})
    report = {
        **{k: v for k, v in asdict(result).items() if k != "picks"},
        "candidates": len(candidates),
        "reference": len(reference),
        "size": args.size,
        "metrics": metrics,
        "bins": counts,
        "edges": args.edges,
        "histogram_error_shaped": shaped_error,
        "histogram_error_pool": pool_error,
        "histogram_error_random": {
            "n": int(len(random_errors)),
            "seed": args.seed,
            "min": float(random_errors.min()) if len(random_errors) else None,
            "median": float(np.median(random_errors)) if len(random_errors) else None,
            "max": float(random_errors.max()) if len(random_errors) else None,
        },
    }
    writes = [(args.out, csv_writer(picks))]
    if args.figure is not None:
        title = (
            f"Training-set shaping: {args.size} of {len(candidates)} candidates vs {len(reference)} reference videos"
            f" (histogram error {pool_error:.2f} -> {shaped_error:.2f})"
        )
        fig = shaping_figure(bins, metrics, cand_bins, cand_bins[result.picks], ref_bins, title)
        writes.append((args.figure, figure_writer(fig, dpi=110)))
    if args.report is not None:
        writes.append((args.report, text_writer(json.dumps(report, indent=2) + "\n")))
    write_all_atomic(writes)  # every output or none
    print(
        f"{args.out}: {args.size} of {len(candidates)} candidates ({result.method}, objective {result.objective},"
        f" bound {result.lower_bound:.1f}; histogram error {shaped_error:.3f} vs pool {pool_error:.3f})"
    )
    return 0
