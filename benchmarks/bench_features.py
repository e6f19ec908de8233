"""Feature extraction of every consumer of EfficientNet-Lite0 against the pure forward pass over the same frames.

    python benchmarks/bench_features.py                  # 12 clips in the corpus working format, 3 repeats
    python benchmarks/bench_features.py --clips 24 --repeats 5

What ``rules/features.smk`` runs per dataset is ``vqaloop features --encoders efficientnet_lite0 motion thumbnail
effnet_patterns``: one decode of every video and ONE EfficientNet-Lite0 forward pass per frame, shared by the frame
features and FreeSel's patterns (``features.extract.extract_many``), plus the motion and thumbnail features.
This times, in one process, alternating ``--repeats`` times (the fastest of each counts), on the same clips:

- floor: the EfficientNet-Lite0 forward pass alone (trunk and pooling head, passes of registry.FORWARD_FRAMES
  frames, as the extraction runs them) over frames decoded beforehand: the arithmetic no extraction can avoid;
- decode: reading the sampled frames and their partners (``read_sampled``) alone;
- end to end: ``extract_many`` with the four encoders above, from the files (decode included);
- separate: the four encoders extracted one at a time with ``extract`` (each decoding every clip again), which
  is what a job per (dataset, encoder) did before the shared pass.

Clips: pans over scikit-image photos, 256x144, 15 fps, 2 s, lossless x264 (the corpus working format), written
to a temporary folder with ``vqaloop.io.video.encode``. One torch thread (``--threads``). The goal (issue 10):
end-to-end time at most 2x the floor. Writes JSON to benchmarks/results/features.json.
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
import pandas as pd

from vqaloop.benchmarking import photo, stamped
from vqaloop.features.extract import extract, extract_many, read_sampled
from vqaloop.features.registry import get_encoder
from vqaloop.io.atomic import write_text_atomic
from vqaloop.io.video import encode

RESULTS = Path(__file__).resolve().parent / "results" / "features.json"
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
ENCODERS = ("efficientnet_lite0", "motion", "thumbnail", "effnet_patterns")
GOAL = 2.0
FRAMES = 8


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12, help="clips (pans over photos, several speeds)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats; the fastest counts")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as in the DAG)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def render(folder: Path, count: int, height: int = 144, width: int = 256, fps: int = 15, n: int = 30):
    """``count`` lossless clips in the corpus working format and a manifest of them."""
    rows = []
    for k in range(count):
        image = photo(PHOTOS[k % len(PHOTOS)], height, width, cover=1.5)
        room = (image.shape[1] - width) * (1 + k // len(PHOTOS)) // (1 + (count - 1) // len(PHOTOS))
        steps = np.linspace(0, room, n).round().astype(int)
        frames = np.stack([image[:height, s : s + width] for s in steps])
        name = f"clip{k:03d}.mp4"
        encode(frames, folder / name, fps=fps, codec="lossless")
        rows.append({"video_id": f"v{k:03d}", "path": name})
    return pd.DataFrame(rows)


def forward_only(trunk, frames: list[np.ndarray]) -> None:
    """The floor: EfficientNet-Lite0 trunk + head over every clip's sampled frames (decoded already)."""
    for clip in frames:
        trunk.encode(clip)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    encoders = [get_encoder(name) for name in ENCODERS]
    trunk = encoders[0]
    with tempfile.TemporaryDirectory(prefix="bench_features.") as tmp:
        root = Path(tmp)
        manifest = render(root, args.clips)
        decoded = [read_sampled(root / p, FRAMES, pairs=True)[0] for p in manifest.path]
        first, _ = extract_many(manifest, root, encoders, FRAMES, progress=False)
        for encoder, array in zip(encoders, first, strict=True):  # the shared pass gives each encoder's own result
            alone, _ = extract(manifest, root, encoder, FRAMES, progress=False)
            assert np.array_equal(alone, array), f"{encoder.name}: shared pass differs from extract alone"
        best = dict.fromkeys(("floor", "decode", "end_to_end", "separate"), math.inf)
        for _ in range(args.repeats):  # alternate, so that each sees the same machine load
            best["floor"] = min(best["floor"], timed(lambda: forward_only(trunk, decoded)))
            best["decode"] = min(best["decode"], timed(lambda: [read_sampled(root / p, FRAMES, True) for p in manifest.path]))  # fmt: skip
            best["end_to_end"] = min(best["end_to_end"], timed(lambda: extract_many(manifest, root, encoders, FRAMES, progress=False)))  # fmt: skip
            best["separate"] = min(best["separate"], timed(lambda: [extract(manifest, root, e, FRAMES, progress=False) for e in encoders]))  # fmt: skip
    frames = args.clips * FRAMES
    report = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": args.threads,
        "torch": torch.__version__,
        "clips": args.clips,
        "sampled_frames": frames,
        "encoders": list(ENCODERS),
        "repeats": args.repeats,
        "seconds": best,
        "frames_per_s": {k: frames / v for k, v in best.items()},
        "ratio_end_to_end_vs_floor": best["end_to_end"] / best["floor"],
        "ratio_separate_vs_floor": best["separate"] / best["floor"],
        "goal_ratio": GOAL,
        "meets_goal": best["end_to_end"] / best["floor"] <= GOAL,
    }
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    fps = report["frames_per_s"]
    print(f"\nFeatures of {args.clips} clips x {FRAMES} frames ({', '.join(ENCODERS)}), {args.threads} thread(s)")
    print(f"  floor (EfficientNet-Lite0 forward only) {best['floor']:7.2f} s  {fps['floor']:7.1f} frames/s")
    print(f"  decode alone                            {best['decode']:7.2f} s  {fps['decode']:7.1f} frames/s")
    print(f"  end to end, one shared pass             {best['end_to_end']:7.2f} s  {fps['end_to_end']:7.1f} frames/s"
          f"  ratio {report['ratio_end_to_end_vs_floor']:.2f}")  # fmt: skip
    print(f"  one encoder at a time (4 decodes)       {best['separate']:7.2f} s  {fps['separate']:7.1f} frames/s"
          f"  ratio {report['ratio_separate_vs_floor']:.2f}")  # fmt: skip
    print(f"  (goal: end to end / floor <= {GOAL})\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
