"""Assemble a dataset's manifest (pool MOS hidden) and its label-oracle file from the rendered shards."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import write_csv_atomic
from vqaloop.io.manifest import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, validate_manifest

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "category", "chain"]
ORACLE_COLUMNS = ["video_id", "mos", "vmaf"]


def assemble(plan: pd.DataFrame, labels: pd.DataFrame, domain: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join plan and labels; blank the MOS of pool rows in the manifest; the oracle keeps them."""
    merged = plan.merge(labels, on="video_id", how="left", validate="one_to_one")
    missing = merged["path"].isna()
    if missing.any():
        raise UserError(f"shards lack labels for {int(missing.sum())} planned videos, e.g. "
                        f"{merged.loc[missing, 'video_id'].iloc[0]}")  # fmt: skip
    merged["domain"] = domain
    oracle = merged.loc[merged.split == "pool", ORACLE_COLUMNS].reset_index(drop=True)
    manifest = merged.copy()
    manifest.loc[manifest.split == "pool", "mos"] = float("nan")
    return manifest[MANIFEST_COLUMNS].reset_index(drop=True), oracle


def add_arguments(parser):
    parser.add_argument("--plan", required=True, type=Path)
    parser.add_argument("--shards", required=True, nargs="+", type=Path, help="rendered shard folders")
    parser.add_argument("--domain", required=True)
    parser.add_argument("--out", required=True, type=Path, help="manifest CSV")
    parser.add_argument("--oracle", required=True, type=Path, help="hidden pool labels CSV")


def run(args) -> int:
    plan = pd.read_csv(args.plan, dtype={"video_id": str, "content_id": str})
    labels = pd.concat([pd.read_csv(s / "labels.csv", dtype={"video_id": str}) for s in args.shards])
    manifest, oracle = assemble(plan, labels, args.domain)
    validate_manifest(manifest, args.out)
    write_csv_atomic(oracle, args.oracle)
    write_csv_atomic(manifest, args.out)
    log.info("manifest %s: %d videos (%d in the pool, labels held by the oracle)", args.out, len(manifest),
             len(oracle))  # fmt: skip
    return 0
