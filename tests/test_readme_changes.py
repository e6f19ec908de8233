"""``scripts/readme_results.py --only changes --against RUN``: the claims whose verdict moved between two runs."""

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["claim", "statement", "statistic", "n_seeds", "p_value", "verdict", "control"]


def claims(folder: Path, verdicts: dict[str, tuple[str, float, int]]) -> Path:
    (folder / "tables").mkdir(parents=True)
    with (folder / "tables" / "claims.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        for claim, (verdict, stat, seeds) in verdicts.items():
            writer.writerow({"claim": claim, "statement": f"the claim {claim}", "statistic": stat, "n_seeds": seeds,
                             "p_value": 0.5, "verdict": verdict, "control": ""})  # fmt: skip
    return folder


def test_only_the_verdicts_that_moved_are_listed_with_both_sides(tmp_path):
    demo = claims(tmp_path / "demo", {"a": ("underpowered", 0.01, 4), "b": ("agree", 0.2, 4), "c": ("disagree", -1, 4)})
    study = claims(tmp_path / "study", {"a": ("agree", 0.05, 10), "b": ("agree", 0.1, 10), "d": ("agree", 1, 10)})
    out = subprocess.run([sys.executable, "scripts/readme_results.py", str(study), "--only", "changes", "--against",
                          str(demo)], cwd=ROOT, capture_output=True, text=True, check=True).stdout  # fmt: skip
    lines = [line for line in out.splitlines() if line.startswith("| the claim")]
    assert lines == [
        "| the claim a | underpowered (+0.010, 4 seeds, p 0.500) | **agree** (+0.050, 10 seeds, p 0.500) |"
    ]
    assert "1 verdicts unchanged." in out  # b; c is gone and d is new: neither counts
