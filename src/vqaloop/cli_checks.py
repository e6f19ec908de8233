"""The checks every command's arguments go through, in one place (``vqaloop.cli.run_command`` applies them).

Options declare what they take with the ``type=`` functions below: numbers with their range (``int_in``,
``float_in`` and the common cases ``positive_int``, ``seed``, ``threads``), names that become a path component
(``name``), devices (``device``), and paths by role: ``Path`` (or a parsed value with ``input_paths``) for what a
command reads, ``output_file`` / ``output_dir`` / ``cache_dir`` for what it writes. A bad value is one argparse
error line naming the option (``vqaloop: error: argument --threads: ...``, exit 2).

After parsing, :func:`check_paths` checks every path of the command before it computes anything
(``vqaloop.io.paths``): lengths, each output's folder exists and is writable, a file output is not a folder, and
no output is an input or another output (a module may name outputs it writes beside ``--out`` with
``derived_outputs(args)``). So a command either refuses at once, or writes all of its outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from vqaloop.errors import UserError
from vqaloop.io.paths import (
    check_cache_dir,
    check_distinct,
    check_length,
    check_name,
    check_output_dir,
    check_output_file,
    check_output_into,
)

MAX_COUNT = 2**31 - 1  # a count beyond this is a typo (and overflows the C ints of numpy, torch and ffmpeg)
MAX_SEED = 2**32 - 1  # numpy's legacy seeds and every seed the workflow derives fit 32 bits
MAX_THREADS = 1024
MAX_EPOCHS = 100_000
MAX_FRAMES = 1024  # frames sampled per video (and never more than a clip has: checked where clips are read)
MAX_FRAME_SIZE = 4096  # pixels of a square frame fed to a VLM
INT_RE = re.compile(r"[+-]?\d+")


def _fail(message: str):
    raise argparse.ArgumentTypeError(message)


def int_in(lo: int, hi: int = MAX_COUNT, what: str = "an integer"):
    """``type=``: an integer in [lo, hi] (no fractions, no exponents)."""

    def parse(text: str) -> int:
        if not INT_RE.fullmatch(text.strip()):
            _fail(f"expected {what} in [{lo}, {hi}], got {text[:40]!r}")
        value = int(text)
        if not lo <= value <= hi:
            _fail(f"expected {what} in [{lo}, {hi}], got {text[:40]}")
        return value

    parse.__name__ = f"int_in({lo}, {hi})"
    return parse


positive_int = int_in(1)
nonneg_int = int_in(0)
seed = int_in(0, MAX_SEED, "a seed")
threads = int_in(1, MAX_THREADS, "a thread count")


def float_in(lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False):
    """``type=``: a finite number in the interval (``None``: unbounded on that side; ``*_open``: end excluded)."""
    left = "(-inf" if lo is None else f"{'(' if lo_open else '['}{lo:g}"
    right = "inf)" if hi is None else f"{hi:g}{')' if hi_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        too_low = lo is not None and (value <= lo if lo_open else value < lo)
        too_high = hi is not None and (value >= hi if hi_open else value > hi)
        if not math.isfinite(value) or too_low or too_high:
            _fail(f"expected a finite number in {left}, {right}, got {text[:40]!r}")
        return value

    parse.__name__ = f"float_in{left}, {right}"
    return parse


positive_float = float_in(0.0, lo_open=True)
fraction = float_in(0.0, 1.0)


def name(text: str) -> str:
    """``type=``: a name that becomes a path component (``vqaloop.io.paths.check_name``)."""
    try:
        return check_name(text, "name")
    except UserError as err:
        _fail(str(err))


DEVICE_RE = re.compile(r"cpu|cuda(:\d{1,3})?")


def check_device(device: str) -> str:
    """``device`` itself if torch can use it; UserError for CUDA without CUDA (or an index past the last GPU)."""
    import torch

    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"device: {device!r} requested but torch sees no CUDA device on this machine")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise UserError(f"device: {device!r} but torch sees {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise UserError(f"device: {device!r} is not 'cpu' or 'cuda[:N]'")


def device(text: str) -> str:
    """``type=``: ``cpu`` or ``cuda[:N]``, and one torch can use here (:func:`check_device`)."""
    if not DEVICE_RE.fullmatch(text):
        _fail(f"expected cpu or cuda[:N], got {text[:40]!r}")
    try:
        return check_device(text)
    except UserError as err:
        _fail(str(err))


def output_file(text: str) -> Path:
    """``type=``: a file the command writes (checked after parsing, :func:`check_paths`)."""
    return Path(text)


output_file.check = check_output_file


def output_dir(marker: str | None = None):
    """``type=``: a folder the command writes as a whole; with ``marker`` (a file the command writes in it), an
    existing folder is replaced only when it is empty or holds that file (``vqaloop.io.paths.check_replaceable``)."""

    def parse(text: str) -> Path:
        return Path(text)

    parse.check = lambda path, what: check_output_dir(path, what, marker)
    return parse


def output_into(text: str) -> Path:
    """``type=``: an existing folder the command writes files into (named by ``derived_outputs``)."""
    return Path(text)


output_into.check = check_output_into
output_into.keeps = True  # the folder itself is not replaced: its files are the outputs


def cache_dir(text: str) -> Path:
    """``type=``: a folder the command keeps files in (a download cache, lock files), created when missing."""
    return Path(text)


cache_dir.check = check_cache_dir
cache_dir.keeps = True  # not an output: the command adds to it, and reading from it is fine


def json_object(text: str) -> str:
    """``type=``: a JSON object given on the command line (the text itself: the command parses it)."""
    try:
        value = json.loads(text)
    except ValueError as err:
        _fail(f"not valid JSON ({' '.join(str(err).split())[:80]})")
    if not isinstance(value, dict):
        _fail(f"expected a JSON object {{...}}, got {text[:40]!r}")
    return text


def beside(out: Path, *suffixes: str) -> list[Path]:
    """Files a table builder writes beside ``out``: ``<out without suffix><suffix>`` (``_wide.csv``...)."""
    stem = Path(out).with_suffix("")
    return [Path(f"{stem}{s}") for s in suffixes]


def name_equals_path(text: str) -> str:
    """``type=``: ``NAME=PATH`` (``vqaloop gmad --predictions``); its path is an input."""
    if "=" not in text:
        _fail(f"expected NAME=CSV, got {text[:40]!r}")
    return text


name_equals_path.input_paths = lambda value: [Path(value.partition("=")[2])]


def manifest_split(text: str) -> str:
    """``type=``: ``MANIFEST[:split]`` (``--sets`` of the W2S commands); its path is an input."""
    return text


manifest_split.input_paths = lambda value: [Path(value.rpartition(":")[0] if value.endswith((":train", ":test",
                                                                                             ":pool")) else value)]  # fmt: skip


def _option(action: argparse.Action) -> str:
    return max(action.option_strings, key=len) if action.option_strings else (action.metavar or action.dest)


def _values(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace, derived=None) -> None:
    """Every path argument of a parsed command (module docstring); ``derived(args)``: ``(what, path)`` of the
    outputs a command writes beside the ones it is given (``<out>.json``, ``<out>_wide.csv``...)."""
    inputs, outputs = [], []
    for action in parser._actions:
        what = _option(action)
        for value in _values(getattr(args, action.dest, None)):
            if hasattr(action.type, "check"):
                action.type.check(value, what)
                if not getattr(action.type, "keeps", False):
                    outputs.append((what, value))
            elif action.type is Path:
                inputs.append((what, check_length(value, what)))
            elif hasattr(action.type, "input_paths"):
                inputs += [(what, check_length(p, what)) for p in action.type.input_paths(value)]
    for what, path in derived(args) if derived else []:
        outputs.append((what, check_output_file(path, what)))
    check_distinct(inputs, outputs)
