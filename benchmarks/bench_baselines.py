"""Benchmark of the eight selection baselines at the paper's pool size, each against its minimal work.

    python benchmarks/bench_baselines.py                          # N=42,000, d=512 pooled, B=5% (2,100 picks)
    python benchmarks/bench_baselines.py --labelled 28000         # with an already-labelled set L
    python benchmarks/bench_baselines.py --methods coreset greedy --n 5000

Feature-only methods (core-set, RD, greedy, ALCS) read pooled embeddings; MC dropout and NoiseStability query
an untrained ``effnet_motion`` base model (timing does not depend on its weights) on (N, 8, 1284) frame
features; FreeSel reads (N, 8, 1280) semantic patterns. Each method's time is divided by a *floor* timed in
the same process on the same arrays, the work no implementation of the method can avoid:
- core-set, RD, greedy, ALCS: B distance passes over the pool (one (N, d) matrix-vector product per pick);
- MC dropout: T = 10 forward passes of f over the pool; NoiseStability: K + 1 = 31 passes;
- FreeSel: B passes over the (N P, D) patterns, each a product with the new video's P patterns.
Floors are timed on a sample of passes and scaled (``--floor-passes``); a ratio near 1 means the method costs
what its arithmetic costs, a large one that it does extra work.

Each method runs once through the registry (``run_method``) on synthetic pooled embeddings: ``--centres``
latent cluster centres N(0, I) plus per-point N(0, 0.5^2 I) noise (isotropic noise alone has no cluster
structure and makes k-means crawl, unlike real features). Reported per method: wall time, the peak of the
numpy allocations traced by ``tracemalloc`` during the run (exact for the numpy methods; torch's allocations in
MC dropout and NoiseStability are seen only by the next figure), the resident-set growth sampled from /proc/self/statm, and for RD and ALCS the k-means Lloyd iterations (from the
methods' log). Writes the figures as JSON to benchmarks/results/baselines.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from vqaloop.benchmarking import PeakRSS, stamped
from vqaloop.io.atomic import write_text_atomic
from vqaloop.selection.cli import parse_budget
from vqaloop.selection.registry import SelectionInputs, run_method

RESULTS = Path(__file__).resolve().parent / "results" / "baselines.json"
FEATURE_METHODS = ["coreset", "rd", "greedy", "alcs"]
MODEL_METHODS = ["mc_dropout", "noise_stability"]
METHODS = [*FEATURE_METHODS, *MODEL_METHODS, "freesel"]
FRAMES, MODEL_DIM, PATTERN_DIM, PATTERNS = 8, 1284, 1280, 8  # EfficientNet-Lite0 1280 + 4 motion; P patterns
MC_PASSES, NOISE_PASSES = 10, 31  # SPEC: T = 10; K = 30 noisy copies + the clean model


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=42_000, help="pool size N")
    parser.add_argument("--dim", type=int, default=512, help="embedding size d")
    parser.add_argument("--budget", default="0.05", help="fraction in (0, 1) or count, as `vqaloop select`")
    parser.add_argument("--labelled", type=int, default=0, help="size of the labelled set L (0: none)")
    parser.add_argument("--centres", type=int, default=500, help="latent cluster centres of the synthetic pool")
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--threads", type=int, help="BLAS threads (threadpoolctl; default: the library's)")
    parser.add_argument("--floor-passes", type=int, default=50, help="passes timed per floor (then scaled)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


class KMeansLog(logging.Handler):
    """Collects the k-means summary lines the methods log."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def make_embeddings(n: int, dim: int, centres: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((centres, dim), dtype=np.float32)
    x = latent[rng.integers(centres, size=n)]
    x += 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
    return x


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def distance_floor(x: np.ndarray, budget: int, passes: int, seed: int) -> float:
    """Seconds of B distance passes over the pool: one (N, d) x (d,) product per pick, timed on ``passes``."""
    picks = np.random.default_rng(seed).integers(len(x), size=max(1, min(passes, budget)))
    return timed(lambda: [x @ x[i] for i in picks]) * budget / len(picks)


def pattern_floor(patterns: np.ndarray, budget: int, passes: int, seed: int) -> float:
    """Seconds of B passes over the (N P, D) patterns, each a product with one video's P patterns."""
    flat = patterns.reshape(-1, patterns.shape[-1])
    videos = np.random.default_rng(seed).integers(len(patterns), size=max(1, min(passes, budget)))
    return timed(lambda: [flat @ patterns[v].T for v in videos]) * budget / len(videos)


def forward_floor(module, x, passes: int, batch: int = 4096) -> float:
    """Seconds of ``passes`` no-grad forward passes of f over the pool (the best of two timed passes)."""
    import torch

    with torch.no_grad():
        one = min(timed(lambda: [module(chunk) for chunk in torch.split(x, batch)]) for _ in range(2))
    return one * passes


def model_inputs(n: int, seed: int):
    """An untrained effnet_motion f and random (N, 8, 1284) inputs: the model baselines' work, not their picks."""
    import torch

    from vqaloop.models.registry import get_base_model_class
    from vqaloop.selection.registry import ModelInputs

    torch.manual_seed(seed)
    module = get_base_model_class("effnet_motion")(in_dim=MODEL_DIM, hidden=128).eval()
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, FRAMES, MODEL_DIM), dtype=np.float32))
    return ModelInputs(module=module, x=x, name="effnet_motion")


def make_patterns(n: int, seed: int) -> np.ndarray:
    """(N, P, D) unit-norm patterns with cluster structure, like ``make_embeddings`` per pattern."""
    p = make_embeddings(n * PATTERNS, PATTERN_DIM, 500, seed).reshape(n, PATTERNS, PATTERN_DIM)
    p /= np.linalg.norm(p, axis=-1, keepdims=True)
    return p


def bench_method(name: str, inputs: SelectionInputs, budget: int, seed: int) -> dict:
    handler = KMeansLog()
    logger = logging.getLogger("vqaloop.selection.embeddings")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    tracemalloc.start()
    try:
        with PeakRSS() as rss:
            start = time.perf_counter()
            picks = run_method(name, inputs, budget, seed)
            seconds = time.perf_counter() - start
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    iterations = None
    for line in handler.lines:
        match = re.search(r"K=(\d+) on (\d+) points, (\d+) Lloyd iterations, converged: (\w+)", line)
        if match:
            k, points, its, converged = match.groups()
            iterations = {"k": int(k), "points": int(points), "iterations": int(its), "converged": converged == "True"}
    return {
        "method": name,
        "seconds": seconds,
        "traced_peak_mib": traced_peak / 2**20,
        "rss_growth_mib": rss.growth_mib,
        "kmeans": iterations,
        "distinct_picks": len(set(picks)),
        "first_picks": picks[:5],
    }


def print_report(report: dict) -> None:
    print(
        f"\nSelection baselines on {report['cpu']} ({report['blas_threads']} BLAS threads): "
        f"N={report['n']}, d={report['dim']}, B={report['budget']}, |L|={report['labelled']}"
    )
    print(f"  input: {report['input_mib']:.0f} MiB float32 pooled embeddings ({report['centres']} latent centres)")
    header = (
        f"  {'method':<15} {'time (s)':>9} {'floor (s)':>9} {'ratio':>6} {'traced peak (MiB)':>18}"
        f" {'RSS growth (MiB)':>17}  k-means"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for row in report["rows"]:
        km = row["kmeans"]
        km_text = "-" if km is None else f"K={km['k']}, {km['iterations']} iters, converged={km['converged']}"
        print(
            f"  {row['method']:<15} {row['seconds']:>9.1f} {row['floor_seconds']:>9.1f} {row['ratio']:>6.2f}"
            f" {row['traced_peak_mib']:>18.1f} "
            f"{row['rss_growth_mib']:>17.1f}  {km_text}"
        )
    nn_gib = report["n"] ** 2 * 4 / 2**30
    print(f"  (an N x N float32 matrix would be {nn_gib:.1f} GiB)\nwrote {report['json']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    limits = None
    if args.threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("bench_baselines: --threads needs threadpoolctl", file=sys.stderr)
            return 2
        limits = threadpool_limits(args.threads)
    try:
        from threadpoolctl import threadpool_info

        blas_threads = max((i["num_threads"] for i in threadpool_info()), default=None)
    except ImportError:
        blas_threads = None
    x = make_embeddings(args.n, args.dim, args.centres, args.seed)
    labelled = make_embeddings(args.labelled, args.dim, args.centres, args.seed + 1) if args.labelled else None
    ids = [f"v{i}" for i in range(args.n)]
    budget = parse_budget(args.budget, args.n)
    rows = []
    for name in args.methods:
        if name in FEATURE_METHODS:
            # The registry asks for frames; a one-frame view of the pooled array costs no memory.
            inputs = SelectionInputs(ids=ids, frames=x[:, None, :], pooled=x, labelled_pooled=labelled)
            floor = ("B distance passes", distance_floor(x, budget, args.floor_passes, args.seed))
        elif name in MODEL_METHODS:
            model = model_inputs(args.n, args.seed)
            inputs = SelectionInputs(ids=ids, model=model)
            passes = MC_PASSES if name == "mc_dropout" else NOISE_PASSES
            floor = (f"{passes} forward passes of f", forward_floor(model.module, model.x, passes))
        else:  # freesel
            patterns = make_patterns(args.n, args.seed)
            inputs = SelectionInputs(ids=ids, frames=patterns)
            floor = ("B pattern passes", pattern_floor(patterns, budget, args.floor_passes, args.seed))
        row = bench_method(name, inputs, budget, args.seed)
        row.update(floor=floor[0], floor_seconds=floor[1], ratio=row["seconds"] / floor[1])
        print(f"  {name}: {row['seconds']:.1f} s, {row['ratio']:.2f} x its floor ({floor[0]})", flush=True)
        rows.append(row)
        del inputs
    report = {
        "cpu": platform.processor() or "CPU",
        "cpu_count": os.cpu_count(),
        "blas_threads": blas_threads,
        "numpy": np.__version__,
        "n": args.n,
        "dim": args.dim,
        "budget": budget,
        "labelled": args.labelled,
        "centres": args.centres,
        "input_mib": x.nbytes / 2**20,
        "rows": rows,
        "json": str(args.out),
    }
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    print_report(report)
    if limits is not None:
        limits.restore_original_limits()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
