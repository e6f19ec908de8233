"""Pristine clips at the corpus working format: every content item rendered to (T, H, W, 3) uint8 RGB."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vqaloop.errors import UserError
from vqaloop.io.video import decode_ffmpeg


@dataclass(frozen=True)
class ClipFormat:
    """The working format of every clip in the corpus (config ``corpus.clip``)."""

    width: int
    height: int
    fps: float
    seconds: float

    @property
    def n_frames(self) -> int:
        return int(round(self.fps * self.seconds))


def fit_length(frames: np.ndarray, n: int, what: str) -> np.ndarray:
    """Exactly n frames: truncate, or repeat the last frame when a source ends a few frames early."""
    if len(frames) == 0:
        raise UserError(f"{what}: zero frames decoded")
    if len(frames) < n // 2:
        raise UserError(f"{what}: only {len(frames)} frames decoded, {n} needed")
    if len(frames) < n:
        frames = np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), axis=0)])
    return frames[:n]


def crop_to_aspect_filter(width: int, height: int) -> str:
    """ffmpeg crop filter keeping the centre at the working aspect ratio."""
    return f"crop='min(iw,ih*{width}/{height})':'min(ih,iw*{height}/{width})'"


def render_video_segment(path: str, start: float, fmt: ClipFormat) -> np.ndarray:
    frames = decode_ffmpeg(
        path,
        width=fmt.width,
        height=fmt.height,
        fps=fmt.fps,
        start=start,
        duration=fmt.seconds + 0.5,
        filters=crop_to_aspect_filter(fmt.width, fmt.height),
    )
    return fit_length(frames, fmt.n_frames, f"{path} at {start:.2f}s")


GRADIENT_COLOURS = 8  # ffmpeg's gradients source has colour options c0 ... c7


def deterministic_lavfi(expr: str) -> str:
    """``expr`` with explicit values for the lavfi options whose default is random *whatever the seed*.

    ffmpeg's ``gradients`` source draws its colours c0 ... c7 (default "random") from the operating system's
    entropy on every run; its ``seed`` sets only the gradient line. A gradients expression without colours
    gets c0 ... c7 drawn from a seed derived from the expression itself, so the same expression renders the
    same frames on every run and machine. Other sources (mandelbrot, life, cellauto, perlin with
    random_mode=seed, sierpinski, zoneplate, test patterns) are deterministic given their options.
    """
    name, _, options = expr.partition("=")
    if name != "gradients" or re.search(r"(^|:)c[0-7]=", options):
        return expr
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(expr.encode()).digest()[:8], "little"))
    colours = rng.integers(0, 256, size=(GRADIENT_COLOURS, 3))
    extra = ":".join(f"c{i}=0x{r:02x}{g:02x}{b:02x}ff" for i, (r, g, b) in enumerate(colours))
    return f"{expr}:{extra}" if options else f"{name}={extra}"


def render_lavfi(expr: str, fmt: ClipFormat) -> np.ndarray:
    expr = deterministic_lavfi(expr)
    sep = ":" if "=" in expr else "="
    source = f"{expr}{sep}size={fmt.width}x{fmt.height}:rate={fmt.fps}"
    frames = decode_ffmpeg(source, width=fmt.width, height=fmt.height, input_args=["-f", "lavfi"], duration=fmt.seconds)
    return fit_length(frames, fmt.n_frames, f"lavfi {expr}")


def render_photo_motion(path: str, params: dict, fmt: ClipFormat) -> np.ndarray:
    """Pan/zoom over a still: a 16:9 window moving linearly between two centres while zooming.

    ``params``: region (x0, y0, x1, y1) as fractions of the photo, zoom (start, end) as fractions of the
    largest window that fits the region, centre (start, end) as fractions of the region.
    """
    try:
        with Image.open(path) as img:
            photo = img.convert("RGB")
    except (OSError, ValueError) as err:  # PIL's UnidentifiedImageError is an OSError
        raise UserError(f"{path}: not a readable image ({type(err).__name__})") from None
    w, h = photo.size
    rx0, ry0, rx1, ry1 = params["region"]
    rx0, rx1, ry0, ry1 = rx0 * w, rx1 * w, ry0 * h, ry1 * h
    rw, rh = rx1 - rx0, ry1 - ry0
    aspect = fmt.width / fmt.height
    max_w = min(rw, rh * aspect)
    frames = np.empty((fmt.n_frames, fmt.height, fmt.width, 3), dtype=np.uint8)
    for t in range(fmt.n_frames):
        a = t / max(fmt.n_frames - 1, 1)
        zoom = (1 - a) * params["zoom"][0] + a * params["zoom"][1]
        cx_rel = (1 - a) * params["centre"][0][0] + a * params["centre"][1][0]
        cy_rel = (1 - a) * params["centre"][0][1] + a * params["centre"][1][1]
        win_w = max_w * zoom
        win_h = win_w / aspect
        cx = np.clip(rx0 + cx_rel * rw, rx0 + win_w / 2, rx1 - win_w / 2)
        cy = np.clip(ry0 + cy_rel * rh, ry0 + win_h / 2, ry1 - win_h / 2)
        box = (cx - win_w / 2, cy - win_h / 2, cx + win_w / 2, cy + win_h / 2)
        frame = photo.resize((fmt.width, fmt.height), Image.Resampling.LANCZOS, box=box)
        frames[t] = np.asarray(frame)
    return frames


def render_content(row, fmt: ClipFormat) -> np.ndarray:
    """The pristine clip of one catalogue row (see ``vqaloop.corpus.catalogue``)."""
    if row.category in ("render", "extra_render"):
        return render_lavfi(row.path, fmt)
    if row.category in ("photo", "extra_photo"):
        return render_photo_motion(row.path, json.loads(row.params), fmt)
    return render_video_segment(row.path, float(row.start), fmt)
