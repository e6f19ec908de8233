"""What every dataset adapter shares: finding the metadata files, rescaling MOS to [1, 5], checking video files.

An adapter subclass sets ``title``, ``metadata_files`` (each required file as a tuple of accepted relative
paths, the first being the one the placeholder writes), ``mos_range`` (the published scale) and implements
``parse(root, files)`` -> a frame with ``video_id``, ``path`` (relative to ``root``), ``mos`` (published scale),
``split``, ``content_id`` (+ optional manifest columns), and ``write_metadata(root, rows)`` for the placeholder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.manifest import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, validate_manifest
from vqaloop.io.paths import check_relative_path

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".y4m", ".flv", ".ts", ".mpg", ".mpeg", ".3gp")
SHOWN = 3  # missing files named in an error line


def rescale_to_1_5(mos: pd.Series, low: float, high: float) -> pd.Series:
    """Linear map of the published scale [low, high] onto [1, 5] (the repo's manifests): 1 + 4 (m - low) / (high - low)."""
    return 1.0 + 4.0 * (mos.astype(float) - low) / (high - low)


def first_few(items: list[str]) -> str:
    shown = ", ".join(str(i) for i in items[:SHOWN])
    return shown + (f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else "")


def index_videos(root: Path) -> dict[str, str]:
    """Video files under ``root`` by file stem -> path relative to ``root`` (sorted walk: the first one wins)."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                rel = Path(folder, name).relative_to(root).as_posix()
                found.setdefault(Path(name).stem, rel)
    return found


def resolve_by_stem(root: Path, stems: list[str], default: list[str]) -> list[str]:
    """Paths of videos found anywhere under ``root`` by stem; ``default`` (the placeholder layout) where absent,
    so the missing-file check names it. Used where the dataset's folder layout is not documented."""
    index = index_videos(root)
    return [index.get(stem, fallback) for stem, fallback in zip(stems, default, strict=True)]


def touch_videos(root: Path, paths) -> None:
    """Empty placeholder video files."""
    for rel in paths:
        file = root / rel
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch()


def placeholder_mos(rng: np.random.Generator, n: int, low: float, high: float, decimals: int = 4) -> np.ndarray:
    """Seeded MOS values inside the published scale (never at its ends, so rounding cannot leave it)."""
    span = high - low
    return np.round(rng.uniform(low + 0.05 * span, high - 0.05 * span, size=n), decimals)


class DatasetAdapter:
    """Base class; see the module docstring. Subclasses are registered with ``@register_dataset(name)``."""

    name = ""
    title = ""
    metadata_files: tuple[tuple[str, ...], ...] = ()
    optional_files: tuple[str, ...] = ()
    mos_range: tuple[float, float] | None = (1.0, 5.0)
    split_note = ""
    format_source = ""
    # (videos, held-out videos) of the published dataset, for a placeholder at its published size
    # (``placeholder-tree --published-sizes``): the rows its metadata files list, and of those the official test
    # split (or another file the adapter holds apart); None where no count is known
    published: tuple[int, int | None] | None = None

    # ----- files -----
    def expected_files(self, root: str | os.PathLike) -> list[Path]:
        """The metadata files ``read`` needs under ``root`` (the first accepted name of each)."""
        root = Path(root)
        return [self._locate(root, names) or root / names[0] for names in self.metadata_files]

    @staticmethod
    def _locate(root: Path, names: tuple[str, ...]) -> Path | None:
        for rel in names:
            if (root / rel).is_file():
                return root / rel
        return None

    def metadata_paths(self, root: Path, metadata: str | os.PathLike | None) -> list[Path]:
        """The required metadata files (``metadata`` replaces the first); one UserError naming the missing ones."""
        if not root.is_dir():
            raise UserError(f"{self.name}: dataset root {root} is not a folder")
        found = [self._locate(root, names) for names in self.metadata_files]
        if metadata is not None:
            if not Path(metadata).is_file():
                raise UserError(f"{self.name}: metadata file {metadata} not found")
            found[0] = Path(metadata)
        missing = [" or ".join(names) for names, f in zip(self.metadata_files, found, strict=True) if f is None]
        if missing:
            raise UserError(f"{self.name}: dataset root {root} lacks {len(missing)} file(s) the adapter needs: "
                            f"{first_few(missing)} ({self.title} as published)")  # fmt: skip
        return found

    # ----- reading -----
    def parse(self, root: Path, files: list[Path]) -> pd.DataFrame:
        raise NotImplementedError

    def read(self, root: str | os.PathLike, metadata: str | os.PathLike | None = None) -> pd.DataFrame:
        """The dataset's manifest: MOS rescaled to [1, 5], paths relative to ``root``, every video file present."""
        root = Path(root)
        files = self.metadata_paths(root, metadata)
        table = self.parse(root, files).reset_index(drop=True)
        for i, path in enumerate(table["path"].astype(str)):  # a metadata file never points outside the dataset
            if os.path.isabs(path):
                raise UserError(f"{files[0]}: row {i + 2}: video path {path[:80]!r} is absolute, not under {root}")
            check_relative_path(path, f"{files[0]}: row {i + 2}")
        table["dataset"] = self.name
        if self.mos_range is not None:
            table["mos"] = self.rescaled(table, files[0])
        self.check_videos(table, root, files[0])
        columns = REQUIRED_COLUMNS + [c for c in table.columns if c in OPTIONAL_COLUMNS]
        return validate_manifest(table[columns], f"{self.name} adapter on {files[0]}")

    def rescaled(self, table: pd.DataFrame, source: Path) -> pd.Series:
        """MOS on [1, 5]; a value outside the published scale is refused (a wrong file or a wrong scale)."""
        low, high = self.mos_range
        mos = pd.to_numeric(table["mos"], errors="coerce")
        bad = mos.notna() & ((mos < low - 1e-9) | (mos > high + 1e-9))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise UserError(f"{source}: video {table.video_id.iloc[i]} has MOS {mos.iloc[i]}, outside the published "
                            f"{self.title} scale [{low:g}, {high:g}]")  # fmt: skip
        return rescale_to_1_5(mos, low, high)

    def check_videos(self, table: pd.DataFrame, root: Path, source: Path) -> None:
        missing = [p for p in table["path"].astype(str) if not (root / p).is_file()]
        if missing:
            raise UserError(f"{self.name}: {len(missing)} of {len(table)} video files listed in {source} are missing "
                            f"under {root}: {first_few(missing)}")  # fmt: skip

    # ----- placeholder -----
    def write_placeholder(self, root: str | os.PathLike, n_videos: int, seed: int = 0,
                          held_out: int | None = None) -> Path:  # fmt: skip
        """A small tree shaped like the published dataset: metadata in its published format + empty videos;
        ``held_out`` of them in the official test split (or the file held apart), where the adapter has one."""
        if n_videos < 1:
            raise UserError(f"{self.name}: a placeholder needs at least 1 video (n_videos={n_videos})")
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        rows = self.placeholder_rows(rng, n_videos, **({} if held_out is None else {"held_out": held_out}))
        self.write_metadata(root, rows)
        touch_videos(root, rows["path"])
        return root

    def placeholder_rows(self, rng: np.random.Generator, n: int) -> pd.DataFrame:
        raise NotImplementedError

    def write_metadata(self, root: Path, rows: pd.DataFrame) -> None:
        raise NotImplementedError
