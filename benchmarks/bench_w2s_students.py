"""What a pointwise single-teacher student (W2S-VQA Sec. 3, issue 22) costs beside the pairwise one it joins.

    python benchmarks/bench_w2s_students.py               # the embedded default's sizes, 2 alternating repeats
    python benchmarks/bench_w2s_students.py --repeats 3

In one process pinned as a ``vqaloop`` command is (``vqaloop.dispatch.pin``, one compute thread), with the embedded
default's sizes read from config/config.yaml: the compact student (``pair_transformer``, hidden 128, 2 layers, 4
heads) on 8 frames of 1,284-d inputs (EfficientNet-Lite0 + motion), ``w2s.training`` (10 epochs, batch 64);
random inputs (the cost does not depend on the values). Timed, alternating ``--repeats`` times (the fastest counts):

- pairwise training (the floor): ``w2s.train.train_student`` on ``w2s.pairs.homogeneous`` pairs (3,000) of D(1)'s
  videos, cross-entropy, as each ``<teacher>_labeled_pairwise`` student per seed;
- pointwise training: ``w2s.pointwise.train_pointwise`` on D(1)'s videos (857) with per-video targets, as each
  ``<teacher>_labeled`` student per seed;
- scoring: soft comparison against 5 anchors (``w2s.scoring.soft_comparison_scores``) vs the expected rating
  (``w2s.pointwise.pointwise_scores``) of the videos one ``w2s-evaluate`` scores (the default's test rows, 892,
  and the source training rows, 256).

Reports seconds and the pointwise/pairwise ratios (the numbers to trust on a loaded machine: both sides ran in
the same process, alternating), and an estimate of the demo's added job time from the reference run's per-job
means (results/reference/demo/run_time.csv): 6 pointwise student jobs at the training ratio times a ``w2s/student``
job, 6 scoring jobs at a whole ``w2s/scores`` job (their start-up and features reading dominate), 7 light jobs
(the targets and the test sets) at a ``w2s/pairs`` job. Writes JSON to benchmarks/results/w2s_students.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "w2s_students.json"
SCORED = 892 + 256  # the default's W2S test rows (ugc 64, gmad 288, five targets 540) + the source training rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats; the fastest counts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> int:
    args = parse_args(argv)
    from vqaloop.dispatch import pin

    pin()
    import numpy as np
    import pandas as pd
    import torch
    import yaml

    from vqaloop.dispatch import set_compute_threads
    from vqaloop.io.atomic import write_text_atomic
    from vqaloop.losses.confidence import get_w2s_loss
    from vqaloop.w2s.pointwise import pointwise_scores, train_pointwise
    from vqaloop.w2s.scoring import soft_comparison_scores
    from vqaloop.w2s.students import PairTransformer
    from vqaloop.w2s.train import train_student

    set_compute_threads(1)
    w2s = yaml.safe_load((ROOT / "config/config.yaml").read_text())["w2s"]
    frames = yaml.safe_load((ROOT / "config/config.yaml").read_text())["features"]["frames"]
    t, s, n_pairs = w2s["training"], w2s["student"], w2s["pairs"]["homogeneous"]
    n_videos, seeds = w2s["stage_sizes"][0], len(w2s["seeds"])
    kwargs = {"in_dim": 1284, "spatial_dim": 1280, "hidden": s["hidden"], "layers": s["layers"], "heads": s["heads"]}
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(n_videos + SCORED, frames, 1284)).astype(np.float32))
    first, second = rng.integers(0, n_videos, size=(2, n_pairs))
    pairs = pd.DataFrame({"first_row": first, "second_row": second, "label": rng.integers(0, 5, n_pairs)})
    targets = torch.from_numpy(rng.uniform(1, 5, n_videos).astype(np.float32))
    optim = {"epochs": t["epochs"], "lr": t["lr"], "batch": t["batch"], "weight_decay": t.get("weight_decay", 0.05),
             "warmup": t.get("warmup", 0.03), "seed": 0}  # fmt: skip

    def model(mode):
        torch.manual_seed(0)
        m = PairTransformer(**kwargs, mode=mode)
        m.set_input_statistics(x[:n_videos])
        return m

    pair_model, point_model = model("pairwise"), model("pointwise")
    test = x[n_videos:]
    runs = {"pairwise_train": [], "pointwise_train": [], "soft_comparison_score": [], "pointwise_score": []}
    for _ in range(args.repeats):
        runs["pairwise_train"].append(timed(lambda: train_student(model("pairwise"), x, pairs, get_w2s_loss("ce"),
                                                                  **optim)))  # fmt: skip
        runs["pointwise_train"].append(timed(lambda: train_pointwise(model("pointwise"), x, torch.arange(n_videos),
                                                                     targets, **optim)))  # fmt: skip
        runs["soft_comparison_score"].append(timed(lambda: soft_comparison_scores(pair_model, x[:5], test)))
        runs["pointwise_score"].append(timed(lambda: pointwise_scores(point_model, test)))
    best = {k: min(v) for k, v in runs.items()}
    ratio = best["pointwise_train"] / best["pairwise_train"]
    reference = pd.read_csv(ROOT / "results/reference/demo/run_time.csv").set_index("step").mean_wall_s
    added = 6 * (ratio * reference["w2s/student"] + reference["w2s/scores"]) + 7 * reference["w2s/pairs"]
    result = {
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
        },  # fmt: skip
        "date": time.strftime("%Y-%m-%d"),
        "sizes": {
            "videos": n_videos,
            "pairs": n_pairs,
            "frames": frames,
            "scored": SCORED,
            "epochs": t["epochs"],
            "batch": t["batch"],
            "seeds": seeds,
        },  # fmt: skip
        "seconds": {k: round(v, 3) for k, v in best.items()},
        "all_seconds": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "ratio_train_pointwise_over_pairwise": round(ratio, 4),
        "ratio_score_pointwise_over_soft_comparison": round(best["pointwise_score"] / best["soft_comparison_score"], 4),
        "reference_job_seconds": {k: float(reference[k]) for k in ("w2s/student", "w2s/scores", "w2s/pairs")},
        "demo_added_job_minutes_estimate": round(added / 60, 2),
    }
    write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
