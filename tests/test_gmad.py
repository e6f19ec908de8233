"""gMAD competition: pairs, judging, aggressiveness/resistance, both global ranks, the CLI and Table 4."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, error_line, run_cli
from scipy import stats

from vqaloop.evaluation.gmad import competition, gmad_pairs, judge, level_sets, thurstone_gradient, thurstone_map


def synthetic(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    mos = rng.uniform(1, 5, n)
    scores = {
        "oracle": np.log(mos) + 1e-3 * mos**3,  # a strictly increasing transform of the MOS itself
        "good": mos + rng.normal(0, 0.4, n),
        "fair": mos + rng.normal(0, 0.9, n),
        "noise": rng.normal(0, 1.0, n),  # knows nothing
    }
    return scores, mos


@pytest.mark.parametrize("seed", [0, 5])
def test_the_mos_itself_ranks_first_and_always_wins_as_attacker(seed):
    scores, mos = synthetic(seed=seed)
    res = competition(scores, mos, levels=20)  # 5 levels = 5 coin-like pairs per contest: too few to rank reliably
    o = res.names.index("oracle")
    others = [k for k in range(len(res.names)) if k != o]
    assert np.all(res.aggressiveness[o, others] == 1.0)
    assert np.all(res.resistance[others, o] == 0.0)
    assert res.rank[o] == 1 and res.thurstone_rank[o] == 1
    assert res.a[o] == 1.0 and res.score[o] == max(res.score)
    # the model that knows nothing is last by both rankings
    p = res.names.index("noise")
    assert res.rank[p] == 4 and res.thurstone_rank[p] == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ranks_are_permutations(seed):
    rng = np.random.default_rng(seed)
    mos = rng.uniform(0, 100, 120)
    scores = {f"m{k}": mos * rng.uniform(0, 1) + rng.normal(0, 30, 120) for k in range(6)}
    res = competition(scores, mos, levels=4)
    assert sorted(res.rank) == list(range(1, 7))
    assert sorted(res.thurstone_rank) == list(range(1, 7))
    order = np.argsort(res.rank)
    assert np.all(np.diff(res.score[order]) <= 1e-12)  # rank follows the gMAD score


def test_roles_are_consistent_and_a_copy_of_a_model_draws_with_it():
    scores, mos = synthetic(seed=4)
    scores["good_copy"] = scores["good"].copy()
    res = competition(scores, mos)
    m = len(res.names)
    off = ~np.eye(m, dtype=bool)
    assert np.array_equal(res.resistance[off], (1.0 - res.aggressiveness.T)[off])
    # per model: a and r are the row means of A and R without the diagonal
    for i in range(m):
        assert res.a[i] == pytest.approx(np.mean(res.aggressiveness[i, off[i]]))
        assert res.r[i] == pytest.approx(np.mean(res.resistance[i, off[i]]))
    # identical scores give identical pairs in both roles: A_ij == A_ji, so A_ij + R_ij == 1 (a draw)
    g, c = res.names.index("good"), res.names.index("good_copy")
    assert res.aggressiveness[g, c] == res.aggressiveness[c, g]
    assert res.aggressiveness[g, c] + res.resistance[g, c] == 1.0
    assert res.wins[g, c] == res.wins[c, g] == res.n_pairs[g, c]
    # the copies are interchangeable: same a, r, score and Thurstone q; the tie goes to the name
    assert (res.a[g], res.r[g], res.score[g]) == (res.a[c], res.r[c], res.score[c])
    assert res.thurstone_q[g] == pytest.approx(res.thurstone_q[c], abs=1e-6)
    assert res.rank[g] + 1 == res.rank[c]
    # the Thurstone win counts add up to the pairs judged between each two models, both roles
    assert np.allclose((res.wins + res.wins.T)[off], (res.n_pairs + res.n_pairs.T)[off])


@pytest.mark.parametrize("delta", [None, 0.3, 0.05])
def test_pairs_are_the_attacker_extremes_of_each_level_set(delta):
    rng = np.random.default_rng(7)
    attacker, defender = rng.normal(size=80), rng.gamma(2.0, size=80)
    levels = 4
    pairs = gmad_pairs(attacker, defender, levels=levels, delta=delta)
    lo, hi = defender.min(), defender.max()
    width = (hi - lo) / levels
    d = width / 4 if delta is None else delta
    assert level_sets(defender, levels, delta)[1] == pytest.approx(d)
    expected = {}
    for k in range(levels):
        centre = lo + (k + 0.5) * width
        members = [n for n in range(len(defender)) if abs(defender[n] - centre) <= d]
        if len(members) >= 2:
            best = max(members, key=lambda n: (attacker[n], -n))
            worst = min(members, key=lambda n: (attacker[n], n))
            expected[k] = (best, worst, len(members))
    assert {p.level: (p.index_high, p.index_low, p.n_level) for p in pairs} == expected
    assert sorted([s.level for s in pairs.skipped] + list(expected)) == list(range(levels))
    for p in pairs:
        assert abs(defender[p.index_high] - defender[p.index_low]) <= 2 * d + 1e-12
        assert attacker[p.index_high] > attacker[p.index_low]


def test_sparse_levels_are_skipped_and_recorded():
    defender = np.array([0.0, 1.0, 1.1, 10.0])  # level 0 = [0.5, 1.5]; nothing within +-0.5 of 3, 5, 7, 9
    pairs = gmad_pairs(np.array([3.0, 1.0, 2.0, 0.0]), defender, levels=5)
    assert [p.level for p in pairs] == [0]
    assert (pairs[0].index_high, pairs[0].index_low, pairs[0].n_level) == (2, 1, 2)
    assert [s.level for s in pairs.skipped] == [1, 2, 3, 4]


def test_judge_wins_losses_and_ties():
    attacker = np.array([5.0, 1.0, 3.0, 2.0, 4.0, 4.0])
    defender = np.zeros(6)  # one level: the whole pool
    (pair,) = gmad_pairs(attacker, defender, levels=3)
    assert (pair.index_high, pair.index_low) == (0, 1)
    assert judge([pair], np.array([4.0, 2.0, 0, 0, 0, 0]))[0] == 1.0
    assert judge([pair], np.array([2.0, 4.0, 0, 0, 0, 0]))[0] == 0.0
    assert judge([pair], np.array([3.0, 3.0, 0, 0, 0, 0]))[0] == 0.5
    (flat,) = gmad_pairs(np.ones(6), defender)  # an attacker that claims no difference
    assert flat.index_high != flat.index_low and judge([flat], np.arange(6.0))[0] == 0.5


def test_thurstone_map_orders_a_known_dominance_and_is_stationary():
    wins = np.array([[0, 8, 9], [2, 0, 7], [1, 3, 0]], dtype=float)
    q = thurstone_map(wins)
    assert q[0] > q[1] > q[2]

    def log_posterior(x):
        diff = x[:, None] - x[None, :]
        return float((wins * stats.norm.logcdf(diff)).sum() - 0.5 * (x**2).sum())

    eps = 1e-6
    numeric = np.array([(log_posterior(q + eps * e) - log_posterior(q - eps * e)) / (2 * eps) for e in np.eye(3)])
    assert np.abs(numeric).max() < 1e-5
    assert np.abs(thurstone_gradient(q, wins)).max() < 1e-6
    # the prior pulls toward 0 and makes the problem well posed even with a model that never loses
    q2 = thurstone_map(np.array([[0, 5, 5], [0, 0, 5], [0, 0, 0]], dtype=float))
    assert np.isfinite(q2).all() and q2[0] > q2[1] > q2[2]


# --------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def pool(tmp_path, photo_clip):
    from vqaloop.io.video import encode

    rng = np.random.default_rng(11)
    n = 24
    mos = np.round(rng.uniform(1, 5, n), 3)
    ids = [f"v{k:02d}" for k in range(n)]
    manifest = pd.DataFrame({"video_id": ids + ["u0"], "path": [f"videos/{v}.mp4" for v in ids] + ["videos/u0.mp4"],
                             "mos": list(mos) + [np.nan], "split": ["test"] * n + ["pool"], "dataset": "lsvq1080p",
                             "content_id": ids + ["u0"]})  # fmt: skip
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    clip = photo_clip[:3, :48, :64]
    for k, v in enumerate(ids):
        encode(np.roll(clip, 2 * k, axis=2), tmp_path / "videos" / f"{v}.mp4", fps=10)
    preds = {"mds": mos + rng.normal(0, 0.2, n), "coreset": mos + rng.normal(0, 1.0, n),
             "random": rng.normal(3, 1, n)}  # fmt: skip
    files = {}
    for name, s in preds.items():
        files[name] = tmp_path / f"{name}.csv"
        df = pd.DataFrame({"video_id": ids[::-1] + ["u0"], "split": "test", "score": list(s[::-1]) + [0.0]})
        df.to_csv(files[name], index=False)
    return tmp_path, files, mos, ids


def test_gmad_cli_and_table4_end_to_end(pool):
    root, files, mos, ids = pool
    out, pairs_csv = root / "gmad.json", root / "pairs.csv"
    run_cli("gmad", "--predictions", *[f"{k}={v}" for k, v in files.items()], "--manifest", str(root / "manifest.csv"),
            "--levels", "3", "--out", str(out), "--pairs", str(pairs_csv), check=True)  # fmt: skip
    res = json.loads(out.read_text())
    assert res["models"] == ["mds", "coreset", "random"] and res["n_videos"] == 24
    assert sorted(res["gmad_rank"].values()) == [1, 2, 3] and sorted(res["thurstone_rank"].values()) == [1, 2, 3]
    assert res["resistance"]["coreset"]["mds"] == 1 - res["aggressiveness"]["mds"]["coreset"]
    assert res["aggressiveness"]["mds"]["mds"] is None
    pairs = pd.read_csv(pairs_csv, dtype={"video_high": str, "video_low": str})
    assert {"attacker", "defender", "level", "video_high", "video_low", "attacker_score_high", "attacker_score_low",
            "defender_score_high", "defender_score_low", "mos_high", "mos_low", "win"} <= set(pairs.columns)  # fmt: skip
    assert len(pairs) == sum(v for row in res["n_pairs"].values() for v in row.values() if v is not None)
    by_id = dict(zip(ids, mos, strict=True))
    assert np.allclose(pairs.mos_high, pairs.video_high.map(by_id))
    expected_win = np.where(pairs.mos_high > pairs.mos_low, 1.0, np.where(pairs.mos_high < pairs.mos_low, 0.0, 0.5))
    assert np.array_equal(pairs.win, expected_win)
    agg = pairs.groupby(["attacker", "defender"]).win.mean()
    assert agg[("mds", "random")] == pytest.approx(res["aggressiveness"]["mds"]["random"])

    # Table 4 from the gMAD result and a Table 3 long CSV (two seeds of gMAD: the same JSON twice)
    t3 = pd.DataFrame({"table": "mds_table3", "row": ["mds", "mds", "coreset", "coreset", "random", "random"],
                       "column": "mean", "metric": ["srcc", "plcc"] * 3, "value": [0.72, 0.75, 0.70, 0.73, 0.70, 0.71],
                       "ci_low": None, "ci_high": None, "n_seeds": 3, "run": "toy", "config_hash": "abc"})  # fmt: skip
    t3.to_csv(root / "t3.csv", index=False)
    table = root / "tables" / "mds_table4.csv"
    table.parent.mkdir()
    run_cli("mds-table4", "--gmad", str(out), str(out), "--table3", str(root / "t3.csv"), "--rows", "mds=mds",
            "coreset=coreset", "random=random", "--paper-root", str(REPO / "results" / "paper"), "--out", str(table),
            "--figure", str(root / "fig3.png"), "--data-root", str(root), check=True)  # fmt: skip
    long = pd.read_csv(table, keep_default_na=False)
    assert set(long.metric) == {"srcc_rank", "gmad_rank", "delta_rank", "gmad_rank_thurstone"}
    v = long.pivot(index="row", columns="metric", values="value").astype(int)
    assert v.loc["mds", "srcc_rank"] == 1 and v.loc["coreset", "srcc_rank"] == 2  # SRCC tie broken by PLCC
    assert v.loc["random", "srcc_rank"] == 3
    assert (v.srcc_rank - v.gmad_rank == v.delta_rank).all()
    assert all(v.loc[k, "gmad_rank"] == res["gmad_rank"][k] for k in files)
    assert set(long.run) == {"toy"} and set(long.n_seeds[long.metric == "gmad_rank"]) == {2}
    assert list(pd.read_csv(root / "tables" / "mds_table4_wide.csv").row) == ["mds", "coreset", "random"]
    vs = pd.read_csv(root / "tables" / "mds_table4_vs_paper.csv")
    mds = vs[(vs.row == "mds") & (vs.metric == "gmad_rank")].iloc[0]
    assert mds.paper == 1 and mds.difference == mds.ours - 1
    assert vs[(vs.row == "freesel") & (vs.metric == "srcc_rank")].ours.isna().all()  # paper-only rows kept
    png = (root / "fig3.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_gmad_cli_rejects_predictions_missing_pool_ids(pool):
    root, files, _, _ = pool
    bad = pd.read_csv(files["coreset"], dtype={"video_id": str})
    bad[bad.video_id != "v05"].to_csv(files["coreset"], index=False)
    out = root / "gmad.json"
    line = error_line(run_cli("gmad", "--predictions", *[f"{k}={v}" for k, v in files.items()], "--manifest",
                              str(root / "manifest.csv"), "--out", str(out)))  # fmt: skip
    assert str(files["coreset"]) in line and "v05" in line
    assert not out.exists()


def test_a_pool_too_small_for_any_level_set_counts_as_no_evidence():
    """Two videos at the ends of the defender's range fall in no level set: the contest is a draw (A = 0.5)."""
    from vqaloop.evaluation.gmad import competition

    mos = np.array([1.0, 5.0])
    result = competition({"a": np.array([0.0, 1.0]), "b": np.array([1.0, 0.0])}, mos, levels=1)
    i, j = result.names.index("a"), result.names.index("b")
    assert result.aggressiveness[i, j] == 0.5 and result.n_pairs[i, j] == 0
