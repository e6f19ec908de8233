"""What the jitter family's random crop (``corpus.jitter_crop: random``, W2S A.3.2) does to the VMAF labels.

    python benchmarks/jitter_crop_vmaf.py

Six scikit-image photographs panned into clips of the corpus's working format (256x144, 15 frames at 15 fps, stored
losslessly), each distorted by jitter levels 1-3 with the same seeded generator under the centred crop (``fixed``,
the embedded default) and the random crop (``random``, ``config/paper_corpus.yaml``), scored by VMAF v0.6.1 against
its own pristine clip (``vqaloop.corpus.vmaf``, as the corpus is). Reports each clip's six VMAF values, the mean
and largest difference, the Spearman correlation of the two modes over the 18 versions, and whether each clip keeps
its level order. Writes JSON to benchmarks/results/jitter_crop.json; the clips go to a temporary folder.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "jitter_crop.json"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")


def pan(image, n: int = 15, h: int = 144, w: int = 256, dx: int = 3, dy: int = 1):
    import numpy as np

    if image.ndim == 2:
        image = np.stack([image] * 3, -1)
    return np.ascontiguousarray(np.stack([image[dy * t : dy * t + h, dx * t : dx * t + w, :3] for t in range(n)]))


def main() -> int:
    from vqaloop.dispatch import pin

    pin()
    import numpy as np
    from scipy.stats import spearmanr
    from skimage import data

    from vqaloop.corpus import distortions as D
    from vqaloop.corpus.vmaf import vmaf_means
    from vqaloop.io.atomic import write_text_atomic
    from vqaloop.io.video import encode

    per_clip = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for k, name in enumerate(PHOTOS):
            clip = pan(getattr(data, name)())
            reference = encode(clip, out / f"{name}_ref.mp4", fps=15)
            paths = []
            for mode in D.JITTER_CROPS:
                for level in (1, 2, 3):
                    with D.jitter_crop_mode(mode):
                        frames = D.apply_distortion(clip, "jitter", level, np.random.default_rng([k, level]), 15.0)
                    paths.append(encode(frames, out / f"{name}_{mode}_{level}.mp4", fps=15))
            values = vmaf_means(paths, reference)
            per_clip[name] = {"fixed": [round(v, 3) for v in values[:3]], "random": [round(v, 3) for v in values[3:]]}
    fixed = np.array([v["fixed"] for v in per_clip.values()]).ravel()
    random = np.array([v["random"] for v in per_clip.values()]).ravel()
    ordered = all(bool((np.diff(v[m]) < 0).all()) for v in per_clip.values() for m in v)
    result = {"date": time.strftime("%Y-%m-%d"), "vmaf": per_clip,
              "mean_difference_random_minus_fixed": round(float((random - fixed).mean()), 3),
              "mean_abs_difference": round(float(np.abs(random - fixed).mean()), 3),
              "max_abs_difference": round(float(np.abs(random - fixed).max()), 3),
              "spearman": round(float(spearmanr(fixed, random).statistic), 4), "level_order_kept": ordered}  # fmt: skip
    write_text_atomic(RESULTS, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
