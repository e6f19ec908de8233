"""Benchmark of the MDS-VQA greedy selection (Eq. 9) against the machine's matmul limit and a naive version.

    python benchmarks/bench_selection.py                       # N=42,000, F=8, D=512, B=5% (2,100 picks)
    python benchmarks/bench_selection.py --budget-count 100    # time 100 picks, extrapolate to B
    python benchmarks/bench_selection.py --n 5000 --naive-n 1000 --device cuda

Reports, in one process:
- the greedy time (with ``--budget-count K`` < B: K picks timed, then extrapolated linearly in the Gram
  flops of the remaining picks, and said so); greedy and bare GEMMs alternate ``--repeats`` times and the
  fastest of each counts;
- the flops of the Chamfer Gram products, 2 * F^2 * D per (candidate, pick), summed over the picks;
- the time plain torch matmuls take for those flops, two ways: (a) the very same Gram GEMMs with nothing
  around them (the algorithm's floor) and (b) the flops at the rate of a large square matmul (the machine's
  compute limit), and the greedy's ratio to each (goal <= 1.5);
- the speed-up over a naive version (full N x N Chamfer matrix first, then greedy) at ``--naive-n``, and
  whether both pick the same videos;
- peak memory: resident-set growth sampled during each run (/proc/self/statm), ru_maxrss, and on CUDA
  torch.cuda.max_memory_allocated.
Writes the figures as JSON to benchmarks/results/selection.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqaloop.benchmarking import PeakRSS, stamped
from vqaloop.io.atomic import write_text_atomic
from vqaloop.selection.chamfer import chamfer_matrix, l2_normalise_frames
from vqaloop.selection.cli import parse_budget
from vqaloop.selection.mds import DEFAULT_LAMBDA, argmax_lowest_index, mds_greedy

RESULTS = Path(__file__).resolve().parent / "results" / "selection.json"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=42_000, help="pool size N")
    parser.add_argument("--frames", type=int, default=8, help="frames per video F")
    parser.add_argument("--dim", type=int, default=512, help="feature size D")
    parser.add_argument("--budget", default="0.05", help="fraction in (0, 1) or count, as `vqaloop select`")
    parser.add_argument("--budget-count", type=int, help="time only this many picks and extrapolate to B")
    parser.add_argument("--naive-n", type=int, default=3000, help="pool size for the naive comparison (0: skip)")
    parser.add_argument("--lam", type=float, default=DEFAULT_LAMBDA)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the fastest counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


# ---------------------------------------------------------------- measurement helpers


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str):
    """(result, seconds, rss growth MiB, CUDA peak MiB or None) of one call."""
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    sync(device)
    with PeakRSS() as rss:
        start = time.perf_counter()
        result = fn()
        sync(device)
        seconds = time.perf_counter() - start
    cuda_mib = None
    if device.startswith("cuda"):
        cuda_mib = (torch.cuda.max_memory_allocated() - base) / 2**20
    return result, seconds, rss.growth_mib, cuda_mib


def ru_maxrss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024


def gram_flops(n: int, f: int, d: int, picks: int) -> int:
    """Flops of the Gram products of ``picks`` greedy picks: pick k (k >= 1) compares N - k candidates."""
    candidates = sum(n - k for k in range(1, picks))  # the last pick computes no distances
    return 2 * f * f * d * candidates


# ---------------------------------------------------------------- the compared computations


def make_pool(n: int, f: int, d: int, seed: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn((n, f, d), generator=generator, dtype=torch.float32)
    difficulty = torch.randn(n, generator=generator, dtype=torch.float64)
    return frames.to(device), difficulty.to(device)


def same_gram_gemms(frames: torch.Tensor, picks: int) -> None:
    """Only the Gram GEMMs the greedy runs: pick k multiplies the N - k remaining videos by one video."""
    n, _, d = frames.shape
    for k in range(1, picks):
        torch.mm(frames[: n - k].reshape(-1, d), frames[k].t())


def square_matmul_rate(device: str, seconds: float = 2.0) -> float:
    """Flop/s of a large square float32 matmul: the machine's compute limit for this benchmark."""
    size = 2048 if device == "cpu" else 8192
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    torch.matmul(a, b)
    sync(device)
    reps, start = 0, time.perf_counter()
    while True:
        torch.matmul(a, b)
        reps += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return 2 * size**3 * reps / elapsed


def naive_greedy(frames: torch.Tensor, difficulty: torch.Tensor, budget: int, lam: float) -> list[int]:
    """Straightforward version: the full N x N Chamfer matrix first, then Eq. 9 read off it at every step."""
    dist = chamfer_matrix(frames, frames).to(torch.float64)
    n = len(difficulty)
    order = torch.arange(n, device=frames.device)
    available = torch.ones(n, dtype=torch.bool, device=frames.device)
    picks: list[int] = []
    for k in range(budget):
        diversity = dist[:, picks].sum(dim=1) / k if picks else torch.zeros_like(difficulty)
        score = torch.where(available, difficulty + lam * diversity, -math.inf)
        best = argmax_lowest_index(score, order)
        picks.append(best)
        available[best] = False
    return picks


# ---------------------------------------------------------------- the benchmark


def bench_mds(args, n: int, device: str) -> dict:
    frames, difficulty = make_pool(n, args.frames, args.dim, args.seed, device)
    frames = l2_normalise_frames(frames)  # the default of `vqaloop select`
    budget = parse_budget(args.budget, n)
    timed_picks = min(budget, args.budget_count or budget)
    rss_before = ru_maxrss_mib()

    # The greedy and the bare GEMMs alternate, `repeats` times, and the fastest of each counts: on a shared
    # machine both then see the same load. Setup alone (copy, squared norms, first pick) is timed too, so
    # that extrapolation scales only the per-pick part.
    setup_s = run_s = gemm_s = math.inf
    rss_growth = cuda_mib = 0.0
    for _ in range(args.repeats):
        setup_s = min(setup_s, timed(lambda: mds_greedy(frames, difficulty, 1, args.lam), device)[1])
        picks, seconds, rss, cuda = timed(lambda: mds_greedy(frames, difficulty, timed_picks, args.lam), device)
        run_s, rss_growth, cuda_mib = min(run_s, seconds), max(rss_growth, rss), cuda
        gemm_s = min(gemm_s, timed(lambda: same_gram_gemms(frames, timed_picks), device)[1])
    flops_timed = gram_flops(n, args.frames, args.dim, timed_picks)
    flops_full = gram_flops(n, args.frames, args.dim, budget)
    extrapolated = timed_picks < budget
    greedy_s = setup_s + (run_s - setup_s) * flops_full / flops_timed if extrapolated else run_s
    gemm_full_s = gemm_s * flops_full / flops_timed
    rate = square_matmul_rate(device)
    peak_s = flops_full / rate
    return {
        "n": n,
        "frames": args.frames,
        "dim": args.dim,
        "budget": budget,
        "picks_timed": timed_picks,
        "repeats": args.repeats,
        "extrapolated": extrapolated,
        "greedy_s": greedy_s,
        "greedy_timed_s": run_s,
        "setup_s": setup_s,
        "gram_tflop": flops_full / 1e12,
        "greedy_gflops": flops_full / greedy_s / 1e9,
        "same_gemms_s": gemm_full_s,
        "square_matmul_gflops": rate / 1e9,
        "square_matmul_s": peak_s,
        "ratio_vs_same_gemms": greedy_s / gemm_full_s,
        "ratio_vs_square_matmul": greedy_s / peak_s,
        "input_mib": frames.numel() * 4 / 2**20,
        "rss_growth_mib": rss_growth,
        "ru_maxrss_before_mib": rss_before,
        "ru_maxrss_after_mib": ru_maxrss_mib(),
        "cuda_peak_mib": cuda_mib,
        "first_picks": picks[:5],
    }


def bench_naive(args, n: int, device: str) -> dict:
    frames, difficulty = make_pool(n, args.frames, args.dim, args.seed + 1, device)
    frames = l2_normalise_frames(frames)
    budget = parse_budget(args.budget, n)
    fast, fast_s, fast_rss, fast_cuda = timed(lambda: mds_greedy(frames, difficulty, budget, args.lam), device)
    slow, slow_s, slow_rss, slow_cuda = timed(lambda: naive_greedy(frames, difficulty, budget, args.lam), device)
    return {
        "n": n,
        "budget": budget,
        "mds_s": fast_s,
        "naive_s": slow_s,
        "speedup": slow_s / fast_s,
        "same_picks": fast == slow,
        "picks_in_common": len(set(fast) & set(slow)),
        "mds_rss_growth_mib": fast_rss,
        "naive_rss_growth_mib": slow_rss,
        "mds_cuda_peak_mib": fast_cuda,
        "naive_cuda_peak_mib": slow_cuda,
    }


def print_report(report: dict) -> None:
    m = report["mds"]
    print(f"\nMDS-VQA greedy selection on {report['device_name']} ({report['threads']} torch threads)")
    rows = [
        ("pool N x F x D", f"{m['n']} x {m['frames']} x {m['dim']} ({m['input_mib']:.0f} MiB float32)"),
        ("budget B", f"{m['budget']} picks"),
        (
            "picks timed",
            f"{m['picks_timed']}" + (" (time extrapolated to B, linear in flops)" if m["extrapolated"] else ""),
        ),
        ("Chamfer Gram flops", f"{m['gram_tflop']:.3f} TFLOP"),
        ("greedy time", f"{m['greedy_s']:.2f} s ({m['greedy_gflops']:.1f} GFLOP/s)"),
        ("  setup (copy, norms, pick 1)", f"{m['setup_s']:.2f} s"),
        ("same Gram GEMMs alone", f"{m['same_gemms_s']:.2f} s -> ratio {m['ratio_vs_same_gemms']:.2f}"),
        (
            "square matmul limit",
            f"{m['square_matmul_s']:.2f} s at {m['square_matmul_gflops']:.1f} GFLOP/s"
            f" -> ratio {m['ratio_vs_square_matmul']:.2f}",
        ),
        ("RSS growth during greedy", f"{m['rss_growth_mib']:.0f} MiB"),
        ("ru_maxrss before / after", f"{m['ru_maxrss_before_mib']:.0f} / {m['ru_maxrss_after_mib']:.0f} MiB"),
    ]
    if m["cuda_peak_mib"] is not None:
        rows.append(("CUDA peak allocated", f"{m['cuda_peak_mib']:.0f} MiB"))
    naive = report.get("naive")
    if naive:
        rows += [
            (
                f"naive at N={naive['n']}, B={naive['budget']}",
                f"{naive['naive_s']:.2f} s (full N x N matrix first)",
            ),
            (f"MDS at N={naive['n']}, B={naive['budget']}", f"{naive['mds_s']:.2f} s"),
            ("speed-up over naive", f"{naive['speedup']:.1f}x; same picks: {naive['same_picks']}"),
            (
                "RSS growth naive / MDS",
                f"{naive['naive_rss_growth_mib']:.0f} / {naive['mds_rss_growth_mib']:.0f} MiB",
            ),
        ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"  (goal: greedy / matmul ratio <= 1.5)\nwrote {report['json']}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_selection: CUDA is not available", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name() if device.startswith("cuda") else (platform.processor() or "CPU")
    report = {
        "device": device,
        "device_name": name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "lambda": args.lam,
        "mds": bench_mds(args, args.n, device),
    }
    if args.naive_n:
        report["naive"] = bench_naive(args, args.naive_n, device)
    report["json"] = str(args.out)
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
