"""Sums, means and standard deviations over a stream of rows that equal torch's in-memory results bit for bit.

A model's standardisation statistics (``flat.mean(0)``, ``flat.std(0)`` over every training frame; ``x.mean()``,
``x.std()`` of ``cnn_frames``) were computed by torch on the whole training split in memory. The features store
(``vqaloop.features.store``) hands the split over in chunks instead, so the same numbers must come from a
stream, or every model trained from a store would differ from one trained in memory in the last bits.

* **Float32 sums** follow the order of ATen's CPU sum kernel (``aten/src/ATen/native/cpu/SumKernel.cpp``,
  ``cascade_sum`` on one thread): every column is summed by ``multi_row_sum``, a running sum over blocks of
  ``2**level_power`` rows (``level_power = max(4, ceil_log2(rows) // 4)``) whose block sums are carried through
  four levels, or by ``row_sum`` (the same over rows taken four at a time, partial sums combined at the end).
  Which columns take which path follows ``vectorized_outer_sum`` / ``scalar_outer_sum`` (a reduction over rows)
  and ``vectorized_inner_sum`` (the sum of a whole contiguous tensor), with the vector width of the kernel torch
  dispatches to (8 floats for AVX2 and the default kernels, 16 for AVX-512). Additions are the same float32
  additions in the same order, so the sums are the same bits; the mean is the sum divided by the count in
  float32, as ``at::mean`` does on the CPU.
* **Standard deviations** are computed by torch in float64 (Welford per column; two passes for a whole tensor) and
  rounded to float32; here Chan's pairwise update in float64 over the chunks gives the same float64 value to
  within a few units of its last place, which rounds to the same float32 unless the exact value lies within about
  1e-16 (relative) of a float32 rounding boundary.

Tested against torch on many shapes (``tests/test_feature_store.py``). Valid for one compute thread (the pinned
default): torch's multi-threaded reductions split the sums differently.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

NUM_LEVELS = 4  # multi_row_sum's cascade depth
ILP = 4  # row_sum reads rows four at a time


def ceil_log2(x: int) -> int:
    """``utils::CeilLog2``: 1 for x <= 2, else the bit length of x - 1."""
    return 1 if x <= 2 else int(x - 1).bit_length()


def vector_floats(dtype=np.float32) -> int:
    """Elements of one ``Vectorized<dtype>`` in the kernel torch runs here (64 bytes for AVX-512, else 32)."""
    import torch

    width = 64 if "AVX512" in torch.backends.cpu.get_cpu_capability().upper() else 32
    return width // np.dtype(dtype).itemsize


class CascadeSum:
    """``multi_row_sum`` over ``size`` rows of ``columns`` values, fed in order in chunks of any length."""

    def __init__(self, size: int, columns: int, dtype=np.float32):
        self.size, self.dtype = size, np.dtype(dtype)
        self.power = max(4, ceil_log2(size) // NUM_LEVELS)
        self.step = 1 << self.power
        self.acc = np.zeros((NUM_LEVELS, columns), dtype=self.dtype)
        self.seen = 0  # rows consumed
        self.blocks = 0  # whole blocks summed
        self.pending: list[np.ndarray] = []  # rows of the block under way
        self.pending_rows = 0

    def feed(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=self.dtype)
        if self.seen + len(rows) > self.size:
            raise ValueError(f"{self.seen + len(rows)} rows fed to a sum over {self.size}")
        start = 0
        if self.pending_rows:  # complete the block under way first
            take = min(len(rows), self.step - self.pending_rows)
            self.pending.append(rows[:take])
            self.pending_rows += take
            start = take
            if self.pending_rows == self.step:
                self._blocks(np.concatenate(self.pending)[None])
                self.pending, self.pending_rows = [], 0
        whole = (len(rows) - start) // self.step * self.step
        if whole:
            self._blocks(rows[start : start + whole].reshape(-1, self.step, rows.shape[1]))
        if start + whole < len(rows):
            self.pending.append(rows[start + whole :])
            self.pending_rows += len(rows) - start - whole
        self.seen += len(rows)

    def _blocks(self, blocks: np.ndarray) -> None:
        """Whole blocks (k, step, columns): each is a running sum from 0 (acc[0] is 0 at a block's start), then
        the carry through the levels (``multi_row_sum``'s inner loops)."""
        sums = np.add.reduce(blocks, axis=1, dtype=self.dtype, initial=self.dtype.type(0))
        acc, mask = self.acc, self.step - 1
        for block in sums:
            self.blocks += 1
            done = self.blocks * self.step  # multi_row_sum's i after the block
            acc[0] = block
            for j in range(1, NUM_LEVELS):
                acc[j] += acc[j - 1]
                acc[j - 1] = 0
                if done & (mask << (j * self.power)):
                    break

    def result(self) -> np.ndarray:
        """The sums (columns,), once every row was fed."""
        if self.seen != self.size:
            raise ValueError(f"{self.seen} rows fed to a sum over {self.size}")
        acc = self.acc.copy()
        if self.pending_rows:  # the last, partial block: a running sum into acc[0], no carry
            acc[0] = np.add.reduce(np.concatenate(self.pending), axis=0, dtype=self.dtype, initial=self.dtype.type(0))
        for j in range(1, NUM_LEVELS):
            acc[0] += acc[j]
        return acc[0]


class RowSum:
    """``row_sum`` over ``size`` rows of ``columns`` values (rows four at a time, then the rest, then the four
    partial sums combined), fed in order."""

    def __init__(self, size: int, columns: int, dtype=np.float32):
        self.size, self.columns, self.dtype = size, columns, np.dtype(dtype)
        self.whole = size // ILP * ILP
        self.cascade = CascadeSum(size // ILP, ILP * columns, dtype)
        self.carry = np.zeros((0, columns), dtype=self.dtype)  # rows waiting for a group of four
        self.tail: list[np.ndarray] = []
        self.seen = 0

    def feed(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=self.dtype)
        grouped = max(0, min(len(rows), self.whole - self.seen))
        head = np.concatenate([self.carry, rows[:grouped]]) if len(self.carry) else rows[:grouped]
        usable = len(head) // ILP * ILP
        if usable:
            self.cascade.feed(head[:usable].reshape(-1, ILP * self.columns))
        self.carry = head[usable:].copy()
        if grouped < len(rows):
            self.tail.append(rows[grouped:])
        self.seen += len(rows)

    def result(self) -> np.ndarray:
        partial = self.cascade.result().reshape(ILP, self.columns).copy()
        for row in np.concatenate(self.tail) if self.tail else ():
            partial[0] += row
        for k in range(1, ILP):
            partial[0] += partial[k]
        return partial[0]


class ColumnSum:
    """``x.sum(0)`` of an (rows, columns) float32 matrix fed in row chunks: torch's outer-reduction paths."""

    def __init__(self, rows: int, columns: int, dtype=np.float32):
        self.flat = TotalSum(rows, dtype) if columns == 1 else None  # (rows, 1): torch sums it as a flat vector
        vec = vector_floats(dtype)
        group = ILP * vec if columns >= vec else ILP  # vectorized_outer_sum, else scalar_outer_sum
        self.split = columns // group * group
        self.cascade = CascadeSum(rows, self.split, dtype) if self.split else None
        self.rest = RowSum(rows, columns - self.split, dtype) if columns > self.split else None

    def feed(self, rows: np.ndarray) -> None:
        if self.flat is not None:
            self.flat.feed(rows)
            return
        if self.cascade is not None:
            self.cascade.feed(rows[:, : self.split])
        if self.rest is not None:
            self.rest.feed(rows[:, self.split :])

    def result(self) -> np.ndarray:
        if self.flat is not None:
            return np.array([self.flat.result()], dtype=self.flat.dtype)
        parts = [p.result() for p in (self.cascade, self.rest) if p is not None]
        return np.concatenate(parts)


class TotalSum:
    """``x.sum()`` of a contiguous float32 tensor fed as its flat values in order (``vectorized_inner_sum``)."""

    def __init__(self, count: int, dtype=np.float32):
        self.vec = vector_floats(dtype)
        self.count, self.dtype = count, np.dtype(dtype)
        if count < self.vec:  # scalar_inner_sum: row_sum over the values themselves
            self.vec = 1
        self.vectors = count // self.vec
        self.rows = RowSum(self.vectors, self.vec, dtype)
        self.carry = np.zeros(0, dtype=self.dtype)
        self.scalars: list[np.ndarray] = []
        self.seen = 0

    def feed(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=self.dtype).ravel()
        in_vectors = max(0, min(len(values), self.vectors * self.vec - self.seen))
        head = np.concatenate([self.carry, values[:in_vectors]]) if len(self.carry) else values[:in_vectors]
        usable = len(head) // self.vec * self.vec
        if usable:
            self.rows.feed(head[:usable].reshape(-1, self.vec))
        self.carry = head[usable:].copy()
        if in_vectors < len(values):
            self.scalars.append(values[in_vectors:])
        self.seen += len(values)

    def result(self):
        lanes = self.rows.result()
        if self.vec == 1:
            return self.dtype.type(self.dtype.type(0) + lanes[0])
        total = self.dtype.type(0)
        for value in np.concatenate(self.scalars) if self.scalars else ():
            total = self.dtype.type(total + value)
        for value in lanes:
            total = self.dtype.type(total + value)
        return self.dtype.type(self.dtype.type(0) + total)


class Moments:
    """Count, mean and sum of squared deviations in float64, per column, merged chunk by chunk (Chan et al.)."""

    def __init__(self, columns: int | None = None):
        self.n, self.mean, self.m2 = 0, 0.0 if columns is None else np.zeros(columns), None

    def feed(self, rows: np.ndarray) -> None:
        x = np.asarray(rows, dtype=np.float64)
        if x.size == 0:
            return
        axis = None if np.ndim(self.mean) == 0 else 0
        k = x.size if axis is None else len(x)
        mean = x.mean(axis=axis)
        m2 = np.square(x - mean).sum(axis=axis)
        if self.n == 0:
            self.n, self.mean, self.m2 = k, mean, m2
            return
        n = self.n + k
        delta = mean - self.mean
        self.mean = self.mean + delta * (k / n)
        self.m2 = self.m2 + m2 + delta * delta * (self.n * k / n)
        self.n = n

    def std(self, correction: int = 1):
        """sqrt(m2 / (n - correction)), rounded to float32 (NaN for n <= correction, as torch)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(np.float64(self.m2) / max(self.n - correction, 0)).astype(np.float32)


def column_statistics(chunks: Iterable[np.ndarray], rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per column of a (rows, columns) float32 matrix given as row chunks: torch's ``flat.mean(0)`` and
    ``flat.std(0)`` (module docstring)."""
    total, moments = ColumnSum(rows, columns), Moments(columns)
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1, columns)
        total.feed(chunk)
        moments.feed(chunk)
    return total.result() / np.float32(rows), moments.std()


def total_statistics(chunks: Iterable[np.ndarray], count: int) -> tuple[np.float32, np.float32]:
    """(mean, std) of every value of a float32 tensor given as chunks of its flat values in order: torch's
    ``x.mean()`` and ``x.std()``."""
    total, moments = TotalSum(count), Moments()
    for chunk in chunks:
        chunk = np.asarray(chunk, dtype=np.float32).ravel()
        total.feed(chunk)
        moments.feed(chunk)
    return np.float32(total.result() / np.float32(count)), np.float32(moments.std())
