"""The content catalogue: every distinct content item the corpus can be built from.

One row per content item (a distinct visual content, the unit that splits never share):
- ``animation`` / ``natural_video``: one shot or segment of a source video. Big Buck Bunny is cut at scene
  changes (ffmpeg's scene score); other videos are cut into segments ``segment_stride_s`` apart.
- ``photo``: a still photograph animated with a seeded pan/zoom path (large photos give two regions).
- ``render``: an ffmpeg lavfi source with fixed parameters (synthetic screen/game-like content).

The catalogue is deterministic for a given inventory, clip length and seed. Its ``path`` column is the
inventory's (relative to the download cache, ``--cache``) or, for renders, the lavfi source expression.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.readers import parse_json_argument, read_csv
from vqaloop.io.video import ffmpeg_exe, probe

log = logging.getLogger(__name__)

CATALOGUE_COLUMNS = ["content_id", "category", "source_id", "origin", "path", "start", "params", "license"]

# Synthetic screen/game-like content: lavfi source expressions (size and rate are appended at render time).
RENDERS: dict[str, str] = {
    **{
        f"mandelbrot{i}": f"mandelbrot=start_x={x}:start_y={y}:start_scale={s}:end_scale={e}:end_pts=30:maxiter=1024"
        for i, (x, y, s, e) in enumerate(
            [
                (-0.743643887, 0.131825904, 0.02, 0.002),
                (-0.7453, 0.1127, 0.01, 0.0005),
                (-1.25066, 0.02012, 0.05, 0.002),
                (-0.16, 1.0405, 0.04, 0.004),
                (0.2549870375144766, -0.0005679790528465, 0.01, 0.0004),
                (-1.7497, 0.0, 0.02, 0.0008),
                (-0.1011, 0.9563, 0.05, 0.003),
                (0.3245046418497685, 0.04855101129280834, 0.02, 0.001),
            ]
        )
    },
    **{
        f"life{i}": f"life=ratio={r}:seed={seed}:mold={m}:life_color={c}:mold_color={mc}:death_color=#101010"
        for i, (r, seed, m, c, mc) in enumerate(
            [
                (0.10, 1, 10, "#00ff66", "#ff3300"),
                (0.20, 2, 0, "#ffffff", "#000000"),
                (0.30, 3, 25, "#33aaff", "#ffcc00"),
                (0.15, 4, 5, "#ff66cc", "#003399"),
                (0.25, 5, 40, "#ffee00", "#660000"),
                (0.35, 6, 15, "#aaffaa", "#3333ff"),
            ]
        )
    },
    **{f"cellauto_r{r}": f"cellauto=rule={r}:random_fill_ratio=0.5:seed={r}:scroll=1" for r in (18, 30, 45, 60, 73, 90, 110, 150)},  # noqa: E501
    **{
        f"gradients{i}": f"gradients=type={t}:seed={seed}:speed={sp}:nb_colors={n}"
        for i, (t, seed, sp, n) in enumerate(
            [
                ("linear", 11, 0.02, 2),
                ("radial", 12, 0.03, 3),
                ("circular", 13, 0.02, 4),
                ("spiral", 14, 0.04, 5),
                ("square", 15, 0.03, 6),
                ("linear", 16, 0.05, 8),
                ("spiral", 17, 0.01, 7),
                ("radial", 18, 0.06, 4),
            ]
        )
    },
    **{
        f"zoneplate{i}": f"zoneplate=k0={k0}:kx2={kx}:ky2={ky}:kt={kt}:kxt={kxt}"
        for i, (k0, kx, ky, kt, kxt) in enumerate(
            [(0, 20, 20, 30, 0), (60, 40, 10, 10, 5), (0, 10, 40, 50, 0), (30, 80, 80, 20, 10)]
        )
    },
    **{f"sierpinski{i}": f"sierpinski=seed={s}:jump={j}:type={t}" for i, (s, j, t) in enumerate(
        [(1, 100, "carpet"), (2, 50, "triangle"), (3, 200, "carpet"), (4, 150, "triangle")])},
    **{
        f"perlin{i}": f"perlin=octaves={o}:persistence={p}:xscale={xs}:yscale={ys}:tscale={ts}:random_mode=seed:random_seed={seed}"
        for i, (o, p, xs, ys, ts, seed) in enumerate(
            [(1, 1, 1, 1, 1, 21), (3, 0.6, 2, 2, 2, 22), (5, 0.5, 4, 2, 1, 23), (2, 0.8, 1, 3, 3, 24),
             (4, 0.4, 3, 3, 0.5, 25), (6, 0.7, 6, 6, 2, 26)]
        )
    },
    "testsrc2": "testsrc2",
    "yuvtestsrc": "yuvtestsrc",
    "colorspectrum": "colorspectrum=type=all",
    "smptehdbars": "smptehdbars",
}  # fmt: skip


def extra_renders(count: int) -> dict[str, str]:
    """``count`` further lavfi renders with parameters and seeds none of RENDERS uses (category ``extra_render``).

    They feed W2S-VQA's unlabelled pool only: a separate category, so the base allocation never changes. The
    parameters cycle through five generators (life, cellauto, gradients, perlin, sierpinski) with new seeds.
    """
    rules = (22, 26, 54, 57, 62, 94, 105, 122, 126, 129, 135, 137, 146, 154, 161, 182, 190, 193, 195, 225)
    gradient_types = ("linear", "radial", "circular", "spiral", "square")
    out = {}
    for i in range(count):
        k, seed = i // 5, 1000 + i
        kind = ("life", "cellauto", "gradients", "perlin", "sierpinski")[i % 5]
        if kind == "life":
            expr = (f"life=ratio={0.08 + 0.03 * (k % 9):.2f}:seed={seed}:mold={5 * (k % 7)}:"
                    f"life_color=#{(37 * seed) % 0xFFFFFF:06x}:mold_color=#{(91 * seed) % 0xFFFFFF:06x}:death_color=#101010")  # fmt: skip
        elif kind == "cellauto":
            expr = f"cellauto=rule={rules[k % len(rules)]}:random_fill_ratio={0.3 + 0.05 * (k % 7):.2f}:seed={seed}:scroll=1"
        elif kind == "gradients":
            expr = f"gradients=type={gradient_types[k % 5]}:seed={seed}:speed={0.01 + 0.01 * (k % 6):.2f}:nb_colors={2 + k % 7}"
        elif kind == "perlin":
            expr = (f"perlin=octaves={1 + k % 6}:persistence={0.4 + 0.1 * (k % 5):.1f}:xscale={1 + k % 5}:"
                    f"yscale={1 + (k + 2) % 5}:tscale={0.5 + 0.5 * (k % 4):.1f}:random_mode=seed:random_seed={seed}")  # fmt: skip
        else:
            expr = f"sierpinski=seed={seed}:jump={50 + 25 * (k % 7)}:type={('carpet', 'triangle')[k % 2]}"
        out[f"x{i:03d}_{kind}"] = expr
    return out


# Photographs at least this large on both sides give two non-overlapping regions (two content items).
TWO_REGION_MIN_SIDE = 1000


def detect_shots(path: str, threshold: float, min_len: float, clip_seconds: float, exclude_after: float) -> list:
    """Shot boundaries of a video from ffmpeg's scene-change score; shots at least ``min_len`` long.

    Returns (start, end) pairs in seconds. Credits after ``exclude_after`` seconds are dropped.
    """
    info = probe(path)
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", path, "-an",
        "-vf", f"scale=128:72,select='gt(scene,{threshold})',showinfo", "-f", "null", "-",
    ]  # fmt: skip
    err = subprocess.run(cmd, capture_output=True, text=True, check=False).stderr
    cuts = [float(t) for t in re.findall(r"pts_time:([\d.]+)", err)]
    bounds = [0.0, *cuts, info["duration"] or (cuts[-1] if cuts else 0.0)]
    shots = []
    for start, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end > exclude_after:
            end = exclude_after
        if end - start >= max(min_len, clip_seconds + 0.5):
            shots.append((round(start, 3), round(end, 3)))
    return shots


def video_items(row: pd.Series, clip_seconds: float, cfg: dict) -> list[dict]:
    """Content items cut from one source video (shots for Big Buck Bunny, strided segments otherwise)."""
    items = []
    if row.source_id == "moviepy_bbb":
        shots = detect_shots(
            row.path, cfg["scene_threshold"], cfg["min_shot_s"], clip_seconds, cfg["bbb_exclude_after_s"]
        )
        for i, (start, end) in enumerate(shots):
            mid = (start + end) / 2
            items.append({"content_id": f"bbb_shot{i:03d}", "start": round(mid - clip_seconds / 2, 3)})
    else:
        duration = probe(row.path)["duration"] or clip_seconds
        starts = np.arange(0.25, max(duration - clip_seconds, 0.25) + 1e-9, cfg["segment_stride_s"])
        for i, start in enumerate(starts[: cfg["max_segments_per_video"]]):
            items.append({"content_id": f"{row.source_id}_seg{i:02d}", "start": round(float(start), 3)})
    return [{**it, "params": "{}"} for it in items]


def photo_size(path: str) -> tuple[int, int]:
    """(width, height) of a photograph; an unreadable image file is one UserError naming it."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
        raise UserError(f"{path}: not a readable image ({type(err).__name__})") from None


def photo_items(row: pd.Series, rng: np.random.Generator) -> list[dict]:
    """One or two content items per photograph, each with a seeded pan/zoom path inside its region."""
    w, h = photo_size(row.path)
    regions = [(0.0, 0.0, 1.0, 1.0)]
    if min(w, h) >= TWO_REGION_MIN_SIDE:
        regions = [(0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)]
    items = []
    for k, region in enumerate(regions):
        zoom = rng.uniform(0.55, 0.95, size=2)  # fraction of the largest 16:9 window inside the region
        centre = rng.uniform(0.3, 0.7, size=(2, 2))  # start/end centre, relative to the region
        params = {
            "region": [round(v, 4) for v in region],
            "zoom": [round(float(z), 4) for z in zoom],
            "centre": [[round(float(c), 4) for c in pt] for pt in centre],
        }
        suffix = f"_r{k}" if len(regions) > 1 else ""
        items.append({"content_id": f"{row.source_id}{suffix}", "start": 0.0, "params": json.dumps(params)})
    return items


def source_path(cache: str | Path, path: str) -> str:
    """The file of an inventory / catalogue ``path`` (relative to the cache; an absolute path stays as it is)."""
    return str(Path(cache) / path)


def build_catalogue(
    inventory: pd.DataFrame, clip_seconds: float, cfg: dict, seed: int, cache: str | Path = "."
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _, src in inventory.sort_values("source_id").iterrows():
        local = src.copy()
        local["path"] = source_path(cache, src.path)  # read the file; the catalogue keeps the relative path
        if src.category in ("photo", "extra_photo"):
            items = photo_items(local, rng)
        else:
            items = video_items(local, clip_seconds, cfg)
        for it in items:
            rows.append({**it, "category": src.category, "source_id": src.source_id, "origin": src.origin,
                         "path": src.path, "license": src.license})  # fmt: skip
    if cfg.get("renders", True):
        for name, expr in RENDERS.items():
            rows.append({"content_id": f"render_{name}", "category": "render", "source_id": "lavfi",
                         "origin": "ffmpeg lavfi", "path": expr, "start": 0.0, "params": "{}",
                         "license": "synthetic (generated)"})  # fmt: skip
    for name, expr in extra_renders(int(cfg.get("extra_renders", 0))).items():
        rows.append({"content_id": f"render_{name}", "category": "extra_render", "source_id": "lavfi",
                     "origin": "ffmpeg lavfi", "path": expr, "start": 0.0, "params": "{}",
                     "license": "synthetic (generated)"})  # fmt: skip
    cat = pd.DataFrame(rows, columns=CATALOGUE_COLUMNS)
    if cat.content_id.duplicated().any():
        raise UserError(f"duplicate content ids in catalogue: {cat.content_id[cat.content_id.duplicated()].tolist()}")
    return cat


def add_arguments(parser):
    from vqaloop.cli_checks import float_in, json_object, output_file, seed

    parser.add_argument("--inventory", required=True, type=Path)
    parser.add_argument("--cache", default=".", type=Path, help="download cache the inventory paths are relative to")
    parser.add_argument("--clip-seconds", required=True, type=float_in(0.0, 30.0, lo_open=True),
                        help="seconds per clip, in (0, 30] (config corpus.clip.seconds)")  # fmt: skip
    parser.add_argument("--params", required=True, type=json_object,
                        help="JSON: catalogue settings (config corpus.catalogue)")  # fmt: skip
    parser.add_argument("--seed", required=True, type=seed)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    from vqaloop.corpus.sources import INVENTORY_COLUMNS

    inventory = read_csv(args.inventory, "a content inventory (vqaloop sources)", INVENTORY_COLUMNS)
    cat = build_catalogue(inventory, args.clip_seconds, parse_json_argument(args.params, "--params"), args.seed,
                          args.cache)  # fmt: skip
    write_csv_atomic(cat, args.out)
    log.info("catalogue: %s", cat.category.value_counts().to_dict())
    return 0
