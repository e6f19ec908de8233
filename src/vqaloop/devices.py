"""GPUs per workflow job: each GPU job holds its own device(s) while it runs (``vqaloop gpu-run``).

Snakemake enforces ``--resources gpu=N`` (at most N GPU jobs at once) but does not say WHICH device a job may
use: it sets no ``CUDA_VISIBLE_DEVICES`` per job (ENVIRONMENT.md "Snakemake 9.27"). Here every device has a
lock file ``<lock_dir>/<host>/gpu<id>.lock``; a job takes an exclusive ``fcntl.flock`` on free ones, runs with
``CUDA_VISIBLE_DEVICES`` set to them, and the kernel releases the locks when the process holding them ends,
normally or not (a killed job frees its device; no stale lock to clean up). ``gpu-run`` replaces itself with
the command (``exec``) and hands the lock descriptors down, so the locks live exactly as long as the command.

The devices to share: ``--devices`` (e.g. ``0,1``; fake devices in tests), else the parent's
``CUDA_VISIBLE_DEVICES`` (a Slurm allocation, a user's choice; empty means none), else ``nvidia-smi -L``.
Lock files are per host, so a lock folder on a shared file system serves several nodes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from vqaloop.errors import UserError

DEFAULT_LOCK_DIR = Path(".gpu_slots")
POLL_SECONDS = 0.2
NO_GPU = (
    "no GPU visible to this job (CUDA_VISIBLE_DEVICES is {cvd} and `nvidia-smi -L` lists none): run on a GPU node,"
    " pass --devices, or set gpu.enabled: false in the config to run every rule on the CPU"
)


def parse_devices(text: str, where: str) -> list[str]:
    """Device ids of a comma-separated list (``0,1`` or GPU UUIDs); duplicates and empty items are refused."""
    items = [item.strip() for item in text.split(",")] if text.strip() else []
    if any(not item for item in items):
        raise UserError(f"{where}: empty device id in {text!r}")
    if len(set(items)) != len(items):
        raise UserError(f"{where}: a device is listed twice in {text!r}")
    bad = [item for item in items if not re.fullmatch(r"[A-Za-z0-9_.:-]+", item)]
    if bad:
        raise UserError(f"{where}: unusable device id {bad[0]!r} (letters, digits, '_.:-' only)")
    return items


def nvidia_smi_devices() -> list[str]:
    """Indices of the GPUs ``nvidia-smi -L`` lists ("GPU 0: ..."); none without the tool or a driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return re.findall(r"^GPU (\d+):", out, flags=re.MULTILINE)


def visible_devices(override: str | None = None, environ: dict | None = None) -> list[str]:
    """The devices jobs share: ``override``, else the parent's CUDA_VISIBLE_DEVICES, else nvidia-smi."""
    environ = os.environ if environ is None else environ
    if override is not None:
        return parse_devices(override, "--devices")
    if "CUDA_VISIBLE_DEVICES" in environ:
        value = environ["CUDA_VISIBLE_DEVICES"]
        return [] if value.strip() in ("", "-1") else parse_devices(value, "CUDA_VISIBLE_DEVICES")
    return nvidia_smi_devices()


def lock_path(lock_dir: Path, device: str) -> Path:
    return Path(lock_dir) / socket.gethostname() / f"gpu{device}.lock"


def try_lock(path: Path) -> int | None:
    """An open descriptor holding an exclusive flock on ``path``, or None if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def acquire(devices: list[str], lock_dir: Path, count: int = 1, timeout: float | None = None) -> dict[str, int]:
    """``count`` free devices as {device: locked descriptor}, waiting until enough are free at once.

    All or nothing: a try that gets fewer than ``count`` releases what it got, so two jobs that each need two
    devices never hold one each forever. ``timeout`` (seconds): UserError when still not enough are free.
    """
    if count > len(devices):
        raise UserError(f"a job asks for {count} GPU(s) but only {len(devices)} are visible ({','.join(devices)})")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        held: dict[str, int] = {}
        for device in devices:
            fd = try_lock(lock_path(lock_dir, device))
            if fd is not None:
                held[device] = fd
                if len(held) == count:
                    return held
        release(held)
        if deadline is not None and time.monotonic() > deadline:
            raise UserError(f"no {count} free GPU(s) of {','.join(devices)} in {timeout:g} s (locks in {lock_dir})")
        time.sleep(POLL_SECONDS)


def release(held: dict[str, int]) -> None:
    for fd in held.values():
        os.close(fd)  # closing the last descriptor of the open file releases the flock


@contextlib.contextmanager
def gpu_slot(
    lock_dir: Path = DEFAULT_LOCK_DIR, devices: list[str] | None = None, count: int = 1, timeout: float | None = None
) -> Iterator[list[str]]:
    """Hold ``count`` devices and set CUDA_VISIBLE_DEVICES to them for the block (restored afterwards)."""
    devices = visible_devices() if devices is None else devices
    if count and not devices:
        raise UserError(NO_GPU.format(cvd=describe_cvd(os.environ)))
    held = acquire(devices, lock_dir, count, timeout) if count else {}
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(held)
    try:
        yield list(held)
    finally:
        release(held)
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


def describe_cvd(environ) -> str:
    return repr(environ["CUDA_VISIBLE_DEVICES"]) if "CUDA_VISIBLE_DEVICES" in environ else "unset"


def add_arguments(parser) -> None:
    from vqaloop.cli_checks import cache_dir, float_in, int_in

    parser.add_argument("--lock-dir", type=cache_dir, default=DEFAULT_LOCK_DIR,
                        help="folder of the per-device lock files (shared by every job of a run)")  # fmt: skip
    parser.add_argument("--devices", help="comma-separated device ids to share (default: CUDA_VISIBLE_DEVICES,"
                        " else nvidia-smi -L)")  # fmt: skip
    parser.add_argument("--count", type=int_in(0, 64), default=1,
                        help="devices the command gets, 0 to 64 (0: none; CUDA_VISIBLE_DEVICES is set empty)")  # fmt: skip
    parser.add_argument("--timeout", type=float_in(0.0, 1e7), default=None,
                        help="seconds to wait for free devices (default: wait)")  # fmt: skip
    parser.add_argument("command", nargs="+", metavar="COMMAND", help="the command to run, after --")


def run(args) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UserError("gpu-run: no command given (vqaloop gpu-run [options] -- COMMAND ...)")
    if args.count < 0:
        raise UserError(f"--count must be 0 or more, got {args.count}")
    if shutil.which(command[0]) is None:
        raise UserError(f"gpu-run: command not found: {command[0]!r}")
    env = dict(os.environ)
    held: dict[str, int] = {}
    if args.count:
        devices = visible_devices(args.devices)
        if not devices:
            raise UserError(NO_GPU.format(cvd=describe_cvd(os.environ)))
        held = acquire(devices, args.lock_dir, args.count, args.timeout)
    env["CUDA_VISIBLE_DEVICES"] = ",".join(held)
    print(f"vqaloop gpu-run: CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}", file=sys.stderr, flush=True)
    for fd in held.values():
        os.set_inheritable(fd, True)  # the command keeps the locks: released when it (and its children) end
    sys.stdout.flush()
    os.execvpe(command[0], command, env)
    return 0  # not reached: exec replaces this process
