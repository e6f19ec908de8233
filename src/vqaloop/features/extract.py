"""``vqaloop features``: frame-level features of every video of a manifest, in one ``.npz`` (features contract).

For every manifest row (all splits, manifest order) F frames are read at ``uniform_indices(n_frames, F)`` (a clip
shorter than F frames repeats frames so every video has F rows); encoders that need pairs also get frame
index+1, clamped to the clip's last frame. Frames of consecutive videos with the same frame size are handed to
the encoder together, at most ``--batch`` frames at a time (a memory bound); network encoders run forward
passes of a fixed ``registry.FORWARD_FRAMES`` frames, so the features do not depend on ``--batch`` (a
performance knob, not a rerun trigger of the workflow). The output is written atomically and is byte-identical
for the same inputs and settings. An encoder with ``per_video = True`` (effnet_patterns) gets one video's frames at
a time and returns (K, D) for that video, K not necessarily F; no frame_indices are stored then.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vqaloop.errors import UserError
from vqaloop.features.io import write_features
from vqaloop.features.registry import Encoder, encoder_names, get_encoder
from vqaloop.io.manifest import read_manifest
from vqaloop.io.video import count_frames, read_frames, uniform_indices

log = logging.getLogger(__name__)


def sample_indices(n_frames: int, k: int) -> list[int]:
    """k frame indices spread evenly over a clip; with fewer than k frames, frames repeat (still k indices)."""
    if n_frames >= k:
        return uniform_indices(n_frames, k)
    return [int((i + 0.5) * n_frames / k) for i in range(k)]


def read_sampled(path: Path, k: int, pairs: bool) -> tuple[np.ndarray, np.ndarray | None, list[int]]:
    """(frames (k, H, W, 3), next frames or None, indices) of one clip; UserError if unreadable."""
    n = count_frames(path)
    indices = sample_indices(n, k)
    following = [min(i + 1, n - 1) for i in indices] if pairs else []
    unique = sorted(set(indices) | set(following))
    got = read_frames(path, unique)
    where = {index: pos for pos, index in enumerate(unique)}
    frames = got[[where[i] for i in indices]]
    next_frames = got[[where[i] for i in following]] if pairs else None
    return frames, next_frames, indices


def extract(
    manifest: pd.DataFrame,
    data_root: str | Path,
    encoder: Encoder,
    n_frames: int = 8,
    batch: int = 64,
    source: str | Path = "manifest",
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, F, D) float32 and frame indices (N, F) of every manifest row, in manifest order."""
    root = Path(data_root)
    n = len(manifest)
    features: np.ndarray | None = None
    indices = np.zeros((n, n_frames), dtype=np.int64)
    pending: list[tuple[int, np.ndarray, np.ndarray | None]] = []  # (row position, frames, next frames)

    def flush() -> None:
        nonlocal features
        if getattr(encoder, "per_video", False):  # one (K, D) array per video (e.g. effnet_patterns, K = P)
            for pos, frames, following in pending:
                out = np.asarray(encoder.encode(frames, following), dtype=np.float32)
                if features is None:
                    if out.ndim != 2:
                        raise RuntimeError(f"encoder {encoder.name} returned {out.shape} for one video")
                    features = np.zeros((n, *out.shape), dtype=np.float32)
                if out.shape != features.shape[1:]:
                    raise RuntimeError(f"encoder {encoder.name} returned {out.shape}, expected {features.shape[1:]}")
                features[pos] = out
            pending.clear()
            return
        frames = np.concatenate([p[1] for p in pending])
        following = np.concatenate([p[2] for p in pending]) if encoder.needs_pairs else None
        out = np.asarray(encoder.encode(frames, following), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(frames):
            raise RuntimeError(f"encoder {encoder.name} returned {out.shape} for {len(frames)} frames")
        if features is None:
            features = np.zeros((n, n_frames, out.shape[1]), dtype=np.float32)
        for k, (pos, _, _) in enumerate(pending):
            features[pos] = out[k * n_frames : (k + 1) * n_frames]
        pending.clear()

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    with tqdm(total=n, desc=f"features {encoder.name}", unit="video", disable=disable) as bar:
        for pos, (video_id, rel_path) in enumerate(zip(manifest["video_id"], manifest["path"], strict=True)):
            try:
                frames, following, idx = read_sampled(root / str(rel_path), n_frames, encoder.needs_pairs)
            except UserError as err:
                raise UserError(f"{source}: row {pos + 2} (video_id {video_id}): {err}") from None
            if pending and (
                frames.shape[1:] != pending[0][1].shape[1:] or (len(pending) + 1) * n_frames > max(batch, n_frames)
            ):
                flush()
            pending.append((pos, frames, following))
            indices[pos] = idx
            bar.update(1)
        if pending:
            flush()
    assert features is not None
    return features, indices


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="dataset manifest CSV")
    parser.add_argument("--data-root", type=Path, required=True, help="folder the manifest's paths are relative to")
    parser.add_argument("--encoder", required=True, help=f"one of: {', '.join(encoder_names())}")
    parser.add_argument("--model", help="open_clip model name (clip, siglip2)")
    parser.add_argument("--weights", type=Path, help="local checkpoint file (clip, siglip2)")
    parser.add_argument("--frames", type=int, default=8, help="frames sampled per video (default 8)")
    parser.add_argument(
        "--batch", type=int, default=64, help="frames handed to the encoder at a time (memory; default 64)"
    )
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")


def run(args: argparse.Namespace) -> int:
    if args.frames < 1:
        raise UserError(f"--frames must be >= 1, got {args.frames}")
    if args.batch < 1:
        raise UserError(f"--batch must be >= 1, got {args.batch}")
    import torch

    torch.set_num_threads(args.threads)
    manifest = read_manifest(args.manifest)
    options = {"model": args.model, "weights": args.weights, "device": args.device}
    encoder = get_encoder(args.encoder, **options)
    features, indices = extract(manifest, args.data_root, encoder, args.frames, args.batch, source=args.manifest)
    if getattr(encoder, "per_video", False):
        indices = None  # its rows (effnet_patterns' patterns) are not frames
    write_features(args.out, manifest["video_id"].astype(str).tolist(), features, encoder.name, indices)
    n, f, d = features.shape
    rows = "patterns" if getattr(encoder, "per_video", False) else "frames"
    print(f"{args.out}: {encoder.name} features of {n} videos ({f} {rows} x {d})")
    return 0
