"""Benchmark of training-set shaping (``vqaloop.w2s.shaping``): 20,000 candidates, 9 metrics x 10 bins.

    python benchmarks/bench_shaping.py                    # K = 20,000, N = 1,000 and 5,000, plus the MIP/LP sweep
    python benchmarks/bench_shaping.py --no-sweep --sizes 5000

Metric tables are synthetic but shaped like real low-level metrics: nine correlated (pairwise correlation 0.5),
skewed (log-normal) columns; the candidate pool is shifted and wider than the reference (5,000 rows), so a random
subset inherits the pool's mismatch and shaping has something to correct. Reports, per size N:

- the time of ``shape`` (grouping, solve, rounding) with the default settings: above 3,000 candidates that is the
  LP relaxation and its rounding (goal: under 30 s at K = 20,000);
- the objective sum s_mn reached, the LP lower bound, and the SPEC's plain top-N rounding's objective;
- the histogram error (total variation summed over the nine metrics) of the shaped pool, of the whole candidate
  pool and of 100 seeded random subsets of the same size (min / median / max).

The sweep (``--sweep``, on by default) measures where the MIP stops being cheap, which sets
``MIP_MAX_CANDIDATES``: for K in ``--sweep-k`` and N = 5% and 25% of K, the full MIP (time limit
``--mip-time-limit``) against the rounded LP: seconds, objective, proven optimal or not.
Writes the figures as JSON to benchmarks/results/shaping.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np
import scipy

from vqaloop.benchmarking import stamped
from vqaloop.io.atomic import write_text_atomic
from vqaloop.w2s import shaping as S

RESULTS = Path(__file__).resolve().parent / "results" / "shaping.json"
GOAL_S = 30.0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20_000, help="candidates K")
    parser.add_argument("--reference", type=int, default=5_000, help="reference rows")
    parser.add_argument("--sizes", default="1000,5000", help="comma-separated N")
    parser.add_argument("--bins", type=int, default=S.DEFAULT_BINS)
    parser.add_argument("--random-subsets", type=int, default=S.RANDOM_SUBSETS)
    parser.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True, help="MIP vs LP sweep")
    parser.add_argument("--sweep-k", default="500,1000,2000,3000,5000,10000", help="K values of the sweep")
    parser.add_argument("--sweep-seeds", type=int, default=2, help="instances per (K, N) in the sweep")
    parser.add_argument("--mip-time-limit", type=float, default=S.TIME_LIMIT_S)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def metric_values(n: int, seed: int, shift: float = 0.0, spread: float = 1.0, m: int = 9) -> np.ndarray:
    """Nine correlated log-normal columns: (n, m)."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(0.5 * np.eye(m) + 0.5)
    return np.exp((rng.standard_normal((n, m)) @ chol.T * spread + shift) / 2)


def instance(k: int, r: int, size: int, bins: int, seed: int):
    candidates = metric_values(k, seed, shift=0.5, spread=1.3)
    reference = metric_values(r, seed + 1000)
    edges = S.make_bins(reference, bins)
    cand_bins, ref_bins = edges.assign(candidates), edges.assign(reference)
    target = S.targets(S.bin_counts(ref_bins, edges.counts), r, size)
    return cand_bins, target, edges.counts, S.proportions(ref_bins, edges.counts)


def bench_size(args, size: int) -> dict:
    cand_bins, target, counts, ref_props = instance(args.k, args.reference, size, args.bins, args.seed)
    result = S.shape(cand_bins, target, counts, size)
    randoms = S.random_subset_errors(cand_bins, ref_props, counts, size, args.random_subsets, args.seed)
    shaped = S.histogram_error(cand_bins[result.picks], ref_props, counts)
    return {
        "k": args.k,
        "size": size,
        "method": result.method,
        "groups": result.groups,
        "seconds": result.seconds,
        "under_goal": result.seconds < GOAL_S,
        "objective": result.objective,
        "lower_bound": result.lower_bound,
        "top_n_objective": result.top_n_objective,
        "status": result.status,
        "histogram_error_shaped": shaped,
        "histogram_error_pool": S.histogram_error(cand_bins, ref_props, counts),
        "histogram_error_random_min": float(randoms.min()),
        "histogram_error_random_median": float(np.median(randoms)),
        "histogram_error_random_max": float(randoms.max()),
        "random_subsets": len(randoms),
        "shaped_beats_random": int((shaped < randoms).sum()),
    }


def bench_sweep(args) -> list[dict]:
    rows = []
    for k in [int(x) for x in args.sweep_k.split(",")]:
        for fraction in (0.05, 0.25):
            size = max(1, int(k * fraction))
            for seed in range(args.sweep_seeds):
                cand_bins, target, counts, _ = instance(k, args.reference, size, args.bins, args.seed + 10 + seed)
                mip = S.shape(cand_bins, target, counts, size, args.mip_time_limit, mip_max_candidates=k)
                lp = S.shape(cand_bins, target, counts, size, args.mip_time_limit, mip_max_candidates=0)
                row = {
                    "k": k,
                    "size": size,
                    "seed": args.seed + 10 + seed,
                    "groups": mip.groups,
                    "mip_seconds": mip.seconds,
                    "mip_objective": mip.objective,
                    "mip_optimal": mip.optimal,
                    "mip_gap": mip.mip_gap,
                    "lp_seconds": lp.seconds,
                    "lp_objective": lp.objective,
                    "lp_bound": lp.lower_bound,
                    "top_n_objective": lp.top_n_objective,
                }
                rows.append(row)
                print(
                    f"  sweep K={k:>6} N={size:>5} seed {row['seed']}: MIP {mip.seconds:6.2f} s obj {mip.objective:>4}"
                    f" {'optimal' if mip.optimal else f'gap {mip.mip_gap:.2f}'} | LP+rounding {lp.seconds:5.2f} s"
                    f" obj {lp.objective:>4} (top-N {lp.top_n_objective}, bound {lp.lower_bound:.1f})",
                    flush=True,
                )
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    report = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "scipy": scipy.__version__,
        "metrics": 9,
        "bins": args.bins,
        "reference_rows": args.reference,
        "mip_max_candidates": S.MIP_MAX_CANDIDATES,
        "goal_s": GOAL_S,
        "runs": [],
    }
    print(f"\nTraining-set shaping, K = {args.k} candidates, 9 metrics x {args.bins} bins")
    for size in [int(x) for x in args.sizes.split(",")]:
        row = bench_size(args, size)
        report["runs"].append(row)
        print(
            f"  N={size:>5}: {row['method'].upper()} {row['seconds']:.2f} s (goal < {GOAL_S:g} s), objective"
            f" {row['objective']} (top-N rounding {row['top_n_objective']}, LP bound {row['lower_bound']:.1f});"
            f" histogram error shaped {row['histogram_error_shaped']:.4f}, pool {row['histogram_error_pool']:.3f},"
            f" random subsets {row['histogram_error_random_min']:.3f} .. {row['histogram_error_random_max']:.3f}"
            f" (beaten: {row['shaped_beats_random']}/{row['random_subsets']})",
            flush=True,
        )
    if args.sweep:
        print("MIP vs rounded LP:")
        report["sweep"] = bench_sweep(args)
    report["json"] = str(args.out)
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
