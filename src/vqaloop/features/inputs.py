"""Model inputs read on demand from features stores: ``LazyInputs`` stands where an (N, F, D) tensor stood.

A model's inputs are its encoders' ``frames`` concatenated along D (``models.inputs.open_inputs``), for the videos
of one or more datasets. ``LazyInputs`` keeps, per dataset, each encoder's ``DiskArray`` and the file rows of
its videos, and reads rows only when asked:

* ``x[i]``, ``x[a:b]``, ``x[rows]`` (ints, a bool mask, a tensor of either) give a float32 tensor of those rows,
  the same values the whole tensor held (training batches, scoring batches);
* ``x.take(rows)`` gives a ``LazyInputs`` of those rows (nothing read);
* ``x.chunks()`` yields consecutive rows as numpy arrays of at most ``CHUNK_BYTES`` (statistics, passes);
* ``len(x)``, ``x.shape``, ``x.dtype`` as a tensor's.

Memory: one batch or one chunk, whatever the split's size. ``frame_statistics`` and ``value_statistics`` give a
model's standardisation statistics from the chunks, equal to torch's on the whole tensor
(``vqaloop.features.reductions``); ``capped_batch`` bounds a pass's batch by bytes (a VLM's frames are ~19 MB
a video) and leaves the small rows of the compact models at their usual batch (so their numbers do not change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vqaloop.errors import UserError
from vqaloop.features.store import CHUNK_BYTES, DiskArray

BATCH_BYTES = 1 << 30  # at most this many bytes of inputs per batch of a scoring pass (the defaults: far below)
RESIDENT_BYTES = 1 << 29  # a training loop holds inputs up to this size in memory instead of reading every batch


@dataclass
class InputPart:
    """One dataset's videos: each encoder's frames array and the file rows of the videos in that file."""

    arrays: list[DiskArray]
    rows: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.rows[0])

    def read(self, local: np.ndarray) -> np.ndarray:
        pieces = [array.read(rows[local]) for array, rows in zip(self.arrays, self.rows, strict=True)]
        block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=2)
        return block.astype(np.float32, copy=False)

    def take(self, local: np.ndarray) -> InputPart:
        return InputPart(self.arrays, [rows[local] for rows in self.rows])


class LazyInputs:
    """(N, F, D) float32 model inputs of one or more ``InputPart``s, read on demand (module docstring)."""

    def __init__(self, parts: list[InputPart]):
        self.parts = [p for p in parts if len(p)]
        frames = {a.shape[1] for p in self.parts for a in p.arrays}
        dims = {sum(a.shape[2] for a in p.arrays) for p in self.parts}
        if len(frames) > 1:
            paths = sorted({str(a.path) for p in self.parts for a in p.arrays})
            raise UserError(f"features files disagree on frames per video: {sorted(frames)} ({paths})")
        if len(dims) > 1:
            raise UserError(f"features of the datasets disagree on the feature size: {sorted(dims)}")
        self.offsets = np.cumsum([0, *(len(p) for p in self.parts)])
        n = int(self.offsets[-1])
        self.shape = (n, frames.pop() if frames else 0, dims.pop() if dims else 0)

    @property
    def dtype(self):
        import torch

        return torch.float32

    @property
    def device(self):
        import torch

        return torch.device("cpu")

    @property
    def ndim(self) -> int:
        return 3

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def row_bytes(self) -> int:
        return 4 * self.shape[1] * self.shape[2]

    def _positions(self, key) -> np.ndarray:
        if type(key).__module__.startswith("torch"):
            key = key.cpu().numpy()
        if isinstance(key, slice):
            return np.arange(*key.indices(len(self)))
        key = np.asarray(key)
        if key.dtype == bool:
            if key.shape != (len(self),):
                raise IndexError(f"a mask of shape {key.shape} for {len(self)} rows")
            return np.flatnonzero(key)
        key = key.astype(np.int64).reshape(-1)
        key = np.where(key < 0, key + len(self), key)
        if len(key) and (key.min() < 0 or key.max() >= len(self)):
            raise IndexError(f"row outside 0..{len(self) - 1}")
        return key

    def numpy_rows(self, positions) -> np.ndarray:
        """Rows at ``positions`` (in that order) as a new float32 array (k, F, D)."""
        positions = self._positions(positions)
        part_of = np.searchsorted(self.offsets, positions, side="right") - 1
        if len(self.parts) == 1:
            return self.parts[0].read(positions)
        out = np.empty((len(positions), *self.shape[1:]), dtype=np.float32)
        for p in np.unique(part_of):
            where = np.flatnonzero(part_of == p)
            out[where] = self.parts[p].read(positions[where] - self.offsets[p])
        return out

    def __getitem__(self, key):
        import torch

        if isinstance(key, int | np.integer):
            return torch.from_numpy(self.numpy_rows([key])[0])
        return torch.from_numpy(self.numpy_rows(key))

    def take(self, key) -> LazyInputs:
        """The rows ``key`` (positions or a bool mask), lazily."""
        positions = self._positions(key)
        part_of = np.searchsorted(self.offsets, positions, side="right") - 1
        parts = []
        # runs of positions in one part keep their order (rows may come back in any order of parts)
        breaks = np.flatnonzero(np.diff(part_of) != 0) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(positions)], strict=True):
            if b > a:
                p = int(part_of[a])
                parts.append(self.parts[p].take(positions[a:b] - self.offsets[p]))
        return LazyInputs(parts) if parts else _empty_like(self)

    def chunks(self, max_bytes: int = CHUNK_BYTES):
        """Consecutive rows as (slice, float32 array), at most ``max_bytes`` a chunk."""
        step = max(1, max_bytes // max(1, self.row_bytes))
        for start in range(0, len(self), step):
            stop = min(start + step, len(self))
            yield slice(start, stop), self.numpy_rows(slice(start, stop))

    def materialise(self):
        """Every row as one tensor (small inputs, tests)."""
        return self[:]

    @staticmethod
    def concat(inputs: list[LazyInputs]) -> LazyInputs:
        return LazyInputs([p for x in inputs for p in x.parts])


def _empty_like(x: LazyInputs) -> LazyInputs:
    empty = LazyInputs([])
    empty.shape = (0, *x.shape[1:])
    return empty


def is_lazy(x) -> bool:
    return isinstance(x, LazyInputs)


def take_rows(x, rows):
    """Rows of a tensor (a new tensor) or of a ``LazyInputs`` (a lazy view)."""
    return x.take(rows) if is_lazy(x) else x[rows]


def resident(x, budget: int = RESIDENT_BYTES):
    """``x`` read once into one tensor when it fits in ``budget`` bytes (a loop over many batches then reads no
    file; the same values), else ``x`` as it is (paper-scale banks stay on disk)."""
    return x.materialise() if is_lazy(x) and len(x) * x.row_bytes <= budget else x


def capped_batch(x, batch: int, budget: int = BATCH_BYTES) -> int:
    """``batch`` rows, fewer if that many rows of ``x`` exceed ``budget`` bytes (at least 1)."""
    row = x.row_bytes if is_lazy(x) else (x[0].numel() * x.element_size() if len(x) else 1)
    return max(1, min(batch, budget // max(1, row)))


def frame_statistics(x, columns: slice | None = None):
    """(mean, std) over every frame of x (N, F, D), per dimension (the ``columns`` of D only, if given): torch's
    ``flat.mean(0)`` and ``flat.std(0)`` of ``flat = x[..., columns].reshape(-1, d)``, as float32 tensors."""
    import torch

    from vqaloop.features.reductions import column_statistics

    columns = slice(None) if columns is None else columns
    if not is_lazy(x):
        flat = x[..., columns].reshape(-1, len(range(*columns.indices(x.shape[-1]))))
        return flat.mean(0), flat.std(0)
    width = len(range(*columns.indices(x.shape[2])))
    chunks = (block[..., columns].reshape(-1, width) for _, block in x.chunks())
    mean, std = column_statistics(chunks, len(x) * x.shape[1], width)
    return torch.from_numpy(mean), torch.from_numpy(std)


def value_statistics(x) -> tuple[float, float]:
    """(mean, std) of every value of x: torch's ``float(x.mean())``, ``float(x.std())`` (std as float32)."""
    from vqaloop.features.reductions import total_statistics

    if not is_lazy(x):
        return float(x.mean()), x.std()
    mean, std = total_statistics((block for _, block in x.chunks()), int(np.prod(x.shape)))
    import torch

    return float(mean), torch.tensor(std)


class PairedRows:
    """``length`` rows, row p being row ``pick(p)`` of ``source`` (a tensor or LazyInputs): a repeat or a
    repeat_interleave that is never built; ``rows[a:b]`` reads those rows only (a tensor)."""

    def __init__(self, source, length: int, pick):
        self.source, self.length, self.pick = source, length, pick

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: slice):
        import torch

        rows = self.pick(np.arange(*key.indices(self.length)))
        return self.source[rows] if is_lazy(self.source) else self.source[torch.as_tensor(rows)]


def paired_rows(anchors, videos) -> tuple[PairedRows, PairedRows]:
    """Every (anchor, video) pair, video-major: ``anchors.repeat(V, 1, 1)`` and ``videos.repeat_interleave(n, 0)``
    as ``PairedRows`` (the soft comparison's pairs, W2S-VQA Appendix C.3), read a batch at a time."""
    n, v = len(anchors), len(videos)
    return PairedRows(anchors, n * v, lambda p: p % n), PairedRows(videos, n * v, lambda p: p // n)
