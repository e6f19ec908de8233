"""The manifest contract (DESIGN.md): one CSV per dataset, validated wherever one is read.

Required columns: ``video_id`` (unique), ``path`` (relative to the data root), ``mos`` (empty in a pool until
labelled), ``split`` (train | test | pool), ``dataset``, ``content_id`` (splits never share a content_id).
Optional: ``domain``, ``distortion``, ``level``, ``fps``, ``width``, ``height``, ``n_frames`` and more.
``dataset`` names a folder (``<features root>/<dataset>/``): a safe name (``vqaloop.io.paths.check_name``); a
relative ``path`` stays under the data root (no leading ``..``); a MOS is a finite number within +-1e9.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.paths import NAME_PATTERN, check_name, check_relative_path
from vqaloop.io.readers import MAX_VALUE

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ["video_id", "path", "mos", "split", "dataset", "content_id"]
OPTIONAL_COLUMNS = ["domain", "distortion", "level", "fps", "width", "height", "n_frames"]
SPLITS = ("train", "test", "pool")
LABELLED_SPLITS = ("train", "test")


def _row(df: pd.DataFrame, i) -> str:
    """'row N (video_id X)' with N the line number in the CSV file (header is line 1)."""
    pos = df.index.get_loc(i)
    vid = df.loc[i, "video_id"] if "video_id" in df.columns else "?"
    return f"row {pos + 2} (video_id {vid})"


def validate_manifest(df: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """Check the contract; return the frame with ``mos`` as float. Raises UserError naming file and row."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{source}: manifest lacks required column(s) {missing} (has {list(df.columns)})")
    if len(df) == 0:
        raise UserError(f"{source}: manifest has no rows")
    for col in ("video_id", "path", "split", "dataset", "content_id"):
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            raise UserError(f"{source}: {_row(df, df.index[empty.to_numpy()][0])} has an empty {col}")
    df = df.copy()
    df["video_id"] = df["video_id"].astype(str)
    dup = df["video_id"].duplicated(keep="first")
    if dup.any():
        i = df.index[dup.to_numpy()][0]
        raise UserError(f"{source}: duplicate video_id {df.loc[i, 'video_id']!r} at {_row(df, i)}")
    bad_split = ~df["split"].isin(SPLITS)
    if bad_split.any():
        i = df.index[bad_split.to_numpy()][0]
        raise UserError(f"{source}: {_row(df, i)} has split {df.loc[i, 'split']!r}; valid: {list(SPLITS)}")
    bad_name = ~df["dataset"].astype(str).str.fullmatch(NAME_PATTERN.pattern)
    if bad_name.any():
        i = df.index[bad_name.to_numpy()][0]
        check_name(df.loc[i, "dataset"], f"{source}: {_row(df, i)}: dataset")
    escaping = df["path"].astype(str).map(lambda p: not os.path.isabs(p) and os.path.normpath(p).startswith(".."))
    if escaping.any():
        i = df.index[escaping.to_numpy()][0]
        check_relative_path(df.loc[i, "path"], f"{source}: {_row(df, i)}")
    mos = pd.to_numeric(df["mos"], errors="coerce")
    non_numeric = mos.isna() & df["mos"].notna() & (df["mos"].astype(str).str.strip() != "")
    if non_numeric.any():
        i = df.index[non_numeric.to_numpy()][0]
        raise UserError(f"{source}: {_row(df, i)} has a non-numeric mos {df.loc[i, 'mos']!r}")
    if np.isinf(mos).any():
        i = df.index[np.isinf(mos).to_numpy()][0]
        raise UserError(f"{source}: {_row(df, i)} has an infinite mos")
    if (np.abs(mos) > MAX_VALUE).any():
        i = df.index[(np.abs(mos) > MAX_VALUE).to_numpy()][0]
        raise UserError(f"{source}: {_row(df, i)} has a mos of {mos[i]:g}, beyond +-{MAX_VALUE:g} (a corrupt file?)")
    unlabelled = mos.isna() & df["split"].isin(LABELLED_SPLITS)
    if unlabelled.any():
        i = df.index[unlabelled.to_numpy()][0]
        raise UserError(f"{source}: {_row(df, i)} is in split {df.loc[i, 'split']!r} but its mos is empty or NaN")
    df["mos"] = mos
    splits_per_content = df.groupby("content_id")["split"].nunique()
    shared = splits_per_content[splits_per_content > 1]
    if len(shared):
        cid = shared.index[0]
        where = sorted(df.loc[df.content_id == cid, "split"].unique())
        raise UserError(f"{source}: content_id {cid!r} appears in splits {where}; splits must not share content")
    return df


def read_manifest(path: str | Path) -> pd.DataFrame:
    from vqaloop.io.readers import read_csv

    path = Path(path)
    df = read_csv(path, "manifest file", dtype={"video_id": str, "content_id": str})
    return validate_manifest(df, path)


def read_split(path: str | Path, split: str | None) -> pd.DataFrame:
    """A manifest's rows, or only one split's, which must then have rows (the option ``--split`` is named)."""
    df = read_manifest(path)
    if split is None:
        return df
    rows = df[df.split == split]
    if rows.empty:
        raise UserError(f"{path}: no rows in split {split!r} (--split)")
    return rows


def manifest_of_args(args) -> pd.DataFrame | None:
    """The ``--manifest`` of a command that takes either VIDEO files or ``--manifest M --data-root ROOT``.

    None when VIDEO files are given; one UserError line for both or neither, or a manifest without a data root.
    """
    if args.manifest is None:
        if not args.videos:
            raise UserError("no input: give VIDEO files or --manifest MANIFEST --data-root ROOT")
        return None
    if args.videos:
        raise UserError("give either VIDEO files or --manifest, not both")
    if args.data_root is None:
        raise UserError("--manifest needs --data-root (the folder its paths are relative to)")
    return read_manifest(args.manifest)


def check_files(df: pd.DataFrame, data_root: str | Path, source: str | Path, decode: bool = True) -> None:
    """Every path exists under ``data_root`` and (with ``decode``) opens with at least one frame."""
    from vqaloop.io.video import count_frames

    root = Path(data_root)
    for i in df.index:
        file = root / str(df.loc[i, "path"])
        if not file.is_file():
            raise UserError(f"{source}: {_row(df, i)}: video file {file} not found")
        if decode:
            try:
                count_frames(file)
            except UserError as err:
                raise UserError(f"{source}: {_row(df, i)}: {err}") from None


def add_arguments(parser):
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--data-root", type=Path, help="check every video file under this folder")
    parser.add_argument("--no-decode", action="store_true", help="only check the files exist")


def run(args) -> int:
    df = read_manifest(args.manifest)
    if args.data_root is not None:
        check_files(df, args.data_root, args.manifest, decode=not args.no_decode)
    counts = df["split"].value_counts().to_dict()
    print(f"{args.manifest}: valid manifest, {len(df)} videos, {df.content_id.nunique()} contents, {counts}")
    return 0
