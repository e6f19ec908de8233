"""The pytest-benchmark files (``benchmarks/test_bench_*.py``, ``make bench``) time under the same CPU-dispatch pin as
every vqaloop command (``vqaloop.dispatch``), set before numpy or torch loads in this process.

Every timed call has a floor in its group (``@pytest.mark.benchmark(group=...)``, a test named ``*_floor``), timed
in the same session on the same inputs; the session ends with each call's ratio to its floor
(``vqaloop.benchmarking.floor_ratios``), printed and written into the JSON (``floor_ratios``, and per benchmark
``extra_info``), without each round's time."""
# ruff: noqa: E402  (the pin must run before numpy and torch are imported)

from vqaloop.dispatch import pin

pin()

from vqaloop.benchmarking import floor_ratios


def _ratios(benchmarks) -> list[dict]:
    timed = [b for b in benchmarks if not getattr(b, "has_error", False) and b.stats is not None]
    return floor_ratios([(b.group or b.name, b.name, b.stats.min) for b in timed])


def pytest_benchmark_update_json(config, benchmarks, output_json):
    rows = _ratios(benchmarks)
    output_json["floor_ratios"] = rows
    by_name = {row["name"]: row for row in rows}
    for bench in output_json["benchmarks"]:
        bench["stats"].pop("data", None)  # every round's time: the summary statistics stay (a tracked file)
        row = by_name.get(bench["name"])
        if row is not None:
            bench["extra_info"].update(floor=row["floor"], ratio_to_floor=row["ratio"])


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled or not session.benchmarks:
        return
    terminalreporter.section("ratio to the floor (fastest round of each)")
    for row in _ratios(session.benchmarks):
        terminalreporter.write_line(f"{row['group']}: {row['name']} {row['seconds'] * 1e3:.2f} ms / {row['floor']} "
                                    f"{row['floor_seconds'] * 1e3:.2f} ms = {row['ratio']:.3g}")  # fmt: skip
