"""Published paper numbers (MDS-VQA Tables 2-9, W2S-VQA Tables 1 and 5) in the long result format.

The CSVs live in ``results/paper/`` (one per table, see its README.md); ``keys.yaml`` beside them maps each
row / column / metric key to the label printed in the paper.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from vqaloop.errors import UserError

#: Columns of every long-format result file, in this order.
LONG_COLUMNS: list[str] = [
    "table",
    "row",
    "column",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n_seeds",
    "run",
    "config_hash",
]

#: Tables transcribed from the papers; ``load_published(name)`` reads ``<root>/<name>.csv``.
PUBLISHED_TABLES: tuple[str, ...] = (
    "mds_table2",
    "mds_table3",
    "mds_table4",
    "mds_table5",
    "mds_table6",
    "mds_table7",
    "mds_table8",
    "mds_table9",
    "w2s_table1",
    "w2s_table5",
)

_KEY_COLUMNS = ["table", "row", "column", "metric"]
_TEXT_COLUMNS = ["table", "row", "column", "metric", "run", "config_hash"]
_FLOAT_COLUMNS = ["value", "ci_low", "ci_high"]


def load_published(table: str, root: str | os.PathLike = Path("results/paper")) -> pd.DataFrame:
    """Read ``<root>/<table>.csv`` and return it with exactly :data:`LONG_COLUMNS`.

    ``value``, ``ci_low`` and ``ci_high`` are floats (CI columns are NaN for paper numbers), ``n_seeds`` is a
    nullable integer, and the text columns are strings (an empty ``config_hash`` stays ``""``).

    Raises :class:`~vqaloop.errors.UserError`, naming the file, when it is missing or unreadable, when
    its header is not exactly :data:`LONG_COLUMNS`, when a ``value`` is not a number, when a line belongs
    to another table, or when a (table, row, column, metric) key repeats.
    """
    from vqaloop.io.paths import under_root

    name = table[:-4] if table.endswith(".csv") else table
    path = under_root(root, f"{name}.csv", what="published table")
    if not path.is_file():
        known = ", ".join(PUBLISHED_TABLES)
        raise UserError(f"{path}: published table {name!r} not found (known tables: {known})")
    from vqaloop.io.readers import read_csv

    df = read_csv(path, "published table", dtype=str, na_filter=False)
    if list(df.columns) != LONG_COLUMNS:
        raise UserError(f"{path}: columns are {list(df.columns)}, expected exactly {LONG_COLUMNS} (in this order)")

    for col in _FLOAT_COLUMNS:
        raw = df[col].str.strip()
        num = pd.to_numeric(raw.where(raw != ""), errors="coerce")
        bad = num.isna() & (raw != "") if col != "value" else num.isna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            where = ", ".join(f"{k}={df[k].iloc[i]!r}" for k in ("row", "column", "metric"))
            raise UserError(f"{path}: line {i + 2}: {col} {df[col].iloc[i]!r} is not a number ({where})")
        df[col] = num.astype(float)

    raw = df["n_seeds"].str.strip()
    seeds = pd.to_numeric(raw.where(raw != ""), errors="coerce")
    if (seeds.isna() & (raw != "")).any() or (seeds.dropna() % 1 != 0).any():
        raise UserError(f"{path}: n_seeds must be empty or a whole number")
    df["n_seeds"] = seeds.astype("Int64")

    for col in _TEXT_COLUMNS:
        df[col] = df[col].astype(str)

    other = df.loc[df["table"] != name, "table"]
    if not other.empty:
        raise UserError(f"{path}: column 'table' holds {other.iloc[0]!r}, expected {name!r} on every line")
    dup = df.duplicated(_KEY_COLUMNS, keep=False)
    if dup.any():
        first = df.loc[dup, _KEY_COLUMNS].iloc[0].to_dict()
        raise UserError(f"{path}: duplicate (table, row, column, metric) key {first}")
    return df[LONG_COLUMNS].reset_index(drop=True)
