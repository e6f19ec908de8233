"""Random sampling baseline (SPEC "The eight baselines"): uniform without replacement, seeded."""

from __future__ import annotations

import numpy as np

from vqaloop.selection.registry import SelectionInputs, register


@register("random", needs=set(), help="uniform without replacement, numpy default_rng(seed)")
def select_random(inputs: SelectionInputs, budget: int, seed: int) -> list[int]:
    """``budget`` distinct pool indices drawn uniformly with ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [int(i) for i in rng.choice(inputs.pool_size, size=budget, replace=False)]
