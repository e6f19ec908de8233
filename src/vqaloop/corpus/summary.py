"""Corpus summary table and contact sheet (sample frames of every dataset across its MOS range)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import csv_writer, figure_writer, write_all_atomic
from vqaloop.io.manifest import SPLITS, read_manifest
from vqaloop.io.readers import parse_json_argument, read_csv, read_json
from vqaloop.io.video import read_frames

log = logging.getLogger(__name__)


def with_oracle_mos(manifest: pd.DataFrame, oracle: pd.DataFrame) -> pd.DataFrame:
    """The manifest with pool MOS filled from the oracle (for description only, never for selection)."""
    full = manifest.set_index("video_id")
    full.loc[oracle.video_id.astype(str), "mos"] = oracle.set_index("video_id")["mos"].to_numpy()
    return full.reset_index()


def summarise(df: pd.DataFrame, analogue: str, domain: str = "") -> dict:
    families = sorted({f for d in df.distortion for f in str(d).split("+") if f != "pristine"})
    row = {
        "dataset": df.dataset.iloc[0],
        "analogue": analogue,
        "domain": domain,
        "videos": len(df),
        "contents": df.content_id.nunique(),
        "distortion_families": " ".join(families),
        "n_families": len(families),
        "mos_mean": round(float(df.mos.mean()), 4),
        "mos_std": round(float(df.mos.std(ddof=1)), 4),
        "mos_min": round(float(df.mos.min()), 4),
        "mos_max": round(float(df.mos.max()), 4),
    }
    for split in SPLITS:
        row[f"n_{split}"] = int((df.split == split).sum())
    return row


def rendered_by(df: pd.DataFrame, data_root: Path) -> str:
    """The ffmpeg build of a corpus dataset's shards (``toolchain.json`` beside its videos), "" if none."""
    builds = set()
    for shard in sorted({Path(p).parent.parent for p in df.path}):
        record = data_root / shard / "toolchain.json"
        if record.is_file():
            builds.add(str(read_json(record, "a shard's toolchain record").get("ffmpeg", "")))
    return " | ".join(sorted(builds))


def pick_samples(df: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """k videos spread over the MOS range: the one nearest each of k evenly spaced MOS quantiles."""
    rng = np.random.default_rng(seed)
    order = df.iloc[rng.permutation(len(df))].sort_values("mos", kind="stable").reset_index(drop=True)
    idx = np.unique(np.round(np.linspace(0, len(order) - 1, min(k, len(order)))).astype(int))
    return order.iloc[idx]


def contact_sheet(tables: list[pd.DataFrame], data_root: Path, k: int, seed: int):
    """Sample frames of every dataset across its MOS range (the figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(tables), k, figsize=(2.2 * k, 1.55 * len(tables)), squeeze=False)
    for r, df in enumerate(tables):
        samples = pick_samples(df, k, seed)
        for c in range(k):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(samples):
                ax.axis("off")
                continue
            video = samples.iloc[c]
            path = data_root / video.path
            frame = read_frames(path, [int(video.n_frames) // 2])[0]
            ax.imshow(frame)
            ax.set_title(f"MOS {video.mos:.2f}  {video.chain if video.chain == video.chain else ''}"[:38],
                         fontsize=6)  # fmt: skip
            if c == 0:
                ax.set_ylabel(df.dataset.iloc[0], fontsize=8)
    fig.suptitle("Embedded corpus: a middle frame per sample, low to high MOS (VMAF-derived)", fontsize=9)
    fig.tight_layout()
    return fig


def add_arguments(parser):
    from vqaloop.cli_checks import int_in, json_object, output_file, seed

    parser.add_argument("--manifests", nargs="+", required=True, type=Path)
    parser.add_argument("--oracles", nargs="+", required=True, type=Path)
    parser.add_argument("--data-root", required=True, type=Path)
    parser.add_argument("--analogues", required=True, type=json_object,
                        help="JSON {dataset: paper dataset it stands for}")  # fmt: skip
    parser.add_argument("--domains", default="{}", type=json_object,
                        help="JSON {dataset: description of its content and distortions}")  # fmt: skip
    parser.add_argument("--per-dataset", type=int_in(1, 100), default=6, help="frames shown per dataset, 1 to 100")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--table", required=True, type=output_file)
    parser.add_argument("--figure", required=True, type=output_file)


def run(args) -> int:
    analogues = parse_json_argument(args.analogues, "--analogues")
    domains = parse_json_argument(args.domains, "--domains")
    if len(args.manifests) != len(args.oracles):
        raise UserError(f"--oracles: {len(args.oracles)} file(s) for {len(args.manifests)} --manifests (one each)")
    tables, rows = [], []
    for manifest_path, oracle_path in zip(args.manifests, args.oracles, strict=True):
        manifest = read_manifest(manifest_path)
        oracle = read_csv(oracle_path, "an oracle labels CSV", ("video_id", "mos"), dtype={"video_id": str})
        full = with_oracle_mos(manifest, oracle)
        tables.append(full)
        name = full.dataset.iloc[0]
        rows.append({**summarise(full, analogues.get(name, ""), domains.get(name, "")),
                     "ffmpeg": rendered_by(full, args.data_root)})  # fmt: skip
    summary = pd.DataFrame(rows)
    figure = contact_sheet(tables, args.data_root, args.per_dataset, args.seed)
    write_all_atomic([(args.table, csv_writer(summary)), (args.figure, figure_writer(figure, dpi=110))])
    log.info("corpus summary:\n%s", summary.to_string(index=False))
    return 0
