"""The label oracle: the "subjective study" that reveals MOS for selected pool videos only.

Selection code never sees pool MOS: pool rows of a manifest carry no MOS, and the hidden labels sit in a
separate oracle file that only this module reads, and only for the ids of a committed selection file. One more
reader, for scoring only: W2S-VQA evaluates whole datasets, so where a config scores a target's pool split as a
W2S test set (``w2s.test_sets.<name>.splits``, config/paper.yaml's CGVDS) ``vqaloop w2s-test-set`` takes all of
its labels (:meth:`LabelOracle.evaluation_labels`); nothing trained or selected reads that file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.readers import numeric_column, read_csv

log = logging.getLogger(__name__)


class LabelOracle:
    """Holds a dataset's hidden pool labels; ``reveal`` answers only for a selection read from disk."""

    def __init__(self, oracle_path: str | Path, dataset: str):
        self._path = Path(oracle_path)
        table = read_csv(self._path, "oracle labels", ("video_id", "mos"), dtype={"video_id": str, "dataset": str})
        # the dataset the labels belong to: the oracle's dataset column (files without one: oracle/<dataset>.csv)
        if "dataset" in table.columns:
            held = sorted(set(table["dataset"].astype(str)))
            if held != [dataset]:
                raise UserError(f"{self._path}: oracle labels of dataset {', '.join(held)}, not {dataset!r} "
                                "(--dataset)")  # fmt: skip
        elif self._path.stem != dataset:
            raise UserError(f"{self._path}: oracle labels without a dataset column, and not named {dataset}.csv: "
                            f"cannot check they are {dataset!r}'s (--dataset)")  # fmt: skip
        dup = table.video_id.duplicated()
        if table.video_id.isna().any() or dup.any():
            raise UserError(f"{self._path}: empty or repeated video_id in oracle labels (row "
                            f"{int(np.flatnonzero(dup | table.video_id.isna())[0]) + 2})")  # fmt: skip
        numeric_column(table, "mos", self._path)  # NaN or infinite labels are refused (the values are kept as read)
        self._labels = table.set_index("video_id")["mos"]
        self.dataset = dataset
        self.revealed: set[str] = set()

    def __repr__(self) -> str:  # never print labels
        return f"LabelOracle({self._path.name}, {len(self._labels)} hidden labels, {len(self.revealed)} revealed)"

    def evaluation_labels(self) -> pd.Series:
        """Every hidden label (video_id -> MOS), for an evaluation that trains and selects nothing (W2S-VQA's test
        sets, ``vqaloop.w2s.test_sets``); the selection path is :meth:`reveal`."""
        return self._labels.astype(float).copy()

    def reveal(self, selection_path: str | Path) -> pd.DataFrame:
        """MOS of the ids listed in a selection file (``video_id,rank``), nothing else."""
        selection_path = Path(selection_path)
        if not selection_path.is_file():
            raise UserError(f"{selection_path}: no selection file: the oracle reveals labels only after selection")
        if selection_path.resolve() == self._path.resolve():
            raise UserError(f"{selection_path}: the oracle file itself is no selection (give a vqaloop select output)")
        selection = read_csv(selection_path, "a selection file (video_id,rank)", ("video_id", "rank"),
                             dtype={"video_id": str})  # fmt: skip
        if selection.video_id.isna().any() or selection.video_id.duplicated().any():
            raise UserError(f"{selection_path}: empty or repeated video_id in a selection file")
        unknown = sorted(set(selection.video_id) - set(self._labels.index))
        if unknown:
            raise UserError(
                f"{selection_path}: {len(unknown)} selected id(s) are not in the {self.dataset} pool, e.g. {unknown[:3]}"
            )
        ids = list(selection.video_id)
        self.revealed.update(ids)
        return pd.DataFrame({"video_id": ids, "dataset": self.dataset, "mos": self._labels.loc[ids].to_numpy()})


def add_arguments(parser):
    from vqaloop.cli_checks import name, output_file

    parser.add_argument("--selection", required=True, type=Path, help="a selection file (video_id,rank)")
    parser.add_argument("--oracle", required=True, type=Path)
    parser.add_argument("--dataset", required=True, type=name)
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    labels = LabelOracle(args.oracle, args.dataset).reveal(args.selection)
    write_csv_atomic(labels, args.out)
    log.info("revealed %d labels of %s", len(labels), args.dataset)
    return 0
