"""Motion features per one-second chunk (W2S-VQA Appendix C.1, Eq. 21: f_k^t = P_M(F_M(c_k))): the motion encoder F_M.

The W2S-VQA student's temporal branch sees, for key frame k, the chunk c_k of frames that starts at it and spans
one second, through a pre-trained 3-D motion network (SlowFast). Two encoders share one interface (a chunk of
frames in, one feature vector out), both registered in the features registry:

- ``slowfast``: the fast pathway of a SlowFast-R50 (pytorchvideo's ``create_slowfast``, the network of
  ``slowfast_r50``) with weights from a LOCAL state-dict file (option ``weights``; never downloaded). As in the
  authors' ``extract_slowfast_feature.py`` (W2S-VQA commit 2c7ca75): frames squashed to 224 x 224, normalised with
  mean 0.45 / std 0.225, 32 frames a chunk for the fast pathway and every 4th (``linspace``, T // 4 frames) for the
  slow one, the fast pathway's output averaged over time and space -> 256 values a chunk (their
  ``fast_feature``; their fixed 32x7x7 average pool equals this global mean at 224 x 224 and 32 frames, which is
  the only input they use). Without a weights file it is unavailable ("no weights"), like ``clip``; without the
  ``pytorchvideo`` package it is unavailable too (``pip install pytorchvideo``; it needs fvcore and iopath).
- ``motion3d``: a tiny randomly initialised (seeded) 3-D CNN: two strided 3x3x3 convolutions with ReLU and a global
  average, D = 16. Not a quality feature: it stands in for SlowFast in tests and in the tiny pipeline.

Chunks. For key frame index i of a clip of n frames at ``fps`` frames a second, the chunk holds ``chunk_frames``
= T frames i, i + s, ..., i + (T - 1) s with stride s = max(1, round(fps * seconds / T)), so that they span about
``seconds`` (1.0) of video; indices past the clip's end repeat its last frame (the authors pad short chunks so).
At 30 fps and T = 32 this is their 32 consecutive frames. ``vqaloop features`` (``features/extract.py``) reads the
chunk of every sampled frame for an encoder whose ``chunk_frames`` is set and hands the chunks (F, T, H, W, 3) to
``encode`` in place of ``next_frames``; the key frames are the F frames every encoder samples (the ``frames``
encoder's rows), so row k of this encoder's features is the motion of the second that starts at key frame k.
Deviation: the paper takes one key frame per second over the whole clip (N_c = floor(N / r) chunks); the features
contract has F rows per video (``features.frames``), so here the F key frames are spread evenly over the clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vqaloop.errors import UserError
from vqaloop.features.registry import FORWARD_FRAMES, Encoder, encode_in_batches, register_encoder

SLOWFAST_MEAN, SLOWFAST_STD = 0.45, 0.225  # extract_slowfast_feature.py (2c7ca75)
SLOWFAST_ALPHA = 4  # slow pathway: every 4th frame of the fast one (pack_pathway_output, 2c7ca75)
SLOWFAST_FAST_DIM = 256  # channels of SlowFast-R50's fast pathway after its last stage


def chunk_indices(start: int, n_frames: int, fps: float, chunk_frames: int, seconds: float = 1.0) -> list[int]:
    """The ``chunk_frames`` frame indices of the chunk that starts at ``start`` and spans ``seconds`` (module doc)."""
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    stride = max(1, int(round(fps * seconds / chunk_frames)))
    return [min(start + j * stride, n_frames - 1) for j in range(chunk_frames)]


def video_fps(path: str | Path) -> float:
    """Average frame rate decord reads from a clip's header; UserError if unreadable or not positive."""
    try:
        import decord

        fps = float(decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1).get_avg_fps())
    except Exception as err:  # decord's own error types
        raise UserError(f"{path}: unreadable video, no frame rate ({type(err).__name__})") from None
    if not fps > 0:
        raise UserError(f"{path}: the video header gives no frame rate ({fps})")
    return fps


def read_chunks(path: str | Path, key_indices: list[int], chunk_frames: int, seconds: float = 1.0) -> np.ndarray:
    """(F, T, H, W, 3) uint8: for every key frame index, the chunk of T frames that starts at it (one decode)."""
    from vqaloop.io.video import count_frames, read_frames

    n = count_frames(path)
    fps = video_fps(path)
    rows = [chunk_indices(i, n, fps, chunk_frames, seconds) for i in key_indices]
    unique = sorted({i for row in rows for i in row})
    got = read_frames(path, unique)
    where = {index: pos for pos, index in enumerate(unique)}
    return np.stack([got[[where[i] for i in row]] for row in rows])


def check_chunks(chunks, chunk_frames: int) -> None:
    """Chunks must be uint8 (F, T, H, W, 3) with T = ``chunk_frames`` (a programming error otherwise)."""
    shape = getattr(chunks, "shape", None)
    if not isinstance(chunks, np.ndarray) or chunks.dtype != np.uint8 or chunks.ndim != 5 or shape[-1] != 3:
        raise ValueError(f"chunks must be a uint8 (F, T, H, W, 3) array, got {getattr(chunks, 'dtype', None)} {shape}")
    if shape[1] != chunk_frames:
        raise ValueError(f"chunks hold {shape[1]} frames each, the encoder takes chunk_frames={chunk_frames}")


def chunks_to_tensor(chunks: np.ndarray, size: int, mean: float, std: float, device: str):
    """(B, T, H, W, 3) uint8 -> (B, 3, T, size, size) float32: squashed to size x size (bilinear, antialiased),
    scaled to [0, 1], normalised with ``mean`` / ``std``."""
    import torch
    import torch.nn.functional as F

    b, t, h, w, _ = chunks.shape
    x = torch.from_numpy(np.ascontiguousarray(chunks)).to(device).reshape(b * t, h, w, 3).permute(0, 3, 1, 2)
    x = x.float() / 255.0
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    x = (x - mean) / std
    return x.reshape(b, t, 3, size, size).permute(0, 2, 1, 3, 4).contiguous()


class ChunkEncoder(Encoder):
    """A motion encoder F_M: one feature vector per chunk of ``chunk_frames`` frames (module doc)."""

    needs_pairs = False
    chunk_seconds = 1.0
    chunk_frames = 0
    size = 0
    mean, std = 0.0, 1.0

    def chunk_forward(self, x):
        """(B, 3, T, size, size) float tensor -> (B, D) tensor."""
        raise NotImplementedError

    def encode(self, frames: np.ndarray, next_frames: np.ndarray | None = None) -> np.ndarray:
        """``frames`` (F, H, W, 3): the key frames (unused); ``next_frames``: their chunks (F, T, H, W, 3)."""
        if next_frames is None:
            raise ValueError(f"encoder {self.name} needs the one-second chunk of every key frame (next_frames)")
        check_chunks(next_frames, self.chunk_frames)
        if len(next_frames) != len(frames):
            raise ValueError(f"{len(next_frames)} chunks for {len(frames)} key frames")

        def forward(batch):
            return self.chunk_forward(chunks_to_tensor(batch, self.size, self.mean, self.std, self.device))

        return encode_in_batches(next_frames, self.batch, forward)


@register_encoder("motion3d")
class Motion3D(ChunkEncoder):
    """A tiny seeded random 3-D CNN over each one-second chunk (D = 16): a stand-in for SlowFast."""

    dim = 16

    def __init__(self, *, chunk_frames: int = 8, size: int = 32, seed: int = 0, batch: int = FORWARD_FRAMES,
                 device: str = "cpu"):  # fmt: skip
        import torch
        from torch import nn

        if chunk_frames < 1 or size < 8:
            raise UserError(f"encoder motion3d: chunk_frames must be >= 1 and size >= 8, got {chunk_frames}, {size}")
        self.chunk_frames, self.size, self.seed = int(chunk_frames), int(size), int(seed)
        self.batch, self.device = FORWARD_FRAMES, str(device)  # fixed pass shape (registry.FORWARD_FRAMES)
        self.mean, self.std = 0.5, 0.25
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)
        self.net = nn.Sequential(
            nn.Conv3d(3, 8, kernel_size=3, stride=(1, 2, 2), padding=1),
            nn.ReLU(),
            nn.Conv3d(8, self.dim, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        ).to(self.device)
        torch.random.set_rng_state(generator_state)  # building the encoder leaves the caller's seed alone
        self.net.eval()

    def chunk_forward(self, x):
        return self.net(x)


@register_encoder("slowfast")
class SlowFast(ChunkEncoder):
    """SlowFast-R50's fast-pathway features per chunk (D = 256) from a local weights file (module doc)."""

    dim = SLOWFAST_FAST_DIM
    unavailable_option = "weights"

    def __init__(self, *, weights: str | Path | None = None, chunk_frames: int = 32, size: int = 224,
                 batch: int = FORWARD_FRAMES, device: str = "cpu"):  # fmt: skip
        import torch

        ok, reason = self.available(weights=weights)
        if not ok:  # get_encoder checks first; direct construction must not get random weights either
            raise UserError(f"encoder slowfast unavailable: {reason}")
        if chunk_frames < SLOWFAST_ALPHA:
            raise UserError(f"encoder slowfast: chunk_frames must be >= {SLOWFAST_ALPHA}, got {chunk_frames}")
        from pytorchvideo.models.slowfast import create_slowfast

        self.chunk_frames, self.size = int(chunk_frames), int(size)
        self.batch, self.device = FORWARD_FRAMES, str(device)  # fixed pass shape (registry.FORWARD_FRAMES)
        self.mean, self.std = SLOWFAST_MEAN, SLOWFAST_STD
        net = create_slowfast()  # the architecture of pytorchvideo's slowfast_r50 (no download)
        try:
            state = torch.load(Path(weights), map_location="cpu", weights_only=True)
            state = state.get("model_state", state) if isinstance(state, dict) else state
            net.load_state_dict(state, strict=True)
        except Exception as err:  # unreadable file, missing / unexpected keys, shape mismatches
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise UserError(
                f"encoder slowfast: weights {weights} do not load into SlowFast-R50 ({first[:200]})"
            ) from None
        self.backbone = net.blocks[:5].to(self.device).eval()  # stem + 4 residual stages, both pathways

    @classmethod
    def available(cls, **options) -> tuple[bool, str]:
        import importlib.util

        weights = options.get("weights")
        if weights is None or str(weights).strip() == "":
            return False, "no weights"
        if not Path(weights).is_file():
            return False, f"weights file {weights} not found"
        if importlib.util.find_spec("pytorchvideo") is None:
            return False, "pytorchvideo is not installed (pip install pytorchvideo)"
        return True, ""

    def chunk_forward(self, x):
        import torch

        t = x.shape[2]
        slow = torch.index_select(x, 2, torch.linspace(0, t - 1, t // SLOWFAST_ALPHA).long().to(x.device))
        pathways = [slow, x]
        for block in self.backbone:
            pathways = block(pathways)
        fast = pathways[1]
        return fast.mean(dim=(2, 3, 4))  # = their 32x7x7 average pool + adaptive pool at 224 x 224, 32 frames
