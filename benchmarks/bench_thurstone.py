"""Benchmark of the batched Thurstone / Bradley-Terry MAP against the W2S authors' Adam recipe, one video at a time.

    OMP_NUM_THREADS=1 python benchmarks/bench_thurstone.py               # N = 10,000 test videos, 6 x 6 each
    OMP_NUM_THREADS=1 python benchmarks/bench_thurstone.py --ref-n 200   # time the reference on 200, extrapolate

The problem (W2S-VQA Eq. 34): a fixed 5 x 5 anchor matrix M_r and, per test video, p_k = P(test better than
anchor k), giving one 6 x 6 matrix per video (anchors first, the test last). M_r: the authors' five anchor MOS
(``llava/eval/anchor.json`` of commit 2c7ca75: 39.6 ... 78.0) with M_ij = Phi((mos_i - mos_j) / 20). Test
videos: quality u ~ U(30, 90), p_k = Phi((u - mos_k) / 20) + N(0, 0.05^2) noise, clipped to [0.01, 0.99].

Reports, in one process:
- ours: :func:`vqaloop.evaluation.thurstone.map_scores_batched` on all N at once (normal and sigmoid links; the
  fastest of ``--repeats`` runs);
- the reference recipe: Adam, lr 0.1, 100 steps, sigmoid link, torch on the CPU, one video at a time as in the
  authors' ``infer_pair.py``, timed on the first ``--ref-n`` videos and extrapolated linearly to N (said so);
- the speed-up (goal >= 20x), like for like on the sigmoid link;
- accuracy against a high-precision solution: an independent solver (torch float64 autograd gradient and Hessian,
  scipy trust-exact, then Newton steps to a gradient < 1e-12) on the first ``--check-n`` videos, and for all N
  the bound ||q - q*|| <= ||gradient|| (the objective is 1-strongly concave) with the gradient from the same
  independent autograd code; goal <= 1e-4 for ours. The Adam recipe's own error (100 and 50 steps, all N via
  batched Adam, which follows the per-video trajectories up to float32 summation order), raw and on the
  authors' 0-100 min-max scale of the test's score, and its rank agreement with the exact MAP.
Writes the figures as JSON to benchmarks/results/thurstone.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy import optimize, special, stats

from vqaloop.benchmarking import stamped
from vqaloop.evaluation import thurstone
from vqaloop.io.atomic import write_text_atomic
from vqaloop.w2s.soft_comparison import test_matrices

RESULTS = Path(__file__).resolve().parent / "results" / "thurstone.json"
ANCHOR_MOS = np.array([39.563524, 50.231094, 60.624043, 69.425189, 78.031940])  # anchor.json (2c7ca75)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="test videos N")
    parser.add_argument("--ref-n", type=int, default=500, help="videos the reference recipe is timed on")
    parser.add_argument("--check-n", type=int, default=300, help="videos solved by the independent solver")
    parser.add_argument("--steps", type=int, default=100, help="Adam steps of the timed reference")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def make_problems(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    anchors = special.ndtr((ANCHOR_MOS[:, None] - ANCHOR_MOS[None, :]) / 20.0)
    u = rng.uniform(30, 90, n)
    p = special.ndtr((u[:, None] - ANCHOR_MOS[None, :]) / 20.0) + rng.normal(0, 0.05, (n, 5))
    return test_matrices(anchors, np.clip(p, 0.01, 0.99))


# ---------------------------------------------------------------- the independent high-precision solver


def _objective(q: torch.Tensor, m: torch.Tensor, link: str) -> torch.Tensor:
    """Summed negative log posterior of (..., n) scores; the diagonal of m must be 0."""
    diff = q[..., :, None] - q[..., None, :]
    log_f = torch.special.log_ndtr(diff) if link == "normal" else torch.nn.functional.logsigmoid(diff)
    return -(m * log_f).sum() + 0.5 * (q**2).sum()


def _zero_diag(matrices: np.ndarray) -> torch.Tensor:
    m = torch.tensor(matrices, dtype=torch.float64)
    return m * (1 - torch.eye(m.shape[-1], dtype=torch.float64))


def independent_gradient(q: np.ndarray, matrices: np.ndarray, link: str) -> np.ndarray:
    x = torch.tensor(q, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(_objective(x, _zero_diag(matrices), link), x)
    return g.numpy()


def high_precision_map(matrix: np.ndarray, link: str) -> np.ndarray:
    m = _zero_diag(matrix)

    def fun(x):
        return _objective(torch.tensor(x), m, link).item()

    def jac(x):
        t = torch.tensor(x, requires_grad=True)
        return torch.autograd.grad(_objective(t, m, link), t)[0].numpy()

    def hess(x):
        return torch.autograd.functional.hessian(lambda t: _objective(t, m, link), torch.tensor(x)).numpy()

    x = optimize.minimize(fun, np.zeros(len(m)), jac=jac, hess=hess, method="trust-exact").x
    for _ in range(4):
        x = x - np.linalg.solve(hess(x), jac(x))
    if np.abs(jac(x)).max() > 1e-12:
        raise RuntimeError("the high-precision solver did not reach a gradient of 1e-12")
    return x


# ---------------------------------------------------------------- measurements


def best_time(fn, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def reference_one_by_one(matrices: np.ndarray, steps: int) -> tuple[np.ndarray, float]:
    """The authors' recipe, one video at a time (Adam lr 0.1, sigmoid link, clamp 1e-6, torch.rand start)."""
    start = time.perf_counter()
    q = np.stack([thurstone.adam_recipe(m, link="sigmoid", steps=steps, lr=0.1, seed=0) for m in matrices])
    return q, time.perf_counter() - start


def accuracy(q: np.ndarray, matrices: np.ndarray, link: str, exact_check: np.ndarray) -> dict:
    grad = independent_gradient(q, matrices, link)
    k = len(exact_check)
    return {
        "max_abs_error_vs_high_precision": float(np.abs(q[:k] - exact_check).max()),
        "videos_checked": k,
        "max_error_bound_all": float(np.linalg.norm(grad, axis=-1).max()),
        "max_abs_gradient_all": float(np.abs(grad).max()),
    }


def adam_errors(matrices: np.ndarray, exact: np.ndarray, steps: int) -> dict:
    adam = thurstone.adam_recipe(matrices, link="sigmoid", steps=steps)
    test_adam, test_exact = adam[:, -1], exact[:, -1]
    scaled_adam, scaled_exact = thurstone.minmax_0_100(adam)[:, -1], thurstone.minmax_0_100(exact)[:, -1]
    return {
        "steps": steps,
        "max_abs_error_all_scores": float(np.abs(adam - exact).max()),
        "max_abs_error_test_score": float(np.abs(test_adam - test_exact).max()),
        "mean_abs_error_test_score": float(np.abs(test_adam - test_exact).mean()),
        "max_abs_error_minmax_0_100": float(np.abs(scaled_adam - scaled_exact).max()),
        "srcc_test_score_vs_exact": float(stats.spearmanr(test_adam, test_exact)[0]),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    matrices = make_problems(args.n, args.seed)
    thurstone.map_scores_batched(matrices[:10])  # warm-up (imports, first calls)
    thurstone.adam_recipe(matrices[0], steps=2)

    ours = {}
    for link in thurstone.LINKS:
        q, seconds = best_time(lambda link=link: thurstone.map_scores_batched(matrices, link), args.repeats)
        check = np.stack([high_precision_map(m, link) for m in matrices[: args.check_n]])
        ours[link] = {"seconds": seconds, "q": q, **accuracy(q, matrices, link, check)}

    ref_n = min(args.ref_n, args.n)
    ref_q, ref_s = reference_one_by_one(matrices[:ref_n], args.steps)
    ref_total = ref_s * args.n / ref_n
    batched_adam = thurstone.adam_recipe(matrices[:ref_n], link="sigmoid", steps=args.steps)
    exact_sigmoid = ours["sigmoid"]["q"]
    report = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "n_videos": args.n,
        "matrix_size": int(matrices.shape[-1]),
        "problem": "anchors: anchor.json MOS, M_ij = Phi((mos_i - mos_j)/20); tests: u ~ U(30, 90), "
        "p_k = Phi((u - mos_k)/20) + N(0, 0.05^2), clipped to [0.01, 0.99]",
        "ours": {link: {k: v for k, v in r.items() if k != "q"} for link, r in ours.items()},
        "reference": {
            "recipe": f"Adam lr 0.1, {args.steps} steps, sigmoid link, clamp 1e-6, torch.rand start (seed 0), "
            "float32, torch CPU, one video at a time",
            "videos_timed": ref_n,
            "seconds_timed": ref_s,
            "seconds_for_n": ref_total,
            "extrapolated": ref_n < args.n,
            "extrapolation": f"linear: {ref_s:.3f} s x {args.n} / {ref_n}" if ref_n < args.n else None,
            "batched_vs_one_by_one_max_abs_diff": float(np.abs(batched_adam - ref_q).max()),
        },
        "speedup_sigmoid": ref_total / ours["sigmoid"]["seconds"],
        "speedup_normal": ref_total / ours["normal"]["seconds"],
        "goal_speedup": 20,
        "goal_max_abs_error": 1e-4,
        "adam_recipe_error": [adam_errors(matrices, exact_sigmoid, s) for s in sorted({args.steps, 50})],
        "srcc_test_score_normal_vs_sigmoid": float(
            stats.spearmanr(ours["normal"]["q"][:, -1], ours["sigmoid"]["q"][:, -1])[0]
        ),
    }
    report["json"] = str(args.out)
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    print_report(report)
    return 0


def print_report(r: dict) -> None:
    print(f"\nThurstone MAP on {r['n_videos']} matrices of {r['matrix_size']} x {r['matrix_size']} "
          f"({r['machine']}, {r['torch_threads']} torch thread(s), OMP_NUM_THREADS={r['omp_num_threads']})")  # fmt: skip
    ref = r["reference"]
    note = f" (timed on {ref['videos_timed']} videos, extrapolated linearly)" if ref["extrapolated"] else ""
    rows = [("reference recipe, one by one", f"{ref['seconds_for_n']:.2f} s{note}")]
    for link, o in r["ours"].items():
        rows += [
            (f"ours, batched Newton ({link})", f"{o['seconds'] * 1e3:.1f} ms"),
            (
                f"  error ({link})",
                f"max {o['max_abs_error_vs_high_precision']:.1e} vs high precision on {o['videos_checked']}; "
                f"bound {o['max_error_bound_all']:.1e} on all",
            ),
        ]
    rows += [
        ("speed-up (sigmoid, like for like)", f"{r['speedup_sigmoid']:.0f}x (goal >= {r['goal_speedup']}x)"),
        ("speed-up (normal link)", f"{r['speedup_normal']:.0f}x"),
    ]
    for e in r["adam_recipe_error"]:
        rows.append(
            (
                f"Adam recipe error, {e['steps']} steps",
                f"max |q - q*| {e['max_abs_error_all_scores']:.3f}, test score {e['max_abs_error_test_score']:.3f} "
                f"(mean {e['mean_abs_error_test_score']:.4f}), 0-100 scale {e['max_abs_error_minmax_0_100']:.2f}, "
                f"SRCC vs exact {e['srcc_test_score_vs_exact']:.5f}",
            )
        )
    rows.append(("SRCC normal vs sigmoid link", f"{r['srcc_test_score_normal_vs_sigmoid']:.5f}"))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"wrote {r['json']}")


if __name__ == "__main__":
    raise SystemExit(main())
