"""Measurement helpers shared by the scripts under benchmarks/."""

from __future__ import annotations

import os
import threading
import time


class PeakRSS:
    """Peak growth of the resident set while the block runs, sampled every few ms from /proc/self/statm."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.start = self.peak = 0
        self._stop = threading.Event()

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self.page
        except OSError:
            return 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval_s)

    def __enter__(self):
        self.start = self.peak = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def photo(name: str, height: int, width: int, cover: float = 1.25):
    """A scikit-image photo (``skimage.data.<name>``) resized to cover (height, ``cover`` x width), uint8 RGB:
    real content for benchmark clips that pan across it."""
    import math

    import numpy as np
    import skimage.data
    from skimage.transform import resize

    image = getattr(skimage.data, name)()
    image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    scale = max(height / image.shape[0], cover * width / image.shape[1])
    size = (math.ceil(image.shape[0] * scale), math.ceil(image.shape[1] * scale))
    return (resize(image, size, anti_aliasing=True) * 255).round().astype(np.uint8)
