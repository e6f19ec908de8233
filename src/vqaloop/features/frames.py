"""Encoder ``frames``: the sampled frames themselves, for base models that are VLMs (``visualquality_r1``).

Each sampled frame is resized to ``size`` x ``size`` RGB (option ``size``, default 224 = 8 x 28, a whole number
of Qwen2.5-VL's 28-pixel merged patches; PIL bicubic, ``vqaloop.vlm.frames.resize_frames``) and flattened to one
row of size * size * 3 values, the uint8 pixel values stored exactly as float32 (0 .. 255): the VLM base model
turns the rows back into the uint8 frames it hands its processor (``VisualQualityR1.videos``). A features file
of N videos and F frames holds N * F * size^2 * 3 floats (224: 0.6 MB a frame).
"""

from __future__ import annotations

import numpy as np

from vqaloop.errors import UserError
from vqaloop.features.registry import Encoder, check_frames, register_encoder


@register_encoder("frames")
class Frames(Encoder):
    needs_pairs = False

    SIZE = 224

    def __init__(self, *, size: int = SIZE, batch: int = 64, device: str = "cpu"):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UserError(f"encoder frames: size must be an integer >= 1, got {size!r}")
        self.size = size
        self.dim = size * size * 3

    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        from vqaloop.vlm.frames import resize_frames

        check_frames(frames)
        resized = resize_frames(frames, self.size)
        return resized.reshape(len(resized), -1).astype(np.float32)


def rows_to_frames(rows, size: int | None = None) -> np.ndarray:
    """(..., D) rows of this encoder back to uint8 (..., size, size, 3) frames (size from D when not given)."""
    rows = np.asarray(rows)
    d = rows.shape[-1]
    side = size if size is not None else int(round((d / 3) ** 0.5))
    if side * side * 3 != d:
        raise UserError(f"frames features: row length {d} is not size*size*3 (size {side}); not a frames file?")
    values = np.clip(np.rint(rows), 0, 255).astype(np.uint8)
    return values.reshape(*rows.shape[:-1], side, side, 3)
