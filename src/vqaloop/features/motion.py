"""``motion``: four hand-made temporal and sharpness cues per sampled frame (numpy, CPU, deterministic).

The encoder needs pairs: for every sampled frame t it also receives the frame that follows it (t+1, or t itself
at the clip's last frame, which reads as a frozen frame). On BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B
(0..255), per sampled frame:

0. ``diff``      mean |Y(t+1) - Y(t)| / 255: amount of motion / change;
1. ``freeze``    fraction of pixels with |Y(t+1) - Y(t)| < 1 grey level: freeze / stutter indicator;
2. ``flicker``   |mean Y(t+1) - mean Y(t)| / 255: global brightness change;
3. ``sharpness`` root-mean-square Sobel gradient magnitude of Y(t) / 255 (interior pixels), i.e. the square
   root of the gradient energy: a blur / sharpness cue. RMS rather than the mean magnitude: the mean magnitude
   is a total variation, which blurring leaves almost unchanged across clean edges (a blurred step keeps its
   height); the energy falls with the blur width on edges and texture alike.
"""

from __future__ import annotations

import numpy as np

from vqaloop.features.registry import Encoder, check_frames, register_encoder

FEATURE_NAMES = ("diff", "freeze", "flicker", "sharpness")
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(frame: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB -> (..., H, W) float32 BT.601 luma in 0..255."""
    return frame.astype(np.float32) @ LUMA_WEIGHTS


def sobel_magnitude(y: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of a (H, W) image on its interior (H-2, W-2); empty if H or W < 3."""
    left, right = y[:, :-2], y[:, 2:]
    gx = right[:-2] + 2 * right[1:-1] + right[2:] - (left[:-2] + 2 * left[1:-1] + left[2:])
    top, bottom = y[:-2], y[2:]
    gy = bottom[:, :-2] + 2 * bottom[:, 1:-1] + bottom[:, 2:] - (top[:, :-2] + 2 * top[:, 1:-1] + top[:, 2:])
    return np.sqrt(gx * gx + gy * gy)


def motion_features(frame: np.ndarray, next_frame: np.ndarray) -> np.ndarray:
    """The four cues of one (H, W, 3) uint8 frame and its successor, as float32 (4,)."""
    y0, y1 = luma(frame), luma(next_frame)
    delta = np.abs(y1 - y0)
    grad = sobel_magnitude(y0)
    sharpness = float(np.sqrt(np.mean(np.square(grad, dtype=np.float64)))) / 255.0 if grad.size else 0.0
    return np.array(
        [
            float(delta.mean(dtype=np.float64)) / 255.0,
            float(np.count_nonzero(delta < 1.0)) / delta.size,
            abs(float(y1.mean(dtype=np.float64)) - float(y0.mean(dtype=np.float64))) / 255.0,
            sharpness,
        ],
        dtype=np.float32,
    )


@register_encoder("motion")
class Motion(Encoder):
    """Temporal difference, freeze fraction, flicker and gradient energy per sampled frame (D = 4)."""

    dim = len(FEATURE_NAMES)
    needs_pairs = True

    def __init__(self, *, batch: int = 64, device: str = "cpu"):
        # Computed with numpy, one frame at a time; ``batch`` and ``device`` are accepted for a uniform CLI.
        self.batch = int(batch)
        self.device = str(device)

    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        check_frames(frames)
        if next_frames is None:
            raise ValueError("the motion encoder needs next_frames (the frame after each sampled frame)")
        check_frames(next_frames, "next_frames")
        if next_frames.shape != frames.shape:
            raise ValueError(f"next_frames {next_frames.shape} must have the shape of frames {frames.shape}")
        return np.stack([motion_features(a, b) for a, b in zip(frames, next_frames, strict=True)])
