"""Deterministic .npz files: numpy's savez stamps zip entries with the current time; this writer does not."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from vqaloop.io.atomic import atomic_path

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays to ``path`` atomically; the same arrays always give the same bytes."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_DATE)
            zf.writestr(info, buffer.getvalue())
