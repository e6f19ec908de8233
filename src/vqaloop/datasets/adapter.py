"""Generic adapter: a user's own dataset (a CSV with a path column and a MOS column) -> a vqaloop manifest.

Column names are set on the command line (or in a config's dataset adapter block). The MOS keeps the user's
scale: pairs are only ever built within one dataset, so scales never meet (MDS-VQA Sec. 3.4, scale-free).
Rows without a MOS go to the ``pool`` split unless a split column says otherwise.

``adapt_published`` instead reads one of the papers' datasets with its adapter (``vqaloop.datasets``: the published
metadata file, MOS rescaled to [1, 5]) and holds out a seeded share of its contents where the dataset publishes no
split. The command for both (and for the workflow's datasets) is ``vqaloop adapt``, in ``vqaloop.corpus.external``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.manifest import validate_manifest


def adapt(
    table: pd.DataFrame,
    source: str,
    dataset: str,
    path_column: str,
    mos_column: str,
    id_column: str | None = None,
    content_column: str | None = None,
    split_column: str | None = None,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Build a manifest from a user's table; columns are checked and named in every error."""
    for key, col in (("--path-column", path_column), ("--mos-column", mos_column), ("--id-column", id_column),
                     ("--content-column", content_column), ("--split-column", split_column)):  # fmt: skip
        if col is not None and col not in table.columns:
            raise UserError(f"{source}: column {col!r} (from {key}) not found; columns are {list(table.columns)}")
    out = pd.DataFrame()
    paths = table[path_column].astype(str)
    out["video_id"] = table[id_column].astype(str) if id_column else paths.map(lambda p: Path(p).stem)
    out["path"] = paths
    out["mos"] = table[mos_column]
    out["dataset"] = dataset
    out["content_id"] = table[content_column].astype(str) if content_column else out["video_id"]
    if split_column:
        out["split"] = table[split_column].astype(str)
    else:
        mos = pd.to_numeric(table[mos_column], errors="coerce")
        out["split"] = np.where(mos.isna() & table[mos_column].isna(), "pool", "train")
        out = hold_out_test_contents(out, test_fraction, seed)
    return validate_manifest(out, source)


def content_disjoint_test(manifest: pd.DataFrame, test_fraction: float, seed: int) -> pd.Series:
    """A boolean mask of test rows: a seeded choice of whole contents, round(test_fraction x contents) of them but
    at least one and never all (splits never share a content_id). ``vqaloop adapt`` in every mode."""
    contents = sorted(manifest.content_id.astype(str).unique())
    n_test = int(round(test_fraction * len(contents)))
    if len(contents) > 1:
        n_test = min(max(n_test, 1), len(contents) - 1)
    chosen = set(np.random.default_rng(seed).choice(contents, size=n_test, replace=False)) if n_test else set()
    return manifest.content_id.astype(str).isin(chosen)


def hold_out_test_contents(manifest: pd.DataFrame, test_fraction: float, seed: int) -> pd.DataFrame:
    """Move a seeded ``test_fraction`` of the contents of the ``train`` rows to ``test`` (whole contents only)."""
    out = manifest.copy()
    if test_fraction > 0:
        train = out.split == "train"
        out.loc[train & content_disjoint_test(out[train], test_fraction, seed).reindex(out.index, fill_value=False),
                "split"] = "test"  # fmt: skip
    return out


def adapt_published(name: str, root: Path, metadata: Path | None, test_fraction: float, seed: int) -> pd.DataFrame:
    """One of the papers' datasets read by its adapter; where it publishes no split (every row ``test``) and
    ``test_fraction`` > 0, a seeded content-disjoint train/test split (``hold_out_test_contents``)."""
    from vqaloop.datasets.registry import get_adapter

    manifest = get_adapter(name).read(root, metadata)
    if test_fraction > 0 and set(manifest.split) == {"test"}:
        manifest = hold_out_test_contents(manifest.assign(split="train"), test_fraction, seed)
    return validate_manifest(manifest, f"{name} adapter on {root}")
