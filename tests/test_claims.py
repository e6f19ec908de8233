"""``vqaloop claims`` (MDS-VQA Tables 2-9, W2S-VQA Tables 1 and 5) and the builders' ``_seeds.csv`` files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.conftest import run_cli
from vqaloop.errors import UserError
from vqaloop.tables import mds_build, w2s_build
from vqaloop.tables.claims import (
    AGREE,
    DISAGREE,
    INCONCLUSIVE,
    MDS_COMPARED,
    NOT_COMPUTED,
    build_claims,
    markdown,
)
from vqaloop.tables.mds_build import SEED_COLUMNS

SEEDS = [0, 1, 2, 3, 4]
#: Large between-seed variation that every method of a seed shares (the seed's pool, g and pairs).
SEED_EFFECT = np.array([0.10, 0.45, 0.25, 0.70, 0.55])
#: Small per-method noise, uncorrelated between methods.
NOISE = np.array([[0.002, -0.003, 0.001, 0.000, -0.001], [-0.001, 0.002, -0.002, 0.001, 0.000]])


def write_seeds(tables: Path, table: str, cells: dict, notes: dict | None = None) -> None:
    """cells: (row, column) -> a list (one value per seed of SEEDS) or a float (a seedless row)."""
    records = []
    for (row, column), values in cells.items():
        seeds = [None] if np.isscalar(values) else SEEDS[: len(values)]
        for seed, value in zip(seeds, np.atleast_1d(values), strict=True):
            records.append({"table": table, "row": row, "column": column, "metric": "srcc", "seed": seed,
                            "value": float(value)})  # fmt: skip
            records.append({"table": table, "row": row, "column": column, "metric": "plcc", "seed": seed,
                            "value": 0.5})  # fmt: skip
    tables.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame.from_records(records, columns=SEED_COLUMNS).astype({"seed": "Int64"})
    frame.to_csv(tables / f"{table}_seeds.csv", index=False)
    rows = list(dict.fromkeys([r for r, _ in cells] + list(notes or {})))
    long = pd.DataFrame({"table": table, "row": rows, "note": [(notes or {}).get(r, "") for r in rows]})
    long.to_csv(tables / f"{table}.csv", index=False)


def claims_of(tables: Path, papers=("mds", "w2s"), gmad=(), **kw) -> pd.DataFrame:
    return build_claims(tables, list(gmad), papers=papers, **kw).set_index("claim")


def shifted(delta: float, noise: int = 0) -> list[float]:
    return list(SEED_EFFECT + delta + NOISE[noise])


# ---------------------------------------------------------------------------------- verdicts, known winner


def table2(tables: Path, mds_delta: float, noise_scale: float = 1.0) -> None:
    """MDS-VQA Table 2's mean column: every competitor at the seed effect, mds shifted by mds_delta."""
    rng = np.random.default_rng(0)
    cells = {(m, "mean"): list(SEED_EFFECT + noise_scale * rng.normal(0, 0.002, 5)) for m in MDS_COMPARED[1:]}
    cells["base_model", "mean"] = 0.9 if mds_delta <= 0 else -0.5  # one value (the whole pool), far off
    cells["mds", "mean"] = list(SEED_EFFECT + mds_delta + noise_scale * rng.normal(0, 0.002, 5))
    cells["mds_oof", "mean"] = list(SEED_EFFECT - 1.0)  # an extra row: never part of the paper's claim
    write_seeds(tables, "mds_table2", cells)


def test_known_winner_agrees(tmp_path):
    table2(tmp_path, mds_delta=-0.05)
    row = claims_of(tmp_path, papers=("mds",)).loc["mds_t2_lowest_failure_srcc"]
    assert row.verdict == AGREE and row.p_value < 0.05 and row.level == 0.05
    assert row.statistic < 0 and "mds_oof" not in row.detail and row.n_seeds == 5


def test_known_loser_disagrees(tmp_path):
    table2(tmp_path, mds_delta=+0.05)
    row = claims_of(tmp_path, papers=("mds",)).loc["mds_t2_lowest_failure_srcc"]
    assert row.verdict == DISAGREE and row.p_value > 0.95 and row.statistic > 0


def test_no_difference_is_inconclusive(tmp_path):
    table2(tmp_path, mds_delta=0.0, noise_scale=10.0)
    row = claims_of(tmp_path, papers=("mds",)).loc["mds_t2_lowest_failure_srcc"]
    assert row.verdict == INCONCLUSIVE


def test_best_of_all_needs_every_comparison(tmp_path):
    """Better than eight methods but tied with one: not 'agree' (every needed comparison must be significant)."""
    rng = np.random.default_rng(1)
    cells = {(m, "mean"): list(SEED_EFFECT + rng.normal(0, 0.002, 5)) for m in MDS_COMPARED}
    cells["mds", "mean"] = list(SEED_EFFECT + 0.05 + rng.normal(0, 0.002, 5))
    cells["greedy", "mean"] = list(SEED_EFFECT + 0.05 + rng.normal(0, 0.02, 5))
    write_seeds(tmp_path, "mds_table3", cells)
    row = claims_of(tmp_path, papers=("mds",)).loc["mds_t3_best_mean_srcc"]
    assert row.verdict == INCONCLUSIVE and row.detail.startswith("deciding: mds vs greedy")


def test_paired_test_is_significant_where_an_unpaired_one_is_not(tmp_path):
    """A small consistent gain under a large seed effect shared by both methods: only pairing by seed sees it."""
    before, after = shifted(0.0, 0), shifted(0.03, 1)
    assert stats.ttest_ind(after, before, equal_var=False).pvalue > 0.5  # Welch: nothing to see
    assert stats.ttest_rel(after, before).pvalue < 1e-4  # paired: clear
    write_seeds(tmp_path, "w2s_table1", {("w2s_i", "overall_ood"): before, ("w2s_ii", "overall_ood"): after})
    row = claims_of(tmp_path, papers=("w2s",)).loc["w2s_t1_w2s_ii_over_w2s_i_ood"]
    assert row.verdict == AGREE and row.p_value < 1e-4 and row.test.startswith("paired t")
    assert row.statistic == pytest.approx(0.03, abs=0.005)


def test_pairs_by_seed_not_by_position(tmp_path):
    """Seeds are matched by their number: the same values listed in another order give the same verdict."""
    before, after = shifted(0.0, 0), shifted(0.03, 1)
    write_seeds(tmp_path, "w2s_table1", {("w2s_i", "overall_ood"): before, ("w2s_ii", "overall_ood"): after})
    path = tmp_path / "w2s_table1_seeds.csv"
    df = pd.read_csv(path)
    df.sample(frac=1.0, random_state=3).to_csv(path, index=False)
    row = claims_of(tmp_path, papers=("w2s",)).loc["w2s_t1_w2s_ii_over_w2s_i_ood"]
    assert row.verdict == AGREE and row.p_value < 1e-4


def test_unpaired_seeds_are_left_out_and_named(tmp_path):
    write_seeds(tmp_path, "w2s_table1", {("w2s_i", "overall_ood"): shifted(0.0)[:4],
                                         ("w2s_ii", "overall_ood"): shifted(0.03, 1)})  # fmt: skip
    row = claims_of(tmp_path, papers=("w2s",)).loc["w2s_t1_w2s_ii_over_w2s_i_ood"]
    assert row.n_seeds == 4 and "unpaired seeds left out: [4]" in row.detail and row.verdict == AGREE


# ------------------------------------------------------------------------------------------ chains, tables


def table5(tables: Path, steps: dict[str, float]) -> None:
    """Failure identification SRCC per loss (lower is better), each the seed effect plus a shift."""
    rng = np.random.default_rng(2)
    cells = {(row, "failure_identification"): list(SEED_EFFECT + d + rng.normal(0, 0.002, 5))
             for row, d in steps.items()}  # fmt: skip
    cells["base_model", "failure_identification"] = 0.6
    write_seeds(tables, "mds_table5", cells)


@pytest.mark.parametrize(
    "steps, expected",
    [
        ({"ranking": 0.0, "regression": 0.05, "classification": 0.10, "removing_g": 0.15}, AGREE),
        ({"ranking": 0.0, "regression": 0.05, "classification": 0.05, "removing_g": 0.15}, INCONCLUSIVE),
        ({"ranking": 0.0, "regression": 0.10, "classification": 0.05, "removing_g": 0.15}, DISAGREE),
    ],
)
def test_table5_chain(tmp_path, steps, expected):
    table5(tmp_path, steps)
    out = claims_of(tmp_path, papers=("mds",))
    assert out.loc["mds_t5_loss_order_failure_identification", "verdict"] == expected
    assert out.loc["mds_t5_loss_order_active_finetuning", "verdict"] == NOT_COMPUTED  # no such column


def test_table5_missing_chain_step_is_not_computed(tmp_path):
    table5(tmp_path, {"ranking": 0.0, "regression": 0.05, "removing_g": 0.15})
    row = claims_of(tmp_path, papers=("mds",)).loc["mds_t5_loss_order_failure_identification"]
    assert row.verdict == NOT_COMPUTED and "classification" in row.detail


def test_table6_table8_and_table9(tmp_path):
    lam = {f"lambda_{x}": shifted(0.02) for x in ("0", "0.125", "0.5")}
    lam["lambda_0.25"] = shifted(0.0, 1)
    write_seeds(tmp_path, "mds_table6", {(r, "failure_identification"): v for r, v in lam.items()}
                | {(r, "active_finetuning"): v for r, v in lam.items()})  # fmt: skip
    write_seeds(tmp_path, "mds_table8", {("rank_8", "failure_identification"): shifted(0.02),
                                         ("rank_64", "failure_identification"): shifted(0.0, 1)})  # fmt: skip
    write_seeds(tmp_path, "mds_table9", {("uvq/base_model", "active_finetuning"): 0.4,
                                         ("uvq/random", "active_finetuning"): shifted(0.0),
                                         ("uvq/mds", "active_finetuning"): shifted(0.03, 1)})  # fmt: skip
    out = claims_of(tmp_path, papers=("mds",))
    assert out.loc["mds_t6_lambda_best_failure_identification", "verdict"] == AGREE  # lower is better
    assert out.loc["mds_t6_lambda_best_active_finetuning", "verdict"] == DISAGREE  # higher is better
    t8 = out.loc["mds_t8_rank64_best_failure_identification"]
    assert t8.verdict == AGREE and "rank_128 left out" in t8.detail
    t9 = out.loc["mds_t9_uvq_active_finetuning"]
    assert t9.verdict == INCONCLUSIVE  # beats random by pairing, but not the single-valued base model (0.4)
    assert "uvq/mds vs uvq/base_model" in t9.detail and t9.test.startswith("one-sample t vs single value")
    assert "mds_t9_modularbvqa_active_finetuning" not in out.index  # prefixes come from the table's rows


def test_table7_unavailable_rows_are_not_computed(tmp_path):
    write_seeds(tmp_path, "mds_table7", {("base_model", "failure_identification"): 0.4,
                                         ("base_feature", "failure_identification"): shifted(0.05),
                                         ("efficientnet_lite0", "failure_identification"): shifted(0.0, 1)},
                notes={"clip": "unavailable: no weights", "siglip2": "unavailable: no weights"})  # fmt: skip
    out = claims_of(tmp_path, papers=("mds",))
    for enc in ("clip", "siglip2"):
        row = out.loc[f"mds_t7_{enc}_vs_base_feature_failure_identification"]
        assert row.verdict == NOT_COMPUTED and "unavailable: no weights" in row.detail and pd.isna(row.p_value)
    ours = out.loc["mds_t7_efficientnet_lite0_vs_base_feature_failure_identification"]
    assert ours.verdict == AGREE and "not in the paper" in ours.detail


def test_missing_tables_are_not_computed(tmp_path):
    out = claims_of(tmp_path)
    assert (out.verdict == NOT_COMPUTED).all()
    assert "mds_table2_seeds.csv not found (table not built)" in out.loc["mds_t2_lowest_failure_srcc", "detail"]
    assert out.loc["mds_t4_top_gmad", "detail"] == "no gMAD result JSON given"
    assert out.index.str.startswith("w2s_t5").any() and out.index.str.startswith("w2s_t1").sum() == 8


def test_absent_subject_row_is_not_computed(tmp_path):
    table2(tmp_path, mds_delta=-0.05)
    df = pd.read_csv(tmp_path / "mds_table2_seeds.csv")
    df[df.row != "mds"].to_csv(tmp_path / "mds_table2_seeds.csv", index=False)
    row = claims_of(tmp_path, papers=("mds",)).loc["mds_t2_lowest_failure_srcc"]
    assert row.verdict == NOT_COMPUTED and "no row 'mds'" in row.detail


def test_constant_differences_are_untestable(tmp_path):
    write_seeds(tmp_path, "w2s_table1", {("w2s_i", "overall_ood"): [0.3, 0.3, 0.3],
                                         ("w2s_ii", "overall_ood"): [0.4, 0.4, 0.4]})  # fmt: skip
    row = claims_of(tmp_path, papers=("w2s",)).loc["w2s_t1_w2s_ii_over_w2s_i_ood"]
    assert row.verdict == INCONCLUSIVE and pd.isna(row.p_value) and "t-test undefined" in row.detail


# ----------------------------------------------------------------------------------------------- W2S Table 5


def test_w2s_students_vs_teachers(tmp_path):
    """One-sample tests against the single-valued teacher: in-domain non-inferiority, OOD superiority."""
    rng = np.random.default_rng(4)
    near = list(0.80 + rng.normal(0, 0.002, 5))
    write_seeds(tmp_path, "w2s_table5", {
        ("tA", "overall_in_domain"): 0.80, ("tA", "overall_ood"): 0.50,
        ("tA_labeled", "overall_in_domain"): near, ("tA_labeled", "overall_ood"): list(0.55 + rng.normal(0, 0.01, 5)),
        ("tB", "overall_in_domain"): 0.80, ("tB", "overall_ood"): 0.50,
        ("tB_labeled", "overall_in_domain"): list(0.70 + rng.normal(0, 0.01, 5)),
        ("tB_labeled", "overall_ood"): list(0.50 + rng.normal(0, 0.05, 5)),
        ("lsvq_labeled", "overall_ood"): [0.6, 0.6, 0.6],
    })  # fmt: skip
    out = claims_of(tmp_path, papers=("w2s",), margin=0.01)
    assert out.loc["w2s_t5_tA_in_domain", "verdict"] == AGREE  # equal within the 0.01 margin
    assert "non-inferiority margin 0.01" in out.loc["w2s_t5_tA_in_domain", "test"]
    assert out.loc["w2s_t5_tA_ood", "verdict"] == AGREE
    assert out.loc["w2s_t5_tB_in_domain", "verdict"] == DISAGREE
    assert out.loc["w2s_t5_tB_ood", "verdict"] == INCONCLUSIVE
    assert not out.index.str.contains("lsvq").any()  # no teacher: no claim
    strict = claims_of(tmp_path, papers=("w2s",), margin=0.0)
    assert strict.loc["w2s_t5_tA_in_domain", "verdict"] == INCONCLUSIVE  # equal is not "above" without a margin


def test_a_w2s_control_with_one_student_claims_for_that_student_only(tmp_path):
    """The twin trains the teachers'-mean student only by default (controls.w2s.twin_ensemble): its claims are
    that student's, and the other student's are absent, not 'not computed'."""
    write_seeds(tmp_path, "control_w2s_twin", {
        ("student_mean", "heldout"): [0.50, 0.52, 0.49], ("teacher_1", "heldout"): [0.60, 0.61, 0.59],
        ("teacher_2", "heldout"): [0.58, 0.60, 0.57]})  # fmt: skip
    out = claims_of(tmp_path, papers=(), controls=("control_w2s_twin",))
    assert list(out.index) == ["control_w2s_twin_student_mean_heldout"]
    assert out.loc["control_w2s_twin_student_mean_heldout", "verdict"] == DISAGREE  # below both teachers
    assert out.loc["control_w2s_twin_student_mean_heldout", "control"] == "twin: expected not agree"


# ---------------------------------------------------------------------------------------------- Table 4 gMAD


def write_gmad(tables: Path, mds_gain: float) -> list[Path]:
    paths = []
    for seed, effect in enumerate([0.3, 0.6, 0.45]):
        scores = {m: effect + 0.001 * k for k, m in enumerate(MDS_COMPARED)}
        scores["mds"] = effect + mds_gain + 0.001 * seed
        path = tables / f"seed{seed}.json"
        path.write_text(json.dumps({"models": list(scores), "gmad_score": scores}))
        paths.append(path)
    return paths


def test_gmad_claim_pairs_the_competitions(tmp_path):
    out = claims_of(tmp_path, papers=("mds",), gmad=write_gmad(tmp_path, 0.1)).loc["mds_t4_top_gmad"]
    assert out.verdict == AGREE and out.n_seeds == 3
    out = claims_of(tmp_path, papers=("mds",), gmad=write_gmad(tmp_path, -0.1)).loc["mds_t4_top_gmad"]
    assert out.verdict == DISAGREE


def test_malformed_gmad_json_names_the_file(tmp_path):
    bad = tmp_path / "seed0.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="seed0.json"):
        build_claims(tmp_path, [bad], papers=("mds",))


# -------------------------------------------------------------------------------------------- CLI, errors


def test_malformed_seeds_file_is_one_error_line(tmp_path):
    (tmp_path / "mds_table6_seeds.csv").write_text("table,row,column,metric,value\nmds_table6,a,b,srcc,0.1\n")
    proc = run_cli("claims", "--tables-dir", str(tmp_path), "--out", str(tmp_path / "claims.csv"))
    assert proc.returncode == 2 and not (tmp_path / "claims.csv").exists()
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"vqaloop: error: {tmp_path / 'mds_table6_seeds.csv'}: lacks column(s) ['seed'] "
                     "(has ['table', 'row', 'column', 'metric', 'value'])"]  # fmt: skip


def test_non_numeric_value_is_a_user_error(tmp_path):
    (tmp_path / "w2s_table1_seeds.csv").write_text(
        "table,row,column,metric,seed,value\nw2s_table1,w2s_i,overall_ood,srcc,0,abc\n"
    )
    with pytest.raises(UserError, match=r"w2s_table1_seeds.csv: value 'abc'"):
        build_claims(tmp_path, [], papers=("w2s",))


def test_cli_writes_csv_and_markdown(tmp_path):
    table2(tmp_path, mds_delta=-0.05)
    out, md = tmp_path / "claims.csv", tmp_path / "claims.md"
    proc = run_cli("claims", "--tables-dir", str(tmp_path), "--gmad", *map(str, write_gmad(tmp_path, 0.1)),
                   "--level", "0.01", "--out", str(out), "--markdown", str(md))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    claims = pd.read_csv(out).set_index("claim")
    assert list(claims.reset_index().columns) == ["claim", "paper", "table", "statement", "statistic", "test",
                                                  "n_seeds", "p_value", "level", "verdict", "paper_effect", "mde_80",
                                                  "seeds_needed", "p_equivalence", "detail", "control"]  # fmt: skip
    assert claims.control.isna().all()  # no control asked for: the papers' rows expect nothing
    assert (claims.level == 0.01).all() and claims.loc["mds_t2_lowest_failure_srcc", "verdict"] == AGREE
    text = md.read_text()
    assert "level 0.01" in text and "| mds_t4_top_gmad |" in text
    assert text == markdown(build_claims(tmp_path, write_gmad(tmp_path, 0.1), level=0.01))
    assert " | 5 | " in text and " | 5.0 | " not in text  # seed counts print as integers


# ------------------------------------------------------------------------------------ the builders' seeds


class StubReader:
    """Per-seed cells without files: a value that depends on the row, the column and the seed."""

    @staticmethod
    def value(row, dataset, seed) -> dict[str, float]:
        base = 0.1 * len(row["key"]) + 0.01 * len(dataset) + (0.0 if seed is None else 0.07 * (seed + 1) ** 1.5)
        return {"srcc": base, "plcc": base / 2}

    def failure_identification(self, row, dataset, seed):
        return self.value(row, f"fi{dataset}", seed)

    def active_finetuning(self, row, dataset, seed):
        return self.value(row, f"af{dataset}", seed)

    def g_answers_note(self, row, seeds):
        return ""  # compact models: g gives no text answers


def assert_seeds_match_long(seeds: pd.DataFrame, long: pd.DataFrame) -> None:
    assert list(seeds.columns) == SEED_COLUMNS
    means = seeds.groupby(["row", "column", "metric"], sort=False).value.mean().rename("seed_mean").reset_index()
    joined = long.dropna(subset=["value"]).merge(means, on=["row", "column", "metric"], how="left")
    assert len(joined) == long.value.notna().sum() and joined.seed_mean.notna().all()
    np.testing.assert_allclose(joined.seed_mean, joined.value, atol=5e-5)
    counts = seeds.groupby(["row", "column", "metric"]).size()
    n = long.set_index(["row", "column", "metric"]).n_seeds.loc[counts.index]
    assert (counts == n).all()


@pytest.mark.parametrize("table", ["mds_table2", "mds_table5"])
def test_mds_seeds_file_means_equal_the_long_values(table):
    spec = {
        "table": table, "columns": ["cgvds", "aigv"] if table == "mds_table2" else ["failure_identification",
                                                                                     "active_finetuning"],
        "paper_key": {"aigv": "aigvqa_db"}, "ablation_dataset": "sfv_sdr", "seeds": [0, 1, 3], "run": "t",
        "config_hash": "x",
        "rows": [{"key": "base_model", "kind": "base", "variant": None, "base": "b", "note": ""},
                 {"key": "random", "kind": "variant", "variant": "random", "base": "b", "note": ""},
                 {"key": "clip", "kind": "unavailable", "variant": None, "base": "b", "note": "unavailable: x"}],
    }  # fmt: skip
    seeds = mds_build.build_seeds(spec, StubReader())
    long = mds_build.build_long(spec, StubReader())
    assert_seeds_match_long(seeds, long)
    assert "clip" not in set(seeds.row) and seeds[seeds.row == "base_model"].seed.isna().all()
    assert set(seeds[seeds.row == "random"].seed) == {0, 1, 3}
    if table == "mds_table2":
        assert {"aigvqa_db", "mean"} <= set(seeds.column)


class StubW2sPaths:
    def __init__(self, root: Path):
        self.root = root

    def teacher(self, name):
        return self.root / f"teacher_{name}.csv"

    def student_eval(self, name, seed):
        return self.root / f"student_{name}_seed{seed}.csv"


def test_w2s_seeds_file_means_equal_the_long_values(tmp_path):
    rng = np.random.default_rng(5)
    test_rows = {d: pd.DataFrame({"video_id": [f"{d}{i}" for i in range(n)], "mos": rng.uniform(1, 5, n)})
                 for d, n in (("ugc", 12), ("cgvds", 9), ("aigv", 7))}  # fmt: skip
    ids = pd.concat(test_rows.values())
    raw = ids.mos + rng.normal(0, 1, len(ids))
    pd.DataFrame({"video_id": ids.video_id, "dataset": "d", "split": "test", "raw": raw, "mos": raw}).to_csv(
        tmp_path / "teacher_effnet_motion.csv", index=False
    )
    for seed in (0, 1, 2):
        pd.DataFrame({"dataset": list(test_rows), "n": [len(r) for r in test_rows.values()],
                      "srcc": rng.uniform(0.3, 0.9, 3), "plcc": rng.uniform(0.3, 0.9, 3)}).to_csv(
            tmp_path / f"student_effnet_motion_labeled_seed{seed}.csv", index=False)  # fmt: skip
    spec = {
        "table": "w2s_table5", "seeds": [0, 1, 2], "run": "t", "config_hash": "x",
        "columns": [{"dataset": "ugc", "key": "youtube_ugc", "block": "in_domain"},
                    {"dataset": None, "key": "overall_in_domain", "block": "in_domain"},
                    {"dataset": "cgvds", "key": "cgvds", "block": "ood"},
                    {"dataset": "aigv", "key": "kvq", "block": "ood"},
                    {"dataset": None, "key": "overall_ood", "block": "ood"}],
        "rows": [{"id": "effnet_motion", "key": "minimalisticvqa_ix", "kind": "teacher"},
                 {"id": "effnet_motion_labeled", "key": "minimalisticvqa_ix_labeled", "kind": "student"}],
    }  # fmt: skip
    paths = StubW2sPaths(tmp_path)
    seeds = w2s_build.build_seeds(spec, paths, test_rows)
    long = w2s_build.build_long(spec, paths, test_rows)
    assert_seeds_match_long(seeds, long)
    assert seeds[seeds.row == "minimalisticvqa_ix"].seed.isna().all()
    assert len(seeds[(seeds.row == "minimalisticvqa_ix_labeled") & (seeds.column == "overall_ood")]) == 6
    # the written file reads back in the claims reader (teachers seedless, students per seed)
    seeds.to_csv(tmp_path / "w2s_table5_seeds.csv", index=False)
    out = claims_of(tmp_path, papers=("w2s",))
    assert out.loc["w2s_t5_minimalisticvqa_ix_ood", "verdict"] in (AGREE, DISAGREE, INCONCLUSIVE)
    assert out.loc["w2s_t5_minimalisticvqa_ix_ood", "n_seeds"] == 3
