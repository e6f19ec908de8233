"""``vqaloop metrics``: the nine low-level metrics of W2S-VQA Appendix A.2, per video at one frame per second.

Metrics, in the paper's order (``METRIC_NAMES``): blockiness, blur (CPBD), contrast, noise, flicker,
colourfulness, luminance, SI, TI. Frames are decoded RGB (``vqaloop.io.video.read_frames``); "luminance" for
the grey-level metrics is BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B on 0..255 (float32), computed from the
decoded RGB.

Decisions where the paper and SPEC are silent:

- **Sampling.** Frame indices round(k * fps) (halves round up), k = 0, 1, ... while below the clip's frame
  count; fps is the stream's average frame rate as decord reads it. Every clip has at least frame 0.
- **Temporal pair.** Flicker and TI compare each sampled frame t with its immediate successor t + 1 (P.910's
  consecutive-frame difference, at the 1 fps sampling); at the clip's last frame the pair is (t - 1, t). A
  one-frame clip has flicker = TI = 0 (nothing moves).
- **Blockiness (Romaniak et al. 2012; W2S Eq. 3).** Absolute luma differences of adjacent pixel pairs, both
  horizontal (x, x+1) and vertical (y, y+1) pairs (Eq. 3 writes only the horizontal ones; blocks have borders in
  both directions), on the 8 x 8 grid anchored at the top-left pixel: a pair is *external* when it straddles a
  block border (its second pixel's coordinate is a multiple of 8), otherwise *internal*. Both sums are divided
  by their pair counts (SPEC). Eq. 3 is internal / external, but the paper's sentence says "higher = stronger
  blocking": real blocking flattens block interiors and raises the steps at borders, which makes
  internal / external *fall*. We report the reciprocal, **external / internal**, so that higher = stronger
  blocking as the paper says (about 1 on clean content): B = (mean_ext + c) / (mean_int + c), with an offset
  c = 1 grey level (``BLOCKINESS_OFFSET``) that keeps flat frames (0 / 0) at 1 and perfectly flat blocks finite.
- **Blur = CPBD (Narvekar & Karam 2011).** Edge pixels = ``skimage.feature.canny`` of Y / 255 with sigma 1 and
  skimage's default hysteresis thresholds (0.1 / 0.2), used both to classify the 64 x 64 blocks (edge block:
  more than 0.2% edge pixels; partial blocks at the right/bottom are ignored, as in the reference code) and as
  the pixels whose width is measured (the reference MATLAB code measures widths at Sobel edges; one detector
  keeps it simple, and Canny's thinned maxima are what the Marziliano width needs). Gradient direction from
  ``np.gradient`` of Y, quantised to multiples of 45 degrees; widths are measured along the row for 0/180
  degrees and along the column for +-90 degrees (the reference code measures horizontal ones only; diagonal
  directions are skipped, as all non-horizontal ones are there). Width = Marziliano's: from the edge pixel walk
  outwards on both sides while Y keeps rising/falling, one side counting from the first neighbour as in the
  reference code (each side at least 1, at most 101 pixels). w_JNB = 5 if the block contrast (max - min of Y
  in the block) <= 50, else 3; P_blur = 1 - exp(-(w / w_JNB)^3.6). P_JNB = 63% is the probability at
  w = w_JNB (1 - 1/e = 63.2%); the reference code bins P_blur to whole percents and sums bins 0..63, so an edge
  exactly at the JNB width counts as sharp: we do the same (round(100 P_blur) <= 63). A frame with no edge
  block scores 0 (the reference code's value: nothing sharp was found). Higher = sharper.
- **Contrast (Eqs. 5-6).** Population standard deviation of Y.
- **Noise.** Not defined in the paper: Immerkaer's (1996) fast noise estimate, sigma = sqrt(pi/2) /
  (6 (W-2)(H-2)) * sum |Y * N| over the interior, N = [[1,-2,1],[-2,4,-2],[1,-2,1]] (the difference of two
  Laplacians, blind to linear ramps), in grey levels 0..255. It reads texture as noise too (as every
  single-frame estimator does); on smooth content it recovers an added Gaussian sigma.
- **Flicker (Pandel 2008; Eq. 7).** Fraction of pixels with |Y_t+1 - Y_t| > T_f, T_f = 10 grey levels
  (``FLICKER_THRESHOLD``, CLI ``--flicker-threshold``): well above sensor noise and the rounding of the
  yuv420p <-> RGB conversion, so that only visible changes count.
- **Colourfulness (Hasler & Suesstrunk 2003; Eqs. 8-9)** on RGB 0..255, population statistics.
- **Luminance (Eq. 10).** Mean over pixels of R + G + B (0..765).
- **SI / TI (ITU-T P.910; Eqs. 11-13).** SI: std over the interior pixels ((H-2) x (W-2), where the 3 x 3
  Sobel is defined without padding) of the Sobel magnitude of Y. TI: std over pixels of Y_t+1 - Y_t.
- **Per-video value.** Mean over sampled frames for metrics 1-7; the maximum over sampled frames for SI and
  TI (P.910's max over time, taken over the 1 fps samples).

Output: a CSV with the id column (``video_id`` for ``--manifest``, ``path`` for bare VIDEO files) and the nine
metrics; ``--per-frame`` writes one row per sampled frame instead (a ``frame`` index column after the id; SI/TI
are then the per-frame values before the max). Clip info (frame count, rate) comes from one decord open
(``io.video.clip_info``, where every clip is opened).

Frames are processed in chunks of ``CHUNK`` sampled frames (bounded memory on long clips); every metric is
vectorised over the frames of a chunk except Canny, which skimage runs one 2-D frame at a time.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import manifest_of_args
from vqaloop.io.video import clip_info, read_frames

log = logging.getLogger(__name__)

METRIC_NAMES = ("blockiness", "blur_cpbd", "contrast", "noise", "flicker", "colourfulness", "luminance", "si", "ti")
MAX_OVER_TIME = ("si", "ti")  # P.910: max over time; the other seven are averaged over the sampled frames
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # BT.601

BLOCK = 8  # codec block size for blockiness
BLOCKINESS_OFFSET = 1.0  # grey levels added to both mean differences
FLICKER_THRESHOLD = 10.0  # T_f of Eq. 7, grey levels

CPBD_BLOCK = 64
CPBD_EDGE_FRACTION = 0.002  # a block is an edge block with more than 0.2% edge pixels
CPBD_BETA = 3.6
CPBD_CONTRAST_SPLIT = 50.0  # w_JNB = 5 at block contrast <= 50, else 3
CPBD_P_JNB_PERCENT = 63
CPBD_MAX_MARGIN = 100  # the reference code walks at most 101 pixels per side

CHUNK = 32  # sampled frames decoded and processed together


# ---------------------------------------------------------------- sampling


def sample_indices(n_frames: int, fps: float) -> list[int]:
    """Frame indices at one frame per second: round(k * fps), k = 0, 1, ..., below n_frames."""
    if n_frames < 1:
        raise ValueError("a clip has at least one frame")
    step = max(float(fps), 1e-9)
    indices = []
    k = 0
    while (index := int(math.floor(k * step + 0.5))) < n_frames:
        if not indices or index != indices[-1]:
            indices.append(index)
        k += 1
    return indices


def partner_indices(indices: list[int], n_frames: int) -> list[int]:
    """The frame each sampled frame is compared with: its successor, or its predecessor at the last frame."""
    if n_frames == 1:
        return list(indices)  # a still: the frame is its own partner, flicker = TI = 0
    return [i + 1 if i + 1 < n_frames else i - 1 for i in indices]


# ---------------------------------------------------------------- per-frame metrics on (T, H, W) stacks


def luma(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB -> (..., H, W) float32 BT.601 luma on 0..255."""
    return frames.astype(np.float32) @ LUMA_WEIGHTS


def blockiness(y: np.ndarray, block: int = BLOCK, offset: float = BLOCKINESS_OFFSET) -> np.ndarray:
    """External / internal mean absolute luma difference of adjacent pairs, per frame of (T, H, W); W2S Eq. 3
    (reciprocal, both directions, count-normalised: see the module docstring)."""
    y = np.asarray(y, dtype=np.float32)
    t, h, w = y.shape
    col_sums = np.abs(np.diff(y, axis=2)).sum(axis=1, dtype=np.float64)  # (T, W-1): pair (x, x+1) summed over rows
    row_sums = np.abs(np.diff(y, axis=1)).sum(axis=2, dtype=np.float64)  # (T, H-1): pair (y, y+1) over columns
    col_ext = (np.arange(1, w) % block) == 0
    row_ext = (np.arange(1, h) % block) == 0
    ext_sum = col_sums[:, col_ext].sum(axis=1) + row_sums[:, row_ext].sum(axis=1)
    int_sum = col_sums[:, ~col_ext].sum(axis=1) + row_sums[:, ~row_ext].sum(axis=1)
    n_ext = h * col_ext.sum() + w * row_ext.sum()
    n_int = h * (~col_ext).sum() + w * (~row_ext).sum()
    if n_ext == 0 or n_int == 0:  # smaller than two blocks both ways: no border to look at
        return np.ones(t)
    return (ext_sum / n_ext + offset) / (int_sum / n_int + offset)


def contrast(y: np.ndarray) -> np.ndarray:
    """Standard deviation of the grey levels per frame (W2S Eqs. 5-6)."""
    return np.asarray(y).std(axis=(1, 2), dtype=np.float64)


def noise_sigma(y: np.ndarray) -> np.ndarray:
    """Immerkaer (1996) noise standard deviation per frame, in grey levels."""
    y = np.asarray(y, dtype=np.float32)
    _, h, w = y.shape
    if h < 3 or w < 3:
        return np.zeros(len(y))
    # The mask [[1,-2,1],[-2,4,-2],[1,-2,1]] is the outer product of [1,-2,1] with itself: apply it separably.
    rows = y[:, :, :-2] - 2 * y[:, :, 1:-1] + y[:, :, 2:]
    both = rows[:, :-2] - 2 * rows[:, 1:-1] + rows[:, 2:]
    total = np.abs(both).sum(axis=(1, 2), dtype=np.float64)
    return math.sqrt(math.pi / 2) * total / (6.0 * (w - 2) * (h - 2))


def flicker(y: np.ndarray, y_next: np.ndarray, threshold: float = FLICKER_THRESHOLD) -> np.ndarray:
    """Fraction of pixels whose luma changes by more than ``threshold`` to the partner frame (W2S Eq. 7)."""
    changed = np.abs(np.asarray(y_next, dtype=np.float32) - np.asarray(y, dtype=np.float32)) > threshold
    return changed.mean(axis=(1, 2), dtype=np.float64)


def colourfulness(frames: np.ndarray) -> np.ndarray:
    """Hasler-Suesstrunk colourfulness per (T, H, W, 3) RGB frame (W2S Eqs. 8-9)."""
    rgb = np.asarray(frames)
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    rg = r - g  # Eq. 8
    yb = 0.5 * (r + g) - b
    spread = np.sqrt(_variance(rg) + _variance(yb))
    centre = np.sqrt(rg.mean(axis=(1, 2), dtype=np.float64) ** 2 + yb.mean(axis=(1, 2), dtype=np.float64) ** 2)
    return spread + 0.3 * centre  # Eq. 9


def _variance(x: np.ndarray) -> np.ndarray:
    """Population variance per frame of (T, H, W), accumulated in float64 (E[x^2] - E[x]^2)."""
    mean = x.mean(axis=(1, 2), dtype=np.float64)
    return np.maximum(np.square(x).mean(axis=(1, 2), dtype=np.float64) - mean**2, 0.0)


def luminance(frames: np.ndarray) -> np.ndarray:
    """Mean over pixels of R + G + B per frame (W2S Eq. 10), 0..765."""
    return np.asarray(frames).sum(axis=(1, 2, 3), dtype=np.float64) / (frames.shape[1] * frames.shape[2])


def sobel_magnitude(y: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of (..., H, W) luma on the interior (..., H-2, W-2).

    Separable: the [1, 2, 1] smoothing across the derivative's direction, then the central difference.
    """
    across_rows = y[..., :-2, :] + 2 * y[..., 1:-1, :] + y[..., 2:, :]  # (..., H-2, W)
    gx = across_rows[..., :, 2:] - across_rows[..., :, :-2]
    across_cols = y[..., :, :-2] + 2 * y[..., :, 1:-1] + y[..., :, 2:]  # (..., H, W-2)
    gy = across_cols[..., 2:, :] - across_cols[..., :-2, :]
    return np.hypot(gx, gy)


def spatial_information(y: np.ndarray) -> np.ndarray:
    """P.910 SI of each frame: spatial std of the Sobel magnitude (W2S Eq. 11 before the max over time)."""
    y = np.asarray(y, dtype=np.float32)
    if y.shape[1] < 3 or y.shape[2] < 3:
        return np.zeros(len(y))
    return np.sqrt(_variance(sobel_magnitude(y)))


def temporal_information(y: np.ndarray, y_next: np.ndarray) -> np.ndarray:
    """P.910 TI of each frame pair: spatial std of the frame difference (W2S Eqs. 12-13 before the max)."""
    diff = np.asarray(y_next, dtype=np.float32) - np.asarray(y, dtype=np.float32)
    return diff.std(axis=(1, 2), dtype=np.float64)


# ---------------------------------------------------------------- CPBD


def _monotone_runs(
    flat: np.ndarray, start: np.ndarray, pos: np.ndarray, length: np.ndarray, step: np.ndarray, want: np.ndarray
) -> np.ndarray:
    """Per walk: for how many margins m = 0..100 the luma keeps rising (``want`` +1) or falling (-1) outwards.

    Walk k starts at flat pixel ``start[k]`` and moves by ``step[k]`` (+-1 along a row, +-W along a column);
    ``pos``/``length`` are its coordinate along that axis and the axis length. As in the reference code, margin m
    compares the pixels 1 + m (inner) and 2 + m (outer) steps out, and the walk stops at the image border or
    where the run ends. The loop is over margins, vectorised over the walks still going.
    """
    side = np.sign(step)
    runs = np.zeros(len(start), dtype=np.int64)
    active = np.arange(len(start))
    for margin in range(CPBD_MAX_MARGIN + 1):
        outer_pos = pos[active] + side[active] * (2 + margin)
        active = active[(outer_pos >= 0) & (outer_pos < length[active])]
        inner = flat[start[active] + step[active] * (1 + margin)]
        outer = flat[start[active] + step[active] * (2 + margin)]
        active = active[want[active] * (outer - inner) > 0]
        if active.size == 0:
            break
        runs[active] += 1
    return runs


def edge_widths(y: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Marziliano edge width at each interior edge pixel of (H, W) luma, as an (H, W) map (0: none measured)."""
    r, c, width = measured_edge_widths(y, edges)
    widths = np.zeros(np.shape(y), dtype=np.int64)
    widths[r, c] = width
    return widths


def measured_edge_widths(y: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, widths) of the interior edge pixels of (H, W) luma whose width is measured.

    Gradient direction from central differences (``np.gradient``'s interior rule), quantised to multiples of 45
    degrees; widths along the row for 0/180 degrees, along the column for +-90 (diagonals get none). Width =
    (1 + run on one side) + (1 + run on the other), each run capped at 100 (the reference code's walk).
    """
    y = np.asarray(y, dtype=np.float32)
    h, w = y.shape
    inner_edges = np.zeros((h, w), dtype=bool)
    inner_edges[1:-1, 1:-1] = edges[1:-1, 1:-1]
    r, c = np.nonzero(inner_edges)
    y64 = y.astype(np.float64)
    gx = (y64[r, c + 1] - y64[r, c - 1]) / 2
    gy = (y64[r + 1, c] - y64[r - 1, c]) / 2
    angle = 45 * np.round(np.degrees(np.arctan2(gy, gx)) / 45)
    along_row = (angle == 0) | (np.abs(angle) == 180)
    keep = along_row | (np.abs(angle) == 90)
    r, c, angle, along_row = r[keep], c[keep], angle[keep], along_row[keep]
    rising = np.where(along_row, angle == 0, angle == 90)  # luma increases towards +x / +y
    sign = np.where(rising, 1, -1)
    start = r * w + c
    pos = np.where(along_row, c, r)
    length = np.where(along_row, w, h)
    unit = np.where(along_row, 1, w)
    flat = y.ravel()
    total = np.zeros(len(start), dtype=np.int64)
    for side in (1, -1):  # forwards (right / down) must keep the edge's trend, backwards the opposite
        runs = _monotone_runs(flat, start, pos, length, side * unit, side * sign)
        total += np.minimum(runs, CPBD_MAX_MARGIN) + 1
    return r, c, total


def cpbd(y: np.ndarray) -> float:
    """Cumulative probability of blur detection of one (H, W) luma frame (Narvekar & Karam 2011)."""
    from skimage.feature import canny

    y = np.asarray(y, dtype=np.float32)
    h, w = y.shape
    nb_r, nb_c = h // CPBD_BLOCK, w // CPBD_BLOCK
    if nb_r == 0 or nb_c == 0:
        return 0.0
    edges = canny(y / 255.0, sigma=1.0)
    r, c, width = measured_edge_widths(y, edges)
    bh, bw = nb_r * CPBD_BLOCK, nb_c * CPBD_BLOCK
    grid = y[:bh, :bw].reshape(nb_r, CPBD_BLOCK, nb_c, CPBD_BLOCK)  # a view: block (i, j) = grid[i, :, j, :]
    block_contrast = grid.max(axis=(1, 3)) - grid.min(axis=(1, 3))
    edge_count = edges[:bh, :bw].reshape(nb_r, CPBD_BLOCK, nb_c, CPBD_BLOCK).sum(axis=(1, 3))
    is_edge_block = edge_count > CPBD_EDGE_FRACTION * CPBD_BLOCK * CPBD_BLOCK
    inside = (r < bh) & (c < bw)  # partial blocks at the right / bottom are ignored
    br, bc, width = r[inside] // CPBD_BLOCK, c[inside] // CPBD_BLOCK, width[inside]
    counted = is_edge_block[br, bc]
    if not counted.any():
        return 0.0
    w_jnb = np.where(block_contrast[br, bc] <= CPBD_CONTRAST_SPLIT, 5.0, 3.0)[counted]
    p_blur = 1.0 - np.exp(-(np.abs(width[counted] / w_jnb) ** CPBD_BETA))
    sharp = np.round(p_blur * 100) <= CPBD_P_JNB_PERCENT
    return float(np.count_nonzero(sharp)) / float(len(p_blur))


# ---------------------------------------------------------------- frames -> metrics -> video


def frame_metrics(frames: np.ndarray, partners: np.ndarray, flicker_threshold: float = FLICKER_THRESHOLD) -> np.ndarray:
    """The nine metrics (columns in ``METRIC_NAMES`` order) of each sampled RGB frame and its partner frame.

    ``frames`` and ``partners`` are (T, H, W, 3) uint8; returns float64 (T, 9).
    """
    y = luma(frames)
    y_next = luma(partners)
    columns = {
        "blockiness": blockiness(y),
        "blur_cpbd": np.array([cpbd(frame) for frame in y]),
        "contrast": contrast(y),
        "noise": noise_sigma(y),
        "flicker": flicker(y, y_next, flicker_threshold),
        "colourfulness": colourfulness(frames),
        "luminance": luminance(frames),
        "si": spatial_information(y),
        "ti": temporal_information(y, y_next),
    }
    return np.stack([np.asarray(columns[name], dtype=np.float64) for name in METRIC_NAMES], axis=1)


def summarise(per_frame: np.ndarray) -> np.ndarray:
    """Per-video values from (T, 9) per-frame values: mean over time, max for SI and TI."""
    per_frame = np.asarray(per_frame, dtype=np.float64)
    out = per_frame.mean(axis=0)
    for name in MAX_OVER_TIME:
        j = METRIC_NAMES.index(name)
        out[j] = per_frame[:, j].max()
    return out


def clip_samples(path: str | Path) -> tuple[list[int], list[int]]:
    """(sampled frame indices, partner indices) of a stored clip; UserError if unreadable."""
    n, fps = clip_info(path)
    indices = sample_indices(n, fps)
    return indices, partner_indices(indices, n)


def read_pairs(path: str | Path, indices: list[int], partners: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Decode the sampled frames and their partners, each frame once: (T, H, W, 3) twice."""
    unique = sorted(set(indices) | set(partners))
    got = read_frames(path, unique)
    where = {index: pos for pos, index in enumerate(unique)}
    return got[[where[i] for i in indices]], got[[where[i] for i in partners]]


def video_metrics(path: str | Path, flicker_threshold: float = FLICKER_THRESHOLD) -> tuple[list[int], np.ndarray]:
    """(sampled frame indices, per-frame metrics (T, 9)) of one clip, decoded ``CHUNK`` samples at a time."""
    indices, partners = clip_samples(path)
    parts = []
    for start in range(0, len(indices), CHUNK):
        frames, following = read_pairs(path, indices[start : start + CHUNK], partners[start : start + CHUNK])
        parts.append(frame_metrics(frames, following, flicker_threshold))
    return indices, np.concatenate(parts)


def metrics_table(
    items: list[tuple[str, Path, str]],
    id_column: str,
    per_frame: bool = False,
    flicker_threshold: float = FLICKER_THRESHOLD,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Metrics of each (id, path, where) item; ``where`` prefixes a UserError (e.g. the manifest row)."""
    rows = []
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    for key, path, where in tqdm(items, desc="metrics", unit="video", disable=disable):
        try:
            indices, values = video_metrics(path, flicker_threshold)
        except UserError as err:
            raise UserError(f"{where}{err}") from None
        if per_frame:
            for index, row in zip(indices, values, strict=True):
                rows.append({id_column: key, "frame": index, **dict(zip(METRIC_NAMES, row, strict=True))})
        else:
            rows.append({id_column: key, **dict(zip(METRIC_NAMES, summarise(values), strict=True))})
    columns = [id_column, *(["frame"] if per_frame else []), *METRIC_NAMES]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vqaloop.cli_checks import float_in, output_file

    parser.add_argument("videos", nargs="*", type=Path, metavar="VIDEO", help="video files (id column: path)")
    parser.add_argument("--manifest", type=Path, help="every row of this manifest instead (id column: video_id)")
    parser.add_argument("--data-root", type=Path, help="folder the manifest's paths are relative to")
    parser.add_argument("--split", choices=["train", "test", "pool"], help="with --manifest: only this split's rows")
    parser.add_argument("--out", type=output_file, required=True, help="output CSV")
    parser.add_argument(
        "--per-frame", action="store_true", help="one row per sampled frame (with a frame column) instead of per video"
    )
    parser.add_argument(
        "--flicker-threshold",
        type=float_in(0.0, 255.0),
        default=FLICKER_THRESHOLD,
        help=f"T_f of Eq. 7 in grey levels (default {FLICKER_THRESHOLD:g})",
    )


def _items(args: argparse.Namespace) -> tuple[list[tuple[str, Path, str]], str]:
    manifest = manifest_of_args(args)
    if manifest is not None:
        if args.split is not None:
            manifest = manifest[manifest.split == args.split]
            if manifest.empty:
                raise UserError(f"{args.manifest}: no rows in split {args.split!r}")
        # The row number is the CSV line (header = line 1), also after --split dropped rows (read_csv's index).
        items = [
            (str(vid), args.data_root / str(rel), f"{args.manifest}: row {int(pos) + 2} (video_id {vid}): ")
            for pos, vid, rel in zip(manifest.index, manifest["video_id"], manifest["path"], strict=True)
        ]
        return items, "video_id"
    if args.data_root is not None or args.split is not None:
        raise UserError("--data-root and --split go with --manifest")
    return [(str(path), path, "") for path in args.videos], "path"


def run(args: argparse.Namespace) -> int:
    if not args.flicker_threshold >= 0:
        raise UserError(f"--flicker-threshold must be >= 0, got {args.flicker_threshold}")
    items, id_column = _items(args)
    table = metrics_table(items, id_column, args.per_frame, args.flicker_threshold)
    write_csv_atomic(table, args.out, float_format="%.8g")
    what = f"{len(table)} sampled frames of " if args.per_frame else ""
    print(f"{args.out}: nine low-level metrics of {what}{len(items)} videos")
    return 0
