"""The real Snakefile on the tiny config, in temporary folders: outputs, determinism, partial reruns, resume."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import signal
import stat
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BIN, QUICK_EXIT, TINY_UMASK, copy_workflow, snakemake

from vqaloop.io.manifest import read_manifest

pytestmark = [pytest.mark.slow, pytest.mark.workflow]
CONFIG = ["--configfile", "config/tiny.yaml"]
DATASETS = ("ugc", "cgvds", "aigv", "w2s", "w2s_synth")  # the last two: W2S-VQA's pool and synthetic ladders


UMASK = TINY_UMASK  # the shared build runs under a group-readable umask: every output must follow it


def build(root, *targets, umask=None):
    copy_workflow(root)
    proc = snakemake(root, "--cores", "2", *targets, *CONFIG, umask=umask)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


def digest_tree(root, pattern) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.glob(pattern))}  # fmt: skip


def is_timing(path: str) -> bool:
    """Files that record how long things took (Snakemake benchmarks, logs, render timings)."""
    return path.startswith(("logs/", "results/tiny/benchmarks/")) or path.endswith("timing.json")


def run_files(root) -> dict:
    """SHA-256 of every file a run wrote (data, work, results, logs), by path relative to the workflow root."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for top in ("data", "work", "results/tiny", "logs") for p in sorted((root / top).rglob("*"))
            if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def built(tiny_build):
    return tiny_build  # conftest: one build per session, shared with the Slurm and apptainer tests


def test_outputs_follow_the_contracts(built):
    data = built / "data/tiny"
    summary = pd.read_csv(built / "results/tiny/tables/corpus_summary.csv")
    assert list(summary.dataset) == list(DATASETS)
    for name in DATASETS:
        manifest = read_manifest(data / f"manifests/{name}.csv")  # validates the whole contract
        oracle = pd.read_csv(data / f"oracle/{name}.csv", dtype={"video_id": str})
        labelled = manifest[manifest.split != "pool"]
        assert labelled.mos.between(1, 5).all()
        assert manifest.loc[manifest.split == "pool", "mos"].isna().all()  # the oracle holds pool labels
        assert set(oracle.video_id) == set(manifest.loc[manifest.split == "pool", "video_id"])
        if name != "w2s_synth":  # the ladders are labelled by construction (no VMAF)
            assert oracle.mos.between(1, 5).all()
        for path in manifest.path:
            assert (data / path).is_file()
        row = summary.set_index("dataset").loc[name]
        assert row.videos == len(manifest) and row.contents == manifest.content_id.nunique()
        assert row.n_pool == len(oracle)
    png = built / "results/tiny/figures/contact_sheet.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (built / "logs/tiny/corpus/render_cgvds_shard0.log").exists()
    assert not list(data.rglob("*.tmp*")), "temporary files left behind"


def test_every_output_has_the_mode_the_umask_gives(built):
    """Under umask 027 every file is 0640 and every folder 0750 (mkstemp's 0600 / mkdtemp's 0700 were kept)."""
    wrong = []
    for top in ("data", "work", "results/tiny", "logs"):
        for path in [built / top, *(built / top).rglob("*")]:
            expected = 0o777 & ~UMASK if path.is_dir() else 0o666 & ~UMASK
            if stat.S_IMODE(path.stat().st_mode) != expected:
                wrong.append(f"{path.relative_to(built)} {oct(stat.S_IMODE(path.stat().st_mode))}")
    assert not wrong, wrong[:10]


def test_manifest_and_summary_strings_round_trip_without_quotes(built):
    """Text fields are stored as text (the domain was JSON-quoted: \"\"\"rendered game-like content\"\"\")."""
    config = yaml.safe_load((built / "config/tiny.yaml").read_text())["corpus"]["datasets"]
    summary = pd.read_csv(built / "results/tiny/tables/corpus_summary.csv").set_index("dataset")
    assert {d: summary.loc[d, "domain"] for d in DATASETS} == {d: config[d]["domain"] for d in DATASETS}
    assert {d: summary.loc[d, "analogue"] for d in DATASETS} == {d: config[d]["analogue"] for d in DATASETS}
    for path in [*(built / "data/tiny/manifests").glob("*.csv"), built / "results/tiny/tables/corpus_summary.csv"]:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                quoted = {k: v for k, v in row.items() if v.startswith('"') or v.endswith('"')}
                assert not quoted, (path.name, quoted)
    manifest = read_manifest(built / "data/tiny/manifests/cgvds.csv")
    assert "domain" not in manifest.columns  # a description lives in the summary, not in every row
    assert manifest.sha256.str.fullmatch(r"[0-9a-f]{64}").all()


def test_pristine_versions_score_near_the_top_and_codecs_lower(built):
    manifest = read_manifest(built / "data/tiny/manifests/cgvds.csv")
    oracle = pd.read_csv(built / "data/tiny/oracle/cgvds.csv").set_index("video_id")
    mos = manifest.set_index("video_id").mos.fillna(oracle.mos)
    chains = manifest.set_index("video_id").chain
    assert mos[chains == "pristine"].min() > 4.9
    assert mos[chains.str.contains("h264:4")].max() < mos[chains == "pristine"].min()


def test_second_build_is_byte_identical(built, tmp_path):
    """A clean run in another folder (another clone) gives the same bytes in every file, checkpoints, videos,
    features, catalogue and inventory included; only timing files (benchmarks, logs, timing.json) differ."""
    other = build(tmp_path)
    ours, theirs = run_files(built), run_files(other)
    assert set(ours) == set(theirs)
    compared = [p for p in ours if not is_timing(p)]
    assert len(compared) > 200 and sum(p.endswith("model.pt") for p in compared) >= 20
    assert [p for p in compared if ours[p] != theirs[p]] == []
    for name in ("catalogue.csv", "sources/inventory.csv"):  # no clone's absolute path leaks into them
        text = (other / "data/tiny" / name).read_text()
        assert str(tmp_path) not in text and str(other.resolve()) not in text and "/.cache/" not in text


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's dry-run 'Job stats' table."""
    table = dry_run_output.split("Job stats:", 1)[1]
    return {
        m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M) if m.group(1) != "total"
    }


def test_config_edit_reruns_only_the_affected_dataset(built):
    config = built / "config/tiny.yaml"
    original = config.read_text()
    try:
        config.write_text(
            original.replace("axes: {resize: [0, 2], h264: [2, 4]}", "axes: {resize: [0, 2], h264: [1, 4]}")
        )
        proc = snakemake(built, "-n", *CONFIG)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout + proc.stderr
        jobs = planned_jobs(out)
        assert {k: jobs[k] for k in ("plan", "render", "manifest", "corpus_summary")} == {
            "plan": 1, "render": 2, "manifest": 1, "corpus_summary": 1}, jobs  # fmt: skip
        assert jobs["features"] == 1  # cgvds' one features job (every encoder from one decode)
        # ugc/aigv appear only downstream of cgvds' features (jobs that read every target), never in corpus
        # or feature jobs: those counts are checked above
        assert "train_base" not in jobs and "train_g" not in jobs  # f and g learn from ugc only
    finally:
        config.write_text(original)
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(built, "-n", *CONFIG))


def test_the_source_size_reruns_only_what_depends_on_the_source(built):
    """The source's size is its `versions` (videos per content; issue 21's learning curves): more source videos
    re-plan and re-render the source alone and retrain what learns from it (f, g). Of the other datasets only the
    W2S pool's features rerun: its shaped subset follows the source's histograms (W2S Appendix A.2)."""
    config = built / "config/tiny.yaml"
    original = config.read_text()
    old = "contents: {photo: 4, render: 1}\n      versions: 2\n"
    assert old in original
    try:
        config.write_text(original.replace(old, "contents: {photo: 4, render: 1}\n      versions: 3\n"))
        proc = snakemake(built, "-n", "-p", *CONFIG)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout + proc.stderr
        jobs = planned_jobs(out)
    finally:
        config.write_text(original)
    assert {k: jobs[k] for k in ("plan", "render", "manifest", "features")} == {
        "plan": 1, "render": 2, "manifest": 1, "features": 2}, jobs  # fmt: skip
    assert set(re.findall(r"plans/(\w+)\.csv", out)) == {"ugc"}
    assert set(re.findall(r"--manifest data/tiny/manifests/(\w+)\.csv --data-root", out)) == {"ugc", "w2s"}
    assert jobs["train_base"] >= 1 and jobs["train_g"] >= 1


def dry_run_jobs(root, *args) -> dict[str, int]:
    """Planned jobs by rule of a dry run ({} when nothing is to be done)."""
    proc = snakemake(root, "-n", *CONFIG, *args)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-2000:]
    return {} if "Nothing to be done" in out else planned_jobs(out)


# edit of config/tiny.yaml -> the jobs it must rerun (rule: count); 'all' and 'total' are not listed
EDITS = {
    "a description": (("domain: rendered game-like content", "domain: rendered game-like content, edited"),
                      {"corpus_summary": 1}),
    "a label": (("analogue: CGVDS\n", "analogue: CGVDS-like\n"), {"corpus_summary": 1}),
    "the order of the seeds": (("seeds: [0, 1]", "seeds: [1, 0]"), {}),
    "a batch size": (("batch: 32", "batch: 16"), {}),
    "the threads per job": (("threads: 1\n", "threads: 2\n"), {}),
    "the order of the methods": (("methods: [random, coreset, mc_dropout, mds, mds_oof]",
                                  "methods: [coreset, random, mc_dropout, mds, mds_oof]"),
                                 {"mds_table_build": 2, "mds_table4_build": 1, "mds_methods_figure": 1,
                                  "claims": 1}),
}  # fmt: skip


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edit_reruns_only_what_prints_it(built, edit):
    """A description or a label reruns the summary that prints it; an order that shows nowhere and a
    performance knob rerun nothing; the methods' order reruns the tables whose rows follow it (Tables 2, 3, 4)
    and the figure drawn from them, and the claims read from those tables."""
    (old, new), expected = EDITS[edit]
    config = built / "config/tiny.yaml"
    original = config.read_text()
    assert old in original
    try:
        config.write_text(original.replace(old, new))
        jobs = dry_run_jobs(built)
    finally:
        config.write_text(original)
    assert {k: v for k, v in jobs.items() if k not in ("all", "total")} == expected


def test_lambda_edit_reruns_only_that_lambdas_jobs(built):
    config = built / "config/tiny.yaml"
    original = config.read_text()
    try:
        config.write_text(original.replace("lambdas: [0, 0.25]", "lambdas: [0.1, 0.25]"))
        out = (lambda p: p.stdout + p.stderr)(snakemake(built, "-n", *CONFIG))
        jobs = planned_jobs(out)
        # the new variant's selections and reveals (2 seeds x 2 targets, one job each) and fine-tunes, then the
        # tables
        assert {k: jobs.get(k) for k in ("select", "reveal", "finetune")} == {
            "select": 1, "reveal": 1, "finetune": 1}, jobs  # fmt: skip
        for rule in ("features", "train_base", "train_g", "difficulty", "render", "score_base"):
            assert rule not in jobs, rule
        assert set(re.findall(r"variant=(\S+)", out)) == {"mds_ranking_r4_efficientnet_lite0_lam0.1"}
    finally:
        config.write_text(original)


def test_tables_have_the_papers_rows_and_seed_intervals(built):
    tables = built / "results/tiny/tables"
    t2 = pd.read_csv(tables / "mds_table2.csv")
    assert list(t2.row.unique()) == ["base_model", "random", "coreset", "mc_dropout", "mds", "mds_oof"]
    assert "out-of-fold" in t2[t2.row == "mds_oof"].note.iloc[0]
    assert set(t2.column) == {"cgvds", "aigvqa_db", "mean"} and set(t2.metric) == {"srcc", "plcc"}
    assert (t2[t2.row != "base_model"].n_seeds == 2).all() and (t2[t2.row == "base_model"].n_seeds == 1).all()
    t7 = pd.read_csv(tables / "mds_table7.csv")
    clip = t7[t7.row == "clip"]
    assert clip.value.isna().all() and (clip.note == "unavailable: no weights").all()
    t3_wide = pd.read_csv(tables / "mds_table3_wide.csv")
    assert list(t3_wide.columns) == ["row", "youtube_ugc", "cgvds", "aigvqa_db", "mean"]
    side = pd.read_csv(tables / "mds_table2_vs_paper.csv")
    mds_cgvds = side[(side.row == "mds") & (side.column == "cgvds") & (side.metric == "srcc")]
    assert mds_cgvds.paper.iloc[0] == pytest.approx(0.162)
    for name in ("mds_failure_scatter.png", "mds_lambda_tradeoff.png"):
        assert (built / "results/tiny/figures" / name).read_bytes()[:4] == b"\x89PNG"


def test_one_table_target_builds_only_what_it_needs(tmp_path):
    copy_workflow(tmp_path)
    jobs = planned_jobs((lambda p: p.stdout + p.stderr)(snakemake(tmp_path, "-n", "mds_table8", *CONFIG)))
    assert jobs["train_g"] == 1 and jobs["difficulty"] == 1  # rank 4 (both seeds): no classification/regression g
    assert jobs["finetune"] == 1 and "mds_figures" not in jobs and "corpus_summary" not in jobs
    assert "gmad_competition" not in jobs  # gMAD is Table 4's, not Table 8's


def test_interrupted_run_resumes_to_the_same_files(built, tmp_path):
    copy_workflow(tmp_path)
    env_path = f"{BIN}:" + __import__("os").environ["PATH"]
    proc = subprocess.Popen([str(BIN / "snakemake"), "--cores", "2", "corpus", *CONFIG, *QUICK_EXIT], cwd=tmp_path,
                            env={**__import__("os").environ, "PATH": env_path},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    in_flight = []
    while time.time() < deadline and not in_flight:
        in_flight = list((tmp_path / "data/tiny").glob("*/.shard*.tmpdir"))  # a render job writing its shard
        time.sleep(0.05)
    assert in_flight, "no render job was running within 120 s: the signal would interrupt nothing"
    proc.send_signal(signal.SIGINT)  # SIGINT is how Snakemake is stopped cleanly (SIGTERM can hang it)
    proc.wait(timeout=120)
    interrupted = [p.name.split(".")[1] for p in in_flight]  # .shard<k>.<random>.tmpdir -> shard<k>
    for shard in (tmp_path / "data/tiny").glob("*/shard*"):
        assert (shard / "labels.csv").exists(), f"{shard} looks finished but is incomplete"
    # the job in flight either finished before the signal reached it (its temporary folder renamed: a complete shard,
    # checked above) or left no finished-looking shard; never both a shard and its unfinished temporary folder
    assert not ((in_flight[0].parent / interrupted[0]).exists() and in_flight[0].exists())
    resumed = snakemake(tmp_path, "--cores", "2", "--rerun-incomplete", "corpus", *CONFIG)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "rule render:" in resumed.stdout + resumed.stderr  # the resumed run rendered what was interrupted
    for pattern in ("data/tiny/manifests/*.csv", "data/tiny/oracle/*.csv"):
        assert digest_tree(tmp_path, pattern) == digest_tree(built, pattern)
    summary = pd.read_csv(tmp_path / "results/tiny/tables/corpus_summary.csv").set_index("dataset")
    assert np.isfinite(summary.drop("w2s_synth").mos_mean).all()  # the ladders are labelled by construction
    assert summary.equals(pd.read_csv(built / "results/tiny/tables/corpus_summary.csv").set_index("dataset"))


ALT_BASE_CONFIG = """\
mds:
  alternative_bases:
    transformer_tokens:
      paper_key: modularbvqa
      training:
        base: {epochs: 3, lr: 0.001, batch: 4, hidden: 16}
        g: {epochs: 2, lr: 0.002, batch: 4}
        finetune: {epochs: 1, lr: 0.0005, batch: 4, full: true}
"""


def test_table9_adds_an_alternative_base_without_rerunning_the_default(built, tmp_path):
    shutil.copytree(built, tmp_path / "wf", symlinks=True)  # copy2 keeps mtimes: nothing is out of date
    root = tmp_path / "wf"
    (root / "config/alt.yaml").write_text(ALT_BASE_CONFIG)
    args = ("mds_table9", "--configfile", "config/tiny.yaml", "config/alt.yaml")
    jobs = planned_jobs((lambda p: p.stdout + p.stderr)(snakemake(root, "-n", *args)))
    # only the new base model's f, g, model-based selections and fine-tunes; shared selections are reused
    assert jobs["train_base"] == 1 and "features" not in jobs and "render" not in jobs
    assert jobs["train_g"] == 2 and jobs["oof_errors"] == 1  # g on in-sample and on out-of-fold errors (both seeds)
    proc = snakemake(root, "--cores", "2", *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    t9 = pd.read_csv(root / "results/tiny/tables/mds_table9.csv")
    rows = [f"modularbvqa/{m}" for m in ("base_model", "random", "coreset", "mc_dropout", "mds", "mds_oof")]
    assert list(t9.row.unique()) == rows
    assert set(t9.column) == {"failure_identification", "active_finetuning"}
    assert np.isfinite(t9.value).all() and (t9.value.abs() <= 1).all()
    assert (t9[t9.row != "modularbvqa/base_model"].n_seeds == 2).all()
    side = pd.read_csv(root / "results/tiny/tables/mds_table9_vs_paper.csv")
    assert side[~side.row.str.endswith("mds_oof")].paper.notna().all()  # mds_oof is not in the paper


def test_a_killed_render_leaves_no_temporary_folder_after_the_next_run(built, tmp_path):
    """SIGKILL to Snakemake and its jobs mid-render (a power cut): the lock stays (snakemake --unlock, README
    "After an interruption") and the shard's .tmpdir with partial videos stays; the next run of the job removes it."""
    copy_workflow(tmp_path)
    shutil.copytree(built / "data/tiny/plans", tmp_path / "data/tiny/plans")  # only the render is left to run
    for name in ("catalogue.csv", "sources"):
        src = built / "data/tiny" / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / "data/tiny" / name)
    target = "data/tiny/cgvds/shard0"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(BIN / "snakemake"), "--cores", "1", target, *CONFIG, *QUICK_EXIT], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    partial = []
    while time.time() < deadline and not partial:
        partial = list((tmp_path / "data/tiny/cgvds").glob(".shard0.*.tmpdir/videos/*.mp4"))
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert partial, "the render never started"
    assert list((tmp_path / "data/tiny/cgvds").glob(".shard0.*.tmpdir")), "nothing left to clean up"
    locked = snakemake(tmp_path, "--cores", "1", target, *CONFIG)
    assert locked.returncode != 0 and "unlock" in (locked.stdout + locked.stderr).lower()
    assert snakemake(tmp_path, "--unlock", *CONFIG).returncode == 0
    resumed = snakemake(tmp_path, "--cores", "1", target, *CONFIG)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not [p for p in (tmp_path / "data").rglob("*") if ".tmp" in p.name or p.name == ".scratch"]
    assert digest_tree(tmp_path, f"{target}/videos/*.mp4") == digest_tree(built, f"{target}/videos/*.mp4")
