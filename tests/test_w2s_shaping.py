"""Training-set shaping (Vonikakis et al. 2017; W2S-VQA Appendix A.2): the MIP against brute force, the rounded LP,
the match against random subsets, bins and targets, determinism, and the ``vqaloop shape`` command's errors."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from vqaloop.cli import main as cli_main
from vqaloop.w2s import shaping as S
from vqaloop.w2s.metrics import METRIC_NAMES


def _values(n: int, seed: int, shift: float = 0.0, spread: float = 1.0, m: int = 9) -> np.ndarray:
    """Correlated, skewed metric values (like real low-level metrics): (n, m)."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(0.5 * np.eye(m) + 0.5)
    return np.exp((rng.standard_normal((n, m)) @ chol.T * spread + shift) / 2)


def _problem(k: int, r: int, size: int, seed: int = 0, bins: int = 10, m: int = 9):
    """Candidates from a shifted, wider distribution than the reference: (candidate bins, target, counts, ref props)."""
    cand, ref = _values(k, seed, shift=0.5, spread=1.3, m=m), _values(r, seed + 100, m=m)
    edges = S.make_bins(ref, bins)
    cand_bins, ref_bins = edges.assign(cand), edges.assign(ref)
    target = S.targets(S.bin_counts(ref_bins, edges.counts), r, size)
    return cand_bins, target, edges.counts, S.proportions(ref_bins, edges.counts)


def _table(values: np.ndarray, prefix: str) -> pd.DataFrame:
    table = pd.DataFrame(values, columns=list(METRIC_NAMES))
    table.insert(0, "video_id", [f"{prefix}{i:04d}" for i in range(len(values))])
    return table


# ---------------------------------------------------------------- the program


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mip_optimum_equals_brute_force(seed):
    k, size = 12, 5
    cand_bins, target, counts, _ = _problem(k, 40, size, seed=seed, bins=4, m=4)
    best = min(
        S.objective(cand_bins[list(subset)], target, counts) for subset in itertools.combinations(range(k), size)
    )
    result = S.shape(cand_bins, target, counts, size)
    assert result.method == "mip" and result.optimal
    assert result.objective == best
    assert S.objective(cand_bins[result.picks], target, counts) == best
    assert len(result.picks) == size == len(set(result.picks.tolist()))


@pytest.mark.parametrize("k, size", [(12, 5), (400, 60)])
def test_lp_path_picks_exactly_n_and_is_bounded(k, size):
    cand_bins, target, counts, _ = _problem(k, 300, size, seed=3, bins=5)
    lp = S.shape(cand_bins, target, counts, size, mip_max_candidates=0)
    mip = S.shape(cand_bins, target, counts, size)
    assert lp.method == "lp" and mip.method == "mip"
    assert len(lp.picks) == size == len(np.unique(lp.picks))
    assert np.all(np.diff(lp.picks) > 0) and 0 <= lp.picks[0] and lp.picks[-1] < k
    assert lp.objective == S.objective(cand_bins[lp.picks], target, counts)
    assert lp.lower_bound <= mip.objective + 1e-6  # the LP bound is a bound on the MIP optimum
    assert lp.objective >= mip.objective
    assert lp.top_n_objective >= lp.objective  # the better of the two roundings is kept


def test_shaped_pool_beats_every_random_subset():
    for mip_max in (S.MIP_MAX_CANDIDATES, 0):  # the MIP and the rounded LP
        cand_bins, target, counts, ref_props = _problem(300, 200, 40, seed=4)  # 9 metrics x 10 bins
        result = S.shape(cand_bins, target, counts, 40, mip_max_candidates=mip_max)
        shaped = S.histogram_error(cand_bins[result.picks], ref_props, counts)
        randoms = S.random_subset_errors(cand_bins, ref_props, counts, 40, n=100, seed=0)
        assert len(randoms) == 100
        assert shaped < randoms.min(), (mip_max, shaped, randoms.min())
        assert shaped < 0.5 * S.histogram_error(cand_bins, ref_props, counts)


def test_take_first_members_and_top_n_rounding_break_ties_by_candidate_order():
    bins = np.array([[1], [0], [1], [0], [2]])  # groups (sorted signatures): 0 -> {1, 3}, 1 -> {0, 2}, 2 -> {4}
    groups = S.group_candidates(bins)
    assert groups.size.tolist() == [2, 2, 1]
    assert S.take(groups, [1, 1, 0]).tolist() == [0, 1]
    assert S.take(groups, [2, 0, 1]).tolist() == [1, 3, 4]
    # LP x: group 0 1.5, group 1 0.5, group 2 0.5, N = 3: floor [1, 0, 0]; the fractions tie, held by candidates
    # 3 (group 0's second member), 0 and 4: candidates 0 and 3 win.
    assert S.top_n_rounding(np.array([1.5, 0.5, 0.5]), 3, groups).tolist() == [2, 1, 0]
    assert S.top_n_rounding(np.array([1.6, 0.4, 0.0]), 2, groups).tolist() == [2, 0, 0]
    assert S.top_n_rounding(np.array([1.4, 0.6, 0.0]), 2, groups).tolist() == [1, 1, 0]
    # The holder of the fraction decides a tie, not a group's first member: group {0, 5} holds x_5 = 0.5,
    # group {3} holds x_3 = 0.5, so candidate 3 wins although group {0, 5} starts earlier.
    groups = S.group_candidates(np.array([[0], [2], [2], [1], [2], [0]]))
    assert S.top_n_rounding(np.array([1.5, 0.5, 0.0]), 2, groups).tolist() == [1, 1, 0]


def test_shape_is_deterministic():
    cand_bins, target, counts, _ = _problem(400, 300, 60, seed=3, bins=5)
    for mip_max in (S.MIP_MAX_CANDIDATES, 0):
        a = S.shape(cand_bins, target, counts, 60, mip_max_candidates=mip_max)
        b = S.shape(cand_bins.copy(), target.copy(), counts, 60, mip_max_candidates=mip_max)
        assert np.array_equal(a.picks, b.picks) and a.objective == b.objective


# ---------------------------------------------------------------- bins, targets, distances


def test_bins_have_open_outer_bins_and_exact_targets():
    ref = np.array([[0.0], [1.0], [2.0], [10.0]])
    bins = S.make_bins(ref, 10)
    assert bins.counts == [10]
    assert bins.assign(np.array([[-5.0], [0.0], [0.99], [1.0], [9.99], [10.0], [99.0]]))[:, 0].tolist() == [
        0,
        0,
        0,
        1,
        9,
        9,
        9,
    ]
    # p = 1/10, N = 20: float 0.1 * 20 = 2.0000000000000004 would ceil to 3; the integer rule gives 2.
    assert S.targets([np.array([1, 9])], 10, 20).tolist() == [2, 18]
    assert S.targets([np.array([1, 2])], 3, 5).tolist() == [2, 4]  # ceil(5/3), ceil(10/3)
    quantile = S.make_bins(_values(1000, 0), 10, "quantile")
    ref_bins = quantile.assign(_values(1000, 0))
    assert all(np.all(np.abs(c - 100) <= 1) for c in S.bin_counts(ref_bins, quantile.counts))
    constant = S.make_bins(np.full((5, 1), 3.0), 10)
    assert constant.assign(np.array([[2.0], [3.0], [4.0]]))[:, 0].tolist() == [0, 9, 9]


def test_histogram_error_is_total_variation_summed_over_metrics():
    counts = [2, 2]
    ref_props = [np.array([1.0, 0.0]), np.array([0.5, 0.5])]
    same = np.array([[0, 0], [0, 1]])
    assert S.histogram_error(same, ref_props, counts) == pytest.approx(0.0)
    opposite = np.array([[1, 0], [1, 0]])
    assert S.histogram_error(opposite, ref_props, counts) == pytest.approx(1.0 + 0.5)


# ---------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shape")
    _table(_values(300, 10, shift=0.5, spread=1.3), "c").to_csv(folder / "cand.csv", index=False)
    _table(_values(200, 11), "r").to_csv(folder / "ref.csv", index=False)
    return folder


def test_cli_writes_picks_report_and_figure_deterministically(tables, tmp_path):
    outs = []
    for run in ("a", "b"):
        args = ["shape", "--candidates", str(tables / "cand.csv"), "--reference", str(tables / "ref.csv")]
        args += ["--size", "40", "--out", str(tmp_path / f"{run}.csv"), "--figure", str(tmp_path / f"{run}.png")]
        proc = run_cli(*args, "--report", str(tmp_path / f"{run}.json"), check=True)
        outs.append(proc)
    assert "histogram error" in outs[0].stderr and "objective" in outs[0].stderr
    picks = pd.read_csv(tmp_path / "a.csv", dtype=str)
    assert list(picks.columns) == ["video_id"]
    assert len(picks) == 40 and picks.video_id.is_unique
    assert picks.video_id.tolist() == sorted(picks.video_id)  # candidate order
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["method"] == "mip" and report["optimal"]
    assert report["metrics"] == list(METRIC_NAMES) and report["bins"] == [10] * 9
    assert report["histogram_error_shaped"] < report["histogram_error_random"]["min"]


def _write(path, table: pd.DataFrame) -> str:
    table.to_csv(path, index=False)
    return str(path)


def test_cli_bad_inputs_one_line_and_nothing_written(tables, tmp_path, capsys):
    cand = pd.read_csv(tables / "cand.csv", dtype={"video_id": str})
    ref = str(tables / "ref.csv")
    good = str(tables / "cand.csv")
    nan = cand.copy()
    nan.loc[7, "noise"] = np.nan
    dup = cand.copy()
    dup.loc[5, "video_id"] = dup.loc[2, "video_id"]
    per_frame = cand.copy()
    per_frame.insert(1, "frame", 0)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    cases = [
        ([good, ref, "301"], "--size 301 must be between 1 and the 300 candidates"),
        ([good, ref, "0"], "argument --size: expected an integer in [1, "),
        ([_write(tmp_path / "nometric.csv", cand.drop(columns=["ti", "si"])), ref, "10"], "missing metric column(s)"),
        ([_write(tmp_path / "nan.csv", nan), ref, "10"], "nan.csv: row 9 (video_id c0007) has a non-finite noise"),
        ([_write(tmp_path / "noid.csv", cand.drop(columns=["video_id"])), ref, "10"], "noid.csv: no id column"),
        ([_write(tmp_path / "dup.csv", dup), ref, "10"], "dup.csv: duplicate video_id 'c0002' at row 7"),
        ([_write(tmp_path / "pf.csv", per_frame), ref, "10"], "pf.csv: a per-frame table"),
        ([str(tmp_path / "absent.csv"), ref, "10"], "absent.csv: metrics file not found"),
        ([good, str(empty), "10"], "empty.csv: not a readable CSV"),
    ]
    for (cands, refs, size), expect in cases:
        out, fig, rep = tmp_path / "picks.csv", tmp_path / "fig.png", tmp_path / "rep.json"
        argv = ["shape", "--candidates", cands, "--reference", refs, "--size", size, "--out", str(out)]
        code = cli_main([*argv, "--figure", str(fig), "--report", str(rep)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2, (expect, err)
        assert err[-1].startswith("vqaloop: error: ") and expect in err[-1], (expect, err)
        assert not out.exists() and not fig.exists() and not rep.exists()


def test_cli_common_numeric_columns(tmp_path):
    cand = pd.DataFrame({"path": [f"p{i}" for i in range(40)], "a": np.arange(40.0), "b": np.arange(40.0) % 7})
    cand["note"] = "x"  # not numeric: never a metric
    ref = pd.DataFrame({"video_id": [f"r{i}" for i in range(20)], "a": np.arange(20.0), "b": 3.0, "c": 1.0})
    argv = ["shape", "--candidates", _write(tmp_path / "c.csv", cand), "--reference", _write(tmp_path / "r.csv", ref)]
    argv += ["--size", "10", "--metrics", "common", "--bins", "4", "--out", str(tmp_path / "p.csv")]
    assert cli_main([*argv, "--report", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["metrics"] == ["a", "b"]
    picks = pd.read_csv(tmp_path / "p.csv")
    assert list(picks.columns) == ["path"] and len(picks) == 10
