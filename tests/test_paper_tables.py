"""The published paper numbers in results/paper/: format, completeness, spot checks and internal consistency.

Spot-check values below were read off the papers by hand (MDS-VQA: /work/shared/papers/mds-vqa.md,
W2S-VQA: /work/shared/papers/w2s-vqa.md), independently of the CSVs, so a transcription slip shows up here.
"""

from __future__ import annotations

import csv
import itertools
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from vqaloop.errors import UserError
from vqaloop.tables.published import LONG_COLUMNS, PUBLISHED_TABLES, load_published

ROOT = Path(__file__).resolve().parents[1] / "results" / "paper"

MDS_METHODS = [
    "base_model",
    "random",
    "coreset",
    "rd",
    "mc_dropout",
    "greedy",
    "alcs",
    "freesel",
    "noise_stability",
    "mds",
]
MDS_TARGETS = ["cgvds", "live_livestream", "sfv_sdr", "sfv_hdr2sdr", "aigvqa_db"]
ABLATION_COLUMNS = ["failure_identification", "active_finetuning"]
W2S_IN_DOMAIN = ["lsvq_test", "lsvq_1080p", "konvid_1k", "live_vqc", "youtube_ugc"]
W2S_OOD = ["live_yt_gaming", "cgvds", "live_yt_hfr", "waterloo_ivc_4k", "kvq"]
W2S_COLUMNS = W2S_IN_DOMAIN + ["overall_in_domain"] + W2S_OOD + ["overall_ood"]
W2S_TEACHERS = ["minimalisticvqa_vii", "minimalisticvqa_ix", "fast_vqa", "dover", "q_align"]
# Number of test videos per dataset as printed in W2S-VQA Tables 1 and 5 ("# of videos").
W2S_N_VIDEOS = {
    "lsvq_test": 7182,
    "lsvq_1080p": 3573,
    "konvid_1k": 1200,
    "live_vqc": 585,
    "youtube_ugc": 1020,
    "live_yt_gaming": 600,
    "cgvds": 357,
    "live_yt_hfr": 480,
    "waterloo_ivc_4k": 1200,
    "kvq": 2926,
}
SRCC_PLCC = ["srcc", "plcc"]

# table -> (row keys, column keys, metric keys); the CSV must hold the full grid, nothing more.
EXPECTED_GRID = {
    "mds_table2": (MDS_METHODS, MDS_TARGETS + ["mean"], SRCC_PLCC),
    "mds_table3": (MDS_METHODS, ["youtube_ugc"] + MDS_TARGETS + ["mean"], SRCC_PLCC),
    # Table 4 is printed in rank order.
    "mds_table4": (
        ["mds", "freesel", "noise_stability", "alcs", "coreset", "rd", "greedy", "mc_dropout", "random"]
        + ["base_model"],
        ["rank"],
        ["srcc_rank", "gmad_rank", "delta_rank"],
    ),
    "mds_table5": (
        ["base_model", "removing_g", "classification", "regression", "ranking"],
        ABLATION_COLUMNS,
        SRCC_PLCC,
    ),
    "mds_table6": (
        ["base_model", "lambda_0", "lambda_0.125", "lambda_0.25", "lambda_0.5"],
        ABLATION_COLUMNS,
        SRCC_PLCC,
    ),
    "mds_table7": (["base_model", "base_feature", "clip", "siglip2"], ABLATION_COLUMNS, SRCC_PLCC),
    "mds_table8": (["rank_8", "rank_64", "rank_128"], ABLATION_COLUMNS, SRCC_PLCC),
    "mds_table9": (
        [f"{base}/{m}" for base in ("uvq", "modularbvqa") for m in MDS_METHODS],
        ABLATION_COLUMNS,
        SRCC_PLCC,
    ),
    "w2s_table1": (
        W2S_TEACHERS + ["vqa2", "vqathinker", "w2s_i", "w2s_ii", "w2s_iii", "w2s_iv", "w2s_v"],
        W2S_COLUMNS,
        SRCC_PLCC,
    ),
    "w2s_table5": (
        W2S_TEACHERS + [f"{t}_labeled" for t in W2S_TEACHERS] + ["lsvq_labeled"],
        W2S_COLUMNS,
        SRCC_PLCC,
    ),
}
EXPECTED_COUNTS = {
    "mds_table2": 120,  # 10 methods x 6 columns (5 targets + mean) x 2 metrics
    "mds_table3": 140,  # 10 methods x 7 columns (6 test sets + mean) x 2 metrics
    "mds_table4": 30,  # 10 methods x 3 ranks
    "mds_table5": 20,  # 5 rows x 2 settings x 2 metrics
    "mds_table6": 20,
    "mds_table7": 16,
    "mds_table8": 12,
    "mds_table9": 80,  # 2 base models x 10 methods x 2 settings x 2 metrics
    "w2s_table1": 288,  # 12 methods x 12 columns x 2 metrics
    "w2s_table5": 264,  # 11 methods x 12 columns x 2 metrics
}

FI, AF = "failure_identification", "active_finetuning"
# (table, row, column, metric, value as printed in the paper)
SPOT_CHECKS = [
    ("mds_table2", "mds", "cgvds", "srcc", 0.162),
    ("mds_table2", "random", "cgvds", "srcc", 0.673),
    ("mds_table2", "alcs", "cgvds", "plcc", 0.817),
    ("mds_table2", "freesel", "aigvqa_db", "plcc", 0.643),
    ("mds_table2", "base_model", "mean", "plcc", 0.634),
    ("mds_table3", "mds", "mean", "srcc", 0.722),
    ("mds_table3", "mds", "mean", "plcc", 0.749),
    ("mds_table3", "random", "sfv_hdr2sdr", "srcc", 0.518),
    ("mds_table3", "alcs", "aigvqa_db", "plcc", 0.792),
    ("mds_table3", "base_model", "youtube_ugc", "srcc", 0.708),
    ("mds_table4", "base_model", "rank", "gmad_rank", 7),
    ("mds_table4", "noise_stability", "rank", "delta_rank", -3),
    ("mds_table4", "rd", "rank", "srcc_rank", 6),
    ("mds_table4", "mds", "rank", "gmad_rank", 1),
    ("mds_table5", "ranking", FI, "srcc", 0.264),
    ("mds_table5", "removing_g", AF, "plcc", 0.770),
    ("mds_table5", "classification", FI, "plcc", 0.482),
    ("mds_table6", "lambda_0.5", FI, "plcc", 0.356),
    ("mds_table6", "lambda_0", FI, "srcc", 0.317),
    ("mds_table6", "lambda_0.125", AF, "srcc", 0.720),
    ("mds_table7", "base_feature", FI, "srcc", 0.397),
    ("mds_table7", "siglip2", AF, "plcc", 0.791),
    ("mds_table7", "clip", FI, "plcc", 0.361),
    ("mds_table8", "rank_8", AF, "srcc", 0.727),
    ("mds_table8", "rank_128", FI, "plcc", 0.418),
    ("mds_table8", "rank_64", FI, "srcc", 0.264),
    ("mds_table9", "uvq/noise_stability", FI, "srcc", 0.224),
    ("mds_table9", "uvq/mds", FI, "srcc", 0.101),
    ("mds_table9", "modularbvqa/coreset", FI, "plcc", 0.718),
    ("mds_table9", "modularbvqa/base_model", AF, "srcc", 0.573),
    ("w2s_table1", "w2s_v", "overall_ood", "srcc", 0.745),
    ("w2s_table1", "vqathinker", "cgvds", "srcc", 0.856),
    ("w2s_table1", "minimalisticvqa_vii", "live_yt_hfr", "srcc", 0.061),
    ("w2s_table1", "w2s_iv", "konvid_1k", "plcc", 0.897),
    ("w2s_table1", "q_align", "lsvq_test", "srcc", 0.886),
    ("w2s_table5", "lsvq_labeled", "overall_ood", "plcc", 0.608),
    ("w2s_table5", "dover_labeled", "live_yt_hfr", "srcc", 0.449),
    ("w2s_table5", "q_align_labeled", "youtube_ugc", "plcc", 0.853),
    ("w2s_table5", "minimalisticvqa_vii_labeled", "live_yt_gaming", "srcc", 0.632),
]


def _load(table: str) -> pd.DataFrame:
    return load_published(table, root=ROOT)


def _series(table: str) -> pd.Series:
    return _load(table).set_index(["row", "column", "metric"])["value"]


def test_every_published_table_has_a_csv():
    assert sorted(p.stem for p in ROOT.glob("*.csv")) == sorted(PUBLISHED_TABLES)
    assert set(EXPECTED_GRID) == set(PUBLISHED_TABLES)


@pytest.mark.parametrize("table", PUBLISHED_TABLES)
def test_csv_has_exactly_the_long_columns(table):
    with open(ROOT / f"{table}.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == LONG_COLUMNS
    assert list(_load(table).columns) == LONG_COLUMNS


@pytest.mark.parametrize("table", PUBLISHED_TABLES)
def test_values_numeric_and_paper_metadata(table):
    raw = pd.read_csv(ROOT / f"{table}.csv", dtype=str, na_filter=False)
    # Values are kept as printed: correlations with three decimals, ranks as integers.
    pattern = r"-?\d+" if table == "mds_table4" else r"0\.\d{3}"
    bad = raw.loc[~raw["value"].str.fullmatch(pattern), "value"]
    assert bad.empty, f"values not as printed: {bad.tolist()[:5]}"
    df = _load(table)
    assert df["value"].notna().all()
    assert (df["table"] == table).all()
    assert (df["run"] == "paper").all()
    assert df["ci_low"].isna().all() and df["ci_high"].isna().all() and df["n_seeds"].isna().all()
    assert (df["config_hash"] == "").all()
    if table != "mds_table4":
        assert df["value"].between(0, 1).all()


@pytest.mark.parametrize("table", PUBLISHED_TABLES)
def test_no_duplicate_keys(table):
    df = pd.read_csv(ROOT / f"{table}.csv", dtype=str, na_filter=False)
    assert not df.duplicated(["table", "row", "column", "metric"]).any()


@pytest.mark.parametrize("table", PUBLISHED_TABLES)
def test_table_is_complete(table):
    rows, columns, metrics = EXPECTED_GRID[table]
    df = _load(table)
    got = set(zip(df["row"], df["column"], df["metric"], strict=True))
    assert got == set(itertools.product(rows, columns, metrics))
    assert len(df) == EXPECTED_COUNTS[table] == len(rows) * len(columns) * len(metrics)
    # Rows appear in the printed order.
    assert list(dict.fromkeys(df["row"])) == rows


@pytest.mark.parametrize(("table", "row", "column", "metric", "expected"), SPOT_CHECKS)
def test_spot_check_against_paper(table, row, column, metric, expected):
    assert _series(table).loc[(row, column, metric)] == pytest.approx(expected, abs=1e-9)


def test_at_least_three_spot_checks_per_table():
    counts = pd.Series([t for t, *_ in SPOT_CHECKS]).value_counts()
    assert all(counts.get(t, 0) >= 3 for t in PUBLISHED_TABLES)


def _mean_cases():
    for table, targets in (("mds_table2", MDS_TARGETS), ("mds_table3", ["youtube_ugc"] + MDS_TARGETS)):
        for row in MDS_METHODS:
            for metric in SRCC_PLCC:
                yield pytest.param(table, targets, row, metric, id=f"{table}-{row}-{metric}")


@pytest.mark.parametrize(("table", "targets", "row", "metric"), list(_mean_cases()))
def test_printed_mean_equals_mean_of_datasets(table, targets, row, metric):
    # All 40 printed means agree within rounding (largest gap 0.0005: Table 3 ALCS and FreeSel PLCC).
    s = _series(table)
    mean = sum(s.loc[(row, c, metric)] for c in targets) / len(targets)
    assert s.loc[(row, "mean", metric)] == pytest.approx(mean, abs=0.002)


@pytest.mark.parametrize("table", ["w2s_table1", "w2s_table5"])
@pytest.mark.parametrize(("overall", "datasets"), [("overall_in_domain", W2S_IN_DOMAIN), ("overall_ood", W2S_OOD)])
@pytest.mark.parametrize("metric", SRCC_PLCC)
def test_w2s_overall_is_video_weighted_mean(table, overall, datasets, metric):
    # W2S captions: "Overall" is the average weighted by the number of videos in each dataset.
    df = _load(table)
    sub = df[df["metric"] == metric].pivot(index="row", columns="column", values="value")
    weights = pd.Series({d: W2S_N_VIDEOS[d] for d in datasets})
    weighted = (sub[datasets] * weights).sum(axis=1) / weights.sum()
    gap = (weighted - sub[overall]).abs()
    assert gap.max() <= 0.002, gap.sort_values().tail(3).to_dict()


def test_table4_delta_is_srcc_rank_minus_gmad_rank():
    t4 = _load("mds_table4").pivot(index="row", columns="metric", values="value")
    assert (t4["delta_rank"] == t4["srcc_rank"] - t4["gmad_rank"]).all()
    assert sorted(t4["srcc_rank"]) == list(range(1, 11)) == sorted(t4["gmad_rank"])


def test_table4_srcc_rank_follows_table3_mean():
    # Caption: the SRCC rank is "based on the mean results in Table 3". NoiseStability and ALCS tie on mean
    # SRCC (0.708); the printed order matches breaking the tie by mean PLCC (0.737 > 0.730).
    t3 = _load("mds_table3")
    mean = t3[t3["column"] == "mean"].pivot(index="row", columns="metric", values="value")
    order = mean.sort_values(["srcc", "plcc"], ascending=False).index.tolist()
    t4 = _load("mds_table4").pivot(index="row", columns="metric", values="value")
    assert t4["srcc_rank"].sort_values().index.tolist() == order


def test_w2s_teacher_rows_identical_in_tables_1_and_5():
    t1, t5 = _load("w2s_table1"), _load("w2s_table5")
    a = t1[t1["row"].isin(W2S_TEACHERS)].set_index(["row", "column", "metric"])["value"]
    b = t5[t5["row"].isin(W2S_TEACHERS)].set_index(["row", "column", "metric"])["value"]
    assert len(a) == len(b) == 120
    assert a.sort_index().equals(b.sort_index())


ABLATION_DEFAULT_ROW = {
    "mds_table5": "ranking",
    "mds_table6": "lambda_0.25",
    "mds_table7": "clip",
    "mds_table8": "rank_64",
}


@pytest.mark.parametrize("table", ["mds_table5", "mds_table6", "mds_table7"])
def test_ablation_base_model_matches_main_tables_on_sfv_sdr(table):
    # Ablations are "reported on YouTube-SFV SDR": the base-model row repeats Table 2 (failure
    # identification) and Table 3 (active fine-tuning) on that dataset.
    s, t2, t3 = _series(table), _series("mds_table2"), _series("mds_table3")
    for metric in SRCC_PLCC:
        assert s.loc[("base_model", FI, metric)] == t2.loc[("base_model", "sfv_sdr", metric)]
        assert s.loc[("base_model", AF, metric)] == t3.loc[("base_model", "sfv_sdr", metric)]


@pytest.mark.parametrize("table", list(ABLATION_DEFAULT_ROW))
def test_ablation_default_failure_identification_matches_table2(table):
    s, t2 = _series(table), _series("mds_table2")
    for metric in SRCC_PLCC:
        assert s.loc[(ABLATION_DEFAULT_ROW[table], FI, metric)] == t2.loc[("mds", "sfv_sdr", metric)]


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Paper discrepancy (README.md): the default MDS-VQA setting prints active fine-tuning SRCC/PLCC "
        "0.726/0.789 in Tables 5-8 but 0.731/0.794 for YouTube-SFV SDR in Table 3"
    ),
)
@pytest.mark.parametrize("table", list(ABLATION_DEFAULT_ROW))
def test_ablation_default_active_finetuning_matches_table3(table):
    s, t3 = _series(table), _series("mds_table3")
    for metric in SRCC_PLCC:
        assert s.loc[(ABLATION_DEFAULT_ROW[table], AF, metric)] == t3.loc[("mds", "sfv_sdr", metric)]


def test_keys_yaml_labels_every_key():
    keys = yaml.safe_load((ROOT / "keys.yaml").read_text())
    assert set(keys) == set(PUBLISHED_TABLES)
    for table in PUBLISHED_TABLES:
        df, entry = _load(table), keys[table]
        assert list(entry["rows"]) == list(dict.fromkeys(df["row"])), table
        assert set(entry["columns"]) == set(df["column"]), table
        assert set(entry["metrics"]) == set(df["metric"]), table
        labels = [*entry["rows"].values(), *entry["columns"].values(), *entry["metrics"].values()]
        assert all(isinstance(v, str) and v.strip() for v in labels), table
    assert keys["mds_table7"]["rows"]["base_feature"].startswith("VisualQuality-R1")
    assert keys["mds_table6"]["rows"]["lambda_0.25"] == r"$\lambda = 0.250$"
    assert keys["w2s_table1"]["n_videos"] == W2S_N_VIDEOS


def test_readme_names_every_file():
    text = (ROOT / "README.md").read_text()
    for table in PUBLISHED_TABLES:
        assert f"{table}.csv" in text
    assert "keys.yaml" in text


def test_load_published_missing_file_names_it(tmp_path):
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "mds_table2.csv"))):
        load_published("mds_table2", root=tmp_path)


def test_load_published_wrong_columns_names_file(tmp_path):
    bad = tmp_path / "mds_table2.csv"
    bad.write_text("table,row,column,metric,value\nmds_table2,mds,cgvds,srcc,0.162\n")
    with pytest.raises(UserError, match=r"mds_table2\.csv.*columns"):
        load_published("mds_table2", root=tmp_path)


def test_load_published_rejects_non_numeric_value(tmp_path):
    path = tmp_path / "mds_table2.csv"
    path.write_text(",".join(LONG_COLUMNS) + "\nmds_table2,mds,cgvds,srcc,<b>0.162</b>,,,,paper,\n")
    with pytest.raises(UserError, match=r"mds_table2\.csv: line 2: value"):
        load_published("mds_table2", root=tmp_path)


def test_load_published_rejects_duplicate_key(tmp_path):
    line = "mds_table2,mds,cgvds,srcc,0.162,,,,paper,\n"
    (tmp_path / "mds_table2.csv").write_text(",".join(LONG_COLUMNS) + "\n" + line + line)
    with pytest.raises(UserError, match="duplicate"):
        load_published("mds_table2", root=tmp_path)


def test_load_published_default_root_is_relative(monkeypatch):
    monkeypatch.chdir(ROOT.parents[1])
    df = load_published("mds_table4")
    assert len(df) == 30
    assert df["value"].dtype == float and str(df["n_seeds"].dtype) == "Int64"
