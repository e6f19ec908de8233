"""The frame-feature encoder registry: ``@register_encoder(name)``, ``get_encoder(name, **options)``.

An encoder maps the sampled frames of one or more videos, ``(F, H, W, 3)`` uint8 RGB, to ``(F, D)`` float32
features, one row per frame. Encoders with ``needs_pairs`` also receive the frame that follows each sampled
frame (``next_frames``, same shape), for temporal cues.

``available(name, options)`` answers without loading anything heavy, so the workflow can write "unavailable:
no weights" for an encoder whose weights are missing instead of ever computing features with random weights;
``get_encoder`` refuses an unavailable encoder with a ``UserError``.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from vqaloop.errors import UserError
from vqaloop.registry import Registry, decorator_setting

# Modules that register encoders when imported (imported lazily: torch/open_clip load only when needed).
ENCODER_MODULES = (
    "vqaloop.features.efficientnet",
    "vqaloop.features.motion",
    "vqaloop.features.openclip",
    "vqaloop.features.patterns",  # FreeSel's semantic patterns (EfficientNet saliency stand-in)
    "vqaloop.features.thumbnail",  # raw downscaled luma frames, the input of the CNN base model
    "vqaloop.features.frames",  # resized RGB frames, the input of the VLM base model (visualquality_r1)
    "vqaloop.features.motion3d",  # motion per one-second chunk (slowfast, motion3d): the W2S student's F_M
)

ENCODERS: Registry[type[Encoder]] = Registry("encoder", ENCODER_MODULES)


class Encoder(abc.ABC):
    """A frame encoder. Subclasses set ``name``, ``dim``, ``needs_pairs`` and implement ``encode``.

    Constructor keyword arguments are the encoder's options (``get_encoder(name, **options)``); a ``None``
    value means "the default". ``available(**options)`` is a cheap check run before construction.
    """

    name: str = ""
    dim: int = 0
    needs_pairs: bool = False
    # The option an unavailable encoder lacks, named in get_encoder's error as features.encoders.<name>.<option>.
    unavailable_option: str | None = None

    @classmethod
    def available(cls, **options: Any) -> tuple[bool, str]:
        """(True, "") if the encoder can run with these options, else (False, reason)."""
        return True, ""

    @abc.abstractmethod
    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        """(F, H, W, 3) uint8 RGB frames -> (F, D) float32 features (batched over frames inside)."""


def register_encoder(name: str) -> Callable[[type[Encoder]], type[Encoder]]:
    """Class decorator adding an ``Encoder`` subclass to the registry under ``name`` (also its ``name``)."""
    return decorator_setting(ENCODERS, name, name=name)


def encoder_names() -> list[str]:
    """Every registered encoder name, sorted."""
    return ENCODERS.names()


def encoder_class(name: str) -> type[Encoder]:
    return ENCODERS.get(name)


# Options of an encoder's config block that ``vqaloop features`` reads, not the encoder (frames: its frame count).
EXTRACTION_OPTIONS = ("frames",)


def _check_options(cls: type[Encoder], options: dict[str, Any]) -> dict[str, Any]:
    """Drop None values (= default) and the extraction options, and refuse options the encoder does not take."""
    options = {k: v for k, v in options.items() if v is not None and k not in EXTRACTION_OPTIONS}
    params = inspect.signature(cls.__init__).parameters
    accepted = [p for p in params if p != "self" and params[p].kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        valid = ", ".join(accepted) if accepted else "none"
        raise UserError(f"encoder {cls.name} takes no option {unknown[0]!r} (its options: {valid})")
    return options


def available(name: str, options: dict[str, Any] | None = None) -> tuple[bool, str]:
    """(True, "") if ``get_encoder(name, **options)`` would load real weights, else (False, reason)."""
    cls = encoder_class(name)
    return cls.available(**_check_options(cls, dict(options or {})))


def get_encoder(name: str, **options: Any) -> Encoder:
    """A ready encoder (weights loaded, eval mode). Unknown names, options or missing weights raise UserError."""
    cls = encoder_class(name)
    options = _check_options(cls, options)
    ok, reason = cls.available(**options)
    if not ok:
        key = f" (config key features.encoders.{name}.{cls.unavailable_option})" if cls.unavailable_option else ""
        raise UserError(f"encoder {name} unavailable: {reason}{key}")
    return cls(**options)


# Frames per forward pass of every network encoder, whatever ``vqaloop features --batch`` says. CPU convolution
# kernels choose their algorithm by batch size (EfficientNet-Lite0 features of the same frame differ by up to
# 1e-5 between 8 and 32 frames per pass), while with a fixed pass shape a frame's features do not depend on the
# other frames of its pass (tests/test_features.py). So every pass gets exactly this many frames, the last one
# padded: features are bit-identical for any --batch and any grouping of videos.
FORWARD_FRAMES = 8


def padded_chunks(frames: np.ndarray, size: int = FORWARD_FRAMES):
    """(chunk of exactly ``size`` frames, number of real frames in it): the last chunk repeats its last frame."""
    for start in range(0, len(frames), size):
        chunk = frames[start : start + size]
        real = len(chunk)
        if real < size:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], size - real, axis=0)])
        yield chunk, real


def encode_in_batches(frames: np.ndarray, batch: int, forward: Callable[[np.ndarray], Any]) -> np.ndarray:
    """Run ``forward`` (a chunk of frames -> torch tensor) over chunks of exactly ``batch`` frames (the last one
    padded) without autograd; (F, D) float32 numpy. Encoders pass ``FORWARD_FRAMES``."""
    import torch

    out = []
    with torch.inference_mode():
        for chunk, real in padded_chunks(frames, batch):
            out.append(forward(chunk).float().cpu().numpy()[:real])
    return np.concatenate(out).astype(np.float32, copy=False)


def check_frames(frames: np.ndarray, what: str = "frames") -> None:
    """Frames must be uint8 (F, H, W, 3) with F >= 1 (a programming error otherwise, hence ValueError)."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        shape = getattr(frames, "shape", None)
        raise ValueError(f"{what} must be a uint8 (F, H, W, 3) array, got {getattr(frames, 'dtype', None)} {shape}")
    if frames.shape[0] == 0:
        raise ValueError(f"{what} must hold at least one frame")
