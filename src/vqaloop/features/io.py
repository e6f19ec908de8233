"""Features files (DESIGN.md, Contracts): ``.npz`` with ``ids`` (N,) strings, ``frames`` (N, F, D) float32,
``pooled`` (N, D) float32 (mean over frames), ``encoder`` (a string) and ``frame_indices`` (N, F) int64 (absent
for encoders whose rows are not frames, e.g. effnet_patterns' per-video patterns).

``write_features`` is atomic and byte-deterministic: ``np.savez`` stamps every zip entry with the current time,
so the archive is written here with a fixed timestamp (1980-01-01), fixed entry order and no compression.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError
from vqaloop.io.atomic import atomic_path

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def features_file(root: str | os.PathLike, dataset: str, encoder: str) -> Path:
    """``<root>/<dataset>/<encoder>.npz``, the place of a dataset's features; ``dataset`` and ``encoder`` are safe
    names and the file stays under ``root`` (``vqaloop.io.paths.under_root``)."""
    from vqaloop.io.paths import under_root

    return under_root(root, dataset, f"{encoder}.npz", what=f"features of dataset {str(dataset)[:40]!r}")


@dataclass
class Features:
    ids: list[str]
    frames: np.ndarray  # (N, F, D) float32
    pooled: np.ndarray  # (N, D) float32
    encoder: str
    frame_indices: np.ndarray | None = None  # (N, F) int64


def write_npz_deterministic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez`` (readable by ``np.load``), but the same arrays always give the same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asanyarray(value), allow_pickle=False)


def write_features(
    path: str | os.PathLike, ids: list[str], frames: np.ndarray, encoder: str, frame_indices: np.ndarray | None
) -> Path:
    """Write a features file atomically; ``pooled`` is computed here as the float32 mean over frames.

    ``frame_indices=None``: none stored (rows that are not frames, e.g. the effnet_patterns encoder's patterns).
    """
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if frame_indices is not None:
        frame_indices = np.ascontiguousarray(frame_indices, dtype=np.int64)
    if (
        frames.ndim != 3
        or frames.shape[0] != len(ids)
        or (frame_indices is not None and frame_indices.shape != frames.shape[:2])
    ):
        shape = None if frame_indices is None else frame_indices.shape
        raise ValueError(f"inconsistent shapes: {len(ids)} ids, frames {frames.shape}, indices {shape}")
    arrays = {
        "ids": np.array([str(i) for i in ids], dtype=str),
        "frames": frames,
        "pooled": frames.mean(axis=1, dtype=np.float32),
        "encoder": np.array(str(encoder)),
    }
    if frame_indices is not None:
        arrays["frame_indices"] = frame_indices
    path = Path(path)
    with atomic_path(path) as tmp:
        write_npz_deterministic(tmp, arrays)
    return path


def load_features(path: str | os.PathLike) -> Features:
    """Read and check a features file; any problem raises one UserError naming the file."""
    from vqaloop.io.readers import read_npz

    path = Path(path)
    arrays = read_npz(path, "features file")
    missing = [key for key in ("ids", "frames", "pooled", "encoder") if key not in arrays]
    if missing:
        raise UserError(f"{path}: features file lacks {', '.join(missing)} (has {', '.join(sorted(arrays))})")
    ids_arr, frames, pooled = arrays["ids"], arrays["frames"], arrays["pooled"]
    if ids_arr.ndim != 1 or ids_arr.dtype.kind not in "US":
        raise UserError(f"{path}: 'ids' must be a 1-D array of strings, got {ids_arr.dtype} {ids_arr.shape}")
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in ids_arr.tolist()]
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise UserError(f"{path}: duplicate id {i!r}")
        seen.add(i)
    n = len(ids)
    if frames.ndim != 3 or frames.shape[0] != n or frames.dtype.kind != "f":
        raise UserError(f"{path}: 'frames' must be float (N={n}, F, D), got {frames.dtype} {frames.shape}")
    if pooled.shape != (n, frames.shape[2]) or pooled.dtype.kind != "f":
        raise UserError(f"{path}: 'pooled' must be float (N={n}, D={frames.shape[2]}), got {pooled.shape}")
    indices = arrays.get("frame_indices")
    if indices is not None and (indices.shape != frames.shape[:2] or indices.dtype.kind not in "iu"):
        raise UserError(f"{path}: 'frame_indices' must be int (N, F) = {frames.shape[:2]}, got {indices.shape}")
    if not (np.isfinite(frames).all() and np.isfinite(pooled).all()):
        raise UserError(f"{path}: features hold NaN or inf")
    return Features(
        ids=ids,
        frames=frames.astype(np.float32, copy=False),
        pooled=pooled.astype(np.float32, copy=False),
        encoder=str(arrays["encoder"]),
        frame_indices=indices,
    )
