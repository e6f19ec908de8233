"""Frames a VLM sees: sampled from a video file (decord, through ``vqaloop.io.video``) and resized.

Two samplings:

- ``frames=F``: F frames spread evenly over the clip (centres of F equal segments, ``io.video.uniform_indices``,
  as every features file samples them; a clip shorter than F frames repeats frames);
- ``fps=R``: one frame every 1/R seconds (R = 1: W2S-VQA's key frames at 1 fps; qwen-vl-utils samples Qwen2.5-VL
  videos at 2 fps), at the centre of each 1/R-second segment, with at least ``min_frames`` frames.

Qwen2.5-VL groups frames in temporal pairs (``temporal_patch_size`` 2): an odd count is padded by the processor
(last frame repeated). ``sample_video`` returns the rate the frames stand for (frames per second of clip), which
``vqaloop.vlm.scoring`` passes on as the video's sampling rate (the temporal step of the model's 3-D RoPE).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from vqaloop.errors import UserError
from vqaloop.io.video import count_frames, probe, read_frames, uniform_indices


@dataclass
class SampledVideo:
    frames: np.ndarray  # (F, H, W, 3) uint8 RGB
    indices: list[int]  # frame numbers in the clip
    rate: float  # frames per second of clip they stand for (F / duration)


def even_indices(n_frames: int, count: int) -> list[int]:
    """``count`` indices spread evenly over ``n_frames`` (segment centres; repeats when the clip is shorter)."""
    if count < 1:
        raise UserError(f"frames: must be >= 1, got {count}")
    if n_frames >= count:
        return uniform_indices(n_frames, count)
    return [int((i + 0.5) * n_frames / count) for i in range(count)]


def rate_indices(n_frames: int, video_fps: float, fps: float, min_frames: int = 2) -> list[int]:
    """One index per 1/fps seconds (segment centres), at least ``min_frames`` of them."""
    if fps <= 0:
        raise UserError(f"fps: must be > 0, got {fps}")
    duration = n_frames / video_fps
    count = max(min_frames, int(round(duration * fps)))
    return even_indices(n_frames, count)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Each frame resized to ``size`` x ``size`` RGB (PIL bicubic; deterministic), uint8 (F, size, size, 3)."""
    from PIL import Image

    if size < 1:
        raise UserError(f"size: must be >= 1, got {size}")
    if frames.shape[1:3] == (size, size):
        return np.ascontiguousarray(frames)
    out = [np.asarray(Image.fromarray(f).resize((size, size), Image.Resampling.BICUBIC)) for f in frames]
    return np.stack(out).astype(np.uint8, copy=False)


def sample_video(
    path: str | os.PathLike,
    *,
    frames: int | None = 8,
    fps: float | None = None,
    size: int | None = None,
    min_frames: int = 2,
) -> SampledVideo:
    """Frames of one video file: ``frames`` evenly, or at ``fps`` when given; resized to ``size`` if given."""
    n = count_frames(path)  # UserError for a missing or unreadable file
    video_fps = probe(path)["fps"] or 0.0
    if fps is not None:
        if video_fps <= 0:
            raise UserError(f"{path}: frame rate unknown, cannot sample at {fps} fps (use a frame count)")
        indices = rate_indices(n, video_fps, fps, min_frames)
    elif frames is not None:
        indices = even_indices(n, frames)
    else:
        raise UserError("sample_video: give frames or fps")
    array = read_frames(path, sorted(set(indices)))
    where = {index: pos for pos, index in enumerate(sorted(set(indices)))}
    array = array[[where[i] for i in indices]]
    if size is not None:
        array = resize_frames(array, size)
    rate = len(indices) * video_fps / n if video_fps > 0 else float(len(indices))
    return SampledVideo(frames=array, indices=indices, rate=rate)
