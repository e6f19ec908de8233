"""``vqaloop features``: frame-level features of every video of a manifest, in one ``.npz`` (features contract).

For every manifest row (all splits, manifest order) F frames are read at ``uniform_indices(n_frames, F)`` (a clip
shorter than F frames repeats frames so every video has F rows); encoders that need pairs also get frame
index+1, clamped to the clip's last frame. Frames of consecutive videos with the same frame size are handed to
the encoder together, at most ``--batch`` frames at a time (a memory bound); network encoders run forward
passes of a fixed ``registry.FORWARD_FRAMES`` frames, so the features do not depend on ``--batch`` (a
performance knob, not a rerun trigger of the workflow). The output is written atomically and is byte-identical
for the same inputs and settings. An encoder with ``per_video = True`` (effnet_patterns) gets one video's frames at
a time and returns (K, D) for that video, K not necessarily F; no frame_indices are stored then. An encoder
with ``chunk_frames`` = T > 0 (``features.motion3d``: motion per one-second chunk) gets, in place of next frames,
the T-frame chunk that starts at each sampled frame, (F, T, H, W, 3) (``motion3d.read_chunks``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from vqaloop.errors import UserError
from vqaloop.features.io import features_writer
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
    """(frames (k, H, W, 3), next frames or None, indices) of one clip; UserError if unreadable, or if the clip has
    fewer than k frames (``--frames`` is bounded by the data: k distinct frames of every clip)."""
    n = count_frames(path)
    if k > n:
        raise UserError(f"{path}: the clip has {n} frames, fewer than the {k} asked (--frames)")
    indices = sample_indices(n, k)
    following = [min(i + 1, n - 1) for i in indices] if pairs else []
    unique = sorted(set(indices) | set(following))
    got = read_frames(path, unique)
    where = {index: pos for pos, index in enumerate(unique)}
    frames = got[[where[i] for i in indices]]
    next_frames = got[[where[i] for i in following]] if pairs else None
    return frames, next_frames, indices


def read_every(path: Path, k: int, pairs: bool) -> tuple[np.ndarray, np.ndarray | None, list[int]]:
    """Every decoded frame of a clip as k rows (an encoder option ``frames: every``, the MDS-VQA authors' diversity
    features): k is the longest clip's frame count, so a clip of k frames gives each frame once and a shorter one
    repeats its frames evenly (``sample_indices``: a features file holds one frame count)."""
    n = count_frames(path)
    indices = sample_indices(n, k)
    following = [min(i + 1, n - 1) for i in indices] if pairs else []
    unique = sorted(set(indices) | set(following))
    got = read_frames(path, unique)
    where = {index: pos for pos, index in enumerate(unique)}
    return got[[where[i] for i in indices]], got[[where[i] for i in following]] if pairs else None, indices


def frames_setting(value, manifest: pd.DataFrame, data_root: Path, what: str) -> tuple[int, bool]:
    """(frames per video, every) of an encoder's ``frames`` option: a count, or "every" (the longest clip's count)."""
    if value == "every":
        return max(count_frames(Path(data_root) / str(p)) for p in manifest["path"]), True
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{what}: expected a frame count >= 1 or 'every', got {value!r}")
    return value, False


def chunk_frames(encoder: Encoder) -> int:
    """T > 0 for an encoder that reads the chunk starting at each sampled frame (features.motion3d), else 0."""
    return int(getattr(encoder, "chunk_frames", 0) or 0)


def read_chunks_of(path: Path, indices: list[int], frames_per_chunk: int) -> np.ndarray:
    from vqaloop.features.motion3d import read_chunks

    return read_chunks(path, indices, frames_per_chunk)


def extract(
    manifest: pd.DataFrame,
    data_root: str | Path,
    encoder: Encoder,
    n_frames: int = 8,
    batch: int = 64,
    source: str | Path = "manifest",
    progress: bool | None = None,
    sink=None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Features (N, F, D) float32 and frame indices (N, F) of every manifest row, in manifest order. ``sink``:
    a function given each encoded block's rows (k, F, D) and their frame indices (k, F) in manifest order
    (``features_writer``'s ``add``) instead of one (N, F, D) array (then None is returned for it)."""
    root = Path(data_root)
    n = len(manifest)
    features: np.ndarray | None = None
    shape: tuple | None = None
    indices = np.zeros((n, n_frames), dtype=np.int64)
    pending: list[tuple[int, np.ndarray, np.ndarray | None]] = []  # (row position, frames, next frames)

    def keep(block: np.ndarray) -> None:
        nonlocal features, shape
        if shape is None:
            shape = block.shape[1:]
        if block.shape[1:] != shape:
            raise RuntimeError(f"encoder {encoder.name} returned {block.shape[1:]}, expected {shape}")
        positions = [p[0] for p in pending]
        if sink is not None:
            sink(block, indices[positions])
            return
        if features is None:
            features = np.zeros((n, *shape), dtype=np.float32)
        features[positions] = block

    def flush() -> None:
        if getattr(encoder, "per_video", False):  # one (K, D) array per video (e.g. effnet_patterns, K = P)
            outs = [np.asarray(encoder.encode(frames, following), dtype=np.float32) for _, frames, following in pending]
            if any(out.ndim != 2 for out in outs):
                raise RuntimeError(f"encoder {encoder.name} returned {outs[0].shape} for one video")
            if len({out.shape for out in outs}) > 1:
                raise RuntimeError(f"encoder {encoder.name} returned {outs[-1].shape}, expected {outs[0].shape}")
            keep(np.stack(outs))
            pending.clear()
            return
        frames = np.concatenate([p[1] for p in pending])
        following = np.concatenate([p[2] for p in pending]) if encoder.needs_pairs or chunk_frames(encoder) else None
        out = np.asarray(encoder.encode(frames, following), dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(frames):
            raise RuntimeError(f"encoder {encoder.name} returned {out.shape} for {len(frames)} frames")
        keep(out.reshape(len(pending), n_frames, out.shape[1]))
        pending.clear()

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    with tqdm(total=n, desc=f"features {encoder.name}", unit="video", disable=disable) as bar:
        for pos, (video_id, rel_path) in enumerate(zip(manifest["video_id"], manifest["path"], strict=True)):
            try:
                frames, following, idx = read_sampled(root / str(rel_path), n_frames, encoder.needs_pairs)
                if chunk_frames(encoder):
                    following = read_chunks_of(root / str(rel_path), idx, chunk_frames(encoder))
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
    assert features is not None or sink is not None
    return features, indices


def encode_video(encoders: list[Encoder], frames: np.ndarray, following: np.ndarray | None,
                 chunks: dict[int, np.ndarray] | None = None) -> list[np.ndarray]:  # fmt: skip
    """Every encoder's output for one video's frames; encoders sharing a ``trunk`` share its forward passes.
    ``chunks``: T -> the (F, T, H, W, 3) chunks of the sampled frames, for encoders with ``chunk_frames`` T."""
    passes: dict[tuple, list] = {}
    out = []
    for encoder in encoders:
        trunk = getattr(encoder, "trunk", None)
        if chunk_frames(encoder):
            out.append(np.asarray(encoder.encode(frames, (chunks or {})[chunk_frames(encoder)]), np.float32))
            continue
        if trunk is None:
            out.append(np.asarray(encoder.encode(frames, following if encoder.needs_pairs else None), np.float32))
            continue
        key = (trunk, encoder.batch, encoder.device)
        if key not in passes:
            passes[key] = encoder.trunk_passes(frames)
        out.append(np.asarray(encoder.from_passes(passes[key], frames), dtype=np.float32))
    return out


def extract_many(
    manifest: pd.DataFrame,
    data_root: str | Path,
    encoders: list[Encoder],
    n_frames: int = 8,
    source: str | Path = "manifest",
    progress: bool | None = None,
    every: bool = False,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Features of several encoders from ONE decode of every video and one forward pass per shared trunk
    (``every``: each decoded frame, ``read_every``, instead of ``n_frames`` spread over each clip).

    Returns one (N, F or K, D) float32 array per encoder (in ``encoders`` order) and the frame indices (N, F).
    Each array equals what ``extract`` gives for that encoder alone: every network pass has the fixed shape of
    registry.FORWARD_FRAMES frames, so a frame's features do not depend on which frames share its pass.
    """
    n = len(manifest)
    arrays: list[np.ndarray | None] = [None] * len(encoders)
    indices = np.zeros((n, n_frames), dtype=np.int64)
    for pos, idx, outputs in encoded_videos(manifest, data_root, encoders, n_frames, source, progress, every):
        indices[pos] = idx
        for k, out in enumerate(outputs):
            if arrays[k] is None:
                arrays[k] = np.zeros((n, *out.shape), dtype=np.float32)
            arrays[k][pos] = out
    return arrays, indices


def encoded_videos(manifest: pd.DataFrame, data_root: str | Path, encoders: list[Encoder], n_frames: int = 8,
                   source: str | Path = "manifest", progress: bool | None = None, every: bool = False):  # fmt: skip
    """(row position, frame indices, one (F or K, D) float32 array per encoder) for every manifest row in order,
    from one decode of each video (``extract_many``'s work, one video at a time: ``run_many`` writes each video's
    rows as they come, so a features job holds one video's features, never the dataset's)."""
    root = Path(data_root)
    n = len(manifest)
    pairs = any(e.needs_pairs for e in encoders)
    chunk_sizes = {chunk_frames(e) for e in encoders if chunk_frames(e)}
    shapes: list[tuple | None] = [None] * len(encoders)
    names = "+".join(e.name for e in encoders)
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    with tqdm(total=n, desc=f"features {names}", unit="video", disable=disable) as bar:
        for pos, (video_id, rel_path) in enumerate(zip(manifest["video_id"], manifest["path"], strict=True)):
            try:
                read = read_every if every else read_sampled
                frames, following, idx = read(root / str(rel_path), n_frames, pairs)
                chunks = {t: read_chunks_of(root / str(rel_path), idx, t) for t in sorted(chunk_sizes)}
            except UserError as err:
                raise UserError(f"{source}: row {pos + 2} (video_id {video_id}): {err}") from None
            outputs = encode_video(encoders, frames, following, chunks)
            for k, (encoder, out) in enumerate(zip(encoders, outputs, strict=True)):
                if out.ndim != 2:
                    raise RuntimeError(f"encoder {encoder.name} returned {out.shape} for one video")
                if shapes[k] is None:
                    shapes[k] = out.shape
                if out.shape != shapes[k]:
                    raise RuntimeError(f"encoder {encoder.name} returned {out.shape}, expected {shapes[k]}")
            yield pos, np.asarray(idx, dtype=np.int64), outputs
            bar.update(1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vqaloop.cli_checks import MAX_FRAMES, device, int_in, json_object, output_file, output_into, threads

    parser.add_argument("--manifest", type=Path, required=True, help="dataset manifest CSV")
    parser.add_argument("--data-root", type=Path, required=True, help="folder the manifest's paths are relative to")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--encoder", choices=encoder_names(), metavar="NAME", help=f"one of: {', '.join(encoder_names())}"
    )
    which.add_argument("--encoders", nargs="+", choices=encoder_names(), metavar="NAME",
                       help="several encoders from one decode of each video (shared forward passes); with --out-dir")  # fmt: skip
    parser.add_argument("--options", default="{}", type=json_object,
                        help="with --encoders: JSON {encoder: {option: value}} (e.g. clip's model and weights)")  # fmt: skip
    parser.add_argument("--model", help="open_clip model name (clip, siglip2)")
    parser.add_argument("--weights", type=Path, help="local checkpoint file (clip, siglip2)")
    parser.add_argument("--frames", type=int_in(1, MAX_FRAMES), default=8,
                        help="frames sampled per video, at most every clip's frame count (default 8)")  # fmt: skip
    parser.add_argument("--batch", type=int_in(1, 1 << 16), default=64,
                        help="frames handed to the encoder at a time (memory; default 64)")  # fmt: skip
    parser.add_argument("--device", type=device, help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=threads, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--only-ids", type=Path,
                        help="CSV with a video_id column: features of these manifest rows only (manifest order)")  # fmt: skip
    parser.add_argument("--out", type=output_file, help="output .npz (with --encoder)")
    parser.add_argument("--out-dir", type=output_into,
                        help="with --encoders: writes <out-dir>/<encoder>.npz for each (an existing folder)")  # fmt: skip


def derived_outputs(args) -> list[tuple[str, Path]]:
    """``--out-dir``'s files, one per encoder."""
    if args.out_dir is None or not args.encoders:
        return []
    return [(f"--out-dir ({name}.npz)", args.out_dir / f"{name}.npz") for name in dict.fromkeys(args.encoders)]


def run(args: argparse.Namespace) -> int:

    from vqaloop.dispatch import set_compute_threads

    set_compute_threads(args.threads)
    if args.encoders:
        return run_many(args)
    if args.out is None:
        raise UserError("--encoder needs --out (the output .npz)")
    if args.options != "{}" or args.out_dir is not None:
        raise UserError("--options and --out-dir go with --encoders (with --encoder: --model, --weights, --out)")
    manifest = manifest_rows(args)
    options = {"model": args.model, "weights": args.weights, "device": args.device}
    encoder = get_encoder(args.encoder, **options)
    per_video = getattr(encoder, "per_video", False)  # its rows (effnet_patterns' patterns) are not frames
    ids = manifest["video_id"].astype(str).tolist()
    shape = []
    with features_writer(args.out, ids, encoder.name, not per_video) as writer:  # a batch in memory at a time

        def sink(block: np.ndarray, indices: np.ndarray) -> None:
            writer.add(block, None if per_video else indices)
            shape[:] = block.shape[1:]

        extract(manifest, args.data_root, encoder, args.frames, args.batch, source=args.manifest, sink=sink)
    f, d = shape
    print(
        f"{args.out}: {encoder.name} features of {len(ids)} videos ({f} {'patterns' if per_video else 'frames'} x {d})"
    )
    return 0


def manifest_rows(args: argparse.Namespace) -> pd.DataFrame:
    """The manifest's rows, or only those listed by ``--only-ids`` (every listed id must be in the manifest)."""
    manifest = read_manifest(args.manifest)
    if args.only_ids is None:
        return manifest
    from vqaloop.io.readers import read_ids

    wanted = read_ids(args.only_ids, "the ids to extract")
    missing = sorted(set(wanted) - set(manifest.video_id))
    if missing:
        raise UserError(f"{args.only_ids}: {len(missing)} id(s) not in {args.manifest}, e.g. {missing[0]!r}")
    return manifest[manifest.video_id.isin(set(wanted))].reset_index(drop=True)


def run_many(args: argparse.Namespace) -> int:
    """``--encoders A B ... --out-dir DIR``: DIR/A.npz, DIR/B.npz, ... from one pass over the videos."""
    from vqaloop.io.readers import parse_json_argument

    if args.out_dir is None or args.out is not None:
        raise UserError("--encoders writes <encoder>.npz files into --out-dir (not --out)")
    if len(set(args.encoders)) != len(args.encoders):
        raise UserError(f"--encoders: an encoder named twice ({' '.join(args.encoders)})")
    options = parse_json_argument(args.options, "--options")
    if not isinstance(options, dict) or not all(isinstance(v, dict | None) for v in options.values()):
        raise UserError(f"--options: expected JSON {{encoder: {{option: value}}}}, got {args.options}")
    unknown = sorted(set(options) - set(args.encoders))
    if unknown:
        raise UserError(f"--options: {unknown[0]!r} is not one of --encoders ({' '.join(args.encoders)})")
    manifest = manifest_rows(args)
    ids = manifest["video_id"].astype(str).tolist()
    # an encoder's "frames" option (a count or "every") replaces --frames for it; one decode per frame setting
    settings = {name: dict(options.get(name) or {}) for name in args.encoders}
    groups: dict = {}
    for name in args.encoders:
        groups.setdefault(settings[name].pop("frames", args.frames), []).append(name)
    for setting, names in groups.items():
        n_frames, every = frames_setting(setting, manifest, args.data_root, f"--options {names[0]}.frames")
        encoders = [get_encoder(name, **{"device": args.device, **settings[name]}) for name in names]
        per_video = [bool(getattr(encoder, "per_video", False)) for encoder in encoders]
        shapes: list[tuple] = [()] * len(encoders)
        # every file streamed (one video's rows in memory), all renamed together once complete
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(features_writer(args.out_dir / f"{e.name}.npz", ids, e.name, not pv))
                       for e, pv in zip(encoders, per_video, strict=True)]  # fmt: skip
            for _, idx, outputs in encoded_videos(manifest, args.data_root, encoders, n_frames, source=args.manifest,
                                                  every=every):  # fmt: skip
                for k, (writer, out) in enumerate(zip(writers, outputs, strict=True)):
                    writer.add(out[None], None if per_video[k] else idx[None])
                    shapes[k] = out.shape
        for encoder, pv, (f, d) in zip(encoders, per_video, shapes, strict=True):
            print(f"{args.out_dir / encoder.name}.npz: {encoder.name} features of {len(ids)} videos "
                  f"({f} {'patterns' if pv else 'frames'} x {d})")  # fmt: skip
    return 0
