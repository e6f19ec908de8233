"""Encoder ``thumbnail``: raw frames for base models that learn from pixels (the CNN analogue of UVQ).

Each sampled frame is converted to BT.601 luma and area-downscaled by ``factor`` (default 2: 256x144 ->
128x72), flattened to one row scaled to [0, 1]. Half resolution keeps blockiness, blur and noise visible
while keeping the stored features small (9,216 values a frame).
"""

from __future__ import annotations

import numpy as np

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

    def __init__(self, *, batch: int = 64, device: str = "cpu"):
        self.factor = self.FACTOR
        self.shape: tuple[int, int] | None = None

    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        thumbs = luma_thumbnail(frames, self.factor)
        self.shape = thumbs.shape[1:]
        self.dim = int(np.prod(self.shape))
        return thumbs.reshape(len(thumbs), -1).astype(np.float32)
