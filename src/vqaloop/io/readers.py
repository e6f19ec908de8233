"""Reading the files a user hands to a command: every way a file can be wrong becomes one ``UserError`` line.

One place for the checks every reader needs: the file exists and is a file, is not empty (0 bytes), is text
(a CSV, YAML or JSON) or the right binary container (an ``.npz`` or a torch checkpoint is a zip archive),
is complete (a CSV row with fewer fields than its header is a truncated or malformed file), parses, and has
the columns the caller requires. Each message starts with the file's path and names ``what`` was expected,
so a user who passed the wrong file sees which and why, never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError

ZIP_MAGIC = b"PK\x03\x04"  # .npz files and torch checkpoints are zip archives
BINARY_PROBE = 8192  # bytes looked at for NUL bytes


def _reason(err: BaseException) -> str:
    """The first line of an exception's message, shortened (library messages can span lines)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


def existing_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path if it is a non-empty regular file; else one UserError naming it and ``what``."""
    from vqaloop.io.paths import check_length

    path = check_length(path, what)
    if not path.exists():
        raise UserError(f"{path}: {what} not found")
    if not path.is_file():
        raise UserError(f"{path}: not a file (expected {what})")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file (0 bytes), expected {what}")
    return path


def read_text(path: str | os.PathLike, what: str) -> str:
    """The file's text (UTF-8); binary or undecodable content is refused."""
    path = existing_file(path, what)
    data = path.read_bytes()
    if b"\0" in data[:BINARY_PROBE]:
        raise UserError(f"{path}: binary content, not text (expected {what})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (undecodable byte at offset {err.start}), expected {what}") from None


def read_csv(path: str | os.PathLike, what: str, required: tuple[str, ...] | list[str] = (), **kwargs):
    """A CSV file as a DataFrame (``kwargs`` go to ``pandas.read_csv``), checked as the module docstring says.

    ``required``: columns that must be present. Rows with another number of fields than the header are
    refused (pandas would fill a cut-off last row with NaN and carry on).
    """
    import pandas as pd

    text = read_text(path, what)
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                raise UserError(
                    f"{path} line {reader.line_num}: {len(row)} field(s), the header has {len(header)} "
                    f"(truncated or malformed {what})"
                )
    except csv.Error as err:
        raise UserError(f"{path} line {reader.line_num}: not a readable CSV ({err}), expected {what}") from None
    try:
        df = pd.read_csv(io.StringIO(text), **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, TypeError) as err:
        raise UserError(f"{path}: not a readable CSV ({_reason(err)}), expected {what}") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        shown = [str(c)[:40] for c in df.columns[:12]]
        raise UserError(f"{path}: {what} lacks column(s) {', '.join(missing)} (has {', '.join(shown) or 'none'})")
    return df


MAX_VALUE = 1e9  # |value| above this in a score, MOS or metric column is a corrupt file (squares must stay finite)


def read_ids(path: str | os.PathLike, what: str, column: str = "video_id", empty_ok: bool = False) -> list[str]:
    """The ``column`` of a CSV of ids (a shaped pool, a selection, ``--only-ids``), as strings in file order;
    a file without rows is refused unless ``empty_ok``."""
    table = read_csv(path, what, (column,), dtype={column: str})
    if table.empty and not empty_ok:
        raise UserError(f"{path}: no rows ({what})")
    return table[column].tolist()


def numeric_column(df, column: str, path: str | os.PathLike, empty_ok: bool = False) -> np.ndarray:
    """``df[column]`` as float64, every value a finite number within +-``MAX_VALUE`` (an empty cell only with
    ``empty_ok``, as NaN); one UserError naming the file, the CSV line and the row's id otherwise."""
    import pandas as pd

    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64, copy=True)
    empty = df[column].isna().to_numpy() | (df[column].astype(str).str.strip() == "").to_numpy()
    bad = ~(np.abs(values) <= MAX_VALUE) & ~(empty & empty_ok)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        vid = f" (video_id {df['video_id'].iloc[pos]})" if "video_id" in df.columns else ""
        raw = df[column].iloc[pos]
        why = "empty" if empty[pos] else f"{raw!r} is not a finite number within +-{MAX_VALUE:g}"
        raise UserError(f"{path}: row {pos + 2}{vid}: {column} {why}")
    values[empty] = np.nan
    return values


def read_json(path: str | os.PathLike, what: str):
    """A JSON file's value."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({_reason(err)}), expected {what}") from None


def parse_json_argument(text: str, option: str):
    """The value of a command-line option that takes JSON (``--spec``, ``--clip``...)."""
    try:
        return json.loads(text)
    except ValueError as err:
        raise UserError(f"{option}: not valid JSON ({_reason(err)})") from None


def _zip_archive(path: str | os.PathLike, what: str, expected: str) -> Path:
    path = existing_file(path, what)
    with open(path, "rb") as fh:
        magic = fh.read(len(ZIP_MAGIC))
    if magic != ZIP_MAGIC:
        raise UserError(f"{path}: not {expected} (not a zip archive)")
    return path


class _ArrayCache:
    """The arrays of the ``.npz`` files this process read, by (path, inode, size, mtime), least recently used
    dropped beyond ``limit`` bytes: a ``vqaloop batch`` job reads each features file once for all its commands.
    The arrays are read-only, so no caller can change what the next one reads."""

    def __init__(self, limit: int = 3 << 30):
        self.limit, self.entries = limit, {}

    @staticmethod
    def key(path: Path) -> tuple:
        st = path.stat()
        return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)

    def get(self, key):
        arrays = self.entries.pop(key, None)
        if arrays is not None:
            self.entries[key] = arrays  # most recently used last
        return arrays

    def put(self, key, arrays: dict[str, np.ndarray]) -> None:
        for value in arrays.values():
            value.flags.writeable = False
        self.entries[key] = arrays
        total = sum(v.nbytes for entry in self.entries.values() for v in entry.values())
        while total > self.limit and len(self.entries) > 1:
            oldest = next(iter(self.entries))
            total -= sum(v.nbytes for v in self.entries.pop(oldest).values())


_NPZ_CACHE = _ArrayCache()


def read_npz(path: str | os.PathLike, what: str = "features file") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickled objects, read-only arrays), or one UserError naming the file.

    Messages: "<path>: features file not found", "<path>: not an .npz features file (...)".
    A file read before by this process and unchanged since is not read again (``_ArrayCache``).
    """
    expected = f"an .npz {what}"
    path = _zip_archive(path, what, expected)
    key = _ArrayCache.key(path)
    cached = _NPZ_CACHE.get(key)
    if cached is not None:
        return dict(cached)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise UserError(f"{path}: not {expected}")
            arrays = {key: npz[key] for key in npz.files}
    except UserError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, AttributeError) as err:
        raise UserError(f"{path}: not {expected} (unreadable: {_reason(err)})") from None
    _NPZ_CACHE.put(key, arrays)
    return dict(arrays)


def read_torch(path: str | os.PathLike, what: str = "model checkpoint"):
    """A torch file saved by ``torch.save`` (weights only: no code runs), or one UserError naming the file.

    Messages: "<path>: model checkpoint not found", "<path>: not a vqaloop model checkpoint (...)".
    """
    import torch

    expected = f"a vqaloop {what}"
    path = _zip_archive(path, what, expected)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, pickle errors, zip errors, ...
        raise UserError(f"{path}: not {expected} (unreadable: {_reason(err)})") from None
