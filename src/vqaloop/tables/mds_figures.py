"""MDS-VQA figures: the analogue of Fig. 1 (bottom) and the lambda trade-off curve of Table 6."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vqaloop.errors import UserError
from vqaloop.evaluation.metrics import srcc
from vqaloop.io.atomic import figure_writer, write_all_atomic
from vqaloop.io.readers import read_csv

log = logging.getLogger(__name__)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path) -> None:
    write_all_atomic([(out, figure_writer(fig, dpi=120))])


def failure_scatter(predictions: Path, oracle: Path, selections: dict[str, Path], dataset: str):
    """Base-model predictions vs MOS on a target pool; each method's selected videos marked (Fig. 1 bottom)."""
    plt = _plt()
    pred = read_csv(predictions, "prediction file", ("video_id", "mos_pred"), dtype={"video_id": str}).set_index(
        "video_id"
    )
    labels = read_csv(oracle, "oracle labels", ("video_id", "mos"), dtype={"video_id": str}).set_index("video_id")
    pool = labels.join(pred, how="inner")
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.scatter(
        pool.mos_pred, pool.mos, s=8, c="0.75", label=f"pool (n={len(pool)}, SRCC {srcc(pool.mos_pred, pool.mos):.2f})"
    )
    styles = {
        "mds": dict(marker="x", c="red", s=40),
        "random": dict(marker="o", facecolors="none", edgecolors="tab:blue", s=36),
    }
    for name, path in selections.items():
        ids = read_csv(path, "a selection file (video_id,rank)", ("video_id",), dtype={"video_id": str}).video_id
        unknown = sorted(set(ids) - set(pool.index))
        if unknown:
            raise UserError(f"{path}: {len(unknown)} selected id(s) not in {oracle}, e.g. {unknown[0]!r}")
        chosen = pool.loc[ids]
        rho = srcc(chosen.mos_pred, chosen.mos) if len(chosen) >= 2 else float("nan")
        ax.scatter(
            chosen.mos_pred, chosen.mos, label=f"{name} (n={len(chosen)}, SRCC {rho:.2f})", **styles.get(name, {})
        )
    lo, hi = (
        float(np.nanmin([pool.mos.min(), pool.mos_pred.min()])),
        float(np.nanmax([pool.mos.max(), pool.mos_pred.max()])),
    )
    ax.plot([lo, hi], [lo, hi], ls="--", c="0.4", lw=0.8)
    ax.set_xlabel("base model prediction (MOS scale)")
    ax.set_ylabel("MOS (VMAF-derived)")
    ax.set_title(f"Failure identification on the {dataset} pool", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def read_table6(table6: Path):
    return read_csv(table6, "Table 6 long CSV", ("row", "column", "metric", "value", "ci_low", "ci_high"))


def lambda_tradeoff(table6: Path):
    """Failure identification (lower is better) and active fine-tuning SRCC against lambda, with 95% CIs."""
    plt = _plt()
    long = read_table6(table6)
    srcc_rows = long[long.metric == "srcc"]
    base = srcc_rows[srcc_rows.row == "base_model"].set_index("column").value
    lam_rows = srcc_rows[srcc_rows.row.str.startswith("lambda_")].copy()
    lam_rows["lam"] = lam_rows.row.str.removeprefix("lambda_").astype(float)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.3))
    for ax, column, title in zip(axes, ["failure_identification", "active_finetuning"],
                                 ["failure identification SRCC (lower = better)", "active fine-tuning SRCC"], strict=True):  # fmt: skip
        d = lam_rows[lam_rows.column == column].sort_values("lam")
        err = np.vstack([d.value - d.ci_low.fillna(d.value), d.ci_high.fillna(d.value) - d.value])
        ax.errorbar(d.lam, d.value, yerr=err, marker="o", capsize=3, label="MDS-VQA")
        if column in base.index:
            ax.axhline(base[column], ls="--", c="0.5", label="base model")
        ax.set_xlabel("lambda (diversity weight, Eq. 9)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def add_arguments(parser):
    from vqaloop.cli_checks import name, output_file

    parser.add_argument("--predictions", required=True, type=Path, help="base predictions on the dataset")
    parser.add_argument("--oracle", required=True, type=Path)
    parser.add_argument("--dataset", required=True, type=name)
    parser.add_argument("--mds-selection", required=True, type=Path)
    parser.add_argument("--random-selection", required=True, type=Path)
    parser.add_argument("--table6", required=True, type=Path)
    parser.add_argument("--scatter", required=True, type=output_file)
    parser.add_argument("--tradeoff", required=True, type=output_file)


def run(args) -> int:
    scatter = failure_scatter(args.predictions, args.oracle,
                              {"mds": args.mds_selection, "random": args.random_selection}, args.dataset)  # fmt: skip
    tradeoff = lambda_tradeoff(args.table6)
    write_all_atomic(
        [(args.scatter, figure_writer(scatter, dpi=120)), (args.tradeoff, figure_writer(tradeoff, dpi=120))]
    )
    log.info("figures: %s, %s", args.scatter, args.tradeoff)
    return 0
