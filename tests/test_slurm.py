"""profiles/slurm on a real single-node Slurm (scripts/install-slurm.sh + scripts/start-slurm.sh, loopback, two fake
GPUs): the tiny workflow gives the local run's files, GPU jobs get their GPUs, a missing partition stops the run
before any job is submitted. vqaloop.cluster's partition check is also tested on its own (fast)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BIN, REPO, copy_build, copy_workflow
from test_workflow import is_timing, run_files

from vqaloop.cluster import check_slurm_profile, slurm_gpu_model
from vqaloop.errors import UserError

CONFIG = ["--configfile", "config/tiny.yaml"]
PROFILE = ["--profile", "profiles/slurm"]
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "1"]  # the plugin's 40 s suits a busy cluster
PARTITION = "local"  # scripts/start-slurm.sh's one partition
UNSET = "'$VQALOOP_SLURM_PARTITION'"  # profiles/slurm's default-resources entry, as written


# --- the partition check alone (no Slurm needed) ---------------------------------------------------------------


def test_a_partition_from_the_environment_passes():
    check_slurm_profile({"slurm_partition": UNSET}, env={"VQALOOP_SLURM_PARTITION": "gpu-a100"})
    check_slurm_profile({"slurm_partition": "gpu"}, env={})
    check_slurm_profile({}, partition_config="partitions.yaml", env={})  # the plugin picks partitions itself


@pytest.mark.parametrize(
    ("default", "set_resources", "says"),
    [
        ({"slurm_partition": UNSET}, {}, "reads slurm_partition from $VQALOOP_SLURM_PARTITION, which is not set"),
        ({"slurm_partition": "''"}, {}, "sets an empty slurm_partition"),
        ({"mem_mb": 1000}, {}, "sets no slurm_partition"),
        ({"slurm_partition": "gpu"}, {"finetune": {"slurm_partition": "'${GPU_PART}'"}}, "rule finetune"),
    ],
)
def test_a_profile_without_a_partition_names_what_to_set(default, set_resources, says):
    with pytest.raises(UserError) as err:
        check_slurm_profile(default, set_resources, env={})
    message = str(err.value)
    assert says in message and "export VQALOOP_SLURM_PARTITION=" in message and "\n" not in message


def test_gpu_model_comes_from_the_environment():
    assert slurm_gpu_model({}) == "" and slurm_gpu_model({"VQALOOP_SLURM_GPU_MODEL": "a100"}) == "a100"
    with pytest.raises(UserError, match="VQALOOP_SLURM_GPU_MODEL"):
        slurm_gpu_model({"VQALOOP_SLURM_GPU_MODEL": "'a100'"})  # the plugin refuses a quoted model


# --- a real cluster ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A running private cluster: {"env": the environment Slurm commands need, "dir": its folder, "timings": {}}.
    Its daemons are stopped (and its folder removed) when the module's tests end."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    started = time.perf_counter()
    install = subprocess.run([str(REPO / "scripts/install-slurm.sh")], capture_output=True, text=True, check=False)
    if install.returncode != 0:
        pytest.skip(f"Slurm cannot be installed here: {tail(install.stderr, 1)}")
    timings = {"install_s": time.perf_counter() - started}
    folder = tmp_path_factory.mktemp("slurm") / "cluster"
    ports = {"SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
    env = {**os.environ, **ports, "PATH": f"{BIN}:{os.environ['PATH']}:/usr/sbin", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    start = subprocess.run([str(REPO / "scripts/start-slurm.sh"), "start", str(folder)], env=env,
                           capture_output=True, text=True, check=False)  # fmt: skip
    timings["start_s"] = time.perf_counter() - started
    try:
        if start.returncode != 0:
            pytest.skip(f"Slurm cannot start here: {tail(start.stderr, 1)}")
        assert start.stdout.strip() == f"export SLURM_CONF={folder}/slurm.conf"
        env = {**env, "SLURM_CONF": str(folder / "slurm.conf"), "VQALOOP_SLURM_PARTITION": PARTITION}
        yield {"env": env, "dir": folder, "timings": timings}
    finally:
        stop = subprocess.run([str(REPO / "scripts/start-slurm.sh"), "stop", str(folder)], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        print(f"slurm timings: {timings}", file=sys.stderr)
        assert stop.returncode == 0, stop.stderr
        assert not folder.exists()


def on_slurm(root: Path, env: dict, *args: str, timeout: int = 3000) -> subprocess.CompletedProcess:
    """snakemake with profiles/slurm in ``root``; killed with SIGKILL at ``timeout`` (SIGTERM waits for the jobs)."""
    return subprocess.run([str(BIN / "snakemake"), *PROFILE, *FAST_POLLING, *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


def finished_jobs(cluster: Path) -> list[str]:
    """The jobs Slurm ran to the end (jobcomp/filetxt writes one line per job), as 'JobId=.. JobState=..'."""
    path = cluster / "log/jobcomp.txt"
    return path.read_text().splitlines() if path.exists() else []


# Every job of the tiny DAG from train_g on (g, difficulty, MDS-VQA selections, reveal, fine-tuning, tables,
# claims): a whole Slurm run of all 112 jobs takes 30 min on the 2-core machine (each job starts Snakemake twice:
# the batch job and its srun step), too long for CI; by hand it gave the local run's files, all 38 tables equal.
FORCED = ["--forcerun", "train_g"]


@pytest.mark.slow
@pytest.mark.workflow
def test_the_tiny_workflow_on_slurm_writes_the_local_runs_files(slurm, tiny_build, tmp_path):
    cluster = copy_build(tiny_build, tmp_path / "slurm")
    before = len(finished_jobs(slurm["dir"]))
    started = time.perf_counter()
    proc = on_slurm(cluster, slurm["env"], *CONFIG, *FORCED)
    slurm["timings"]["slurm_workflow_s"] = time.perf_counter() - started
    assert proc.returncode == 0, tail(proc.stderr, 60)
    jobs = finished_jobs(slurm["dir"])[before:]
    ran = proc.stderr.count("Finished jobid")  # every job Snakemake ran, the local 'all' included
    assert len(jobs) >= ran - 1 > 15, (len(jobs), ran)  # the jobs went through sbatch, not a local fallback
    assert all("JobState=COMPLETED" in line and "Partition=local" in line for line in jobs), jobs[:3]
    ours, theirs = run_files(tiny_build), run_files(cluster)
    assert set(ours) == set(theirs)
    tables = [p for p in ours if p.startswith("results/tiny/tables/")]
    assert len(tables) > 20
    assert [p for p in tables if ours[p] != theirs[p]] == []
    assert [p for p in ours if not is_timing(p) and ours[p] != theirs[p]] == []  # models, selections too


# the onstart handler is the one rules/common.smk has (the check in the same words)
GPU_SNAKEFILE = """\
import sys
from vqaloop.cluster import check_slurm_workflow, slurm_gpu_model
from vqaloop.errors import UserError

onstart:
    try:
        check_slurm_workflow(workflow)
    except UserError as err:
        sys.stderr.write(f"vqaloop: error: {err}\\n")
        sys.exit(2)

rule all:
    input: "one_gpu.txt", "two_typed_gpus.txt", "cpu.txt"

rule one_gpu:
    output: "one_gpu.txt"
    resources: gpu=1
    shell: "echo ${{CUDA_VISIBLE_DEVICES-unset}} > {output}"

rule two_typed_gpus:
    output: "two_typed_gpus.txt"
    resources: gpu=2, gpu_model=slurm_gpu_model()
    shell: "echo ${{CUDA_VISIBLE_DEVICES-unset}} > {output}"

rule cpu:
    output: "cpu.txt"
    resources: gpu=0, gpu_model=""
    shell: "echo ${{CUDA_VISIBLE_DEVICES-unset}} > {output}"
"""


def gpu_workflow(root: Path) -> Path:
    (root / "Snakefile").write_text(GPU_SNAKEFILE)
    shutil.copytree(REPO / "profiles", root / "profiles")
    return root


@pytest.mark.slow
def test_gpu_jobs_get_the_gpus_they_ask_for(slurm, tmp_path):
    """gpu=1 -> sbatch --gpus=1, gpu=2 with gpu_model -> --gpus=tiny:2: Slurm hands out that many of the node's two
    GPUs (CUDA_VISIBLE_DEVICES); a CPU job gets none."""
    root = gpu_workflow(tmp_path)
    proc = on_slurm(root, {**slurm["env"], "VQALOOP_SLURM_GPU_MODEL": "tiny"}, timeout=600)
    assert proc.returncode == 0, tail(proc.stderr, 60)
    seen = {name: (root / f"{name}.txt").read_text().strip() for name in ("one_gpu", "two_typed_gpus", "cpu")}
    assert seen == {"one_gpu": "0", "two_typed_gpus": "0,1", "cpu": "unset"}


@pytest.mark.slow
def test_a_gpu_model_the_cluster_lacks_is_refused_by_slurm(slurm, tmp_path):
    """The model reaches sbatch (--gpus=a100:2 on a node with only 'tiny' GPUs fails at submission)."""
    root = gpu_workflow(tmp_path)
    proc = on_slurm(root, {**slurm["env"], "VQALOOP_SLURM_GPU_MODEL": "a100"}, "two_typed_gpus.txt", timeout=600)
    assert proc.returncode != 0 and not (root / "two_typed_gpus.txt").exists()
    assert "Invalid generic resource" in proc.stderr or "Requested node configuration" in proc.stderr, tail(proc.stderr)


def without_partition(env: dict) -> dict:
    return {k: v for k, v in env.items() if k != "VQALOOP_SLURM_PARTITION"}


@pytest.mark.slow
def test_no_partition_stops_before_any_job_is_submitted(slurm, tmp_path):
    root = gpu_workflow(tmp_path)
    before = len(finished_jobs(slurm["dir"]))
    proc = on_slurm(root, without_partition(slurm["env"]), timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, tail(proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        "vqaloop: error: Slurm profile: default-resources reads slurm_partition from $VQALOOP_SLURM_PARTITION,"
        " which is not set: export VQALOOP_SLURM_PARTITION=<partition> (sinfo -s lists them) before snakemake"
        " --profile profiles/slurm, or set default-resources: slurm_partition in the profile"
    ]
    squeue = subprocess.run(["squeue", "-h", "-t", "all"], env=slurm["env"], capture_output=True, text=True)
    # nothing queued, running or finished since: no job reached sbatch (either half alone would miss one state)
    assert squeue.stdout.strip() == "" and len(finished_jobs(slurm["dir"])) == before, squeue.stdout
    assert not list(root.glob("*.txt")) and not (root / ".snakemake/slurm_logs").exists()


@pytest.mark.slow
@pytest.mark.workflow
def test_the_real_workflow_checks_the_partition_before_any_job(tmp_path):
    """rules/common.smk runs vqaloop.cluster's check when the run starts: no cluster is contacted before it."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    root = copy_workflow(tmp_path)
    env = {**without_partition(os.environ), "PATH": f"{BIN}:{os.environ['PATH']}", "SLURM_CONF": "/nonexistent"}
    proc = subprocess.run([str(BIN / "snakemake"), *PROFILE, *CONFIG], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, tail(proc.stderr)
    assert proc.stderr.strip().splitlines()[-1].startswith("vqaloop: error: Slurm profile: default-resources reads")
    assert not (root / "data").exists() and not (root / ".snakemake/slurm_logs").exists()
