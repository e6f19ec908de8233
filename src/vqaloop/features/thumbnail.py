"""Encoder ``thumbnail``: raw frames for base models that learn from pixels (the CNN analogue of UVQ).

Each sampled frame is converted to BT.601 luma and area-downscaled by ``factor`` (option ``factor``, default 2:
256x144 -> 128x72, 9,216 values a frame), flattened to one row scaled to [0, 1]. The embedded default uses
factor 4 (64x36, 2,304 values: a quarter of the CNN's work and of the stored features; config/paper_corpus.yaml keeps 2,
where blockiness, blur and noise stay more visible).
"""

from __future__ import annotations

import numpy as np

from vqaloop.errors import UserError
from vqaloop.features.registry import Encoder, register_encoder

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma_thumbnail(frames: np.ndarray, factor: int) -> np.ndarray:
    """(F, H, W, 3) uint8 -> (F, H // factor, W // factor) float32 in [0, 1] (area mean over factor x factor)."""
    f, h, w, _ = frames.shape
    h2, w2 = h // factor, w // factor
    luma = frames[:, : h2 * factor, : w2 * factor].astype(np.float32) @ LUMA / 255.0
    return luma.reshape(f, h2, factor, w2, factor).mean(axis=(2, 4))


@register_encoder("thumbnail")
class Thumbnail(Encoder):
    needs_pairs = False

    FACTOR = 2

    def __init__(self, *, factor: int = FACTOR, batch: int = 64, device: str = "cpu"):
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise UserError(f"encoder thumbnail: factor must be an integer >= 1, got {factor!r}")
        self.factor = factor
        self.shape: tuple[int, int] | None = None

    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        thumbs = luma_thumbnail(frames, self.factor)
        self.shape = thumbs.shape[1:]
        self.dim = int(np.prod(self.shape))
        return thumbs.reshape(len(thumbs), -1).astype(np.float32)
