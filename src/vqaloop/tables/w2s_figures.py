"""``vqaloop w2s-figure``: the analogue of W2S-VQA Fig. 4 — each weak teacher beside the student it labelled.

Two panels (in-domain and out-of-distribution "Overall" SRCC, video-weighted): for every teacher, its own value
and its student's ("<teacher>-labelled") mean with the 95% seed interval; the supervised student (source
labels) as a dashed line. Read from the long CSV of W2S Table 5.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from vqaloop.errors import UserError
from vqaloop.io.atomic import atomic_path

log = logging.getLogger(__name__)
PANELS = (("overall_in_domain", "in-domain"), ("overall_ood", "out of distribution"))


def teachers_students_plot(table5: pd.DataFrame):
    """Each teacher's Overall SRCC beside its student's, in-domain and out of distribution (the figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    srcc = table5[table5.metric == "srcc"]
    teachers = list(srcc[srcc.note == "teacher"].row.unique())
    if not teachers:
        raise UserError("W2S Table 5 has no teacher rows")
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.3 * len(teachers), 3.6), sharey=True)
    x = np.arange(len(teachers))
    for ax, (column, title) in zip(axes, PANELS, strict=True):
        cells = srcc[srcc.column == column].set_index("row")
        teacher_v = [cells.value.get(t, np.nan) for t in teachers]
        student = [cells.loc[f"{t}_labeled"] if f"{t}_labeled" in cells.index else None for t in teachers]
        student_v = [np.nan if s is None else s.value for s in student]
        err = np.array([[0, 0] if s is None or pd.isna(s.ci_low) else [s.value - s.ci_low, s.ci_high - s.value]
                        for s in student]).T  # fmt: skip
        ax.bar(x - 0.2, teacher_v, 0.4, label="weak teacher", color="#9aa5b1")
        ax.bar(x + 0.2, student_v, 0.4, yerr=err, capsize=3, label="its student", color="#2f6fb0")
        if "lsvq_labeled" in cells.index:
            ax.axhline(cells.value["lsvq_labeled"], ls="--", color="#b0412f", lw=1, label="source-labelled student")
        ax.set_xticks(x, teachers, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{title} (Overall SRCC)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("SRCC (video-weighted)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle("W2S-VQA Fig. 4 analogue: teachers vs their students (embedded corpus)", fontsize=9)
    fig.tight_layout()
    return fig


def figure(table5: pd.DataFrame, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig = teachers_students_plot(table5)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=120, metadata={"Software": None})
    plt.close(fig)


def add_arguments(parser):
    from vqaloop.cli_checks import output_file

    parser.add_argument("--table5", required=True, type=Path, help="long CSV of W2S Table 5")
    parser.add_argument("--out", required=True, type=output_file)


def run(args) -> int:
    if not args.table5.is_file():
        raise UserError(f"{args.table5}: W2S Table 5 not found")
    try:
        table5 = pd.read_csv(args.table5)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{args.table5}: not a readable table CSV ({type(err).__name__})") from None
    missing = {"row", "column", "metric", "value", "ci_low", "ci_high", "note"} - set(table5.columns)
    if missing:
        raise UserError(f"{args.table5}: not a W2S Table 5 long CSV (lacks {sorted(missing)})")
    figure(table5, args.out)
    log.info("wrote %s", args.out)
    return 0
