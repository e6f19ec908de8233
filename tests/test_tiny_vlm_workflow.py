"""The paper-scale rules end to end on tiny vision-language models (config/tiny_vlm.yaml): a real Snakemake run
of both papers' DAGs where f, g and fine-tuning are a random-weight Qwen2.5-VL through the VisualQuality-R1 code
(GRPO) and the W2S student is a random-weight LLaVA-OneVision. The numbers mean nothing (random weights); the
test proves the paper-scale path runs, writes every table and keeps its contracts."""

from __future__ import annotations

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


def test_every_table_of_both_papers_is_written(built):
    tables = built / RESULTS / "tables"
    for name in ("mds_table2", "mds_table3", "mds_table5", "mds_table6", "mds_table7", "mds_table8", "w2s_table1",
                 "w2s_table5"):  # fmt: skip
        long = pd.read_csv(tables / f"{name}.csv")
        assert len(long) > 0, name
    assert (tables / "claims.csv").is_file()


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
