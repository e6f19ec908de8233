"""The speed cost of the CPU-dispatch pin (``vqaloop.dispatch``): the demo's heaviest kernels, portable vs native.

    python benchmarks/bench_dispatch.py                 # 3 alternating repeats per mode, the fastest counts
    python benchmarks/bench_dispatch.py --repeats 5

The pin is set when a process starts, so each mode runs in its own worker process (``--worker MODE``), started
through ``vqaloop.dispatch.pin`` exactly as a ``vqaloop`` command is. The workers alternate (native, portable,
native, ...) and the fastest time of each mode counts, which the machine's noise only makes slower. Each worker
times, on the demo's shapes (``config/config.yaml``):

- student: one training step of the W2S student (``pair_transformer``: hidden 128, 2 layers, 4 heads, batch 64
  pairs of 8 frames of 1,280 EfficientNet + 4 motion features), forward, confidence-free CE, backward, AdamW
  (the W2S students: 14 of the demo's 81 job minutes);
- base model: one training step of f's per-frame MLP head (hidden 128) on a batch of 32 videos of 8 frames;
- features: EfficientNet-Lite0 over 8 frames of 144 x 256 (the features job, 11 min of the demo);
- numpy: the 4-parameter logistic fit of 2,000 points (scipy least squares; every evaluation and mapping).

The floor of each kernel is its native time, measured in the same run: the ratio portable / native is the
pin's cost. Writes JSON to benchmarks/results/dispatch.json (machine, date, times, ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "dispatch.json"
KERNELS = ("student", "base_model", "features", "numpy")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="alternating worker runs per mode")
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timing per kernel and worker")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=("portable", "native"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def timed(fn, seconds: float) -> float:
    """Seconds per call: a warm-up call, then calls until ``seconds`` have passed (the mean of those)."""
    fn()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds or n < 3:
        fn()
        n += 1
    return (time.perf_counter() - start) / n


def worker(mode: str, seconds: float) -> dict:
    os.environ["VQALOOP_DISPATCH"] = mode
    from vqaloop.dispatch import pin

    pin()
    import numpy as np
    import torch

    from vqaloop.evaluation.metrics import fit_logistic4
    from vqaloop.features.registry import get_encoder
    from vqaloop.w2s.students import PairTransformer

    torch.manual_seed(0)
    torch.set_num_threads(1)
    student = PairTransformer(in_dim=1284, spatial_dim=1280, hidden=128, layers=2, heads=4)
    opt = torch.optim.AdamW(student.parameters(), lr=5e-4, weight_decay=0.05)
    first, second = torch.randn(64, 8, 1284), torch.randn(64, 8, 1284)
    labels = torch.randint(0, 5, (64,))

    def student_step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(student(first, second), labels).backward()
        opt.step()

    mlp = torch.nn.Sequential(torch.nn.Linear(1284, 128), torch.nn.GELU(), torch.nn.Linear(128, 1))
    mlp_opt = torch.optim.AdamW(mlp.parameters(), lr=1e-3)
    videos, target = torch.randn(32, 8, 1284), torch.randn(32)

    def base_step():
        mlp_opt.zero_grad()
        torch.nn.functional.mse_loss(mlp(videos).mean(dim=(1, 2)), target).backward()
        mlp_opt.step()

    encoder = get_encoder("efficientnet_lite0")
    frames = np.random.default_rng(0).integers(0, 256, (8, 144, 256, 3), dtype=np.uint8)

    def features():
        encoder.encode(frames)

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, 2000)
    y = 1 + 4 / (1 + np.exp(-(x - 0.5) * 8)) + 0.1 * rng.standard_normal(2000)

    def numpy_fit():
        fit_logistic4(x, y)

    kernels = {"student": student_step, "base_model": base_step, "features": features, "numpy": numpy_fit}
    return {name: timed(fn, seconds) for name, fn in kernels.items()}


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.seconds)))
        return 0
    best: dict[str, dict[str, float]] = {"native": {}, "portable": {}}
    for _ in range(args.repeats):
        for mode in ("native", "portable"):
            out = subprocess.run([sys.executable, __file__, "--worker", mode, "--seconds", str(args.seconds)],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            times = json.loads(out.stdout.strip().splitlines()[-1])
            for name, t in times.items():
                best[mode][name] = min(best[mode].get(name, float("inf")), t)
    ratios = {name: best["portable"][name] / best["native"][name] for name in KERNELS}
    result = {
        "machine": platform.processor() or platform.machine(),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),  # fmt: skip
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
        "seconds_per_call": best,
        "ratio_portable_over_native": ratios,
    }
    for name in KERNELS:
        print(f"{name:12s} native {best['native'][name] * 1e3:8.2f} ms  portable {best['portable'][name] * 1e3:8.2f} ms"
              f"  ratio {ratios[name]:.2f}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
