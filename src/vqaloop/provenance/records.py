"""``vqaloop record-job``: the SHA-256 of every file a workflow job wrote, one JSON record per job.

Every rule's shell ends with this command (``recorded()`` in ``rules/common.smk``), so a run leaves
``results/<run>/checksums/<job>.json`` beside its tables, where ``<job>`` is the job's log path below
``logs/<run>/`` without ``.log`` (unique per job). A record holds the job's inputs (which give
``vqaloop compare-runs`` the DAG order), every output file's SHA-256 (a folder output is expanded into its
files) and the CPU-dispatch settings the job ran under (``vqaloop.dispatch``). It holds no time, host or
path outside the working folder, so two runs that computed the same bits write byte-identical records.

Timing files are left out: a render shard's ``timing.json`` (wall-clock seconds), and temporaries of the
atomic writers. Logs and Snakemake benchmarks are not outputs, so they are never recorded.

The module imports nothing heavy (no numpy, no torch): it runs once per job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from vqaloop.errors import UserError

RECORD_FORMAT = 1
TIMING_FILES = frozenset({"timing.json"})
TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp")  # vqaloop.io.atomic's temporary names
CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_files(path: Path) -> list[Path]:
    """The files an output stands for: itself, or every file below a folder (sorted), timing files and
    temporaries left out."""
    if path.is_file():
        return [] if path.name in TIMING_FILES else [path]
    if not path.is_dir():
        raise UserError(f"{path}: output not found (record-job runs after the job has written its outputs)")
    files = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not TEMPORARY.match(d))
        files += [Path(dirpath) / f for f in sorted(filenames) if f not in TIMING_FILES and not TEMPORARY.match(f)]
    return files


def output_checksums(outputs: list[str]) -> dict[str, str]:
    """Relative file path -> SHA-256 for every file of every output (paths as the workflow names them)."""
    checksums = {}
    for output in outputs:
        for file in recorded_files(Path(output)):
            checksums[file.as_posix()] = sha256_file(file)
    return dict(sorted(checksums.items()))


def job_key(log: str, logs_root: str) -> str:
    """The job's name in the record folder: its log path below ``logs_root``, without ``.log``."""
    rel = os.path.relpath(log, logs_root)
    if rel.startswith(".."):
        raise UserError(f"--log {log}: not below --logs-root {logs_root}")
    return rel[: -len(".log")] if rel.endswith(".log") else rel


def make_record(job: str, inputs: list[str], outputs: list[str], records_dir: str) -> dict:
    """The record of one finished job (see the module docstring)."""
    from vqaloop.dispatch import dispatch_settings

    return {
        "format": RECORD_FORMAT,
        "job": job,
        "records_dir": Path(records_dir).as_posix(),
        "inputs": sorted(dict.fromkeys(Path(p).as_posix() for p in inputs)),
        "declared_outputs": sorted(dict.fromkeys(Path(p).as_posix() for p in outputs)),
        "outputs": output_checksums(outputs),
        "dispatch": dispatch_settings(),
    }


def record_path(records_dir: str | os.PathLike, job: str) -> Path:
    return Path(records_dir) / f"{job}.json"


def add_arguments(parser) -> None:
    from vqaloop.cli_checks import cache_dir

    parser.add_argument("--log", required=True, help="the job's log file: names the record")
    parser.add_argument("--logs-root", required=True, help="the run's log folder (logs/<run>)")
    parser.add_argument(
        "--into", required=True, type=cache_dir, help="the run's record folder (results/<run>/checksums)"
    )
    parser.add_argument("--inputs", nargs="*", default=[], help="the job's input files")
    parser.add_argument("--outputs", nargs="+", required=True, help="the job's output files and folders")


def run(args) -> int:
    from vqaloop.io.atomic import write_text_atomic

    job = job_key(args.log, args.logs_root)
    record = make_record(job, args.inputs, args.outputs, args.into)
    write_text_atomic(record_path(args.into, job), json.dumps(record, indent=1, sort_keys=True) + "\n")
    return 0
