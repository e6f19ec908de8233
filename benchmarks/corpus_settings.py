"""What the embedded default's speed settings change in the corpus, measured on a subset of one plan.

    python benchmarks/corpus_settings.py [--plan data/corpus/plans/sfv_sdr.csv] [--contents 4]

Renders the first ``--contents`` contents of a plan (every version of each) twice, with the paper's setting
and the default's, and prints the VMAF labels side by side: mean absolute difference, Spearman correlation
of the two label sets, and the render time of each. Settings compared:

- ``x265``: the H.265 preset, ``veryslow`` (W2S A.3.3, config/paper_corpus.yaml) against ``medium`` (the default);
- ``seconds``: 2 s clips (the first default) against 1 s clips (the default), at the same preset.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from vqaloop.corpus import distortions
from vqaloop.corpus.catalogue import source_path
from vqaloop.corpus.pristine import ClipFormat, render_content
from vqaloop.corpus.vmaf import vmaf_mean
from vqaloop.io.video import encode


def render_labels(plan: pd.DataFrame, catalogue: pd.DataFrame, fmt: ClipFormat, preset: str, root: Path):
    """VMAF of every plan row rendered at ``fmt`` with x265 ``preset``; and the seconds it took."""
    scores, start = {}, time.perf_counter()
    with distortions.codec_presets(h265=preset):
        for content_id, group in plan.groupby("content_id", sort=True):
            pristine = render_content(catalogue.loc[content_id], fmt)
            ref = encode(pristine, root / f"{content_id}.mp4", fps=fmt.fps)
            for video in group.itertuples():
                rng = np.random.default_rng(int(video.seed))
                path = distortions.render_chain(pristine, distortions.parse_chain(video.chain), rng, fmt.fps,
                                                root / f"{video.video_id}.mp4")  # fmt: skip
                scores[video.video_id] = vmaf_mean(path, ref)
    return pd.Series(scores), time.perf_counter() - start


def compare(name: str, a: tuple, b: tuple) -> dict:
    (va, ta), (vb, tb) = a, b
    return {"setting": name, "videos": len(va), "vmaf_mean_paper": va.mean(), "vmaf_mean_default": vb.mean(),
            "mean_abs_diff": (va - vb).abs().mean(), "max_abs_diff": (va - vb).abs().max(),
            "spearman": spearmanr(va, vb[va.index]).statistic, "seconds_paper": ta, "seconds_default": tb,
            "speed_up": ta / tb}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="data/corpus/plans/sfv_sdr.csv", type=Path)
    parser.add_argument("--catalogue", default="data/corpus/catalogue.csv", type=Path)
    parser.add_argument("--cache", default=".cache/vqaloop", type=Path)
    parser.add_argument("--contents", type=int, default=4)
    parser.add_argument("--out", type=Path, help="CSV of the comparison")
    args = parser.parse_args()
    plan = pd.read_csv(args.plan)
    plan = plan[plan.content_id.isin(sorted(plan.content_id.unique())[: args.contents])]
    catalogue = pd.read_csv(args.catalogue).set_index("content_id")
    files = catalogue.source_id != "lavfi"
    catalogue.loc[files, "path"] = [source_path(args.cache, p) for p in catalogue.loc[files, "path"]]
    two, one = ClipFormat(256, 144, 15, 2.0), ClipFormat(256, 144, 15, 1.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for key, fmt, preset in (("2s_veryslow", two, "veryslow"), ("2s_medium", two, "medium"),
                                 ("1s_medium", one, "medium")):  # fmt: skip
            folder = Path(tmp) / key
            folder.mkdir()
            runs[key] = render_labels(plan, catalogue, fmt, preset, folder)
        rows.append(compare("x265 preset: veryslow -> medium (2 s clips)", runs["2s_veryslow"], runs["2s_medium"]))
        rows.append(compare("clip length: 2 s -> 1 s (x265 medium)", runs["2s_medium"], runs["1s_medium"]))
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.4f")


if __name__ == "__main__":
    main()
