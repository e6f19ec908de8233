"""Render one shard of a dataset: pristine clips, distorted versions, and their VMAF labels.

Output folder ``<data_root>/<dataset>/shard<k>/`` (written atomically as a whole):
``pristine/<content_id>.mp4``, ``videos/<video_id>.mp4`` (yuv420p: x264 lossless, or the codec's own output for
a chain that ends in H.264 / H.265, ``distortions.render_chain``), ``labels.csv`` (with the SHA-256 of every
video and of its pristine clip) and ``toolchain.json`` (the ffmpeg build that rendered, encoded and scored it:
what a rebuild must match to give the same files, README "Reproducibility").
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vqaloop.corpus import distortions
from vqaloop.corpus.catalogue import source_path
from vqaloop.corpus.pristine import ClipFormat, render_content
from vqaloop.corpus.vmaf import vmaf_means, vmaf_to_mos
from vqaloop.errors import UserError
from vqaloop.io.atomic import atomic_dir, write_csv_atomic
from vqaloop.io.paths import check_name
from vqaloop.io.readers import parse_json_argument, read_csv
from vqaloop.io.video import encode, ffmpeg_build, file_sha256

log = logging.getLogger(__name__)

LABEL_COLUMNS = ["video_id", "path", "vmaf", "mos", "n_frames", "width", "height", "fps", "sha256", "pristine_sha256"]
TOOLCHAIN_FILE = "toolchain.json"


def label_mos(vmaf: float, rater_noise_sd: float, seed: int) -> float:
    """MOS on [1, 5] from VMAF (``vmaf_to_mos``), plus optional seeded simulated rater noise, clipped."""
    mos = float(vmaf_to_mos(vmaf))
    if rater_noise_sd > 0:
        mos += float(np.random.default_rng([seed, 7]).normal(0.0, rater_noise_sd))
    return round(float(np.clip(mos, 1.0, 5.0)), 4)


def render_shard(plan: pd.DataFrame, catalogue: pd.DataFrame, out_dir: Path, rel_root: str, fmt: ClipFormat,
                 rater_noise_sd: float, cache: str | Path = ".", vmaf: bool = True) -> dict:  # fmt: skip
    """Render every video of ``plan`` (one shard) into ``out_dir``; returns per-stage seconds.

    ``cache``: the download cache the catalogue's file paths are relative to (lavfi renders need none).
    ``vmaf=False`` (datasets labelled by construction, e.g. the W2S level ladders) skips VMAF: vmaf and mos stay
    empty.
    """
    timing = {"decode": 0.0, "distort": 0.0, "encode": 0.0, "vmaf": 0.0}
    rows = []
    (out_dir / "pristine").mkdir(parents=True)
    (out_dir / "videos").mkdir()
    contents = catalogue.set_index("content_id")
    files = contents.source_id != "lavfi"
    contents.loc[files, "path"] = [source_path(cache, p) for p in contents.loc[files, "path"]]
    bar = tqdm(total=len(plan), desc=f"render {rel_root}", unit="video", disable=not sys.stderr.isatty())
    for content_id, group in plan.groupby("content_id", sort=True):
        t0 = time.perf_counter()
        pristine = render_content(contents.loc[content_id], fmt)
        t1 = time.perf_counter()
        ref_path = encode(pristine, out_dir / "pristine" / f"{content_id}.mp4", fps=fmt.fps)
        ref_sha = file_sha256(ref_path)
        timing["decode"] += t1 - t0
        timing["encode"] += time.perf_counter() - t1
        t0 = time.perf_counter()
        paths = []
        for video in group.itertuples():
            rng = np.random.default_rng(int(video.seed))
            chain = distortions.parse_chain(video.chain)
            paths.append(distortions.render_chain(pristine, chain, rng, fmt.fps,
                                                  out_dir / "videos" / f"{video.video_id}.mp4"))  # fmt: skip
            bar.update()
        t1 = time.perf_counter()
        # every version of the content against its pristine clip, the reference decoded once
        scores = vmaf_means(paths, ref_path) if vmaf else [float("nan")] * len(paths)
        timing["distort"] += t1 - t0  # distortions and the stored encodes
        timing["vmaf"] += time.perf_counter() - t1
        for video, path, score in zip(group.itertuples(), paths, scores, strict=True):
            rows.append({
                "video_id": video.video_id, "path": f"{rel_root}/videos/{video.video_id}.mp4",
                "vmaf": score, "mos": label_mos(score, rater_noise_sd, int(video.seed)) if vmaf else float("nan"),
                "n_frames": len(pristine), "width": fmt.width, "height": fmt.height, "fps": fmt.fps,
                "sha256": file_sha256(path), "pristine_sha256": ref_sha,
            })  # fmt: skip
    bar.close()
    write_csv_atomic(pd.DataFrame(rows, columns=LABEL_COLUMNS), out_dir / "labels.csv")
    (out_dir / TOOLCHAIN_FILE).write_text(json.dumps(ffmpeg_build(), indent=1, sort_keys=True) + "\n")
    return timing


CLIP_SIZES = {"width": 7680, "height": 4320}  # even pixels, 2 to this
CLIP_TIMES = {"fps": 120.0, "seconds": 30.0}  # positive, up to this


def clip_format(text: str) -> ClipFormat:
    """``--clip``'s JSON as a ClipFormat: width and height even integers, fps and seconds positive numbers (the
    schema's ``corpus.clip``)."""
    clip = parse_json_argument(text, "--clip")
    if not isinstance(clip, dict) or set(clip) != {*CLIP_SIZES, *CLIP_TIMES}:
        raise UserError(f"--clip: expected JSON with width, height, fps, seconds, got {text[:80]}")
    for key, hi in CLIP_SIZES.items():
        value = clip[key]
        if not (isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0 and 2 <= value <= hi):
            raise UserError(f"--clip: {key} {value!r} is not an even integer in [2, {hi}]")
    for key, hi in CLIP_TIMES.items():
        value = clip[key]
        if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= hi):
            raise UserError(f"--clip: {key} {value!r} is not a number in (0, {hi:g}]")
    return ClipFormat(**clip)


@contextlib.contextmanager
def scratch_inside(folder: Path):
    """Temporary files of this process (VMAF logs, codec round trips) inside ``folder``'s ``.scratch``: a job
    killed mid-way leaves them inside its temporary shard folder, which the next run of the job removes."""
    scratch = folder / ".scratch"
    scratch.mkdir()
    saved = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        yield
    finally:
        tempfile.tempdir = saved
        shutil.rmtree(scratch, ignore_errors=True)


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, json_object, nonneg_int, output_dir

    parser.add_argument("--plan", required=True, type=Path)
    parser.add_argument("--catalogue", required=True, type=Path)
    parser.add_argument("--shard", required=True, type=nonneg_int)
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--clip", required=True, type=json_object, help="JSON {width, height, fps, seconds}")
    parser.add_argument("--rater-noise-sd", type=float_in(0.0, 4.0), default=0.0,
                        help="sd of simulated rater noise on the 1-5 MOS scale, in [0, 4]")  # fmt: skip
    parser.add_argument("--no-vmaf", action="store_true", help="skip VMAF labels (datasets labelled by construction)")
    parser.add_argument("--x265-preset", default=distortions.PAPER_PRESETS["h265"], choices=distortions.X265_PRESETS,
                        help="x265 preset of the h265 family (W2S A.3.3: veryslow, the default)")  # fmt: skip
    parser.add_argument("--jitter-crop", default="fixed", choices=distortions.JITTER_CROPS,
                        help="the jitter family's edge crop: fixed (centred) or random per frame (W2S A.3.2)")  # fmt: skip
    parser.add_argument("--cache", default=".", type=Path, help="download cache the catalogue paths are relative to")
    parser.add_argument("--out", required=True, type=output_dir(TOOLCHAIN_FILE),
                        help=f"the shard folder: new, empty, or a shard rendered before ({TOOLCHAIN_FILE} in it)")  # fmt: skip


def run(args) -> int:
    plan = read_csv(args.plan, "a dataset plan (vqaloop plan)", ("video_id", "content_id", "chain", "seed", "shard"))
    plan = plan[plan.shard == args.shard]
    catalogue = read_csv(args.catalogue, "a content catalogue (vqaloop catalogue)",
                         ("content_id", "category", "source_id", "path", "start", "params"))  # fmt: skip
    missing = sorted(set(plan.content_id) - set(catalogue.content_id))
    if missing:
        raise UserError(f"{args.catalogue}: no content {missing[0]!r} of {args.plan} ({len(missing)} missing)")
    for column in ("video_id", "content_id"):  # they name files of the shard
        for value in plan[column]:
            check_name(value, f"{args.plan}: {column}")
    fmt = clip_format(args.clip)
    try:
        rel_root = args.out.resolve().relative_to(args.data_root.resolve()).as_posix()
    except ValueError:
        raise UserError(f"--out {args.out} is not inside --data-root {args.data_root}") from None
    start = time.perf_counter()
    with (
        atomic_dir(args.out, TOOLCHAIN_FILE) as tmp,
        scratch_inside(tmp),
        distortions.codec_presets(h265=args.x265_preset),
        distortions.jitter_crop_mode(args.jitter_crop),
    ):
        timing = render_shard(
            plan, catalogue, tmp, rel_root, fmt, args.rater_noise_sd, args.cache, vmaf=not args.no_vmaf
        )
        timing["total"] = time.perf_counter() - start
        timing["videos"] = len(plan)
        (tmp / "timing.json").write_text(json.dumps({k: round(v, 3) for k, v in timing.items()}, indent=1))
    log.info("rendered %s: %d videos in %.1f s (%s)", rel_root, len(plan), timing["total"],
             {k: round(v, 1) for k, v in timing.items()})  # fmt: skip
    return 0
