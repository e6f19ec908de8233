"""Datasets whose published metadata format could NOT be confirmed from public files, read through the generic
CSV adapter (``vqaloop.datasets.adapter.adapt``) with one documented column mapping; and the W2S unlabelled pool.

Documented format (ours, not the dataset's): ``<adapter name>_mos.csv`` at the dataset root, one row per video,
columns ``video`` (path relative to the root), ``mos`` (on the scale the adapter names, i.e. the study's
rating scale as the dataset's paper describes it), optional ``content`` (source/reference id: splits never
share one; default one content per video) and optional ``split`` (train/test/pool; default every video in
``test``). Convert the file a dataset ships (spreadsheet, .mat, ...) into this CSV once. A MOS outside the
named scale is refused with one line, so a file on another scale is caught, not silently rescaled.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.datasets.adapter import adapt
from vqaloop.datasets.base import DatasetAdapter, index_videos, placeholder_mos, touch_videos
from vqaloop.datasets.mds_release import AuthorsSplits
from vqaloop.datasets.registry import register_dataset
from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import validate_manifest
from vqaloop.io.readers import read_csv

MAPPING = {"path_column": "video", "mos_column": "mos", "content_column": "content", "split_column": "split"}


class MappedCSV(DatasetAdapter):
    """A dataset read from ``<name>_mos.csv`` through the generic adapter (module docstring)."""

    split_note = "none published here (all test unless the CSV has a split column)"
    versions = 3  # placeholder videos per content

    @property
    def metadata_files(self):
        return ((f"{self.name}_mos.csv",),)

    def parse(self, root, files):
        table = read_csv(files[0], f"{self.title} MOS table (columns video, mos[, content, split])", ("video", "mos"),
                         dtype={"video": str, "content": str, "split": str})  # fmt: skip
        kwargs = {k: (v if v in table.columns else None) for k, v in MAPPING.items()}
        out = adapt(table, str(files[0]), self.name, id_column=None, **kwargs)
        if kwargs["split_column"] is None:
            out["split"] = "test"
        return out

    def placeholder_rows(self, rng, n):
        n_contents = max(1, -(-n // self.versions))
        contents = [f"src{c:03d}" for c in range(n_contents)]
        videos = [f"videos/{contents[k % n_contents]}_v{k // n_contents:02d}.mp4" for k in range(n)]
        low, high = self.mos_range
        return pd.DataFrame({"video": videos, "mos": placeholder_mos(rng, n, low, high, 4),
                             "content": [contents[k % n_contents] for k in range(n)], "path": videos})  # fmt: skip

    def write_metadata(self, root, rows):
        write_csv_atomic(rows[["video", "mos", "content"]], root / self.metadata_files[0][0])


def _mapped(name: str, title: str, scale: tuple[float, float], scale_note: str, published: int | None = None):
    """Register a MappedCSV adapter; its docstring states the documented mapping and the assumed scale;
    ``published``: the dataset's video count (W2S-VQA Table 3), for a placeholder at its published size."""
    cls = type(f"Mapped_{name}", (MappedCSV,), {"title": title, "mos_range": scale, "format_source": scale_note,
                                                 "published": None if published is None else (published, None),
                                                 "__doc__": f"{title}: {name}_mos.csv (documented mapping, module "
                                                            f"docstring); MOS scale {scale} ({scale_note})."})  # fmt: skip
    return register_dataset(name)(cls)


# (name, paper title, MOS scale assumed from the dataset's paper, note): the metadata format of none of these
# could be read in a public file (CGVDS README: "dataset will be completely published upon acceptance";
# AIGVQA-DB: Baidu pan only; the others: LIVE / Waterloo / YouTube download pages not in the public index).
_mapped(
    "cgvds", "CGVDS", (1.0, 5.0), "format not public; 5-point ACR per Zadtootaghaj et al. 2020, assumed", 360
)  # W2S-VQA Table 3 (its Tables 1 and 5 print 357)
_mapped("live_livestream", "LIVE-Livestream", (0.0, 100.0), "format not public; continuous 0-100 scale, assumed")
_mapped("youtube_sfv_hdr2sdr", "YouTube-SFV+HDR (HDR2SDR)", (1.0, 5.0), "format not public; [1, 5] assumed")
_mapped("aigvqa_db", "AIGVQA-DB", (0.0, 100.0), "format not public (Baidu pan); [0, 100] assumed")
_mapped("live_yt_gaming", "LIVE-YT-Gaming", (0.0, 100.0), "format not public; continuous 0-100 scale, assumed", 600)
_mapped("waterloo_ivc_4k", "Waterloo-IVC-4K", (0.0, 100.0), "format not public; 0-100 scale, assumed", 1200)


@register_dataset("youtube_sfv_sdr")
class YouTubeSFVSDR(AuthorsSplits, MappedCSV):
    """YouTube-SFV+HDR, SDR part (Wang et al. 2024). **The MDS-VQA authors' split** (``mds_release.AuthorsSplits``):
    ``sdr_train_mos.txt`` and ``sdr_test_mos.txt`` (``<file> <raw MOS>``: 1,624 / 406 videos, the train list is the
    paper's unlabelled pool) at the root, in ``sdr/`` or ``datasets/sdr/`` (their repository) or beside
    ``metadata``; file names ``SDR_<Category>_<id>.mp4`` found under the root by name; video_id = the file stem.
    MOS: the authors' raw values (1.93-4.79 in their release: inside [1, 5], kept unchanged; their training lists
    ``sdr_*_set.txt`` hold the same MOS min-max-normalised to [1, 5]). Official split: theirs (train / test).

    Without those files: ``youtube_sfv_sdr_mos.csv`` in the documented generic mapping (module docstring), whose
    MOS scale [1, 5] is then assumed."""

    title = "YouTube-SFV+HDR (SDR)"
    mos_range = (1.0, 5.0)
    format_source = "MDS-VQA authors' release a6834d5: datasets/sdr/sdr_{train,test}_mos.txt"
    split_note = "official (MDS-VQA authors' lists): train (the pool) / test"
    AUTHORS_MOS = "sdr_train_mos.txt"
    AUTHORS_SPLITS = {"train": "sdr_train_mos.txt", "test": "sdr_test_mos.txt"}
    AUTHORS_FOLDERS = ("sdr", "datasets/sdr")
    published = (1624 + 406, 406)  # the MDS-VQA authors' pool and test lists
    CATEGORIES = ("Animal", "Cooking", "Dance", "Gameplay", "Health", "Hobby", "Music", "Society", "Speech", "Sports")

    def metadata_paths(self, root: Path, metadata) -> list[Path]:
        if root.is_dir() and (files := self.authors_files(root, metadata)) is not None:
            return [files["mos"], files["test"]]
        return super().metadata_paths(root, metadata)

    def expected_files(self, root) -> list[Path]:
        files = self.authors_files(Path(root), None) if Path(root).is_dir() else None
        return [files["mos"], files["test"]] if files else super().expected_files(root)

    def raw_mos_lists(self) -> tuple[str, ...]:
        return tuple(self.AUTHORS_SPLITS.values())

    def parse(self, root, files):
        if files[0].name == self.AUTHORS_MOS:
            return self.parse_authors(root, {"mos": files[0], "train": files[0], "test": files[1]})
        return super().parse(root, files)

    def write_authors_placeholder(self, root, rows):
        """Each raw MOS list is a split list."""
        from vqaloop.io.atomic import write_text_atomic

        for split, name in self.AUTHORS_SPLITS.items():
            part = rows[rows.split == split]
            write_text_atomic(root / name, "".join(f"{f} {m!r}\n" for f, m in zip(part.file, part.mos.astype(float),
                                                                                   strict=True)))  # fmt: skip

    def placeholder_rows(self, rng, n, held_out=None):
        codes = rng.choice(36**4, size=n, replace=False)
        alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
        ids = ["".join(alphabet[(int(c) // 36**k) % 36] for k in range(4)) for c in codes]
        files = [f"SDR_{self.CATEGORIES[k % len(self.CATEGORIES)]}_{i}.mp4" for k, i in enumerate(ids)]
        split = (["test" if k % 5 == 4 else "train" for k in range(n)] if held_out is None else
                 ["test" if k >= n - held_out else "train" for k in range(n)])  # fmt: skip
        return pd.DataFrame({"file": files, "split": split, "mos": placeholder_mos(rng, n, 1, 5, 3), "path": files})

    def write_metadata(self, root, rows):
        self.write_authors_placeholder(root, rows)


@register_dataset("video_folder")
class VideoFolder(DatasetAdapter):
    """The W2S-VQA unlabelled pool (the paper's social-media videos, W2S-VQA Sec. 3.2): every video file under
    the root (suffixes in ``base.VIDEO_SUFFIXES``), sorted by path; no MOS; split ``pool``; video_id = path
    without suffix; content_id = video_id. No metadata file."""

    title = "video folder (W2S-VQA pool)"
    metadata_files = ()
    mos_range = None
    split_note = "pool (no labels)"
    format_source = "ours: the files under the root"

    def read(self, root: str | os.PathLike, metadata=None) -> pd.DataFrame:
        root = Path(root)
        if not root.is_dir():
            raise UserError(f"{self.name}: dataset root {root} is not a folder")
        paths = sorted(index_videos_all(root))
        if not paths:
            raise UserError(f"{self.name}: no video files under {root} (suffixes .mp4, .mkv, .webm, .mov, ...)")
        ids = [Path(p).with_suffix("").as_posix() for p in paths]
        table = pd.DataFrame({"video_id": ids, "path": paths, "mos": np.nan, "split": "pool", "dataset": self.name,
                              "content_id": ids})  # fmt: skip
        return validate_manifest(table, f"{self.name} adapter on {root}")

    def write_placeholder(self, root, n_videos, seed=0, held_out=None):
        if n_videos < 1:
            raise UserError(f"{self.name}: a placeholder needs at least 1 video (n_videos={n_videos})")
        root = Path(root)
        platforms = ("bilibili", "youku", "youtube", "tiktok")  # W2S-VQA Appendix A.1 sources
        rng = np.random.default_rng(seed)
        ids = sorted(int(v) for v in rng.choice(np.arange(10**6), size=n_videos, replace=False))
        touch_videos(root, [f"{platforms[i % 4]}/{v:06d}.mp4" for i, v in enumerate(ids)])
        return root


def index_videos_all(root: Path) -> list[str]:
    """Every video file under ``root`` (all of them, unlike ``index_videos`` which keeps one per stem)."""
    from vqaloop.datasets.base import VIDEO_SUFFIXES

    return [Path(d, f).relative_to(root).as_posix() for d, _, files in os.walk(root) for f in files
            if Path(f).suffix.lower() in VIDEO_SUFFIXES]  # fmt: skip


__all__ = ["MappedCSV", "VideoFolder", "index_videos"]
