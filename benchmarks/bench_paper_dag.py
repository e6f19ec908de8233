"""How long Snakemake takes to build the full paper-scale DAG (config/paper.yaml on a placeholder tree).

    python benchmarks/bench_paper_dag.py [--repeats 3] [--out benchmarks/results/paper_dag.json]

Times ``snakemake -n --quiet`` on ``paper_placeholder.yaml`` (written by ``vqaloop placeholder-tree``) against a
floor run in the same process: the same command on a one-rule Snakefile (Snakemake's own start-up, which no
workflow can avoid). Reports the job count, the median wall time of each, the difference (what building this DAG
costs) and the ratio. Goal: the paper DAG in under 5 s.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vqaloop.benchmarking import stamped
from vqaloop.io.atomic import write_text_atomic

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([str(SNAKEMAKE), *args], cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout + proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/paper_dag.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "vqaloop", "placeholder-tree", "--config", str(REPO / "config/paper.yaml"),
                        "--out", str(tmp / "tree")], cwd=REPO, check=True, capture_output=True)  # fmt: skip
        floor_dir = tmp / "floor"
        floor_dir.mkdir()
        (floor_dir / "Snakefile").write_text('rule all:\n    output: "x"\n    shell: "touch {output}"\n')
        config = str(tmp / "tree" / "paper_placeholder.yaml")
        _, text = timed(["-n", "--configfile", config], REPO)
        jobs = int(re.search(r"^total\s+(\d+)", text, re.M).group(1))
        dag, floor = [], []
        for _ in range(args.repeats):
            dag.append(timed(["-n", "--quiet", "--configfile", config], REPO)[0])
            floor.append(timed(["-n", "--quiet", "--cores", "1"], floor_dir)[0])
    result = {
        "jobs": jobs,
        "paper_dag_s": round(statistics.median(dag), 3),
        "floor_s": round(statistics.median(floor), 3),
        "dag_minus_floor_s": round(statistics.median(dag) - statistics.median(floor), 3),
        "ratio": round(statistics.median(dag) / statistics.median(floor), 2),
        "goal_s": 5.0,
        "runs": {"paper_dag": [round(t, 3) for t in dag], "floor": [round(t, 3) for t in floor]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.out, json.dumps(stamped(result), indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
