"""``vqaloop mds-replay`` (and ``mds-replay-inputs`` + ``select --lambda 0`` before it): MDS-VQA's SDR cells from
the authors' outputs, recomputed independently here; the p-values on pools whose answer is known in closed form;
the random, MOS-matched and tie-order nulls; the command on hand-made fixtures of both release layouts."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from vqaloop.cli import main, run_command
from vqaloop.evaluation.metrics import srcc_rows
from vqaloop.tables.mds_replay import (
    empirical_p,
    exact_p_value,
    mos_bins,
    mos_matched_draws,
    random_draws,
    tie_order_draws,
    top_k,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "mds-vqa-a6834d5"
FIXTURES = Path(__file__).parent / "data" / "mds_release"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="the authors' release transcription is not at ../shared")


def replay(tmp_path: Path, release: Path, budget: int, draws: int = 300, extra: list[str] | None = None) -> Path:
    """mds-replay-inputs -> select --lambda 0 -> mds-replay, as the workflow's rules chain them; the output folder."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    assert run_command("mds-replay-inputs", ["--release", str(release), "--difficulty", str(out / "g.csv"),
                                             "--ids", str(out / "ids.npz")]) == 0  # fmt: skip
    assert run_command("select", ["--method", "mds", "--lambda", "0", "--budget", str(budget), "--features",
                                  str(out / "ids.npz"), "--difficulty", str(out / "g.csv"),
                                  "--out", str(out / "lambda0.csv")]) == 0  # fmt: skip
    args = ["--release", str(release), "--lambda0", str(out / "lambda0.csv"), "--budget", str(budget), "--draws",
            str(draws), "--tie-orders", str(draws), "--paper-root", str(ROOT / "results/paper"),
            "--out", str(out / "mds_replay.csv"), "--claims", str(out / "mds_replay_claims.csv"), *(extra or [])]  # fmt: skip
    assert run_command("mds-replay", args) == 0
    return out


def fitted(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The 4-parameter logistic by curve_fit from [max y, min y, mean x, std x / 4] (the start the authors' code
    uses), written here independently of vqaloop's fit."""

    def logistic(t, b1, b2, b3, b4):
        return (b1 - b2) / (1 + np.exp(-(t - b3) / b4)) + b2

    params, _ = optimize.curve_fit(logistic, x, y, p0=[np.max(y), np.min(y), np.mean(x), np.std(x) / 4], maxfev=10000)
    return logistic(x, *params)


def independent(x, y) -> tuple[float, float]:
    x, y = np.asarray(x, float), np.asarray(y, float)
    mapped = fitted(x, y)
    return stats.spearmanr(mapped, y).statistic, stats.pearsonr(mapped, y).statistic


@needs_shared
def test_every_cell_equals_an_independent_recomputation(tmp_path):
    out = replay(tmp_path, SHARED, 64, draws=200)
    ours = pd.read_csv(out / "mds_replay.csv").set_index(["row", "metric"]).value
    read = lambda name, **kw: pd.read_csv(SHARED / name, **kw)  # noqa: E731
    f = read("baseline_sdr_scores.tsv", sep="\t").set_index("video").score
    g = read("sdr_130_scores.tsv", sep="\t").set_index("video").score
    pool = read("sdr/sdr_train_mos.txt", sep=" ", header=None, index_col=0).iloc[:, 0]
    test = read("sdr/sdr_test_mos.txt", sep=" ", header=None, index_col=0).iloc[:, 0]
    tuned = read("sdr_active_finetuning_scores.tsv", sep="\t").set_index("video").score
    chosen = read("selected_sdr.tsv", sep="\t").video
    top64 = g.index[np.argsort(-g.to_numpy(), kind="stable")[:64]]  # top g, ties in g's file order
    every = pd.concat([pool, test])
    expected = {
        "base_model_pool": independent(f[pool.index], pool),
        "base_model_all": independent(f[every.index], every),
        "base_model_test": independent(f[test.index], test),
        "mds": independent(f[chosen], pool[chosen]),
        "lambda_0": independent(f[top64], pool[top64]),
        "mds_finetuned": independent(tuned[test.index], test),
    }
    for row, (rho, r) in expected.items():
        assert ours[row, "srcc"] == pytest.approx(rho, abs=2e-6), row
        assert ours[row, "plcc"] == pytest.approx(r, abs=2e-6), row
    assert np.isnan(ours["base_model_ugc_test", "srcc"])  # not in the transcription
    picked = pd.read_csv(out / "lambda0.csv").video_id
    assert picked.tolist() == top64.tolist()
    paper = pd.read_csv(out / "mds_replay_vs_paper.csv")
    first = paper[(paper.paper_table == "mds_table2") & (paper.paper_row == "base_model")]
    assert first.set_index(["row", "metric"]).matches_3dp.to_dict() == {
        ("base_model_pool", "srcc"): True, ("base_model_pool", "plcc"): False,
        ("base_model_all", "srcc"): True, ("base_model_all", "plcc"): True}  # fmt: skip


def test_the_exact_p_value_on_a_pool_known_in_closed_form():
    """f ranks 8 videos as their MOS does, except two neighbours swapped. A 3-video subset has SRCC 0.5 when it holds
    both (their ranks stay adjacent) and 1 otherwise; so P(SRCC <= 0.5) = C(6, 1) / C(8, 3) = 3/28 exactly."""
    f = np.arange(8, dtype=float)
    mos = f.copy()
    mos[[3, 4]] = mos[[4, 3]]
    statistic = lambda rows: srcc_rows(f[rows], mos[rows])  # noqa: E731
    assert statistic(np.array([[2, 3, 4]]))[0] == pytest.approx(0.5)
    p = exact_p_value(statistic, 8, 3, np.array([2, 3, 4]), -1, limit=1000)
    assert p == pytest.approx(3 / 28, abs=1e-15)
    assert exact_p_value(statistic, 8, 3, np.array([0, 1, 2]), -1, limit=1000) == 1.0  # SRCC 1: every subset
    assert exact_p_value(statistic, 8, 3, np.array([2, 3, 4]), -1, limit=10) is None  # 56 subsets > limit


def test_the_monte_carlo_p_value_agrees_with_the_closed_form():
    """The same construction on 40 videos and 5-video draws: q = C(38, 3) / C(40, 5) of the draws hold the pair. The
    Monte-Carlo p-value (1 + k) / (1 + N) sits within 5 binomial standard errors of (1 + N q) / (1 + N); a
    subject below every possible draw gets exactly 1 / (1 + N), one above them exactly 1."""
    n, k, count = 40, 5, 20000
    f = np.arange(n, dtype=float)
    mos = f.copy()
    mos[[10, 11]] = mos[[11, 10]]
    q = math.comb(n - 2, k - 2) / math.comb(n, k)
    draws = random_draws(n, k, count, np.random.default_rng(0))
    null = srcc_rows(f[draws], mos[draws])
    subject = np.array([9, 10, 11, 12, 13])
    observed = srcc_rows(f[subject][None], mos[subject][None])[0]
    p, p_opposite = empirical_p(observed, null, -1)
    assert abs(p - (1 + count * q) / (1 + count)) < 5 * math.sqrt(q * (1 - q) / count)
    assert p_opposite == 1.0  # every draw has an SRCC at or above the subject's
    assert empirical_p(-2.0, null, -1) == (1 / (1 + count), 1.0)
    assert empirical_p(0.3, np.array([0.1, 0.3, 0.5]), +1) == (3 / 4, 3 / 4)  # ties count on both sides


def test_draws_are_seeded_and_the_mos_matched_ones_keep_the_subject_s_bins():
    rng = np.random.default_rng(3)
    mos = rng.normal(size=200)
    subject = np.argsort(mos)[150:190]  # a high-MOS subject
    a = mos_matched_draws(mos, subject, 10, 50, np.random.default_rng(7))
    b = mos_matched_draws(mos, subject, 10, 50, np.random.default_rng(7))
    assert a.tobytes() == b.tobytes() and a.shape == (50, 40)
    member = np.empty(200, dtype=int)
    for i, part in enumerate(mos_bins(mos, 10)):
        member[part] = i
    wanted = np.bincount(member[subject], minlength=10)
    assert all((np.bincount(member[row], minlength=10) == wanted).all() and len(set(row)) == 40 for row in a)
    assert random_draws(200, 40, 5, np.random.default_rng(1)).tobytes() == random_draws(
        200, 40, 5, np.random.default_rng(1)).tobytes()  # fmt: skip


def test_tie_orders_are_top_k_sets_and_pool_order_is_select_s():
    score = np.array([2.0, 3.0, 2.0, 3.0, 1.0, 2.0, 4.8, 2.0])
    assert top_k(score, 4).tolist() == [6, 1, 3, 0]  # ties to the pool order, as vqaloop select's lambda 0
    draws = tie_order_draws(score, 4, 200, np.random.default_rng(0))
    assert all(set(row) >= {6, 1, 3} and len(set(row)) == 4 and score[row].min() == 2.0 for row in draws)
    assert {int(r[-1]) for r in draws} == {0, 2, 5, 7}  # every tied video is reached
    for seed in range(5):  # each draw is the top k for some order of the pool
        order = np.random.default_rng(seed).permutation(8)
        assert set(top_k(score, 4, order)) <= set(range(8)) and score[top_k(score, 4, order)].min() == 2.0


@pytest.mark.parametrize("layout", ["original", "transcribed"])
def test_the_command_on_hand_made_releases(tmp_path, layout):
    out = replay(tmp_path, FIXTURES / layout, 3, draws=50, extra=["--mos-bins", "4"])
    long = pd.read_csv(out / "mds_replay.csv").set_index(["row", "metric"])
    assert long.loc[("mds", "srcc"), "value"] == pytest.approx(
        stats.spearmanr([2.5, 3.8, 4.0], [1.926, 3.05, 2.312]).statistic
    )
    assert pd.read_csv(out / "lambda0.csv").video_id.tolist() == ["SDR_Gameplay_d004.mp4", "SDR_Cooking_b002.mp4",
                                                                  "SDR_Dance_c003.mp4"]  # fmt: skip
    claims = pd.read_csv(out / "mds_replay_claims.csv").set_index("claim")
    length = claims.loc["replay_baseline_f_answer_length_below_random_srcc", "verdict"]
    ugc = long.loc[("base_model_ugc_test", "srcc"), "value"]
    if layout == "original":  # the reasoning text and ugc.json are in the authors' repository
        assert length != "not computed" and ugc == pytest.approx(1.0)  # f 2.5 < 4.2 and MOS 3.2 < 4.4
    else:
        assert length == "not computed" and np.isnan(ugc)
    assert set(pd.read_csv(out / "mds_replay_wide.csv").row) == set(long.index.get_level_values(0))


def test_without_the_release_the_tables_say_where_to_get_it(tmp_path):
    out = tmp_path / "t.csv"
    code = run_command("mds-replay", ["--release", str(tmp_path / "absent"), "--paper-root", str(ROOT / "results/paper"),
                                      "--out", str(out), "--claims", str(tmp_path / "c.csv")])  # fmt: skip
    assert code == 0
    long = pd.read_csv(out)
    assert long.value.isna().all() and long.note.str.contains("Multimedia-Analytics-Laboratory/MDS-VQA").all()
    assert pd.read_csv(tmp_path / "c.csv").verdict.tolist() == ["not computed"]


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path, capsys):
    release = tmp_path / "release"
    shutil.copytree(FIXTURES / "transcribed", release)
    (tmp_path / "sel.csv").write_text(
        "video_id,rank\nSDR_Gameplay_d004.mp4,1\nSDR_Nowhere_zzzz.mp4,2\nSDR_Dance_c003.mp4,3\n"
    )
    base = ["mds-replay", "--release", str(release), "--mos-bins", "4", "--paper-root", str(ROOT / "results/paper"),
            "--out", str(tmp_path / "o.csv"), "--claims", str(tmp_path / "c.csv")]  # fmt: skip
    cases = [
        (["--lambda0", str(tmp_path / "sel.csv"), "--budget", "3"], "not pool videos of the release"),
        (["--lambda0", str(tmp_path / "sel.csv"), "--budget", "4"], "not pool videos"),
        ([], "--lambda0"),
        (["--lambda0", str(tmp_path / "sel.csv"), "--draws", "0"], "--draws"),
        (["--lambda0", str(tmp_path / "sel.csv"), "--budget", "9"], "must not exceed the pool's 8 videos"),
    ]
    for extra, expected in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("vqaloop: error: ") and expected in err[0], err
    assert not any(tmp_path.glob("o*.csv")) and not (tmp_path / "c.csv").exists()


def test_the_workflow_names_every_published_table_the_replay_reads():
    import re

    from vqaloop.tables.mds_replay import PAPER_CELLS

    text = (ROOT / "rules/common.smk").read_text()
    listed = re.search(r"REPLAY_PAPER_TABLES = \[(.*?)\]", text, re.DOTALL).group(1)
    assert sorted(re.findall(r'"(mds_table\d)"', listed)) == sorted(
        {c[0] for cells in PAPER_CELLS.values() for c in cells}
    )


def test_replay_settings_come_from_the_schema_defaults():
    from vqaloop.config import load_config, with_defaults

    replay = with_defaults(load_config(ROOT / "config/config.yaml"), "mds_replay")
    assert replay == {"release_dir": "../shared/data/mds-vqa-a6834d5", "budget": 64, "draws": 10000,
                      "tie_orders": 10000, "mos_bins": 10, "level": 0.05}  # fmt: skip
    assert with_defaults({"mds_replay": {"draws": 5}}, "mds_replay")["draws"] == 5
    assert with_defaults({}, "grpo") == {"g_recipe": "paper", "scores": "deterministic", "train_frames": None,
                                         "lora_lm_head": False}  # fmt: skip
