"""The benchmarks' ratio to the floor (``vqaloop.benchmarking.floor_ratios``, printed and written by ``make bench``)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from vqaloop.benchmarking import floor_ratios

ROOT = Path(__file__).resolve().parents[1]


def test_each_member_is_divided_by_its_own_groups_floor():
    rows = floor_ratios([("a", "test_x", 3.0), ("a", "test_x_floor", 1.5), ("b", "test_y[2]", 1.0),
                         ("b", "test_y_reference", 4.0), ("b", "test_z", 2.0)])  # fmt: skip
    got = {(r["group"], r["name"]): (r["floor"], r["ratio"]) for r in rows}
    assert got == {("a", "test_x"): ("test_x_floor", 2.0), ("b", "test_y[2]"): ("test_y_reference", 0.25),
                   ("b", "test_z"): ("test_y_reference", 0.5)}  # fmt: skip


def test_a_floor_alone_gives_no_row_and_a_member_without_one_names_its_group():
    assert floor_ratios([("a", "test_x_floor", 1.0)]) == []
    with pytest.raises(ValueError, match="'lonely'.*has 0"):
        floor_ratios([("lonely", "test_x", 1.0)])
    with pytest.raises(ValueError, match="'twice'.*has 2"):
        floor_ratios([("twice", "test_x", 1.0), ("twice", "a_floor", 1.0), ("twice", "b_reference", 1.0)])


def test_every_benchmark_file_puts_each_timed_call_beside_a_floor():
    """Every ``benchmarks/test_bench_*.py`` is collected, and every test in it carries a benchmark group with exactly
    one floor (read from the source, so that no benchmark has to run)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--collect-only", "-q", "-p",
                           "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    collected = {line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line}
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "benchmarks").glob("test_bench_*.py"))
    assert sorted(collected) == files and len(files) >= 7
    timings = []
    for path in files:
        tree = ast.parse((ROOT / path).read_text())
        constants = {n.targets[0].id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.targets[0], ast.Name)}  # fmt: skip
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = [d for d in node.decorator_list if isinstance(d, ast.Call) and "benchmark(" in ast.unparse(d)]
                assert len(marks) == 1, f"{path}::{node.name}: no @pytest.mark.benchmark(group=...)"
                value = marks[0].keywords[0].value
                group = value.value if isinstance(value, ast.Constant) else constants[value.id]
                timings.append((group, node.name, 1.0))
    rows = floor_ratios(timings)  # raises on a group without exactly one floor
    assert len(rows) == len([t for t in timings if not t[1].endswith(("_floor", "_reference"))])


def test_a_benchmark_json_says_when_and_where_it_ran():
    import re

    from vqaloop.benchmarking import stamped

    report = stamped({"seconds": 1.0, "run_of_mine": 2})
    assert list(report)[0] == "run" and report["seconds"] == 1.0 and report["run_of_mine"] == 2
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", report["run"]["date"]) and report["run"]["cores"] >= 1
    assert report["run"]["cpu"] and report["run"]["machine"]
