"""Print the README's results tables from a run's files, so every number quoted there can be checked.

    python scripts/readme_results.py results/reference/demo          # every block, markdown, to stdout
    python scripts/readme_results.py results/reference/demo --only claims table2

Reads ``<run>/tables/*_wide.csv`` (the paper-shaped tables), ``claims.csv`` and ``<run>/run_time.csv`` (written by
``benchmarks/demo_time.py``) and prints each block the README's "Results on the embedded corpus" section shows: the
claims, the positive controls' claims and tables, MDS-VQA Tables 2-4 and 9, the Tables 5-8 line, W2S-VQA Tables 1 and 5, the time per step,
and with ``--against OTHER_RUN`` the claims whose verdict moved between the two runs. Nothing is
computed here beyond formatting, so a README block and this output must agree.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

BLOCKS = (
    "claims",
    "controls",
    "control_tables",
    "table2",
    "table3",
    "table4",
    "tables5to8",
    "table9",
    "w2s_table1",
    "w2s_table5",
    "time",
    "changes",
)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def markdown(table: list[dict[str, str]], columns: list[str] | None = None) -> str:
    columns = columns or list(table[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in table]
    return "\n".join(lines)


def number(text: str, fmt: str) -> str:
    return "" if text in ("", None) else format(float(text), fmt)


def claims_block(tables: Path) -> str:
    """The papers' claims (the positive controls' rows: ``controls_block``)."""
    out = []
    for row in rows(tables / "claims.csv"):
        if row.get("control"):
            continue
        out.append({"claim": row["statement"], "statistic": number(row["statistic"], "+.3f"), "seeds": row["n_seeds"],
                    "p": number(row["p_value"], ".3f"), "paper's effect": number(row.get("paper_effect", ""), "+.3f"),
                    "MDE (80%)": number(row.get("mde_80", ""), ".3f"), "seeds needed": row.get("seeds_needed", ""),
                    "verdict": f"**{row['verdict']}**"})  # fmt: skip
    return markdown(out)


def controls_block(tables: Path) -> str:
    """The positive controls' claim rows: what each control expects and whether the run met it."""
    out = []
    for row in rows(tables / "claims.csv"):
        if not row.get("control"):
            continue
        met = row["detail"].split(";")[0]
        out.append({"control claim": f"`{row['claim']}`", "statistic": number(row["statistic"], "+.3f"),
                    "seeds": row["n_seeds"], "p": number(row["p_value"], ".3f"),
                    "MDE (80%)": number(row.get("mde_80", ""), ".3f"), "verdict": f"**{row['verdict']}**",
                    "expected": row["control"], "met": met})  # fmt: skip
    return markdown(out)


def control_tables_block(tables: Path) -> str:
    """Each positive control's table: mean over seeds [95% interval] per row and column (SRCC; the MDS control's
    redundancy: mean pairwise Chamfer distance; planted share)."""
    parts = []
    for path in sorted(tables.glob("control_*.csv")):
        if path.stem.endswith("_seeds"):
            continue
        cells: dict[str, dict[str, str]] = {}
        columns: list[str] = []
        for r in rows(path):
            if r["metric"] == "plcc":
                continue
            column = r["column"] if r["metric"] == "srcc" else f"{r['column']} ({r['metric']})"
            columns += [column] if column not in columns else []
            ci = f" [{number(r['ci_low'], '.3f')}, {number(r['ci_high'], '.3f')}]" if r["ci_low"] else ""
            cells.setdefault(r["row"], {"row": r["row"]})[column] = number(r["value"], ".3f") + ci
        table = [{c: cell.get(c, "") for c in ["row", *columns]} for cell in cells.values()]
        parts.append(f"{path.stem}:\n\n" + markdown(table, ["row", *columns]))
    return "\n\n".join(parts)


def srcc(cell: str) -> str:
    return cell.split(" / ")[0]


def tables5to8_block(tables: Path) -> str:
    """Tables 5-8 on one line each: failure identification SRCC / active fine-tuning SRCC per row."""
    parts = []
    for k in (5, 6, 7, 8):
        cells = [f"{r['row']}: {srcc(r['failure_identification'])} / {srcc(r['active_finetuning'])}"
                 for r in rows(tables / f"mds_table{k}_wide.csv")]  # fmt: skip
        parts.append(f"Table {k}: " + ", ".join(cells) + ".")
    return "\n".join(parts)


def time_block(run: Path) -> str:
    steps = rows(run / "run_time.csv")
    out = []
    for s in steps:
        out.append({"step": f"`{s['step']}`" if not s["step"].startswith(("total", "other")) else s["step"],
                    "jobs": s["jobs"], "job time (min)": s["wall_min"], "mean per job (s)": s["mean_wall_s"],
                    "peak RSS (MB)": s["peak_rss_mb"]})  # fmt: skip
    return markdown(out)


def changes_block(tables: Path, against: Path | None) -> str:
    """Every claim whose verdict differs between ``against`` (another run's tables) and this run, with both
    statistics and seed counts, then a count of the verdicts that stayed."""
    if against is None:
        return "(no --against run: nothing to compare)"
    before = {r["claim"]: r for r in rows(against / "claims.csv")}
    out, same = [], 0
    for row in rows(tables / "claims.csv"):
        old = before.get(row["claim"])
        if old is None or old["verdict"] == row["verdict"]:
            same += old is not None
            continue
        out.append({"claim": row["statement"] if not row.get("control") else f"`{row['claim']}` (control)",
                    "before": f"{old['verdict']} ({number(old['statistic'], '+.3f')}, {old['n_seeds']} seeds, "
                              f"p {number(old['p_value'], '.3f')})",
                    "now": f"**{row['verdict']}** ({number(row['statistic'], '+.3f')}, {row['n_seeds']} seeds, "
                           f"p {number(row['p_value'], '.3f')})"})  # fmt: skip
    return (markdown(out) if out else "(no verdict changed)") + f"\n\n{same} verdicts unchanged."


def block(run: Path, name: str, against: Path | None = None) -> str:
    tables = run / "tables"
    if name == "changes":
        return changes_block(tables, against)
    if name == "claims":
        return claims_block(tables)
    if name == "controls":
        return controls_block(tables)
    if name == "control_tables":
        return control_tables_block(tables)
    if name == "tables5to8":
        return tables5to8_block(tables)
    if name == "time":
        return time_block(run)
    file = {"table2": "mds_table2", "table3": "mds_table3", "table4": "mds_table4", "table9": "mds_table9",
            "w2s_table1": "w2s_table1", "w2s_table5": "w2s_table5"}[name]  # fmt: skip
    return markdown(rows(tables / f"{file}_wide.csv"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder holding tables/ (and run_time.csv)")
    parser.add_argument("--only", nargs="+", choices=BLOCKS, default=list(BLOCKS))
    parser.add_argument(
        "--against", type=Path, help="another run folder: the changes block lists the verdicts that moved"
    )
    args = parser.parse_args(argv)
    for name in args.only:
        print(f"<!-- {name} -->\n{block(args.run, name, args.against and args.against / 'tables')}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
