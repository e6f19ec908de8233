"""Where a run's time went: Snakemake's per-job benchmark files summed per step.

    python benchmarks/demo_time.py results/demo/benchmarks [--out results/demo/tables/run_time.csv]

Every rule writes ``{BENCH}/<stage>/<step>_<wildcards>.tsv`` (Snakemake's ``benchmark:`` directive: wall
seconds ``s`` and peak ``max_rss`` in MB; its ``cpu_time`` misses
child processes such as ffmpeg, so it is not summed). This sums them per stage/step, so the README can say how
long each part of ``make demo`` takes and what the serial total is, independently of how many cores ran it.
With ``--snakemake-log`` (the run's log under ``.snakemake/log/``) it also prints the run's wall time and the
cores' utilisation: the summed job time over wall time x cores.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd


def step_of(path: Path, root: Path) -> str:
    """'corpus/render', 'features', 'mds/effnet_motion/select', ...: the stage folder and the file's first token."""
    parts = path.relative_to(root).parts
    stage = "/".join(parts[:-1])
    if stage == "features":  # features/<dataset>_<encoder>.tsv: one step
        return stage
    return f"{stage}/{path.stem.split('_', 1)[0]}"


def read_benchmarks(root: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        first = table.iloc[0]
        rows.append(
            {
                "step": step_of(path, root),
                "wall_s": float(first["s"]),
                "max_rss_mb": float(pd.to_numeric(first.get("max_rss"), errors="coerce")),
            }
        )
    if not rows:
        raise SystemExit(f"demo_time: no benchmark files under {root}")
    return pd.DataFrame(rows)


def summarise(jobs: pd.DataFrame) -> pd.DataFrame:
    per_step = jobs.groupby("step").agg(
        jobs=("wall_s", "size"),
        wall_min=("wall_s", lambda s: s.sum() / 60),
        mean_wall_s=("wall_s", "mean"),
        peak_rss_mb=("max_rss_mb", "max"),
    )
    per_step = per_step.sort_values("wall_min", ascending=False)
    total = pd.DataFrame(
        {
            "jobs": [len(jobs)],
            "wall_min": [jobs.wall_s.sum() / 60],
            "mean_wall_s": [jobs.wall_s.mean()],
            "peak_rss_mb": [jobs.max_rss_mb.max()],
        },
        index=pd.Index(["total (serial)"], name="step"),
    )
    return pd.concat([per_step, total]).round(2)


STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)


def log_wall_seconds(logs: list[Path]) -> float:
    """Wall time of a run from Snakemake's own logs (.snakemake/log/*.snakemake.log): first to last job stamp,
    summed over the logs given (a run resumed after an interruption has several)."""
    total = 0.0
    for path in logs:
        stamps = [
            datetime.strptime(" ".join(m.split()), "%a %b %d %H:%M:%S %Y") for m in STAMP.findall(path.read_text())
        ]
        if stamps:
            total += (max(stamps) - min(stamps)).total_seconds()
    return total


def utilisation(jobs: pd.DataFrame, wall_s: float, cores: int) -> float:
    """Share of the cores' time a job was running: sum of job wall times / (run wall time x cores)."""
    return float(jobs.wall_s.sum() / (wall_s * cores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a run's benchmark folder, e.g. results/demo/benchmarks")
    parser.add_argument("--out", type=Path, help="also write the summary as CSV")
    parser.add_argument("--snakemake-log", type=Path, nargs="+", help="the run's .snakemake/log/*.snakemake.log "
                        "files: prints its wall time and the cores' utilisation")  # fmt: skip
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="cores the run had (default: this machine's)")
    args = parser.parse_args(argv)
    jobs = read_benchmarks(args.root)
    table = summarise(jobs)
    print(table.to_string())
    if args.snakemake_log:
        wall = log_wall_seconds(args.snakemake_log)
        print(f"wall {wall / 60:.1f} min, {len(jobs)} jobs, {args.cores} cores, "
              f"utilisation {utilisation(jobs, wall, args.cores):.2f} (job time / (wall x cores))")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
