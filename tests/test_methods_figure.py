"""The methods figure of Tables 2, 3, 9: which values it draws, and its errors."""

from __future__ import annotations

import pandas as pd
from conftest import REPO, error_line, run_cli

from vqaloop.tables.mds_methods import panel_rows, row_prefixes

METHODS = ("base_model", "random", "coreset", "mds")


def long_table(table: str, rows: list[str], columns: list[str]) -> pd.DataFrame:
    records = []
    for i, row in enumerate(rows):
        for column in columns:
            for metric, offset in (("srcc", 0.0), ("plcc", 0.5)):
                value = round(0.1 * i + offset, 3)
                records.append({"table": table, "row": row, "column": column, "metric": metric, "value": value,
                                "ci_low": value - 0.05, "ci_high": value + 0.05, "n_seeds": 3})  # fmt: skip
    return pd.DataFrame(records)


def test_table9_panels_split_by_base_model_prefix_in_order():
    rows = [f"{p}/{m}" for p in ("uvq", "modularbvqa") for m in METHODS]
    long = long_table("mds_table9", rows, ["failure_identification", "active_finetuning"])
    assert row_prefixes(long) == ["uvq/", "modularbvqa/"]
    d = panel_rows(long, "active_finetuning", "modularbvqa/")
    assert list(d.method) == list(METHODS)
    assert list(d.value) == [0.4, 0.5, 0.6, 0.7]  # SRCC of the second prefix's rows, not PLCC, not uvq's
    assert row_prefixes(long_table("mds_table2", list(METHODS), ["mean"])) == [""]


def test_cli_draws_tables_2_and_9_and_refuses_a_table_without_panels(tmp_path):
    t2, t9 = tmp_path / "mds_table2.csv", tmp_path / "mds_table9.csv"
    long_table("mds_table2", list(METHODS), ["cgvds", "mean"]).to_csv(t2, index=False)
    rows = [f"uvq/{m}" for m in METHODS]
    long_table("mds_table9", rows, ["failure_identification", "active_finetuning"]).to_csv(t9, index=False)
    out = tmp_path / "methods.png"
    run_cli("mds-methods-figure", "--tables", str(t2), str(t9), "--paper-root", str(REPO / "results/paper"),
            "--out", str(out), check=True)  # fmt: skip
    assert out.read_bytes()[:4] == b"\x89PNG"
    t5 = tmp_path / "mds_table5.csv"
    long_table("mds_table5", ["base_model"], ["failure_identification"]).to_csv(t5, index=False)
    bad = tmp_path / "bad.png"
    line = error_line(run_cli("mds-methods-figure", "--tables", str(t5), "--out", str(bad)))
    assert "mds_table5" in line and str(t5) in line
    assert not bad.exists()
    line = error_line(run_cli("mds-methods-figure", "--tables", str(tmp_path / "nope.csv"), "--out", str(bad)))
    assert "nope.csv" in line and "not found" in line
