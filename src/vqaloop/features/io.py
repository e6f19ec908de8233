"""Features files (DESIGN.md, Contracts): ``.npz`` with ``ids`` (N,) strings, ``frames`` (N, F, D) float32,
``pooled`` (N, D) float32 (mean over frames), ``encoder`` (a string) and ``frame_indices`` (N, F) int64 (absent
for encoders whose rows are not frames, e.g. effnet_patterns' per-video patterns).

``write_features`` is atomic and byte-deterministic: ``np.savez`` stamps every zip entry with the current time,
so the archive is written here with a fixed timestamp (1980-01-01), fixed entry order and no compression.
Uncompressed, every array lies at a fixed offset in the file: ``vqaloop.features.store`` reads rows there on demand
(every consumer), and ``features_writer`` writes a file as its rows come (the same bytes), so no job holds a
dataset's features in memory. ``load_features`` still reads a whole file, for small files and tests.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    The same bytes as ``write_npz_deterministic`` on the whole arrays; written through ``features_writer``.
    """
    frames = np.asarray(frames)
    if (
        frames.ndim != 3
        or frames.shape[0] != len(ids)
        or (frame_indices is not None and np.shape(frame_indices) != frames.shape[:2])
    ):
        shape = None if frame_indices is None else np.shape(frame_indices)
        raise ValueError(f"inconsistent shapes: {len(ids)} ids, frames {frames.shape}, indices {shape}")
    with features_writer(path, ids, encoder, frame_indices is not None, frames.shape[1:]) as writer:
        if len(frames):
            writer.add(frames, frame_indices)
    return Path(path)


@contextlib.contextmanager
def features_writer(path: str | os.PathLike, ids: list[str], encoder: str, with_indices: bool,
                    row_shape: tuple | None = None):  # fmt: skip
    """A ``store.FeaturesWriter`` on the temporary of ``path``, renamed onto it when the block ends without an
    error (every row added); ``row_shape`` (F, D) only matters when there are no rows."""
    from vqaloop.features.store import FeaturesWriter

    with atomic_path(Path(path)) as tmp:
        writer = FeaturesWriter(tmp, ids, encoder, with_indices)
        try:
            yield writer
        except BaseException:
            writer.abort()
            raise
        writer.close(row_shape)


def load_features(path: str | os.PathLike) -> Features:
    """Read and check a whole features file into memory; any problem raises one UserError naming the file.

    Consumers of large files read rows on demand instead (``vqaloop.features.store.open_store``).
    """
    from vqaloop.features.store import open_store

    store = open_store(path)
    indices = store.frame_indices
    return Features(
        ids=list(store.ids),
        frames=store.frames.read_all().astype(np.float32, copy=False),
        pooled=store.pooled.read_all().astype(np.float32, copy=False),
        encoder=store.encoder,
        frame_indices=None if indices is None else indices.read_all(),
    )
