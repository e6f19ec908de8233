"""Assemble a dataset's manifest (pool MOS hidden) and its label-oracle file from the rendered shards.

The corpus manifests carry no ``domain`` column: a dataset's description (config ``corpus.datasets.<name>.domain``)
is printed by the corpus summary only, so editing it reruns the summary and nothing downstream of the manifests.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from vqaloop.corpus.render import LABEL_COLUMNS, TOOLCHAIN_FILE
from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, write_all_atomic
from vqaloop.io.manifest import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, validate_manifest
from vqaloop.io.readers import read_csv, read_json

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = [
    *REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c != "domain"), "category", "chain", "sha256", "pristine_sha256",
]  # fmt: skip
ORACLE_COLUMNS = ["video_id", "dataset", "mos", "vmaf"]


def assemble(plan: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Join plan and labels; blank the MOS of pool rows in the manifest; the oracle keeps them."""
    merged = plan.merge(labels, on="video_id", how="left", validate="one_to_one")
    missing = merged["path"].isna()
    if missing.any():
        raise UserError(f"shards lack labels for {int(missing.sum())} planned videos, e.g. "
                        f"{merged.loc[missing, 'video_id'].iloc[0]}")  # fmt: skip
    oracle = merged.loc[merged.split == "pool", ORACLE_COLUMNS].reset_index(drop=True)
    manifest = merged.copy()
    manifest.loc[manifest.split == "pool", "mos"] = float("nan")
    return manifest[MANIFEST_COLUMNS].reset_index(drop=True), oracle


def add_arguments(parser):
    from vqaloop.cli_checks import output_file

    parser.add_argument("--plan", required=True, type=Path)
    parser.add_argument("--shards", required=True, nargs="+", type=Path, help="rendered shard folders")
    parser.add_argument("--out", required=True, type=output_file, help="manifest CSV")
    parser.add_argument("--oracle", required=True, type=output_file, help="hidden pool labels CSV")


def shard_toolchain(shards: list[Path]) -> dict:
    """The ffmpeg build every shard was rendered with; shards rendered by different builds are refused."""
    builds = {}
    for shard in shards:
        builds[shard] = read_json(shard / TOOLCHAIN_FILE, "a shard's toolchain record (render the shard again)")
    first = next(iter(builds.values()))
    for shard, build in builds.items():
        if build != first:
            raise UserError(f"{shards[0]} and {shard} were rendered by different ffmpeg builds ({first.get('ffmpeg')} "
                            f"vs {build.get('ffmpeg')}): render every shard of the dataset with one build")  # fmt: skip
    return first


def run(args) -> int:
    plan = read_csv(args.plan, "a dataset plan (vqaloop plan)", ("video_id", "content_id", "split"),
                    dtype={"video_id": str, "content_id": str})  # fmt: skip
    toolchain = shard_toolchain(args.shards)
    labels = pd.concat([read_csv(s / "labels.csv", "a rendered shard's labels", LABEL_COLUMNS,
                                 dtype={"video_id": str}) for s in args.shards])  # fmt: skip
    manifest, oracle = assemble(plan, labels)
    validate_manifest(manifest, args.out)
    write_all_atomic([(args.oracle, csv_writer(oracle)), (args.out, csv_writer(manifest))])  # both or neither
    log.info("manifest %s: %d videos (%d in the pool, labels held by the oracle), rendered by %s", args.out,
             len(manifest), len(oracle), toolchain["ffmpeg"])  # fmt: skip
    return 0
