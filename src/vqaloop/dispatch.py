"""The CPU-dispatch pin: every ``vqaloop`` command computes the same bits on any x86-64 machine with AVX2.

The numeric libraries under this project choose their code at run time by the CPU they find, and different
code sums in a different order, so the same command gave other last bits on an AVX-512 machine than on an
AVX2 one; training amplifies those bits into other models, selections and verdicts (issue 18: 8 of 36 claim
verdicts moved). Each library has a switch that fixes the choice; ``pin()`` sets all of them before any of the
libraries is loaded:

==========================  ===========================  =================================================
library                     switch                       what it fixes
==========================  ===========================  =================================================
torch's own kernels         ``ATEN_CPU_CAPABILITY=avx2`` the vectorised elementwise, reduction and SLEEF
                                                         math kernels (AVX-512 kernels otherwise)
oneDNN (convolutions)       ``ONEDNN_MAX_CPU_ISA=AVX2``  the JIT convolution kernels
MKL (torch's BLAS: every    ``MKL_CBWR=COMPATIBLE``      Conditional Numerical Reproducibility: the SSE2
linear layer, matmul)                                    branch, the only one MKL promises to give the
                                                         same results on Intel and non-Intel CPUs
                                                         (its AVX2 branch falls back to AUTO off Intel)
OpenBLAS (numpy, scipy)     ``OPENBLAS_CORETYPE=Haswell`` the BLAS kernels (Zen / SkylakeX otherwise)
numpy's own SIMD loops      ``NPY_DISABLE_CPU_FEATURES``  the AVX-512 dispatch targets off (X86_V4,
                                                         AVX512_ICL, AVX512_SPR): AVX2 loops everywhere
threads                     ``OMP_NUM_THREADS=1`` etc.    one compute thread per process: a parallel
                                                         reduction sums in an order set by the thread count
==========================  ===========================  =================================================

The switch is ``$VQALOOP_DISPATCH`` (``portable``, the default, or ``native``: leave every library to its own
choice, faster on some machines and reproducible only on the same CPU); the workflow sets it from the config
key ``dispatch``. ``pin()`` runs first in ``vqaloop.cli.main``, so the pin holds however a command is started:
the console script, ``python -m vqaloop``, a Snakemake job, ``vqaloop batch``, the container. In portable mode
it overrides whatever the environment asked for (a user's ``MKL_CBWR=AVX512`` included). A Python program that
imported numpy or torch before calling into vqaloop cannot be pinned any more: set the variables (``python -m
vqaloop dispatch --print`` shows them) before starting it. Which stages depended on which switch, and the pin's
speed cost, are measured in the README ("Reproducibility across machines and versions").
"""

from __future__ import annotations

import logging
import os
import sys

from vqaloop.errors import UserError

log = logging.getLogger(__name__)

ENV_SWITCH = "VQALOOP_DISPATCH"
MODES = ("portable", "native")
DEFAULT_MODE = "portable"
# numpy's x86-64 dispatch targets above AVX2 (numpy 2.4: X86_V4 = AVX-512 F/CD/VL/BW/DQ); disabling a target
# the CPU lacks is allowed, so the same list serves AVX2-only machines.
NUMPY_ABOVE_AVX2 = "X86_V4 AVX512_ICL AVX512_SPR"
PORTABLE_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",  # the same switch under oneDNN's older name
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": NUMPY_ABOVE_AVX2,
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
# Read when a library loads (numpy, OpenBLAS, MKL) or at its first kernel (torch, oneDNN): too late after that.
LIBRARIES = ("numpy", "torch", "scipy")


def mode(environ=os.environ) -> str:
    """The dispatch mode ``$VQALOOP_DISPATCH`` asks for (portable when unset)."""
    value = environ.get(ENV_SWITCH, "") or DEFAULT_MODE
    if value not in MODES:
        raise UserError(f"${ENV_SWITCH}={value!r}: expected one of {', '.join(MODES)} (config key dispatch)")
    return value


def pin(environ=os.environ) -> str:
    """Apply the dispatch mode to this process (see the module docstring); returns the mode.

    Portable: every switch of ``PORTABLE_ENV`` is set, overriding the environment. When numpy or torch is
    already loaded (a command called from a Python program), the switches are still set for the lazy ones and
    child processes, and a debug line says the process itself may not be pinned.
    """
    chosen = mode(environ)
    environ[ENV_SWITCH] = chosen
    if chosen == "native":
        return chosen
    loaded = [name for name in LIBRARIES if name in sys.modules]
    if loaded and any(environ.get(k) != v for k, v in PORTABLE_ENV.items()):
        log.debug("dispatch: %s already loaded; this process may not follow the portable pin", ", ".join(loaded))
    environ.update(PORTABLE_ENV)
    return chosen


def dispatch_settings(environ=os.environ) -> dict[str, str]:
    """The mode and every pinned variable as this process has them (recorded with each job's checksums)."""
    settings = {"mode": environ.get(ENV_SWITCH, "") or "unset"}
    settings.update({k: environ.get(k, "") for k in sorted(PORTABLE_ENV)})
    return settings


def add_arguments(parser) -> None:
    parser.add_argument("--print", action="store_true", dest="as_exports",
                        help="print the settings as shell exports (eval them before starting Python yourself)")  # fmt: skip


def run(args) -> int:
    """Print the mode and the variables this command ran under (``--print``: as ``export`` lines)."""
    settings = dispatch_settings()
    if args.as_exports:
        for key, value in settings.items():
            if key != "mode" and value:
                print(f"export {key}='{value}'")
        print(f"export {ENV_SWITCH}={settings['mode']}")
    else:
        for key, value in settings.items():
            print(f"{key}={value}")
    return 0


def set_compute_threads(requested: int) -> int:
    """torch's intra-op threads for a command's ``--threads``: 1 under the portable pin (a parallel reduction sums
    in an order set by the thread count: ``torch.sum`` of a million floats differs between 1 and 2 threads), the
    request under native. Parallelism comes from Snakemake running jobs side by side. Returns the count used."""
    import torch

    used = requested if mode() == "native" else 1
    if used != requested:
        log.info(
            "dispatch: portable pin, 1 compute thread (--threads %d is honoured under dispatch: native)", requested
        )
    torch.set_num_threads(used)
    return used
