"""``vqaloop mds-replay-inputs``: the MDS-VQA authors' failure predictor g as ``vqaloop select`` inputs.

    vqaloop mds-replay-inputs --release DIR --difficulty G.csv --ids POOL.npz

From the authors' release (``vqaloop.datasets.mds_release``: their repository at a6834d5 or its transcription):
G.csv holds ``video_id,difficulty`` = g's score of every pool video and POOL.npz the pool's ``ids`` alone (a
features file without frames: Eq. 9 with lambda = 0 reads none), both in the order of g's result file. That order
is the pool order of ``vqaloop select``, so its ties go to the video listed first there: the order in which the
authors' own selection code iterates over the same file (``greedy_selection.py``: ``for item in data``, then
``np.argmax``, which returns the first of equal maxima). Both files are written atomically.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.datasets.mds_release import load_release
from vqaloop.errors import UserError
from vqaloop.features.io import write_npz_deterministic
from vqaloop.io.atomic import csv_writer, write_all_atomic

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vqaloop.cli_checks import output_file

    parser.add_argument("--release", required=True, type=Path, help="the MDS-VQA authors' release folder")
    parser.add_argument(
        "--difficulty", required=True, type=output_file, help="output: video_id,difficulty (g's scores)"
    )
    parser.add_argument("--ids", required=True, type=output_file, help="output: an ids-only features file (the pool)")


def run(args: argparse.Namespace) -> int:
    outputs = [args.difficulty.resolve(), args.ids.resolve()]  # distinct: checked with the arguments (cli_checks)
    if any(out == args.release.resolve() or args.release.resolve() in out.parents for out in outputs):
        raise UserError(f"outputs must not be written inside the release folder {args.release}")
    release = load_release(args.release)
    g = release.g
    table = pd.DataFrame({"video_id": g.index, "difficulty": g.to_numpy()})
    ids = np.array(g.index.tolist(), dtype=str)
    write_all_atomic([(args.ids, lambda tmp: write_npz_deterministic(tmp, {"ids": ids})),
                      (args.difficulty, csv_writer(table))])  # both files, or neither  # fmt: skip
    log.info("g of %d pool videos (%s layout) -> %s, %s", len(g), release.layout, args.difficulty, args.ids)
    return 0
