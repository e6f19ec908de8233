"""GPUs per job (``vqaloop gpu-run``): the real Snakemake runs GPU jobs on fake devices; locks, not luck, keep
one job per device, and a killed job frees its device."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import BIN, error_line, run_cli

from vqaloop.devices import visible_devices
from vqaloop.errors import UserError

# One GPU job: records when it ran and which device gpu-run gave it (CUDA_VISIBLE_DEVICES), sleeping in between.
SNAKEFILE = textwrap.dedent(
    """
    JOBS = range(6)

    rule all:
        input: expand("out/{i}.txt", i=JOBS)

    rule gpu_job:
        output: "out/{i}.txt"
        resources: gpu=1
        shell:
            "{python} -m vqaloop gpu-run --lock-dir locks -- {python} record.py {output}"
    """
).replace("{python}", sys.executable)
RECORD = textwrap.dedent(
    """
    import os, sys, time
    start = time.time()
    time.sleep(0.8)
    with open(sys.argv[1], "w") as fh:
        fh.write(f"{start} {time.time()} {os.environ['CUDA_VISIBLE_DEVICES']}\\n")
    """
)
FAKE_DEVICES = ("3", "7")  # the parent's CUDA_VISIBLE_DEVICES: jobs must get these ids, one each


def env(**extra) -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1", **extra}


def run_workflow(root, gpus: int) -> list[tuple[float, float, str]]:
    (root / "Snakefile").write_text(SNAKEFILE)
    (root / "record.py").write_text(RECORD)
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "4", "--resources", f"gpu={gpus}", "--scheduler", "greedy"],
        cwd=root, env=env(CUDA_VISIBLE_DEVICES=",".join(FAKE_DEVICES)), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = []
    for path in sorted((root / "out").glob("*.txt")):
        start, end, device = path.read_text().split()
        records.append((float(start), float(end), device))
    assert len(records) == 6
    return records


def most_at_once(records) -> int:
    events = sorted([(s, 1) for s, _, _ in records] + [(e, -1) for _, e, _ in records], key=lambda t: (t[0], t[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def overlaps_on_one_device(records) -> list:
    found = []
    for device in {d for _, _, d in records}:
        spans = sorted((s, e) for s, e, d in records if d == device)
        found += [(device, a, b) for a, b in zip(spans, spans[1:], strict=False) if a[1] > b[0]]
    return found


@pytest.mark.parametrize("gpus", [2, 3])
def test_snakemake_gpu_jobs_get_their_own_device(tmp_path, gpus):
    """gpu=2: Snakemake admits 2 jobs, gpu-run gives them different devices. gpu=3 with 2 devices: Snakemake
    admits 3, so the third job must wait for a lock: still one job per device and never more than 2 at once."""
    records = run_workflow(tmp_path, gpus)
    assert {d for _, _, d in records} == set(FAKE_DEVICES)  # both devices used, and only those
    assert not overlaps_on_one_device(records)
    assert most_at_once(records) == 2  # parallel (both devices busy at some point) but never 3


def test_a_killed_holder_frees_its_device(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-m", "vqaloop", "gpu-run", "--lock-dir", str(tmp_path), "--devices", "0", "--", "sleep", "60"],
        env=env(), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "CUDA_VISIBLE_DEVICES=0" in holder.stderr.readline()  # printed once the lock is held
        busy = run_cli("gpu-run", "--lock-dir", str(tmp_path), "--devices", "0", "--timeout", "0.5", "--", "true")
        assert "no 1 free GPU(s)" in error_line(busy)  # the device is taken while the holder lives
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # the exec'ed command itself: a crash, no cleanup code runs
        holder.wait()
    time.sleep(0.1)
    free = run_cli("gpu-run", "--lock-dir", str(tmp_path), "--devices", "0", "--timeout", "5", "--", "true")
    assert free.returncode == 0, free.stderr


def test_a_gpu_job_without_a_gpu_stops_with_one_line(tmp_path):
    marker = tmp_path / "ran"
    proc = subprocess.run(
        [sys.executable, "-m", "vqaloop", "gpu-run", "--lock-dir", str(tmp_path), "--", "touch", str(marker)],
        env=env(CUDA_VISIBLE_DEVICES=""), capture_output=True, text=True,
    )  # fmt: skip
    assert "no GPU visible to this job" in error_line(proc)
    assert "gpu.enabled: false" in error_line(proc)
    assert not marker.exists()  # the command never started


def test_two_devices_for_one_job_and_none_for_count_zero(tmp_path):
    both = run_cli("gpu-run", "--lock-dir", str(tmp_path), "--devices", "0,1", "--count", "2", "--", "sh", "-c",
                   "echo $CUDA_VISIBLE_DEVICES")  # fmt: skip
    assert both.stdout.strip() == "0,1"
    none = run_cli("gpu-run", "--count", "0", "--", "sh", "-c", "echo [$CUDA_VISIBLE_DEVICES]")
    assert none.stdout.strip() == "[]"
    too_many = run_cli("gpu-run", "--lock-dir", str(tmp_path), "--devices", "0", "--count", "2", "--", "true")
    assert "asks for 2 GPU(s) but only 1" in error_line(too_many)


def test_device_list_precedence():
    assert visible_devices("4,5", {"CUDA_VISIBLE_DEVICES": "0"}) == ["4", "5"]
    assert visible_devices(None, {"CUDA_VISIBLE_DEVICES": "2,GPU-ab12"}) == ["2", "GPU-ab12"]
    assert visible_devices(None, {"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_devices(None, {"CUDA_VISIBLE_DEVICES": "-1"}) == []
    for bad in ("0,,1", "1,1", "0;rm"):
        with pytest.raises(UserError):
            visible_devices(bad, {})
