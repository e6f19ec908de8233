"""MDS-VQA selection (Eq. 9) from the features store at 200,000 and 1,000,000 videos, and the stochastic greedy at
42,000 (issue 22, item 7).

    python benchmarks/bench_selection_scale.py                         # everything below (about 15 min here)
    python benchmarks/bench_selection_scale.py --sizes 200000 --skip-stochastic
    python benchmarks/bench_selection_scale.py --skip-scale --stochastic-dim 512   # the paper's D (slower)

**Scale** (``--sizes``, reduced F and D: ``--frames`` 4, ``--dim`` 64). A synthetic pool (clustered frame
features, a difficulty per video) is written as a features store (``features_writer``, a chunk at a time), then
each ``--storage`` runs in a fresh process: ``float32`` (one working copy, the default), ``float16`` (half of
it), ``stream`` (no copy: every pick reads the store). Each process times the copy's fill (``setup_s``) and
``--picks`` greedy picks, the floor in the same process (the Gram GEMMs of one pick, ``chamfer_to_one``'s
``torch.mm`` calls with nothing around them) and the growth of its resident set during the selection (the
kernel's high-water mark, ``benchmarking.HighWaterRSS``). Extrapolations: to the whole budget B = 5% on this CPU,
to the paper's F = 8, D = 512 by the F^2 D of the products, and to one H200 from the 2.0 s measured there at
N = 42,000, F = 8, D = 512, B = 2,100 (README "Paper scale"): per pick and candidate 2.0 / 2,100 / 42,000 s.

**Stochastic greedy** (N = ``--stochastic-n`` 42,000, B = 5%, F = 8, D = ``--stochastic-dim`` 128): exact greedy
and the stochastic mode for each ``--epsilons`` on the same pool; the objective of each pick set, Eq. 6 +
lambda * Eq. 8 (mean g plus lambda times the mean pairwise Chamfer distance over the picked set), its ratio to
exact greedy's, the share of exact greedy's picks kept, and the speed-up. The floor there is exact greedy itself.

Writes benchmarks/results/selection_scale.json. Synthetic data, this machine's CPU, one thread.
"""

# ruff: noqa: E402  (the dispatch pin runs before numpy and torch load, as in every vqaloop command)
from __future__ import annotations

from vqaloop.dispatch import pin

pin()

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "selection_scale.json"
H200_SECONDS, H200_N, H200_B, PAPER_F, PAPER_D = 2.0, 42_000, 2_100, 8, 512  # README "Paper scale"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000], help="pool sizes N")
    parser.add_argument("--frames", type=int, default=4, help="F of the scale runs")
    parser.add_argument("--dim", type=int, default=64, help="D of the scale runs")
    parser.add_argument("--picks", type=int, default=6, help="picks timed per run (the first is argmax g)")
    parser.add_argument("--storages", nargs="+", default=["float32", "float16", "stream"])
    parser.add_argument("--stochastic-n", type=int, default=42_000)
    parser.add_argument("--stochastic-dim", type=int, default=128)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 0.3, 0.1, 0.01])
    parser.add_argument("--lam", type=float, default=0.25)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-stochastic", action="store_true")
    parser.add_argument("--work", type=Path, help="folder for the synthetic stores (default: a new temporary one)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # JSON arguments of one measuring process
    return parser.parse_args(argv)


def synthetic_pool(folder: Path, n: int, f: int, d: int, seed: int = 0) -> tuple[Path, Path]:
    """A features store of ``n`` videos (64 clusters of content, frames scattered around their video's centre,
    features offset from the origin) and a difficulty file, written a chunk at a time."""
    import pandas as pd

    from vqaloop.features.io import features_writer

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, d)).astype(np.float32)
    ids = [f"v{i:07d}" for i in range(n)]
    path = folder / f"pool_{n}_{f}_{d}.npz"
    with features_writer(path, ids, "synthetic", False) as writer:
        for start in range(0, n, 16384):
            k = min(16384, n - start)
            video = centres[rng.integers(64, size=k)] + 0.7 * rng.normal(size=(k, d)).astype(np.float32)
            writer.add(video[:, None, :] + 0.4 * rng.normal(size=(k, f, d)).astype(np.float32) + 2.0)
    difficulty = folder / f"difficulty_{n}.csv"
    pd.DataFrame({"video_id": ids, "difficulty": rng.normal(size=n).round(6)}).to_csv(difficulty, index=False)
    return path, difficulty


def gram_floor(work, repeats: int = 3) -> float:
    """Seconds of one pick's Gram products alone: ``chamfer_to_one``'s torch.mm over every chunk of a float32
    working copy, with nothing around them (the fastest of ``repeats``)."""
    import torch

    from vqaloop.selection.chamfer import default_chunk

    n, f, d = work.shape
    ref_t = work[0].t().contiguous()
    chunk = default_chunk(f, f)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for a in range(0, n, chunk):
            torch.mm(work[a : a + chunk].reshape(-1, d), ref_t)
        best = min(best, time.perf_counter() - start)
    return best


def worker(spec: dict) -> dict:
    """One storage at one size, in its own process: the copy's fill, ``picks`` picks (the faster of two runs),
    the resident-set growth of the first run; then the floor on a float32 copy (built after the measurement)."""
    import torch

    from vqaloop.benchmarking import HighWaterRSS
    from vqaloop.selection.features_io import load_selection_inputs
    from vqaloop.selection.mds import frames_tensor, mds_greedy, mds_greedy_streamed

    torch.set_num_threads(1)
    inputs = load_selection_inputs(spec["features"], spec["difficulty"])
    storage, picks = spec["storage"], spec["picks"]
    times, setups, growths = [], [], []
    for _ in range(2):
        with HighWaterRSS() as rss:
            start = time.perf_counter()
            work = None
            if storage != "stream":
                work, _ = frames_tensor(inputs, True, "cpu", storage)
            setups.append(time.perf_counter() - start)
            start = time.perf_counter()
            if work is None:
                chosen = mds_greedy_streamed(inputs.frames, inputs.difficulty, picks, spec["lam"])
            else:
                chosen = mds_greedy(work, inputs.difficulty, picks, spec["lam"], overwrite_frames=True)
            times.append(time.perf_counter() - start)
        growths.append(rss.growth_mib)  # the first run's counts (the second may reuse freed memory)
        del work
    floor = gram_floor(frames_tensor(inputs, True, "cpu", "float32")[0])
    return {"setup_s": min(setups), "greedy_s": min(times), "per_pick_s": min(times) / max(1, picks - 1),
            "floor_per_pick_s": floor, "rss_growth_mib": growths[0], "picks": chosen}  # fmt: skip


def run_worker(spec: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                          env=env)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def scale(args, folder: Path) -> list[dict]:
    rows = []
    for n in args.sizes:
        start = time.perf_counter()
        features, difficulty = synthetic_pool(folder, n, args.frames, args.dim)
        written = time.perf_counter() - start
        size_mib = features.stat().st_size / 2**20
        budget = max(1, round(0.05 * n))
        reference = None
        for storage in args.storages:
            got = run_worker({"features": str(features), "difficulty": str(difficulty), "storage": storage,
                              "picks": args.picks, "lam": args.lam})  # fmt: skip
            reference = reference or got["picks"]
            per_pick = got["per_pick_s"]
            unit = per_pick / (n * args.frames**2 * args.dim)  # seconds per candidate and F^2 D
            row = {"n": n, "frames": args.frames, "dim": args.dim, "storage": storage, "store_mib": round(size_mib, 1),
                   "store_write_s": round(written, 1), "setup_s": round(got["setup_s"], 2),
                   "per_pick_s": round(per_pick, 4), "floor_per_pick_s": round(got["floor_per_pick_s"], 4),
                   "ratio_to_floor": round(per_pick / got["floor_per_pick_s"], 2),
                   "rss_growth_mib": round(got["rss_growth_mib"], 1), "budget_5pct": budget,
                   "cpu_whole_budget_h": round(per_pick * budget / 3600, 2),
                   "cpu_paper_fd_whole_budget_h": round(unit * n * PAPER_F**2 * PAPER_D * budget / 3600, 1),
                   "picks_equal_float32": got["picks"] == reference}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
        features.unlink()
        difficulty.unlink()
    return rows


def gpu_extrapolation(sizes: list[int]) -> list[dict]:
    """One H200 at the paper's F and D, from the time measured there (README): time and working-copy memory."""
    unit = H200_SECONDS / H200_B / H200_N  # seconds per (candidate, pick) at F = 8, D = 512
    out = []
    for n in [H200_N, *sizes]:
        budget = round(0.05 * n)
        out.append({"n": n, "budget": budget, "h200_s": round(unit * n * budget, 1),
                    "features_gib_float32": round(n * PAPER_F * PAPER_D * 4 / 2**30, 2),
                    "features_gib_bfloat16": round(n * PAPER_F * PAPER_D * 2 / 2**30, 2)})  # fmt: skip
    return out


def objective(work, g: np.ndarray, picks: list[int], lam: float) -> float:
    """Eq. 6 + lambda * Eq. 8 of a pick set: mean g + lambda * mean pairwise Chamfer distance (Eq. 7)."""
    import torch

    from vqaloop.selection.chamfer import chamfer_matrix

    x = work[torch.as_tensor(picks)].to(torch.float32)
    total = 0.0
    for a in range(0, len(x), 256):
        total += float(chamfer_matrix(x[a : a + 256], x).double().sum())  # every ordered pair, the diagonal is 0
    pairs = len(x) * (len(x) - 1)
    return float(np.mean(g[picks])) + lam * total / pairs


def stochastic(args, folder: Path) -> dict:
    import torch

    from vqaloop.selection.features_io import load_selection_inputs
    from vqaloop.selection.mds import frames_tensor, mds_greedy, mds_greedy_stochastic, sample_size

    torch.set_num_threads(1)
    n, f, d = args.stochastic_n, 8, args.stochastic_dim
    features, difficulty = synthetic_pool(folder, n, f, d, seed=1)
    inputs = load_selection_inputs(features, difficulty)
    work, _ = frames_tensor(inputs, True, "cpu")
    g = inputs.difficulty
    budget = round(0.05 * n)
    start = time.perf_counter()
    exact = mds_greedy(work, g, budget, args.lam)
    exact_s = time.perf_counter() - start
    exact_objective = objective(work, g, exact, args.lam)
    runs = []
    for eps in args.epsilons:
        start = time.perf_counter()
        picks = mds_greedy_stochastic(work, g, budget, args.lam, eps, np.random.default_rng(0))
        seconds = time.perf_counter() - start
        value = objective(work, g, picks, args.lam)
        run = {"epsilon": eps, "sample": sample_size(n, budget, eps), "seconds": round(seconds, 1),
               "speed_up": round(exact_s / seconds, 2), "objective": round(value, 6),
               "ratio_to_exact": round(value / exact_objective, 5), "picks_shared": round(len(set(picks) & set(exact)) / budget, 3),
               "mean_g_ratio": round(float(np.mean(g[picks]) / np.mean(g[exact])), 5)}  # fmt: skip
        runs.append(run)
        print(json.dumps(run), flush=True)
    features.unlink()
    difficulty.unlink()
    return {"n": n, "frames": f, "dim": d, "budget": budget, "lam": args.lam, "exact_s": round(exact_s, 1),
            "exact_objective": round(exact_objective, 6), "runs": runs}  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    folder = args.work or Path(tempfile.mkdtemp(prefix="bench_selection_scale_"))
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "threads": 1,
              "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    if not args.skip_scale:
        result["scale"] = scale(args, folder)
        result["h200_paper_fd"] = gpu_extrapolation(args.sizes)
    if not args.skip_stochastic:
        result["stochastic"] = stochastic(args, folder)
    from vqaloop.io.atomic import write_text_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
