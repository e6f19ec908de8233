"""The paper-scale rules end to end on tiny vision-language models (config/tiny_vlm.yaml): a real Snakemake run
of both papers' DAGs where f, g and fine-tuning are a random-weight Qwen2.5-VL through the VisualQuality-R1 code
(GRPO) and the W2S student is a random-weight LLaVA-OneVision. The numbers mean nothing (random weights); the
test proves the paper-scale path runs, writes every table and keeps its contracts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import copy_workflow, run_cli, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.workflow]
CONFIG = ["--configfile", "config/tiny_vlm.yaml"]
RESULTS = "results/tiny_vlm"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = copy_workflow(tmp_path_factory.mktemp("tiny_vlm"))
    (root / "work/tiny_vlm_weights").mkdir(parents=True)  # tiny-vlm --out: a new folder in an existing one
    for arch in ("qwen2_5_vl", "llava_onevision"):
        proc = run_cli("tiny-vlm", "--arch", arch, "--out", str(root / "work/tiny_vlm_weights" / arch), cwd=root)
        assert proc.returncode == 0, proc.stderr
    proc = snakemake(root, "--cores", "2", *CONFIG)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root


def finite_or_explained(long: pd.DataFrame, name: str) -> None:
    """Every cell is a finite value, or empty with a note saying why (never a silent NaN)."""
    missing = long[~np.isfinite(long.value.astype(float))]
    assert missing.note.fillna("").str.len().gt(0).all(), (name, missing[["row", "column", "metric"]].head())


def test_every_table_of_both_papers_is_written_with_its_rows(built):
    import yaml

    cfg = yaml.safe_load((built / "config/tiny_vlm.yaml").read_text())
    mds, w2s = cfg["mds"], cfg["w2s"]
    tables = built / RESULTS / "tables"
    read = {name: pd.read_csv(tables / f"{name}.csv") for name in
            ("mds_table2", "mds_table3", "mds_table4", "mds_table5", "mds_table6", "mds_table7", "mds_table8",
             "w2s_table1", "w2s_table5")}  # fmt: skip
    for name, long in read.items():
        assert len(long) > 0, name
        if name != "mds_table4":
            finite_or_explained(long, name)
    # Tables 2 and 3: the base model and every configured method, on every target (and Table 3 on the source)
    for name, columns in (("mds_table2", mds["targets"]), ("mds_table3", [mds["source"], *mds["targets"]])):
        long = read[name]
        assert {"base_model", *mds["methods"]} <= set(long.row), name
        assert {"srcc", "plcc"} == set(long.metric), name
        assert len(set(long.column) - {"mean"}) == len(columns), name  # one column per dataset (paper keys), + mean
    for method in mds["methods"]:  # a method's cells are finite: the tiny VLM answered
        cells = read["mds_table2"][read["mds_table2"].row == method]
        assert np.isfinite(cells.value.astype(float)).any(), method
    # Table 4: one gMAD rank per model of Table 3, a permutation of 1..n
    t4 = read["mds_table4"]
    assert set(t4.row) == set(read["mds_table3"].row)
    ranks = t4[t4.metric == "gmad_rank"].value.astype(int)
    assert sorted(ranks) == list(range(1, len(ranks) + 1))
    # the ablations: one row per configured value at least (lambdas, losses, ranks; Table 7's encoders)
    assert read["mds_table6"].row.nunique() >= len(mds["lambdas"])
    assert read["mds_table5"].row.nunique() >= len(mds["losses"])
    assert read["mds_table8"].row.nunique() >= len(mds["ranks"])
    assert read["mds_table7"].row.nunique() >= len(mds["diversity_encoders"])
    # W2S-VQA: the five stages of Table 1; Table 5 a row per teacher; every test set a column
    t1, t5 = read["w2s_table1"], read["w2s_table5"]
    assert {"w2s_i", "w2s_ii", "w2s_iii", "w2s_iv", "w2s_v"} <= set(t1.row)
    assert len(set(t5.row)) >= len(w2s["teachers"])
    assert {"overall_in_domain", "overall_ood"} <= set(t1.column)
    assert len(set(t1.column) - {"overall_in_domain", "overall_ood"}) == len(w2s["test_sets"])
    assert (tables / "claims.csv").is_file()
    claims = pd.read_csv(tables / "claims.csv")
    assert claims.claim.str.startswith("mds_t").any() and claims.claim.str.startswith("w2s_t").any()


def test_f_is_the_vlm_and_its_checkpoints_hold_lora_only(built):
    from vqaloop.models.registry import load_checkpoint

    work = built / "work/tiny_vlm/mds/visualquality_r1"
    f = load_checkpoint(work / "f/model.pt")
    assert f.name == "visualquality_r1"
    assert f.kwargs["weights"].endswith("qwen2_5_vl")
    assert f.state_dict and all("lora" in k for k in f.state_dict)  # never the pretrained weights
    g = load_checkpoint(next(work.glob("g/*/seed0/model.pt")))
    assert g.meta["answers"] > 0 and 0 <= g.meta["unparsable"] <= g.meta["answers"]


def test_the_table_note_counts_g_unparsable_answers(built):
    long = pd.read_csv(built / RESULTS / "tables/mds_table2.csv")
    notes = long.loc[long.row == "mds", "note"].dropna()
    assert len(notes) and notes.str.contains("unparsable").all()


def test_student_is_llava_onevision(built):
    from vqaloop.w2s.students import load_student

    path = next((built / "work/tiny_vlm/w2s/students").rglob("*.pt"))
    assert load_student(path).name == "llava_onevision"
