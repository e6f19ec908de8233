"""The label oracle reveals selected MOS only; table cells aggregate seeds with a 95% t-interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, error_line, run_cli
from scipy import stats

from vqaloop.errors import UserError
from vqaloop.evaluation.oracle import LabelOracle
from vqaloop.tables.mds_build import mean_ci, side_by_side, wide
from vqaloop.tables.mds_spec import table_rows
from vqaloop.variants import parse_variant


@pytest.fixture
def oracle_file(tmp_path):
    path = tmp_path / "oracle.csv"
    pd.DataFrame({"video_id": ["a", "b", "c"], "dataset": "toy", "mos": [1.5, 3.0, 4.5], "vmaf": [10, 50, 90]}).to_csv(
        path, index=False
    )
    return path


def test_oracle_refuses_before_selection(oracle_file, tmp_path):
    oracle = LabelOracle(oracle_file, "toy")
    with pytest.raises(UserError, match="reveals labels only after selection"):
        oracle.reveal(tmp_path / "selection.csv")
    assert "1.5" not in repr(oracle)  # never prints labels


def test_oracle_reveals_exactly_the_selection(oracle_file, tmp_path):
    sel = tmp_path / "selection.csv"
    pd.DataFrame({"video_id": ["c", "a"], "rank": [1, 2]}).to_csv(sel, index=False)
    labels = LabelOracle(oracle_file, "toy").reveal(sel)
    assert list(labels.video_id) == ["c", "a"] and list(labels.mos) == [4.5, 1.5]
    assert set(labels.columns) == {"video_id", "dataset", "mos"}


def test_oracle_refuses_ids_outside_the_pool(oracle_file, tmp_path):
    sel = tmp_path / "selection.csv"
    pd.DataFrame({"video_id": ["a", "zzz"], "rank": [1, 2]}).to_csv(sel, index=False)
    line = error_line(run_cli("reveal", "--selection", str(sel), "--oracle", str(oracle_file), "--dataset", "toy",
                              "--out", str(tmp_path / "out.csv")))  # fmt: skip
    assert "not in the toy pool" in line and "zzz" in line
    assert not (tmp_path / "out.csv").exists()


def test_reveal_refuses_a_dataset_the_oracle_does_not_hold(oracle_file, tmp_path):
    """--dataset is checked against the oracle's dataset column (or, without one, its file name): nothing written."""
    sel = tmp_path / "selection.csv"
    pd.DataFrame({"video_id": ["a"], "rank": [1]}).to_csv(sel, index=False)
    out = tmp_path / "out.csv"
    line = error_line(run_cli("reveal", "--selection", str(sel), "--oracle", str(oracle_file), "--dataset", "cgvds",
                              "--out", str(out)))  # fmt: skip
    assert line == f"vqaloop: error: {oracle_file}: oracle labels of dataset toy, not 'cgvds' (--dataset)"
    assert not out.exists()
    bare = tmp_path / "aigv.csv"  # an oracle without a dataset column is named after its dataset
    pd.read_csv(oracle_file).drop(columns="dataset").to_csv(bare, index=False)
    assert list(LabelOracle(bare, "aigv").reveal(sel).dataset) == ["aigv"]
    line = error_line(run_cli("reveal", "--selection", str(sel), "--oracle", str(bare), "--dataset", "cgvds",
                              "--out", str(out)))  # fmt: skip
    assert "without a dataset column, and not named cgvds.csv" in line and not out.exists()


def test_mean_ci_matches_a_student_t_interval():
    values = [0.61, 0.64, 0.70]
    mean, lo, hi, n = mean_ci(values)
    expected = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert n == 3 and mean == pytest.approx(np.mean(values))
    assert (lo, hi) == pytest.approx(expected)
    assert mean_ci([0.5]) == (0.5, None, None, 1)


CFG = {"base": "effnet_motion", "methods": ["random", "coreset", "mds"],
       "alternative_bases": {"cnn_frames": {"paper_key": "uvq"}},
       "default": {"loss": "ranking", "rank": 64, "encoder": "efficientnet_lite0", "lambda": 0.25},
       "lambdas": [0, 0.25], "losses": ["classification", "regression", "ranking"], "ranks": [8, 64],
       "diversity_encoders": ["base", "clip", "efficientnet_lite0"]}  # fmt: skip


def test_table_rows_follow_the_paper_and_mark_unavailable_encoders():
    rows = table_rows("mds_table7", CFG, {"clip": (False, "no weights")})
    assert [r.key for r in rows] == ["base_model", "base_feature", "clip", "efficientnet_lite0"]
    clip = rows[2]
    assert clip.kind == "unavailable" and clip.note == "unavailable: no weights" and clip.variant is None
    t6 = table_rows("mds_table6", CFG, {})
    assert [r.key for r in t6] == ["base_model", "lambda_0", "lambda_0.25"]
    assert parse_variant(t6[1].variant).lam == 0 and parse_variant(t6[2].variant).lam == 0.25
    t2 = table_rows("mds_table2", CFG, {})
    assert [r.key for r in t2] == ["base_model", "random", "coreset", "mds"]
    assert parse_variant(t2[-1].variant).method == "mds" and {r.base for r in t2} == {"effnet_motion"}
    t9 = table_rows("mds_table9", CFG, {})
    assert [r.key for r in t9] == ["uvq/base_model", "uvq/random", "uvq/coreset", "uvq/mds"]
    assert {r.base for r in t9} == {"cnn_frames"}
    t5 = {r.key: r for r in table_rows("mds_table5", CFG, {})}
    assert parse_variant(t5["removing_g"].variant).method == "divonly"
    assert parse_variant(t5["classification"].variant).loss == "classification"


def test_wide_and_side_by_side(tmp_path):
    long = pd.DataFrame({
        "table": "mds_table8", "row": ["rank_8"] * 2 + ["rank_64"] * 2, "column": "failure_identification",
        "metric": ["srcc", "plcc"] * 2, "value": [0.1, 0.2, 0.3, 0.4], "ci_low": None, "ci_high": None,
        "n_seeds": 3, "run": "t", "config_hash": "x", "note": "",
    })  # fmt: skip
    w = wide(long)
    assert list(w.row) == ["rank_8", "rank_64"] and w.loc[0, "failure_identification"] == "0.100 / 0.200"
    joined = side_by_side(long, "mds_table8", REPO / "results/paper")
    hit = joined[(joined.row == "rank_8") & (joined.metric == "srcc") & (joined.column == "failure_identification")]
    assert hit.paper.iloc[0] == pytest.approx(0.297) and hit.difference.iloc[0] == pytest.approx(0.1 - 0.297)


def test_freesel_rows_carry_the_stand_in_note_and_keep_their_values():
    cfg = {**CFG, "methods": ["random", "freesel", "mds"]}
    rows = {r.key: r for r in table_rows("mds_table2", cfg, {})}
    assert "effnet_patterns" in rows["freesel"].note and rows["random"].note == "" and rows["mds"].note == ""
    assert "effnet_patterns" in {r.key: r for r in table_rows("mds_table9", cfg, {})}["uvq/freesel"].note
    long = pd.DataFrame({
        "table": "mds_table2", "row": ["freesel"] * 2 + ["clip"] * 2, "column": "cgvds",
        "metric": ["srcc", "plcc"] * 2, "value": [0.1, 0.2, None, None], "ci_low": None, "ci_high": None,
        "n_seeds": 3, "run": "t", "config_hash": "x", "note": [rows["freesel"].note] * 2 + ["unavailable: x"] * 2,
    })  # fmt: skip
    w = wide(long).set_index("row")
    assert w.loc["freesel", "cgvds"] == "0.100 / 0.200"  # a note never hides computed values
    assert w.loc["clip", "cgvds"] == "unavailable: x"
