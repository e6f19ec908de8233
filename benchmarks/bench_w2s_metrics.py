"""Throughput of the nine W2S low-level metrics (``vqaloop.w2s.metrics``) against decoding the same frames.

    python benchmarks/bench_w2s_metrics.py                 # 256x144 and 1280x720 clips, 3 repeats
    python benchmarks/bench_w2s_metrics.py --repeats 5 --clips 4

Clips are real content: a pan over scikit-image photos, rendered with ``vqaloop.io.video.encode`` into a temporary
folder: 256x144 at 15 fps for 2 s in the corpus working format (lossless x264), and 1280x720 at 30 fps for 4 s,
lossless and H.264 CRF 23, to show the scale. Per clip the benchmark takes the 1 fps samples and their partner
frames, then times, in one process and alternating ``--repeats`` times (the fastest of each counts):

- decode: ``read_pairs`` (decord; the sampled frames and their partners, each once);
- metrics: ``frame_metrics`` on the decoded frames (all nine, and CPBD alone for its share);
- end to end: ``video_metrics`` (probe + frame count + decode + metrics), what ``vqaloop metrics`` runs per video.

Throughput = sampled frames per second. The goal: metrics throughput >= 0.3 of decode throughput, i.e. the nine
metrics cost at most about 3.3 times the decoding of their frames. Writes JSON to
benchmarks/results/w2s_metrics.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from vqaloop.benchmarking import photo, stamped
from vqaloop.io.atomic import write_text_atomic
from vqaloop.io.video import encode
from vqaloop.w2s.metrics import clip_samples, cpbd, frame_metrics, luma, read_pairs, video_metrics

RESULTS = Path(__file__).resolve().parent / "results" / "w2s_metrics.json"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
GOAL = 0.3


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="clips per format (each from a different photo)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the fastest counts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def pan(image: np.ndarray, n: int, height: int, width: int) -> np.ndarray:
    """n frames panning right across the image: (n, height, width, 3)."""
    room = image.shape[1] - width
    steps = np.linspace(0, room, n).round().astype(int)
    return np.stack([image[:height, s : s + width] for s in steps])


def render(folder: Path, count: int) -> list[dict]:
    formats = [
        ("256x144 lossless 15 fps 2 s", 144, 256, 15, 30, "lossless", None),
        ("1280x720 lossless 30 fps 4 s", 720, 1280, 30, 120, "lossless", None),
        ("1280x720 h264 crf23 30 fps 4 s", 720, 1280, 30, 120, "h264", 23),
    ]
    clips = []
    for label, h, w, fps, n, codec, crf in formats:
        for k, name in enumerate(PHOTOS[:count]):
            path = folder / f"{h}p_{codec}_{k}.mp4"
            encode(pan(photo(name, h, w), n, h, w), path, fps=fps, codec=codec, crf=crf, preset="fast")
            clips.append({"format": label, "photo": name, "path": path})
    return clips


def best_time(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_clip(clip: dict, repeats: int) -> dict:
    path = clip["path"]
    indices, partners = clip_samples(path)
    frames, following = read_pairs(path, indices, partners)
    decode_s = metrics_s = cpbd_s = total_s = math.inf
    for _ in range(repeats):  # alternate, so that all four see the same machine load
        decode_s = min(decode_s, best_time(lambda: read_pairs(path, indices, partners), 1))
        metrics_s = min(metrics_s, best_time(lambda: frame_metrics(frames, following), 1))
        cpbd_s = min(cpbd_s, best_time(lambda: [cpbd(y) for y in luma(frames)], 1))
        total_s = min(total_s, best_time(lambda: video_metrics(path), 1))
    n = len(indices)
    return {
        "format": clip["format"],
        "photo": clip["photo"],
        "size": f"{frames.shape[2]}x{frames.shape[1]}",
        "sampled_frames": n,
        "decoded_frames": len(set(indices) | set(partners)),
        "decode_s": decode_s,
        "metrics_s": metrics_s,
        "cpbd_s": cpbd_s,
        "end_to_end_s": total_s,
    }


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    for label in dict.fromkeys(r["format"] for r in rows):
        group = [r for r in rows if r["format"] == label]
        n = sum(r["sampled_frames"] for r in group)
        decode = sum(r["decode_s"] for r in group)
        metrics = sum(r["metrics_s"] for r in group)
        cpbd_s = sum(r["cpbd_s"] for r in group)
        total = sum(r["end_to_end_s"] for r in group)
        out.append(
            {
                "format": label,
                "clips": len(group),
                "sampled_frames": n,
                "decode_fps": n / decode,
                "metrics_fps": n / metrics,
                "end_to_end_fps": n / total,
                "ratio_metrics_vs_decode": decode / metrics,
                "ratio_end_to_end_vs_decode": decode / total,
                "cpbd_share_of_metrics": cpbd_s / metrics,
                "meets_goal": decode / metrics >= GOAL,
            }
        )
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_w2s_metrics.") as tmp:
        clips = render(Path(tmp), args.clips)
        rows = [bench_clip(clip, args.repeats) for clip in clips]
    report = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "numpy": np.__version__,
        "repeats": args.repeats,
        "goal_ratio_metrics_vs_decode": GOAL,
        "summary": summarise(rows),
        "clips": rows,
        "json": str(args.out),
    }
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    print("\nW2S nine low-level metrics vs decoding the same frames (sampled frames per second)")
    for s in report["summary"]:
        print(
            f"  {s['format']:<32} {s['clips']} clips, {s['sampled_frames']:>3} samples: decode {s['decode_fps']:7.1f}"
            f"  metrics {s['metrics_fps']:7.1f}  end-to-end {s['end_to_end_fps']:7.1f}"
            f"  ratio {s['ratio_metrics_vs_decode']:.2f} (end-to-end {s['ratio_end_to_end_vs_decode']:.2f},"
            f" CPBD {100 * s['cpbd_share_of_metrics']:.0f}% of metrics)"
        )
    print(f"  (goal: metrics / decode throughput >= {GOAL})\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
