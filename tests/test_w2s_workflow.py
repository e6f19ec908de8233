"""W2S-VQA on the tiny configuration through the real Snakefile: Tables 1 and 5, figures, the pool's hidden
labels never read, and a W2S config edit rerunning only what it changes."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
import pytest
from conftest import copy_build, snakemake
from test_workflow import planned_jobs

pytestmark = [pytest.mark.slow, pytest.mark.workflow]
CONFIG = ["--configfile", "config/tiny.yaml"]


@pytest.fixture(scope="module")
def w2s_built(tiny_build, tmp_path_factory):
    """A copy of the session's tiny build (conftest; W2S-VQA's tables are part of it): these tests edit it."""
    root = copy_build(tiny_build, tmp_path_factory.mktemp("w2s") / "wf")
    out = (lambda p: p.stdout + p.stderr)(snakemake(root, "-n", "w2s_tables", *CONFIG))
    assert "Nothing to be done" in out, out[-2000:]  # the copy is up to date: nothing rebuilt here
    return root


def test_both_tables_have_the_papers_rows_blocks_and_finite_values(w2s_built):
    tables = w2s_built / "results/tiny/tables"
    t1 = pd.read_csv(tables / "w2s_table1.csv")
    teachers = ["minimalisticvqa_ix", "minimalisticvqa_vii", "brisque", "niqe"]
    assert list(t1.row.unique()) == [*teachers, "w2s_i", "w2s_ii", "w2s_iii", "w2s_iv", "w2s_v"]
    assert list(t1.column.unique()) == ["youtube_ugc", "overall_in_domain", "cgvds", "kvq", "overall_ood"]
    assert np.isfinite(t1.value).all() and (t1.value.abs() <= 1).all()
    assert (t1[t1.note == "teacher"].n_seeds == 1).all() and (t1[t1.note != "teacher"].n_seeds == 2).all()
    t5 = pd.read_csv(tables / "w2s_table5.csv")
    assert list(t5.row.unique()) == [*teachers, *(f"{t}_labeled" for t in teachers), "lsvq_labeled"]
    assert np.isfinite(t5.value).all()
    assert t5[t5.note != "teacher"].note.str.startswith("pointwise").all()  # W2S Sec. 3: per-video scores
    scored = {d: len(pd.read_csv(w2s_built / f"work/tiny/w2s/test_sets/{d}.csv")) for d in ("ugc", "cgvds", "aigv")}
    for d, n in scored.items():  # the test splits (w2s.test_sets.<name>.splits: [test]), as before issue 22
        m = pd.read_csv(w2s_built / f"data/tiny/manifests/{d}.csv")
        assert n == (m.split == "test").sum(), d
    side = pd.read_csv(tables / "w2s_table1_vs_paper.csv")
    cell = side[(side.row == "w2s_v") & (side.column == "cgvds") & (side.metric == "srcc")]
    assert cell.paper.iloc[0] == pytest.approx(0.799)  # the published (V) on CGVDS, beside ours
    wide = pd.read_csv(tables / "w2s_table5_wide.csv")
    assert list(wide.columns)[0] == "row" and "overall_ood" in wide.columns
    for name in ("w2s_teachers_vs_students.png", "w2s_shaping.png"):
        assert (w2s_built / "results/tiny/figures" / name).read_bytes()[:4] == b"\x89PNG"


def test_stage_pairs_are_gmad_and_misclassified_synthetic_only(w2s_built):
    work = w2s_built / "work/tiny/w2s"
    for stage in (2, 3):
        pairs = pd.read_csv(work / f"pairs/stage{stage}/seed0.csv")
        assert set(pairs.kind) <= {"gmad", "synthetic"} and (pairs.kind == "gmad").any()
    shaped = set(pd.read_csv(work / "shaped.csv").video_id)
    gmad = pd.read_csv(work / "pairs/stage2/seed0.csv").query("kind == 'gmad'")
    assert set(gmad["first"]) | set(gmad["second"]) <= shaped  # mined from the shaped pool only


def test_no_w2s_job_reads_the_pools_hidden_labels(w2s_built):
    oracle = w2s_built / "data/tiny/oracle/w2s.csv"
    table = pd.read_csv(oracle)
    table["mos"] = np.random.default_rng(0).uniform(1, 5, len(table))  # scramble the hidden labels
    table.to_csv(oracle, index=False)
    os.utime(oracle)
    out = (lambda p: p.stdout + p.stderr)(snakemake(w2s_built, "-n", "w2s_tables", *CONFIG))
    assert "Nothing to be done" in out, out[-2000:]


def plan_after_edit(root, old: str, new: str) -> str:
    """`snakemake -n w2s_tables` output after replacing ``old`` by ``new`` in the tiny config (restored after)."""
    config = root / "config/tiny.yaml"
    original = config.read_text()
    assert old in original, old
    try:
        config.write_text(original.replace(old, new))
        return (lambda p: p.stdout + p.stderr)(snakemake(root, "-n", "w2s_tables", *CONFIG))
    finally:
        config.write_text(original)


def students_by_rule(out: str) -> dict[str, set[str]]:
    """Planned jobs of `snakemake -n` per rule -> the students they concern (their `student` wildcard)."""
    found: dict[str, set[str]] = {}
    rule = None
    for line in out.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):", line):
            rule = m.group(1)
        elif rule and (m := re.match(r"\s+wildcards:.*\bstudent=(\w+)", line)):
            found.setdefault(rule, set()).add(m.group(1))
    return found


STAGE_RULES = {"w2s_mine", "w2s_student", "w2s_scores", "w2s_table_build", "w2s_tables"}


def test_a_stage_pair_count_edit_reruns_only_the_later_stages(w2s_built):
    out = plan_after_edit(w2s_built, "stage_gmad: 24", "stage_gmad: 20")
    jobs = planned_jobs(out)
    # stages 2 and 3: their mining and their students (each one job for both seeds), then Table 1
    assert jobs.get("w2s_mine") == 2 and jobs.get("w2s_student") == 2 and jobs.get("w2s_scores") == 2, jobs
    assert jobs.get("w2s_table_build") == 1 and "w2s_figure" not in jobs, jobs  # Table 5 has no stage rows
    assert set(jobs) <= STAGE_RULES, jobs
    assert set(re.findall(r"student=(\w+)", out)) == {"w2s_iv", "w2s_v"}


def test_an_anchor_count_edit_rescores_every_pairwise_student_but_retrains_only_the_mined_stages(w2s_built):
    # the anchors score every pairwise student (soft comparison) and the mining (stages IV, V); no stage-1 student
    # retrains; Table 5's pointwise students (W2S Sec. 3, the tiny config's default) score without anchors
    out = plan_after_edit(w2s_built, "anchors: 3", "anchors: 2")
    jobs, students = planned_jobs(out), students_by_rule(out)
    assert jobs.get("w2s_anchors") == 1 and jobs.get("w2s_mine") == 2, jobs
    assert students["w2s_student"] == {"w2s_iv", "w2s_v"}, students
    assert students["w2s_scores"] == {"w2s_i", "w2s_ii", "w2s_iii", "w2s_iv", "w2s_v"}, students
    assert not {"w2s_teacher", "w2s_pairs", "w2s_shape", "w2s_metrics"} & set(jobs), jobs


def test_a_confidence_loss_edit_reruns_only_its_students_and_table1(w2s_built):
    # the confidence loss trains rows III (stage 1), IV and V (stages 2-3, from III); Table 5 has none of them
    out = plan_after_edit(w2s_built, "anchors: 3", "anchors: 3\n  confidence_warmup: 0.2")
    jobs, students = planned_jobs(out), students_by_rule(out)
    assert students["w2s_student"] == {"w2s_iii", "w2s_iv", "w2s_v"}, students
    assert students["w2s_scores"] == {"w2s_iii", "w2s_iv", "w2s_v"}, students
    assert jobs.get("w2s_mine") == 2 and jobs.get("w2s_table_build") == 1 and "w2s_figure" not in jobs, jobs
    assert set(jobs) <= STAGE_RULES, jobs
