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


class HighWaterRSS:
    """The exact peak of the resident set while the block runs: the kernel's high-water mark (VmHWM), reset on
    entry through /proc/self/clear_refs (Linux >= 4.0), so a peak reached before the block (imports) does not hide
    what the block adds. ``growth_mib``: peak during the block minus the resident set at its start."""

    def __enter__(self):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        self.start = self._status("VmRSS")
        return self

    def __exit__(self, *exc):
        self.peak = self._status("VmHWM")

    @staticmethod
    def _status(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise OSError(f"/proc/self/status has no {key}")

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def command_peak_rss(args: list[str], warm: tuple[str, ...] = ()) -> dict:
    """Run ``vqaloop ARGS`` in a fresh Python process and return its exit status, the growth of its resident
    set during the command (``growth_mib``: ``HighWaterRSS``, the kernel's count, which depends on the allocator and
    the machine) and the peak of what Python and numpy allocated during it (``traced_mib``: ``tracemalloc``, the same
    on every machine; torch's own tensors are not traced), after importing numpy, pandas, torch and the modules
    ``warm``."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from vqaloop.dispatch import pin\n"
        "pin()\n"
        "import importlib, numpy, pandas, torch\n"
        "for m in json.loads(sys.argv[1]): importlib.import_module(m)\n"
        "from vqaloop.selection.registry import method_names\n"
        "method_names()\n"
        "from vqaloop.benchmarking import HighWaterRSS\n"
        "from vqaloop.cli import main\n"
        "import tracemalloc\n"
        "tracemalloc.start()\n"
        "traced_start = tracemalloc.get_traced_memory()[0]\n"
        "with HighWaterRSS() as m:\n"
        "    rc = main(sys.argv[2:])\n"
        "traced_peak = tracemalloc.get_traced_memory()[1]\n"
        "print(json.dumps({'rc': rc, 'growth_mib': m.growth_mib, 'start_mib': m.start / 2**20,\n"
        "                  'traced_mib': (traced_peak - traced_start) / 2**20}))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(list(warm)), *args], capture_output=True,
                          text=True, env=env)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"vqaloop {' '.join(args[:3])} ...: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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


FLOOR_SUFFIXES = ("_floor", "_reference")


def floor_ratios(timings: list[tuple[str, str, float]]) -> list[dict]:
    """Each timed call's ratio to its floor: ``timings`` holds (group, test name, fastest seconds) per benchmark.

    In a group, the test whose name ends in ``_floor`` (the work no implementation can avoid) or ``_reference`` (the
    code the method replaces), parameters aside, is the floor, timed in the same session on the same inputs. Every
    other member's fastest time is divided by the floor's (the fastest round: noise only slows). A group with a
    member but no floor, or with two floors, is an error naming the group; a floor alone gives no row.
    """
    groups: dict[str, list[tuple[str, float]]] = {}
    for group, name, seconds in timings:
        groups.setdefault(group, []).append((name, seconds))
    rows = []
    for group, members in groups.items():
        floors = [(n, s) for n, s in members if n.split("[")[0].endswith(FLOOR_SUFFIXES)]
        others = [(n, s) for n, s in members if not n.split("[")[0].endswith(FLOOR_SUFFIXES)]
        if len(floors) != 1 and others:
            raise ValueError(f"benchmark group {group!r} needs exactly one test named *_floor or *_reference, "
                             f"has {len(floors)}")  # fmt: skip
        for name, seconds in others:
            floor_name, floor_seconds = floors[0]
            rows.append({"group": group, "name": name, "seconds": seconds, "floor": floor_name,
                         "floor_seconds": floor_seconds, "ratio": seconds / floor_seconds})  # fmt: skip
    return rows


def stamped(report: dict) -> dict:
    """``report`` with a ``run`` entry first: the date, the CPU model, its cores, the machine and Python, so that a
    benchmark's JSON under ``benchmarks/results/`` says where and when its figures were measured."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    run = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
           "python": platform.python_version()}  # fmt: skip
    return {"run": run, **report}
