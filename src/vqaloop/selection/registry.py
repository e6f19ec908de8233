"""One registry for every selection method: MDS-VQA, its "removing g" ablation and the baselines.

A method is a function ``fn(inputs: SelectionInputs, budget: int, seed: int, **params) -> list[int]`` that
returns pool indices in pick order. It declares the inputs it needs by field name of ``SelectionInputs``::

    @register("mds", needs={"frames", "difficulty"}, help="...")
    def select_mds(inputs, budget, seed, lam=1.0): ...

``run_method`` checks the needs, the budget and the answer (distinct indices in range, exactly ``budget``),
so each method only computes its picks. Methods live in the modules of ``METHOD_MODULES``, imported on first
use; a new method adds its module there.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vqaloop.errors import UserError
from vqaloop.registry import Registry

# Modules whose import registers methods (the baselines of SPEC "The eight baselines" add theirs here).
METHOD_MODULES: list[str] = [
    "vqaloop.selection.random_sampling",
    "vqaloop.selection.mds",
    "vqaloop.selection.coreset",  # Sener & Savarese: k-center greedy
    "vqaloop.selection.rd",  # Wu 2019: representativeness-diversity (one-shot k-means)
    "vqaloop.selection.greedy_sampling",  # Bhaskara et al. 2019: T-kmeans++ with outlier cap
    "vqaloop.selection.alcs",  # Yan et al. 2022
    "vqaloop.selection.mc_dropout",  # Pop & Fulop: predictive variance over T dropout passes
    "vqaloop.selection.noise_stability",  # Li et al. 2024
    "vqaloop.selection.freesel",  # Xie et al. 2023
]

# The readings of the Chamfer distance of MDS-VQA's diversity term (vqaloop.selection.chamfer; torch-free here so
# that ``vqaloop select --help`` loads no torch).
CHAMFER_KINDS = ("paper", "authors")
# How MDS-VQA's greedy holds the pool's frames (vqaloop.selection.mds; ``vqaloop select --storage``).
STORAGES = ("float32", "float16", "bfloat16", "stream")

# Inputs a method may need, with the words the error message uses when one is missing.
INPUT_DESCRIPTIONS: dict[str, str] = {
    "frames": "frame-level features (FEATS.npz 'frames')",
    "pooled": "pooled features (FEATS.npz 'pooled')",
    "difficulty": "difficulty scores (--difficulty DIFF.csv)",
    "model": "the base model f (--model CKPT with --pool MANIFEST)",
    "manifest": "the pool manifest",
    "labelled_pooled": "pooled features of the labelled set L",
}


@dataclass
class ModelInputs:
    """The base model f and its inputs for the pool, for the baselines that query f (MC dropout, NoiseStability).

    module: the built ``torch.nn.Module`` (eval mode; ``forward(x) -> (N,)``, maybe ``frame_embeddings``);
    x: its input tensor (N, F, D) for the pool ids, in ``SelectionInputs.ids`` order; name: the base model's
    registry name. Typed ``Any`` so that this module imports without torch.
    """

    module: Any
    x: Any
    name: str = ""


@dataclass
class SelectionInputs:
    """What a selection method may look at; the pool's MOS is never among it (DESIGN.md, label oracle).

    ids: N video ids; frames: (N, F, D); pooled: (N, D); difficulty: (N,) predicted failure scores g(x);
    model: a ``ModelInputs`` (f and its inputs); manifest / labelled_pooled: for the baselines that need them.
    """

    ids: list[str]
    frames: np.ndarray | None = None
    pooled: np.ndarray | None = None
    difficulty: np.ndarray | None = None
    model: ModelInputs | None = None
    manifest: Any = None
    labelled_pooled: np.ndarray | None = None

    @property
    def pool_size(self) -> int:
        return len(self.ids)


SelectFn = Callable[..., list[int]]


@dataclass(frozen=True)
class SelectionMethod:
    name: str
    fn: SelectFn
    needs: frozenset[str]
    help: str = ""
    unneeded: Callable[[dict[str, Any]], set[str]] | None = None  # needs its parameters make unnecessary

    def needs_for(self, params: dict[str, Any]) -> frozenset[str]:
        """The inputs the method reads with these parameters (``needs`` less what ``unneeded(params)`` drops)."""
        return self.needs - set(self.unneeded(params)) if self.unneeded else self.needs


METHODS: Registry[SelectionMethod] = Registry("selection method", METHOD_MODULES)


def register(
    name: str,
    needs: set[str] | frozenset[str] = frozenset(),
    help: str = "",
    unneeded: Callable[[dict[str, Any]], set[str]] | None = None,
):
    """Decorator: add ``fn`` to the registry under ``name`` with the inputs it ``needs``; ``unneeded(params)``
    names the needs some parameter values make unnecessary (MDS-VQA with lambda 0 reads no frames)."""
    unknown = set(needs) - set(INPUT_DESCRIPTIONS)
    if unknown:
        raise ValueError(f"method {name!r} needs unknown inputs {sorted(unknown)}")

    def decorate(fn: SelectFn) -> SelectFn:
        known = METHODS.registered(name)
        if known is not None and known.fn is fn:
            return fn  # the module imported again under another name: the same function
        METHODS.register(name, SelectionMethod(name=name, fn=fn, needs=frozenset(needs), help=help, unneeded=unneeded))
        return fn

    return decorate


def method_names() -> list[str]:
    return METHODS.names()


def get_method(name: str) -> SelectionMethod:
    return METHODS.get(name)


def describe_methods() -> str:
    """One line per method: its name, the inputs it needs and its help (for the CLI's --help)."""
    lines = []
    for name in method_names():
        method = METHODS.get(name)
        needs = ", ".join(sorted(method.needs)) or "nothing but ids"
        lines.append(f"{name} (needs: {needs}): {method.help}")
    return "\n".join(lines)


def check_budget(budget: int, pool_size: int) -> None:
    if not 1 <= budget <= pool_size:
        raise UserError(f"budget {budget} is outside 1..{pool_size} (the pool size)")


def run_method(name: str, inputs: SelectionInputs, budget: int, seed: int, **params) -> list[int]:
    """Look ``name`` up, check its inputs and the budget, run it and check its picks."""
    method = get_method(name)
    for need in sorted(method.needs_for(params)):
        if getattr(inputs, need) is None:
            raise UserError(f"selection method {name!r} needs {INPUT_DESCRIPTIONS[need]}, which is missing")
    check_budget(budget, inputs.pool_size)
    picks = [int(i) for i in method.fn(inputs, budget, seed, **params)]
    if len(picks) != budget or len(set(picks)) != budget:
        raise RuntimeError(f"method {name!r} returned {len(picks)} picks ({len(set(picks))} distinct), not {budget}")
    if min(picks) < 0 or max(picks) >= inputs.pool_size:
        raise RuntimeError(f"method {name!r} returned an index outside 0..{inputs.pool_size - 1}")
    return picks


def accepted_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``params`` that method ``name``'s function takes as keyword arguments.

    Lets a caller offer the common options (lam, normalise, device, ...) to any method: a method that has no
    use for one (random has no lambda) simply does not declare it.
    """
    signature = inspect.signature(get_method(name).fn)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return dict(params)
    return {key: value for key, value in params.items() if key in signature.parameters}
