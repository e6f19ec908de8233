"""The features store: a features file read lazily, row by row, and written as a stream (issue 22, item 6).

**The choice** (memory-mapped arrays or one file per shard): neither a new format nor a migration. A features
file stays the ``.npz`` of the contract (``vqaloop.features.io``: ``ids``, ``frames``, ``pooled``, ``encoder``,
``frame_indices``), and ``write_features`` has always written it uncompressed (ZIP_STORED) in C order, so every
array already lies as a plain ``.npy`` block at a fixed offset inside the archive. The store finds each block's
offset once (the zip directory and the ``.npy`` header) and reads rows with positioned reads (``os.preadv``) at
``offset + row * row_bytes``, into buffers its caller owns. Every features file written so far is therefore a
store, byte for byte, and the files written from now on are the same bytes as before (``FeaturesWriter``).

Why positioned reads and not ``numpy.memmap``: the pages of a memory map count in the process's resident set
(RSS) once touched, until the kernel evicts them, so one pass over a 740 GB split would show hundreds of GB of
RSS and a job limit would kill it; with ``pread`` the kernel's page cache keeps what it likes and the process
holds one chunk. Why not one file per shard: it would change the contract every reader and the workflow's outputs
rely on (``<root>/<dataset>/<encoder>.npz``) for no better access pattern: training reads random rows, scoring
and selection read sequential chunks, and both are one ``pread`` per run of consecutive rows here.

A compressed ``.npz`` (``numpy.savez_compressed``, never written by vqaloop) stays readable: its arrays are
loaded whole on first use, without the memory bound.

``FeaturesWriter`` streams a features file: the ``frames`` rows go to the archive as they are computed, the
``pooled`` rows and frame indices to an unnamed temporary file beside it until ``frames`` is complete; the bytes
equal those of ``write_npz_deterministic`` on the whole arrays (tested).
"""

from __future__ import annotations

import os
import struct
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError

LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # a zip entry's local file header (30 bytes)
LOCAL_SIGNATURE = 0x04034B50
COPY_BYTES = 16 << 20  # bytes per read when copying a spilled array into the archive
CHUNK_BYTES = 16 << 20  # bytes of rows per chunk of a sequential pass (statistics, a streamed selection)


class DiskArray:
    """One array of a features file: shape, dtype, and rows read on demand (``read``, ``read_range``).

    ``memory``: the array itself when its entry is compressed (loaded whole). ``check``: a function called with
    (rows read, their row numbers) after every read (the store's NaN/inf check).
    """

    def __init__(self, path: Path, name: str, shape: tuple, dtype: np.dtype, offset: int = 0,
                 memory: np.ndarray | None = None):  # fmt: skip
        self.path, self.name, self.shape, self.dtype = path, name, tuple(int(s) for s in shape), np.dtype(dtype)
        self.offset, self.memory = offset, memory
        self.check = None
        self._fd: int | None = None

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 1

    def __del__(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except Exception:  # OSError, or os already gone at interpreter exit
                pass

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def row_shape(self) -> tuple:
        return self.shape[1:]

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def _pread_into(self, out: np.ndarray, first_row: int) -> None:
        """Fill ``out`` (consecutive rows from ``first_row``) from the file."""
        view = memoryview(out.reshape(-1)).cast("B")
        where, done = self.offset + first_row * self.row_bytes, 0
        while done < len(view):
            got = os.preadv(self._descriptor(), [view[done:]], where + done)
            if got <= 0:
                raise UserError(f"{self.path}: truncated features file ({self.name!r} ends early)")
            done += got

    def read_all(self) -> np.ndarray:
        """The whole array (a new array)."""
        if not self.shape:
            if self.memory is not None:
                return np.array(self.memory)
            out = np.empty((), dtype=self.dtype)
            self._pread_into(out, 0)
            return out
        return self.read_range(0, len(self))

    def read_range(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` (a new array, or ``out``, of that shape and this array's dtype)."""
        start, stop = max(0, int(start)), min(len(self), int(stop))
        if self.memory is not None:
            if out is None:
                out = np.array(self.memory[start:stop])
            else:
                np.copyto(out, self.memory[start:stop])
        else:
            out = np.empty((max(0, stop - start), *self.row_shape), dtype=self.dtype) if out is None else out
            if len(out):
                self._pread_into(out, start)
        if self.check is not None and len(out):
            self.check(out, np.arange(start, stop))
        return out

    def read(self, rows, out: np.ndarray | None = None) -> np.ndarray:
        """The rows ``rows`` (integers, any order, repeats allowed), in that order (a new array, or ``out`` when
        the rows are increasing)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"row outside 0..{len(self) - 1} of {self.path}:{self.name}")
        if self.memory is not None:
            out = np.array(self.memory[rows])
        elif len(rows) and np.all(np.diff(rows) == 1):
            return self.read_range(int(rows[0]), int(rows[-1]) + 1, out)
        else:
            unique, inverse = np.unique(rows, return_inverse=True)
            increasing = len(unique) == len(rows) and np.array_equal(unique, rows)
            use_out = out is not None and increasing
            buffer = out if use_out else np.empty((len(unique), *self.row_shape), dtype=self.dtype)
            breaks = np.flatnonzero(np.diff(unique) != 1) + 1
            for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(unique)], strict=True):
                if b > a:
                    self._pread_into(buffer[a:b], int(unique[a]))
            out = buffer if increasing else buffer[inverse]
        if self.check is not None and len(out):
            self.check(out, rows)
        return out

    def chunks(self, rows=None, max_bytes: int = CHUNK_BYTES):
        """(positions, array) for consecutive runs of ``rows`` (default: every row) of at most ``max_bytes``."""
        n = len(self) if rows is None else len(rows)
        step = max(1, max_bytes // max(1, self.row_bytes))
        for start in range(0, n, step):
            stop = min(start + step, n)
            yield slice(start, stop), self.read_range(start, stop) if rows is None else self.read(rows[start:stop])


def npy_layout(path: Path) -> dict[str, DiskArray]:
    """Every ``.npy`` entry of a zip archive as a ``DiskArray`` (where its data starts, its shape and dtype)."""
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if i.filename.endswith(".npy")]
        out = {}
        with open(path, "rb") as fh:
            for info in infos:
                name = info.filename[: -len(".npy")]
                if info.compress_type != zipfile.ZIP_STORED:  # compressed: loaded whole, no bound
                    with archive.open(info) as entry:
                        array = np.lib.format.read_array(entry, allow_pickle=False)
                    out[name] = DiskArray(path, name, array.shape, array.dtype, memory=array)
                    continue
                fh.seek(info.header_offset)
                header = LOCAL_HEADER.unpack(fh.read(LOCAL_HEADER.size))
                if header[0] != LOCAL_SIGNATURE:
                    raise ValueError(f"entry {info.filename}: bad local header")
                start = info.header_offset + LOCAL_HEADER.size + header[9] + header[10]
                fh.seek(start)
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                if dtype.hasobject:
                    raise ValueError(f"entry {info.filename} holds Python objects")
                data = fh.tell()
                size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if data - start + size > info.file_size:
                    raise ValueError(f"entry {info.filename} is shorter than its shape {shape}")
                if fortran and len(shape) > 1:  # not C order: rows are not contiguous; load it whole
                    fh.seek(data)
                    array = np.fromfile(fh, dtype=dtype, count=size // dtype.itemsize).reshape(shape, order="F")
                    out[name] = DiskArray(path, name, shape, dtype, memory=array)
                    continue
                out[name] = DiskArray(path, name, shape, dtype, offset=data)
    return out


class FeatureStore:
    """A features file opened lazily: ``ids`` (read once), ``frames``, ``pooled``, ``frame_indices`` (DiskArrays,
    or None when absent), ``encoder``. Structure only; ``open_store`` checks it against the contract."""

    def __init__(self, path: Path, arrays: dict[str, DiskArray], ids: list[str] | None, ids_array=None):
        self.path, self.arrays, self.ids, self.ids_array = path, arrays, ids, ids_array
        self._index: dict[str, int] | None = None

    @property
    def frames(self) -> DiskArray | None:
        return self.arrays.get("frames")

    @property
    def pooled(self) -> DiskArray | None:
        return self.arrays.get("pooled")

    @property
    def frame_indices(self) -> DiskArray | None:
        return self.arrays.get("frame_indices")

    @property
    def encoder(self) -> str:
        return str(self.arrays["encoder"].read_all()) if "encoder" in self.arrays else ""

    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {vid: i for i, vid in enumerate(self.ids)}
        return self._index

    def rows_of(self, ids, source=None) -> np.ndarray:
        """File rows of ``ids``; one UserError naming the file (and ``source``) when some are missing."""
        index = self.index()
        missing = [vid for vid in ids if vid not in index]
        if missing:
            where = f" of {source}" if source is not None else ""
            raise UserError(f"{self.path}: no features for {len(missing)} video(s){where}, e.g. {missing[:3]}")
        return np.fromiter((index[vid] for vid in ids), dtype=np.int64, count=len(ids))


def all_finite(values: np.ndarray) -> bool:
    """True when every value is finite: a float64 sum (no temporary of the array's size; finite float32 values
    cannot overflow it), the exact per-value test only when it is not finite."""
    if values.dtype.kind not in "fc":
        return True
    return bool(np.isfinite(np.sum(values, dtype=np.float64))) or bool(np.isfinite(values).all())


def finite_check(store: FeatureStore, name: str):
    """The check a store's float array runs on every read: NaN or inf names the video."""
    return finite_rows_check(store.path, store.ids, name)


def finite_rows_check(path, ids, name: str):
    """A check of (values read, their row numbers): NaN or inf names the file, the array, the id and the row."""

    def check(values: np.ndarray, rows: np.ndarray) -> None:
        if all_finite(values):
            return
        finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if not finite.all():
            row = int(rows[int(np.argmin(finite))])
            raise UserError(f"{path}: {name!r} of id {ids[row]!r} (row {row}) holds NaN or inf")

    return check


class _StoreCache:
    """Stores opened by this process, by (path, inode, size, mtime): a ``vqaloop batch`` job parses each file's
    directory and ids once."""

    def __init__(self, limit: int = 64):
        self.limit, self.entries = limit, OrderedDict()

    def get(self, key):
        store = self.entries.pop(key, None)
        if store is not None:
            self.entries[key] = store
        return store

    def put(self, key, store) -> None:
        self.entries[key] = store
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)


_STORES = _StoreCache()


def open_npz_store(path: str | os.PathLike, what: str = "features file") -> FeatureStore:
    """The arrays of an ``.npz`` as a FeatureStore (ids decoded, nothing else read), or one UserError naming the
    file: missing, empty, not a zip, unreadable, no or bad ``ids`` (the caller checks the rest)."""
    from vqaloop.io.readers import _reason, _zip_archive

    expected = f"an .npz {what}"
    path = _zip_archive(path, what, expected)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, what)
    cached = _STORES.get(key)
    if cached is not None:
        return cached
    try:
        arrays = npy_layout(path)
        ids_array = arrays["ids"].read_all() if "ids" in arrays else None
    except UserError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, struct.error) as err:
        raise UserError(f"{path}: not {expected} (unreadable: {_reason(err)})") from None
    ids = None
    if ids_array is not None and ids_array.ndim == 1:
        if ids_array.dtype.kind == "S":
            try:
                ids_array = np.char.decode(ids_array, "utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}: 'ids' are not UTF-8 text") from None
        ids = [str(i) for i in ids_array.tolist()]
    store = FeatureStore(path, arrays, ids, ids_array)
    _STORES.put(key, store)
    return store


def open_store(path: str | os.PathLike) -> FeatureStore:
    """A features file of the contract (``vqaloop.features.io``), checked as ``load_features`` checks it except for
    the values, which every read checks (NaN or inf names the video); nothing but the ids is read."""
    path = Path(path)
    store = open_npz_store(path)
    arrays = store.arrays
    missing = [key for key in ("ids", "frames", "pooled", "encoder") if key not in arrays]
    if missing:
        raise UserError(f"{path}: features file lacks {', '.join(missing)} (has {', '.join(sorted(arrays))})")
    ids_arr = store.ids_array
    if ids_arr.ndim != 1 or ids_arr.dtype.kind not in "US":
        raise UserError(f"{path}: 'ids' must be a 1-D array of strings, got {ids_arr.dtype} {ids_arr.shape}")
    seen: set[str] = set()
    for i in store.ids:
        if i in seen:
            raise UserError(f"{path}: duplicate id {i!r}")
        seen.add(i)
    n = len(store.ids)
    frames, pooled = store.frames, store.pooled
    if frames.ndim != 3 or frames.shape[0] != n or frames.dtype.kind != "f":
        raise UserError(f"{path}: 'frames' must be float (N={n}, F, D), got {frames.dtype} {frames.shape}")
    if pooled.shape != (n, frames.shape[2]) or pooled.dtype.kind != "f":
        raise UserError(f"{path}: 'pooled' must be float (N={n}, D={frames.shape[2]}), got {pooled.shape}")
    indices = store.frame_indices
    if indices is not None and (indices.shape != frames.shape[:2] or indices.dtype.kind not in "iu"):
        raise UserError(f"{path}: 'frame_indices' must be int (N, F) = {frames.shape[:2]}, got {indices.shape}")
    frames.check, pooled.check = finite_check(store, "frames"), finite_check(store, "pooled")
    return store


# ---- writing ----


def _npy_header(fp, shape: tuple, dtype) -> None:
    """The ``.npy`` header ``numpy.lib.format.write_array`` writes for a C-order array of this shape and dtype."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
              "shape": tuple(int(s) for s in shape)}  # fmt: skip
    try:
        np.lib.format.write_array_header_1_0(fp, header)
    except ValueError:  # a header longer than 64 KiB: format 2.0, as write_array would choose
        np.lib.format.write_array_header_2_0(fp, header)


def _entry(archive: zipfile.ZipFile, name: str):
    from vqaloop.features.io import ZIP_EPOCH

    info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    return archive.open(info, "w", force_zip64=True)


class FeaturesWriter:
    """A features file written as its rows come (``add``), bytes equal to ``write_features`` on the whole arrays.

    ``path`` is written as is (callers pass the temporary of ``io.atomic.atomic_path``). Memory: one chunk of
    rows; ``pooled`` and ``frame_indices`` wait in an unnamed temporary file beside ``path`` (gone with the
    process, whatever happens) until ``frames`` is complete.
    """

    def __init__(self, path: str | os.PathLike, ids: list[str], encoder: str, with_indices: bool):
        self.path, self.n, self.encoder, self.with_indices = Path(path), len(ids), str(encoder), with_indices
        self.archive = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_STORED)
        with _entry(self.archive, "ids") as entry:
            np.lib.format.write_array(entry, np.array([str(i) for i in ids], dtype=str), allow_pickle=False)
        self.frames_entry = None
        self.row_shape: tuple | None = None
        self.rows = 0
        self.spill = tempfile.TemporaryFile(dir=self.path.parent)  # pooled rows, then frame indices
        self.indices_spill = tempfile.TemporaryFile(dir=self.path.parent) if with_indices else None

    def add(self, frames: np.ndarray, frame_indices: np.ndarray | None = None) -> None:
        """The next rows: frames (k, F, D) and, with ``with_indices``, their frame indices (k, F)."""
        frames = np.ascontiguousarray(frames, dtype=np.float32)
        if frames.ndim != 3:
            raise ValueError(f"frames must be (k, F, D), got {frames.shape}")
        if self.frames_entry is None:
            self.row_shape = frames.shape[1:]
            self.frames_entry = _entry(self.archive, "frames")
            _npy_header(self.frames_entry, (self.n, *self.row_shape), np.float32)
        if frames.shape[1:] != self.row_shape or self.rows + len(frames) > self.n:
            raise ValueError(f"rows {frames.shape} after {self.rows} do not fit ({self.n}, *{self.row_shape})")
        if self.with_indices:
            frame_indices = np.ascontiguousarray(frame_indices, dtype=np.int64)
            if frame_indices.shape != frames.shape[:2]:
                raise ValueError(f"frame indices {frame_indices.shape} for frames {frames.shape}")
            self.indices_spill.write(memoryview(frame_indices.reshape(-1)).cast("B"))
        self.frames_entry.write(memoryview(frames.reshape(-1)).cast("B"))
        self.spill.write(memoryview(frames.mean(axis=1, dtype=np.float32).reshape(-1)).cast("B"))
        self.rows += len(frames)

    def _copy(self, name: str, spill, shape: tuple, dtype) -> None:
        spill.seek(0)
        with _entry(self.archive, name) as entry:
            _npy_header(entry, shape, dtype)
            while block := spill.read(COPY_BYTES):
                entry.write(block)

    def close(self, row_shape: tuple | None = None) -> Path:
        """Finish the file (every row added); ``row_shape`` (F, D) is needed only when there were no rows."""
        try:
            if self.rows != self.n:
                raise ValueError(f"{self.rows} rows written of {self.n}")
            if self.frames_entry is None:
                if row_shape is None:
                    raise ValueError("no rows: the frame shape (F, D) must be given")
                self.row_shape = tuple(row_shape)
                self.frames_entry = _entry(self.archive, "frames")
                _npy_header(self.frames_entry, (self.n, *self.row_shape), np.float32)
            self.frames_entry.close()
            self._copy("pooled", self.spill, (self.n, self.row_shape[1]), np.float32)
            with _entry(self.archive, "encoder") as entry:
                np.lib.format.write_array(entry, np.asanyarray(np.array(self.encoder)), allow_pickle=False)
            if self.with_indices:
                self._copy("frame_indices", self.indices_spill, (self.n, self.row_shape[0]), np.int64)
            self.archive.close()
        finally:
            self.abort()
        return self.path

    def abort(self) -> None:
        """Close everything (the caller removes the file)."""
        for f in (self.spill, self.indices_spill):
            if f is not None:
                f.close()
        if self.archive.fp is not None:
            if self.frames_entry is not None and not self.frames_entry.closed:
                try:
                    self.frames_entry.close()
                except (ValueError, OSError):
                    pass
            self.archive.close()


class RowView:
    """Rows of one ``DiskArray`` in a given order (a pool's rows in manifest order), read on demand as float32.

    ``read(positions)``, ``read_range(a, b)``, ``chunks(max_bytes)``, ``read_all()``; ``numpy.asarray(view)`` reads
    it whole (code that needs the array in memory gets one copy, no more). ``rows`` None: every row, in file order.
    """

    def __init__(self, array: DiskArray, rows: np.ndarray | None = None, dtype=np.float32):
        self.array, self.rows, self.dtype = array, None if rows is None else np.asarray(rows, dtype=np.int64), dtype
        self.shape = (len(array) if rows is None else len(self.rows), *array.row_shape)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def take(self, positions) -> RowView:
        positions = np.asarray(positions, dtype=np.int64)
        return RowView(self.array, positions if self.rows is None else self.rows[positions], self.dtype)

    def read(self, positions) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        rows = positions if self.rows is None else self.rows[positions]
        return self.array.read(rows).astype(self.dtype, copy=False)

    def read_range(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        stop = min(stop, len(self))
        if out is not None and self.array.dtype != np.dtype(self.dtype):
            out = None  # converted: a new array
        if self.rows is None:
            return self.array.read_range(start, stop, out).astype(self.dtype, copy=False)
        return self.array.read(self.rows[start:stop], out).astype(self.dtype, copy=False)

    def chunks(self, max_bytes: int = CHUNK_BYTES, start: int = 0, reuse: bool = False):
        """(slice, rows) of consecutive positions from ``start``, at most ``max_bytes`` a chunk. ``reuse``: every
        chunk is read into the same buffer (valid until the next one; the consumer may change it): no allocation
        per chunk, so the allocator keeps no freed chunks resident."""
        step = max(1, max_bytes // max(1, self.row_bytes))
        buffer = np.empty((min(step, len(self)), *self.shape[1:]), dtype=self.dtype) if reuse else None
        for a in range(start, len(self), step):
            b = min(a + step, len(self))
            yield slice(a, b), self.read_range(a, b, None if buffer is None else buffer[: b - a])

    def read_all(self) -> np.ndarray:
        return self.read_range(0, len(self))

    def __array__(self, dtype=None, copy=None):
        out = self.read_all()
        return out if dtype is None else out.astype(dtype, copy=False)
