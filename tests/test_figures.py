"""What each figure plots: its points, bars, intervals, panels and marked selections, against values computed here."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.patches import StepPatch
from scipy import stats

from vqaloop.corpus import summary
from vqaloop.tables import mds_table4
from vqaloop.tables.mds_figures import failure_scatter, lambda_tradeoff
from vqaloop.tables.mds_methods import methods_plot, read_panels
from vqaloop.tables.published import LONG_COLUMNS
from vqaloop.tables.w2s_figures import teachers_students_plot
from vqaloop.w2s.shaping import make_bins, shaping_figure


@pytest.fixture
def figures():
    """Figures a test registers are closed after it."""
    opened = []
    yield opened.append
    for fig in opened:
        plt.close(fig)


def frame_of(k: int) -> np.ndarray:
    """A 4x6 RGB frame that names video k by its pixel value."""
    return np.full((4, 6, 3), 10 * k + 5, dtype=np.uint8)


def shown_video(ax) -> int | None:
    """The video k of :func:`frame_of` an image panel shows (None for an empty panel)."""
    if not ax.images:
        return None
    return (int(np.asarray(ax.images[0].get_array())[0, 0, 0]) - 5) // 10


def interval_segments(container: ErrorbarContainer) -> list[np.ndarray]:
    """Segments of an errorbar's interval lines: [[x0, y0], [x1, y1]] per point (empty for a NaN point)."""
    return [np.asarray(s) for s in container.lines[2][0].get_segments()]


def span_x(patch) -> tuple[float, float]:
    """Data x range of an ``axvspan`` patch (a Rectangle or a Polygon, by matplotlib version)."""
    xs = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
    return float(xs.min()), float(xs.max())


def legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


# ---------------------------------------------------------------- contact sheet


def test_contact_sheet_one_row_per_dataset_frames_low_to_high_mos(monkeypatch, figures):
    calls = []

    def read_frames(path, indices):
        calls.append((Path(path).name, indices))
        return frame_of(int(Path(path).stem[1:]))[None]

    monkeypatch.setattr(summary, "read_frames", read_frames)
    mos_a = [3.1, 1.2, 4.7, 2.5, 3.9]  # v0..v4; by MOS: v1 v3 v0 v4 v2
    mos_b = [2.2, 4.4, 1.1]  # v5..v7; by MOS: v7 v5 v6
    rows = [{"video_id": f"v{k}", "path": f"d/v{k}.mp4", "mos": m, "dataset": d, "n_frames": 8 + k, "chain": "blur"}
            for k, (m, d) in enumerate([(m, "alpha") for m in mos_a] + [(m, "beta") for m in mos_b])]  # fmt: skip
    table = pd.DataFrame(rows)
    tables = [
        table[table.dataset == "alpha"].reset_index(drop=True),
        table[table.dataset == "beta"].reset_index(drop=True),
    ]
    fig = summary.contact_sheet(tables, Path("/data"), k=4, seed=0)
    figures(fig)
    axes = np.array(fig.axes).reshape(2, 4)
    # alpha: 5 videos, 4 columns -> MOS-order positions round(linspace(0, 4, 4)) = 0, 1, 3, 4; beta: all 3, one empty
    assert [shown_video(ax) for ax in axes[0]] == [1, 3, 4, 2]
    assert [shown_video(ax) for ax in axes[1]] == [7, 5, 6, None]
    assert not axes[1, 3].axison
    for r, row in enumerate(axes):
        shown = [v for v in (shown_video(ax) for ax in row) if v is not None]
        mos = [table.mos[v] for v in shown]
        assert mos == sorted(mos) and mos[0] == min(tables[r].mos) and mos[-1] == max(tables[r].mos)
        for ax, v in zip(row, shown, strict=False):
            assert ax.get_title().startswith(f"MOS {table.mos[v]:.2f}  blur")
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["alpha", "beta"]
    assert sorted(calls) == sorted((f"v{v}.mp4", [(8 + v) // 2]) for v in (1, 3, 4, 2, 7, 5, 6))  # middle frames


# ---------------------------------------------------------------- MDS failure scatter and lambda trade-off


def test_failure_scatter_plots_the_pool_and_marks_exactly_each_selection(tmp_path, figures):
    rng = np.random.default_rng(0)
    ids = [f"x{k}" for k in range(12)]
    mos = rng.uniform(1, 5, 12)
    pred = mos + rng.normal(0, 0.8, 12)
    pd.DataFrame({"video_id": ids[::-1] + ["extra"], "mos_pred": list(pred[::-1]) + [9.0]}).to_csv(
        tmp_path / "pred.csv", index=False
    )
    pd.DataFrame({"video_id": ids, "mos": mos}).to_csv(tmp_path / "oracle.csv", index=False)
    picks = {"mds": [7, 2, 9], "random": [0, 4, 5, 11]}
    for name, ks in picks.items():
        pd.DataFrame({"video_id": [ids[k] for k in ks], "rank": range(1, len(ks) + 1)}).to_csv(
            tmp_path / f"{name}.csv", index=False
        )
    fig = failure_scatter(tmp_path / "pred.csv", tmp_path / "oracle.csv",
                          {n: tmp_path / f"{n}.csv" for n in picks}, "toy")  # fmt: skip
    figures(fig)
    (ax,) = fig.axes
    pool, mds, random = ax.collections
    np.testing.assert_allclose(pool.get_offsets(), np.column_stack([pred, mos]))  # x prediction, y MOS; not "extra"
    for marked, name in ((mds, "mds"), (random, "random")):
        ks = picks[name]
        np.testing.assert_allclose(marked.get_offsets(), np.column_stack([pred[ks], mos[ks]]))
    rho = {n: stats.spearmanr(pred[ks], mos[ks]).statistic for n, ks in picks.items()}
    assert legend_texts(ax.get_legend()) == [
        f"pool (n=12, SRCC {stats.spearmanr(pred, mos).statistic:.2f})",
        f"mds (n=3, SRCC {rho['mds']:.2f})",
        f"random (n=4, SRCC {rho['random']:.2f})",
    ]
    lo, hi = min(mos.min(), pred.min()), max(mos.max(), pred.max())
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[lo, lo], [hi, hi]])  # the identity line over both ranges
    assert ax.get_xlabel().startswith("base model prediction") and ax.get_ylabel().startswith("MOS")
    assert "toy" in ax.get_title()


def table6(rows: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Table 6 long CSV: each row's SRCC (a, b) in the two columns, with intervals a +- 0.05; PLCC = SRCC + 0.3."""
    records = []
    for row, values in rows.items():
        for column, v in zip(("failure_identification", "active_finetuning"), values, strict=True):
            ci = (np.nan, np.nan) if row == "base_model" else (v - 0.05, v + 0.04)
            records += [{"row": row, "column": column, "metric": "srcc", "value": v, "ci_low": ci[0], "ci_high": ci[1]},
                        {"row": row, "column": column, "metric": "plcc", "value": v + 0.3, "ci_low": ci[0] + 0.3,
                         "ci_high": ci[1] + 0.3}]  # fmt: skip
    return pd.DataFrame(records)


def test_lambda_tradeoff_draws_each_columns_srcc_by_lambda_with_its_interval(tmp_path, figures):
    rows = {"base_model": (0.61, 0.55), "lambda_0.5": (0.42, 0.66), "lambda_0": (0.30, 0.60),
            "lambda_1": (0.47, 0.63), "random": (0.9, 0.1)}  # fmt: skip
    table6(rows).to_csv(tmp_path / "t6.csv", index=False)
    fig = lambda_tradeoff(tmp_path / "t6.csv")
    figures(fig)
    assert len(fig.axes) == 2
    lams = [0.0, 0.5, 1.0]
    for j, (ax, column) in enumerate(zip(fig.axes, ("failure identification", "active fine-tuning"), strict=True)):
        assert ax.get_title().startswith(column)
        (curve,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        means = [rows[f"lambda_{lam:g}"][j] for lam in lams]
        np.testing.assert_allclose(curve.lines[0].get_xydata(), np.column_stack([lams, means]))
        intervals = [[[lam, m - 0.05], [lam, m + 0.04]] for lam, m in zip(lams, means, strict=True)]
        np.testing.assert_allclose(interval_segments(curve), intervals)
        base = [ln for ln in ax.get_lines() if ln.get_label() == "base model"]
        assert len(base) == 1 and set(base[0].get_ydata()) == {rows["base_model"][j]}
        assert legend_texts(ax.get_legend()) == ["base model", "MDS-VQA"]


# ---------------------------------------------------------------- methods figure of Tables 2, 3, 9


def methods_table(table: str, rows: list[str], columns: list[str]) -> pd.DataFrame:
    """Row i of column c: SRCC 0.1 i + 0.01 c with interval [-0.04, +0.03]; PLCC 0.5 higher."""
    records = []
    for i, row in enumerate(rows):
        for c, column in enumerate(columns):
            for metric, offset in (("srcc", 0.0), ("plcc", 0.5)):
                v = round(0.1 * i + 0.01 * c + offset, 4)
                records.append({"table": table, "row": row, "column": column, "metric": metric, "value": v,
                                "ci_low": v - 0.04, "ci_high": v + 0.03, "n_seeds": 3})  # fmt: skip
    return pd.DataFrame(records)


def panel_points(ax) -> dict[str, tuple[float, float, float]]:
    """{method tick label: (mean, interval low, interval high)} of one panel, top to bottom, read off its errorbar."""
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    xy, seg = bars.lines[0].get_xydata(), interval_segments(bars)
    by_y = {float(y): (float(x), float(s[0, 0]), float(s[1, 0])) for (x, y), s in zip(xy, seg, strict=True)}
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True), reverse=True)
    return {label: by_y[float(y)] for y, label in ticks}


def test_methods_figure_shows_every_row_of_the_tables_given_and_randoms_interval(tmp_path, figures):
    methods = ["base_model", "random", "coreset", "mds"]
    t2 = methods_table("mds_table2", methods, ["cgvds", "mean"])
    t9 = methods_table("mds_table9", [f"{p}/{m}" for p in ("uvq", "mbv") for m in methods],
                       ["failure_identification", "active_finetuning"])  # fmt: skip
    t2.to_csv(tmp_path / "t2.csv", index=False)
    t9.to_csv(tmp_path / "t9.csv", index=False)
    paper = pd.DataFrame({"table": "mds_table2", "row": ["mds", "random", "mds"], "column": ["mean", "mean", "cgvds"],
                          "metric": "srcc", "value": [0.81, 0.77, 0.11], "ci_low": "", "ci_high": "", "n_seeds": "",
                          "run": "paper", "config_hash": ""})[LONG_COLUMNS]  # fmt: skip
    (tmp_path / "paper").mkdir()
    paper.to_csv(tmp_path / "paper" / "mds_table2.csv", index=False)
    fig = methods_plot(read_panels([tmp_path / "t2.csv", tmp_path / "t9.csv"], tmp_path / "paper"))
    figures(fig)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(fig.axes) == 6 and len(visible) == 5  # Table 2's mean + two prefixes x two columns of Table 9
    expected = [(t2, "", "mean", "Table 2")] + [
        (t9, f"{p}/", column, f"{p}: {title}")
        for p in ("uvq", "mbv")
        for column, title in (("failure_identification", "failure"), ("active_finetuning", "active"))
    ]
    for ax, (table, prefix, column, title) in zip(visible, expected, strict=True):
        assert ax.get_title().startswith(title)
        cells = table[(table.metric == "srcc") & (table.column == column) & table.row.str.startswith(prefix)]
        want = {r.removeprefix(prefix): (v, lo, hi) for r, v, lo, hi in
                zip(cells.row, cells.value, cells.ci_low, cells.ci_high, strict=True)}  # fmt: skip
        got = panel_points(ax)
        assert list(got) == methods  # the table's rows top to bottom
        np.testing.assert_allclose([got[m] for m in methods], [want[m] for m in methods])
        (span,) = ax.patches  # random sampling's interval, shaded
        assert span_x(span) == pytest.approx(want["random"][1:])
    (diamonds,) = [c.get_offsets() for c in visible[0].collections if isinstance(c, PathCollection)]  # mds, random
    y_of = dict(zip((t.get_text() for t in visible[0].get_yticklabels()), visible[0].get_yticks(), strict=True))
    known = ~np.isnan(np.asarray(diamonds)[:, 0])
    assert sorted(map(tuple, np.asarray(diamonds)[known])) == sorted([(0.77, y_of["random"]), (0.81, y_of["mds"])])
    assert not any(isinstance(c, PathCollection) for ax in visible[1:] for c in ax.collections)  # none for Table 9
    assert legend_texts(fig.legends[0]) == ["random sampling, 95% interval", "paper", "ours (mean, 95% seed interval)"]


# ---------------------------------------------------------------- gMAD pairs (Table 4's figure)


@pytest.fixture
def gmad_inputs(tmp_path, monkeypatch):
    ids = [f"v{k}" for k in range(10)]
    manifest = pd.DataFrame({"video_id": ids, "path": [f"clips/{v}.mp4" for v in ids], "mos": np.linspace(1, 5, 10),
                             "split": "pool", "dataset": "d", "content_id": ids})  # fmt: skip
    manifest.to_csv(tmp_path / "m.csv", index=False)
    rows = []
    for att, dfd, levels in (
        ("A", "B", (2, 0, 1)),
        ("B", "A", (1, 0)),
        ("A", "C", (0,)),
        ("B", "C", (0,)),
        ("C", "B", (3,)),
    ):
        for level in levels:
            k = len(rows)
            rows.append({"attacker": att, "defender": dfd, "level": level, "video_high": f"v{k % 10}",
                         "video_low": f"v{(k + 5) % 10}", "attacker_score_high": 4.0 + k / 10,
                         "attacker_score_low": 1.0 + k / 10, "defender_score_high": 3.0 + k / 100,
                         "defender_score_low": 3.05 + k / 100, "mos_high": 4.5 - k / 10,
                         "mos_low": 1.5 + k / 10})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "pairs.csv", index=False)
    seen = []

    def middle_frame(path):
        seen.append(Path(path))
        return frame_of(int(Path(path).stem[1:]))

    monkeypatch.setattr(mds_table4, "middle_frame", middle_frame)
    return tmp_path, pd.DataFrame(rows), seen


def test_gmad_figure_shows_the_lowest_and_highest_level_pair_of_each_role_with_its_scores(gmad_inputs, figures):
    root, pairs, seen = gmad_inputs
    fig = mds_table4.gmad_pairs_plot(root / "pairs.csv", root / "m.csv", root, "A", "B")
    figures(fig)
    axes = np.array(fig.axes).reshape(2, 4)
    for c, (att, dfd) in enumerate((("A", "B"), ("B", "A"))):
        role = pairs[(pairs.attacker == att) & (pairs.defender == dfd)]
        shown = [role[role.level == role.level.min()].iloc[0], role[role.level == role.level.max()].iloc[0]]
        for r, p in enumerate(shown):
            for side, which in enumerate(("high", "low")):
                ax = axes[r, 2 * c + side]
                assert shown_video(ax) == int(p[f"video_{which}"][1:])
                assert ax.get_title() == (
                    f"{att}: {p[f'attacker_score_{which}']:.2f}  {dfd}: {p[f'defender_score_{which}']:.2f}\n"
                    f"MOS {p[f'mos_{which}']:.2f}  (level {p.level}, {which})"
                )
        assert [t.get_text() for t in axes[0, 2 * c].texts] == [f"attacker {att} / defender {dfd}"]
    assert {p.parent for p in seen} == {root / "clips"} and len(seen) == 8


def test_gmad_figure_with_one_level_or_no_pair(gmad_inputs, figures):
    root, pairs, _ = gmad_inputs
    fig = mds_table4.gmad_pairs_plot(root / "pairs.csv", root / "m.csv", root, "C", "A")
    figures(fig)
    (ax,) = fig.axes
    assert not ax.images and "no gMAD pair between C and A" in ax.texts[0].get_text()
    fig = mds_table4.gmad_pairs_plot(root / "pairs.csv", root / "m.csv", root, "B", "C")  # one level each way
    figures(fig)
    axes = np.array(fig.axes).reshape(2, 4)
    b_c, c_b = (pairs[(pairs.attacker == a) & (pairs.defender == d)].iloc[0] for a, d in (("B", "C"), ("C", "B")))
    videos = [int(p[f"video_{w}"][1:]) for p in (b_c, c_b) for w in ("high", "low")]
    assert [shown_video(ax) for ax in axes[0]] == videos and [shown_video(ax) for ax in axes[1]] == [None] * 4
    levels = ["level 0, high)", "level 0, low)", "level 3, high)", "level 3, low)"]
    assert [ax.get_title().split("(")[-1] for ax in axes[0]] == levels


# ---------------------------------------------------------------- W2S teachers vs students


def w2s_table5() -> pd.DataFrame:
    """Teachers t1..t3 with students (t3's missing, t2's interval unknown), the source-labelled student, PLCC."""
    cells = {("t1", "teacher"): (0.50, 0.40), ("t2", "teacher"): (0.60, 0.35), ("t3", "teacher"): (0.55, 0.45),
             ("t1_labeled", "student"): (0.70, 0.52), ("t2_labeled", "student"): (0.65, 0.48),
             ("lsvq_labeled", "student"): (0.80, 0.66)}  # fmt: skip
    records = []
    for (row, note), values in cells.items():
        for column, v in zip(("overall_in_domain", "overall_ood"), values, strict=True):
            ci = (np.nan, np.nan) if note == "teacher" or row == "t2_labeled" else (v - 0.03, v + 0.02)
            for metric, off in (("srcc", 0.0), ("plcc", 0.2)):
                records.append({"row": row, "column": column, "metric": metric, "value": v + off, "ci_low": ci[0] + off,
                                "ci_high": ci[1] + off, "note": note})  # fmt: skip
    return pd.DataFrame(records)


def test_teachers_vs_students_one_bar_pair_per_teacher_with_the_tables_values(figures):
    table5 = w2s_table5()
    fig = teachers_students_plot(table5)
    figures(fig)
    assert len(fig.axes) == 2
    srcc = table5[table5.metric == "srcc"]
    for ax, column in zip(fig.axes, ("overall_in_domain", "overall_ood"), strict=True):
        value = srcc[srcc.column == column].set_index("row").value
        teacher, student = [c for c in ax.containers if isinstance(c, BarContainer)]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["t1", "t2", "t3"]
        centres = [p.get_x() + p.get_width() / 2 for p in teacher.patches]
        np.testing.assert_allclose(centres, np.arange(3) - 0.2)
        np.testing.assert_allclose([p.get_height() for p in teacher.patches], value[["t1", "t2", "t3"]])
        heights = [p.get_height() for p in student.patches]
        np.testing.assert_allclose(heights[:2], value[["t1_labeled", "t2_labeled"]])
        assert np.isnan(heights[2])  # t3 has no student
        segments = interval_segments(student.errorbar)
        v1 = value["t1_labeled"]
        np.testing.assert_allclose(segments[0], [[0.2, v1 - 0.03], [0.2, v1 + 0.02]])
        np.testing.assert_allclose(segments[1][:, 1], value["t2_labeled"])  # unknown interval: none drawn
        assert segments[2].size == 0
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "source-labelled student"]
        assert set(line.get_ydata()) == {value["lsvq_labeled"]}
    assert legend_texts(fig.axes[1].get_legend()) == ["source-labelled student", "weak teacher", "its student"]


# ---------------------------------------------------------------- training-set shaping


def test_shaping_figure_nine_histograms_of_pool_shaped_and_reference(figures):
    rng = np.random.default_rng(1)
    metrics = [f"m{j}" for j in range(9)]
    ref, cand = rng.normal(size=(40, 9)), rng.normal(0.4, 1.2, size=(60, 9))
    picks = np.sort(rng.choice(60, 15, replace=False))
    bins = make_bins(ref, 5)
    fig = shaping_figure(bins, metrics, bins.assign(cand), bins.assign(cand[picks]), bins.assign(ref), "T")
    figures(fig)
    assert len(fig.axes) == 9 and all(ax.axison for ax in fig.axes)
    assert fig._suptitle.get_text() == "T"
    for m, ax in enumerate(fig.axes):
        assert ax.get_title() == metrics[m]
        edges = np.linspace(ref[:, m].min(), ref[:, m].max(), 6)
        steps = {p.get_label(): p for p in ax.patches if isinstance(p, StepPatch)}
        assert list(steps) == ["candidate pool", "reference", "shaped pool"]
        for label, values in (
            ("candidate pool", cand[:, m]),
            ("reference", ref[:, m]),
            ("shaped pool", cand[picks, m]),
        ):
            props, drawn_edges, _ = steps[label].get_data()
            np.testing.assert_allclose(drawn_edges, edges)
            counts = np.histogram(np.clip(values, edges[0], edges[-1]), edges)[0]  # outer bins open
            np.testing.assert_allclose(props * len(values), counts, atol=1e-9)
            assert counts.sum() == len(values)
