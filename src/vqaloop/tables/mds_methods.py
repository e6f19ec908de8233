"""``vqaloop mds-methods-figure``: every method of Tables 2, 3 (and 9) as a mean with its 95% seed interval.

One panel per (table, column): each row of the table is a point with its Student-t interval over seeds (the
long CSV's ``ci_low``/``ci_high``), the published value as an open diamond, and random sampling's interval
shaded, so "does method X beat random here" is read off the picture. SRCC only; PLCC is in the CSVs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.readers import read_csv
from vqaloop.tables.mds_figures import _plt, _save
from vqaloop.tables.published import load_published

log = logging.getLogger(__name__)

# (column of the long table, panel title); Tables 2/3 use their "mean" column, Table 9 has two columns
PANELS = {
    "mds_table2": [("mean", "Table 2: failure identification, mean SRCC (lower = better)")],
    "mds_table3": [("mean", "Table 3: active fine-tuning, mean SRCC (higher = better)")],
    "mds_table9": [
        ("failure_identification", "failure identification SRCC (lower = better)"),
        ("active_finetuning", "active fine-tuning SRCC (higher = better)"),
    ],
}


def panel_rows(long: pd.DataFrame, column: str, prefix: str = "") -> pd.DataFrame:
    """SRCC rows of one column (and one base-model prefix for Table 9), in the table's row order."""
    d = long[(long.metric == "srcc") & (long.column == column)]
    if prefix:
        d = d[d.row.str.startswith(prefix)]
    if d.empty:
        raise UserError(f"no SRCC values for column {column!r}{' of ' + prefix if prefix else ''} in the table")
    return d.assign(method=d.row.str.removeprefix(prefix)).reset_index(drop=True)


def row_prefixes(long: pd.DataFrame) -> list[str]:
    """Table 9's base-model prefixes ('uvq/', 'modularbvqa/'), in order; [''] for the other tables."""
    prefixes = [r.split("/", 1)[0] + "/" for r in long.row if "/" in r]
    return list(dict.fromkeys(prefixes)) or [""]


def draw_panel(ax, d: pd.DataFrame, paper: pd.Series, title: str) -> None:
    y = np.arange(len(d))[::-1]
    ci_lo, ci_hi = d.ci_low.fillna(d.value), d.ci_high.fillna(d.value)
    random = d[d.method == "random"]
    if not random.empty and pd.notna(random.ci_low.iloc[0]):
        ax.axvspan(random.ci_low.iloc[0], random.ci_high.iloc[0], color="tab:blue", alpha=0.12, lw=0,
                   label="random sampling, 95% interval")  # fmt: skip
    ax.errorbar(d.value, y, xerr=np.vstack([d.value - ci_lo, ci_hi - d.value]), fmt="o", c="k", ms=4, capsize=2,
                label="ours (mean, 95% seed interval)")  # fmt: skip
    published = paper.reindex(d.row)
    if published.notna().any():
        ax.scatter(published.to_numpy(), y, marker="D", facecolors="none", edgecolors="tab:red", s=26,
                   label="paper")  # fmt: skip
    ax.set_yticks(y, d.method)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", lw=0.3)


def read_panels(tables: list[Path], paper_root: Path) -> list[tuple[pd.DataFrame, pd.Series, str]]:
    """(rows, published SRCC by row, title) of every panel, in the order of the tables and their columns."""
    panels = []
    for path in tables:
        long = read_csv(path, "a long-format table CSV", ("table", "row", "column", "metric", "value"))
        if long.empty:
            raise UserError(f"{path}: a long-format table CSV without rows")
        table = str(long.table.iloc[0])
        if table not in PANELS:
            raise UserError(f"{path}: table {table!r} has no methods panel (expected one of {sorted(PANELS)})")
        try:
            paper = load_published(table, paper_root)
            paper = paper[paper.metric == "srcc"]
        except Exception as err:  # a missing published file only drops the diamonds
            log.warning("no published values for %s: %s", table, err)
            paper = pd.DataFrame(columns=["row", "column", "value"])
        for prefix in row_prefixes(long):
            for column, title in PANELS[table]:
                published = paper[paper.column == column].set_index("row").value.astype(float)
                label = f"{prefix.rstrip('/')}: {title}" if prefix else title
                panels.append((panel_rows(long, column, prefix), published, label))
    return panels


def methods_plot(panels: list[tuple[pd.DataFrame, pd.Series, str]]):
    """The panels of :func:`read_panels` side by side, two a row, one legend below (the figure)."""
    plt = _plt()
    cols = 2 if len(panels) > 1 else 1
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 0.32 * max(len(p[0]) for p in panels) * rows + 1.2),
                             squeeze=False)  # fmt: skip
    for ax, (d, published, title) in zip(axes.flat, panels, strict=False):
        draw_panel(ax, d, published, title)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
    return fig


def methods_figure(tables: list[Path], paper_root: Path, out: Path) -> None:
    _save(methods_plot(read_panels(tables, paper_root)), out)


def add_arguments(parser):
    parser.add_argument("--tables", nargs="+", required=True, type=Path,
                        help="long CSVs of mds_table2 / mds_table3 / mds_table9")  # fmt: skip
    from vqaloop.cli_checks import output_file

    parser.add_argument("--paper-root", default=Path("results/paper"), type=Path)
    parser.add_argument("--out", required=True, type=output_file, help="PNG")


def run(args) -> int:
    for path in args.tables:
        if not path.is_file():
            raise UserError(f"{path}: table not found")
    methods_figure(args.tables, args.paper_root, args.out)
    log.info("figure: %s", args.out)
    return 0
