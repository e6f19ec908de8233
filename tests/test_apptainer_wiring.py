"""Apptainer WIRING test (no real container: no apptainer binary is obtainable here, ENVIRONMENT.md).

A stand-in ``apptainer`` on PATH records its arguments and runs the command on the host. The tiny workflow runs
with the apptainer profile (``--use-apptainer``, ``--apptainer-args="--nv"``), GPUs enabled on two fake devices
and ``container.image`` set. Checked: exactly the GPU jobs went through apptainer, each with ``--nv`` and the
configured image, each through ``vqaloop gpu-run`` with one device; no CPU job did. What this does NOT prove:
that the image itself works or that a GPU is used inside it (docs: the image is tested by test_container_image).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import BIN, REPO, copy_build, copy_workflow

# The GPU rules, written out here independently of rules/common.smk: the rules that run a base model, g,
# fine-tuning or a W2S student. select and w2s_teacher only for the wildcards that run a model.
GPU_RULES = {"train_base", "oof_errors", "score_base", "base_features", "train_g", "difficulty", "select",
             "finetune", "w2s_teacher", "w2s_mine", "w2s_student", "w2s_scores"}  # fmt: skip
MODEL_SELECTIONS = ("--method mc_dropout", "--method noise_stability")

STAND_IN = textwrap.dedent(
    """\
    #!{python}
    # Stand-in apptainer: records its arguments, then runs the command of `exec` on the host.
    import json, os, sys
    args = sys.argv[1:]
    if args == ["--version"]:
        print("apptainer version 1.3.4")
        sys.exit(0)
    with open(os.environ["APPTAINER_RECORD"], "a") as fh:
        fh.write(json.dumps(args) + "\\n")
    assert args[0] == "exec", args
    rest, WITH_VALUE = args[1:], {{"--home", "--bind", "-B", "--pwd", "--env"}}
    while rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in WITH_VALUE else rest[1:]
    image, command = rest[0], rest[1:]
    os.execvp(command[0], command)
    """
).format(python=sys.executable)


def runs_on_gpu(rule: str, shellcmd: str) -> bool:
    if rule not in GPU_RULES:
        return False
    if rule == "select":
        return any(m in shellcmd for m in MODEL_SELECTIONS)
    if rule == "w2s_teacher":
        return "--kind base_model" in shellcmd
    return True


def executed_jobs(root, since: float = 0.0) -> dict[str, str]:
    """shell command -> rule of every job executed from ``since`` on (Snakemake's metadata records, one per
    output)."""
    jobs = {}
    for path in (root / ".snakemake/metadata").iterdir():
        record = json.loads(path.read_text())
        if record.get("shellcmd") and (record.get("starttime") or 0) >= since:
            jobs[record["shellcmd"]] = record["rule"]
    return jobs


@pytest.mark.slow
@pytest.mark.workflow
def test_exactly_the_gpu_rules_run_in_the_image_with_nv(tiny_build, tmp_path):
    # A copy of the session's tiny build: enabling GPUs changes every GPU rule's shell command (gpu-run), so those
    # jobs and everything after them run again; the corpus and features (CPU rules) are up to date and do not.
    root = copy_build(tiny_build, tmp_path / "wf")
    started = time.time()
    image = tmp_path / "vqaloop.sif"
    image.write_bytes(b"stand-in image")
    (root / "gpu.yaml").write_text(f"gpu: {{enabled: true}}\ncontainer: {{image: {image}}}\n")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "apptainer").write_text(STAND_IN)
    (fake_bin / "apptainer").chmod(0o755 | stat.S_IEXEC)
    record = tmp_path / "apptainer.jsonl"
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "0,1", "APPTAINER_RECORD": str(record)}  # fmt: skip
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--profile", "profiles/apptainer", "--cores", "2", "--resources", "gpu=2",
         "--configfile", "config/tiny.yaml", "gpu.yaml"],
        cwd=root, env=env, capture_output=True, text=True, timeout=2400,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert calls and all(c[0] == "exec" and "--nv" in c and str(image) in c for c in calls)
    inside = [c[-1] for c in calls]  # bash -c '<the job's shell command>'
    jobs = executed_jobs(root, since=started)
    gpu_jobs = {cmd: rule for cmd, rule in jobs.items() if runs_on_gpu(rule, cmd)}
    cpu_jobs = {cmd: rule for cmd, rule in jobs.items() if cmd not in gpu_jobs}
    assert {"train_base", "train_g", "finetune", "select", "w2s_teacher", "w2s_student"} <= set(gpu_jobs.values())
    assert {"select", "w2s_teacher", "reveal", "mds_table_build"} <= set(cpu_jobs.values())
    assert len(calls) == len(gpu_jobs)  # one apptainer call per GPU job, none for a CPU job
    for cmd, rule in gpu_jobs.items():
        assert sum(cmd in c for c in inside) == 1, (rule, cmd[:200])
        pinned = cmd.removeprefix("export VQALOOP_DISPATCH=portable; ")  # recorded(): every job's dispatch pin
        assert pinned.startswith("python -m vqaloop gpu-run --count 1 "), (rule, cmd[:200])
    for cmd, rule in cpu_jobs.items():
        assert not any(cmd in c for c in inside), (rule, cmd[:200])
        assert "gpu-run" not in cmd or "gpu-run --count 0 " in cmd, (rule, cmd[:200])  # 0: GPUs hidden
    # every GPU job's log names the one fake device gpu-run gave it
    logs = [shlex.split(cmd.split(" > ")[-1])[0] for cmd in gpu_jobs]
    devices = [(root / log).read_text().split("CUDA_VISIBLE_DEVICES=")[1].split()[0] for log in logs]
    assert set(devices) <= {"0", "1"}, devices


def rule_blocks() -> dict[str, str]:
    """rule name -> its text, over rules/*.smk."""
    blocks = {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):$", path.read_text(), flags=re.MULTILINE)
        blocks.update(zip(parts[1::2], parts[2::2], strict=True))
    return blocks


def test_gpu_rules_list_matches_the_rules_that_are_wired():
    """GPU_RULES (rules/common.smk) = this file's list = the rules with gpu resources, container and gpu-run."""
    common = (REPO / "rules/common.smk").read_text()
    listed = set(ast.literal_eval(re.search(r"^GPU_RULES = (\(.*?\))", common, re.MULTILINE | re.DOTALL)[1]))
    assert listed == GPU_RULES
    wired = {name for name, text in rule_blocks().items()
             if "gpu=gpus(" in text and "gpu_container(" in text and "gpu_shell(" in text}  # fmt: skip
    touched = {name for name, text in rule_blocks().items() if re.search(r"gpus\(|gpu_container\(|gpu_shell\(", text)}
    assert wired == touched == GPU_RULES


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no apptainer", "no apptainer or singularity executable on PATH"),
        ("no image key", "config key container.image is not set"),
        ("missing image", "config key container.image: no such image file"),
    ],
)
def test_use_singularity_stops_before_any_job_with_one_line(tmp_path, case, expected):
    (tmp_path / "wf").mkdir()
    root = copy_workflow(tmp_path / "wf")
    image = (
        ""
        if case == "no image key"
        else f"container: {{image: {tmp_path / 'absent.sif' if case == 'missing image' else root / 'Snakefile'}}}"
    )
    (root / "gpu.yaml").write_text(f"gpu: {{enabled: true}}\n{image}\n")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    if case != "no apptainer":
        (fake_bin / "apptainer").write_text(STAND_IN)
        (fake_bin / "apptainer").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{BIN}{os.pathsep}/usr/bin:/bin"}
    proc = subprocess.run(
        [str(BIN / "snakemake"), "-n", "--use-singularity", "--configfile", "config/tiny.yaml", "gpu.yaml"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("vqaloop: error: ")]
    assert len(errors) == 1 and expected in errors[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not (root / "data").exists()
