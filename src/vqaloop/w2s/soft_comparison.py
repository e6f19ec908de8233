"""Soft comparison inference (W2S-VQA Appendix C.3, Eqs. 27-35): level logits -> preferences -> MAP quality scores.

The student is asked "Comparing with the first video, how do you assess the quality of the second video?" with the
first video an anchor and the second the test video; it answers "The quality of the second video is <level>". Its
logits over the five level tokens, in the order of :data:`LEVELS` = (inferior, worse, similar, better, superior)
(W2S-VQA Eq. 27), give the level probabilities softmax(logits / T) (Eq. 28) and the preference
p = sum_k w_k q_k with w = (0, 0.25, 0.5, 0.75, 1) (Eqs. 29-30): p = P(second better than first).

Decisions where the paper is silent or ambiguous:

* **Temperature.** Eq. 28 has none; the authors' ``infer_pair.py`` (W2S-VQA commit 2c7ca75) divides the five
  level-token logits by ``t = 5`` before the softmax for test-vs-anchor comparisons: :data:`DEFAULT_TEMPERATURE`.
  Their ``ref_pair.py::wa5``, which builds the anchor matrix, uses ``t = 1`` instead
  (:data:`REFERENCE_ANCHOR_TEMPERATURE`). The default here is one temperature for both (the anchor matrix and the
  test row are then on the same scale); pass 1.0 for the anchors to match the authors.
* **Orientation (Eq. 34).** M_ij = P(i preferred over j) everywhere (Eqs. 31-32). Eq. 34 prints
  [[M_r, c], [(1 - c)^T, 0.5]], c_k = P(b_k, v_test), which with c computed as in Eq. 29 (P(test better than
  anchor k)) would put the test's wins in the anchors' column and score better videos lower. The authors'
  ``update_matrices`` and SPEC do the consistent thing, used here: the test row M[test, anchor_k] = p_k, the
  anchor column M[anchor_k, test] = 1 - p_k, M[test, test] = 0.5 (the test video is the last item).
* **Anchor matrix.** :func:`anchor_matrix` takes the student's preferences on ordered anchor pairs as an (n, n)
  array P with P[i, j] = preference(first = anchor i, second = anchor j) = P(j better than i), NaN where that
  order was not evaluated (the diagonal is never read). One order gives M[j, i] = P[i, j], M[i, j] = 1 - P[i, j]
  (the authors evaluate each unordered pair once, i < j, first = anchor i: ``cal_anchor_matrix``). When both
  orders were evaluated the default averages them, M[j, i] = (P[i, j] + 1 - P[j, i]) / 2: it cancels the
  student's position bias (a lean towards "the second is better" or "worse" whatever the videos), costs only
  n (n - 1) / 2 more comparisons once per model, and reduces to the authors' matrix when the student is
  order-consistent. ``orders="first"`` uses only i < j (the authors' way) even when both are given.
* **Scores.** :func:`scores_from_preferences` returns the test video's MAP score, raw (the last entry of each
  MAP, W2S-VQA Eq. 35 and the text below it) with the normal link and the exact batched solver by default;
  ``solver="adam"`` runs the authors' recipe (:func:`vqaloop.evaluation.thurstone.adam_recipe`) and
  ``minmax=True`` applies their final 0-100 min-max scaling over the n + 1 scores (not monotone in the raw
  score: every test video better than all anchors scores 100).
"""

from __future__ import annotations

import numpy as np

from vqaloop.evaluation import thurstone

LEVELS = ("inferior", "worse", "similar", "better", "superior")  # W2S-VQA Eq. 27: the second vs the first
LEVEL_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # W2S-VQA Eq. 30
DEFAULT_TEMPERATURE = 5.0  # infer_pair.py (2c7ca75): the level-token logits are divided by t = 5
REFERENCE_ANCHOR_TEMPERATURE = 1.0  # ref_pair.py::wa5 (2c7ca75): the anchor matrix uses t = 1
SOLVERS = ("newton", "lbfgs", "adam")


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def level_probabilities(logits, temperature: float = DEFAULT_TEMPERATURE):
    """softmax(logits / T) over the last axis (W2S-VQA Eq. 28); numpy in, numpy out; torch in, torch out."""
    logits = logits if _is_torch(logits) else np.asarray(logits, dtype=float)
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if logits.shape[-1] != len(LEVELS):
        raise ValueError(f"expected {len(LEVELS)} level logits on the last axis, got shape {tuple(logits.shape)}")
    if _is_torch(logits):
        return (logits / temperature).softmax(dim=-1)
    z = np.asarray(logits, dtype=float) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def preference(logits, temperature: float = DEFAULT_TEMPERATURE):
    """P(second better than first) = level probabilities . LEVEL_WEIGHTS (W2S-VQA Eq. 29), over the last axis."""
    probs = level_probabilities(logits, temperature)
    if _is_torch(probs):
        import torch

        return probs @ torch.tensor(LEVEL_WEIGHTS, dtype=probs.dtype, device=probs.device)
    return probs @ np.asarray(LEVEL_WEIGHTS)


def anchor_matrix(p_pairs: np.ndarray, orders: str = "both") -> np.ndarray:
    """The anchors' preference matrix M_r (W2S-VQA Eqs. 31-32) from ordered-pair preferences (module doc).

    ``p_pairs[i, j]`` = preference with first = anchor i, second = anchor j (NaN: not evaluated; diagonal
    unused). ``orders="both"`` averages the two orders where both exist; ``"first"`` uses i < j only.
    """
    if orders not in ("both", "first"):
        raise ValueError(f"orders must be 'both' or 'first', got {orders!r}")
    p = np.asarray(p_pairs, dtype=float)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"anchor preferences must be a square (n, n) array, got shape {p.shape}")
    n = len(p)
    m = np.full((n, n), 0.5)  # Eq. 32: M_ii = 0.5
    for i in range(n):
        for j in range(i + 1, n):
            forward = p[i, j]  # P(j better than i), first = i
            backward = np.nan if orders == "first" else 1.0 - p[j, i]  # P(j better than i), first = j
            got = [v for v in (forward, backward) if not np.isnan(v)]
            if not got:
                need = "(i, j) with i < j" if orders == "first" else "either order"
                raise ValueError(f"anchor pair ({i}, {j}) has no preference: {need} is needed")
            if not all(0.0 <= v <= 1.0 for v in got):
                raise ValueError(f"anchor pair ({i}, {j}): preferences must lie in [0, 1]")
            m[j, i] = float(np.mean(got))  # M[j, i] = P(j preferred over i)
            m[i, j] = 1.0 - m[j, i]  # Eq. 32
    return m


def test_matrices(anchor_m: np.ndarray, p_test: np.ndarray) -> np.ndarray:
    """(B, n+1, n+1) matrices of W2S-VQA Eq. 34: anchors first, the test video last (orientation: module doc).

    ``p_test`` (B, n) or (n,): p_k = P(test better than anchor k) from comparisons with first = anchor k.
    """
    a = np.asarray(anchor_m, dtype=float)
    p = np.atleast_2d(np.asarray(p_test, dtype=float))
    n = len(a)
    if a.shape != (n, n) or p.shape[-1] != n or p.ndim != 2:
        raise ValueError(f"anchor matrix {a.shape} and test preferences {p.shape} do not fit: expected (n, n), (B, n)")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("test preferences must lie in [0, 1]")
    m = np.empty((len(p), n + 1, n + 1))
    m[:, :n, :n] = a
    m[:, n, :n] = p  # test row: P(test preferred over anchor k)
    m[:, :n, n] = 1.0 - p  # anchor column: P(anchor k preferred over test)
    m[:, n, n] = 0.5
    return m


test_matrices.__test__ = False  # not a pytest test when imported into a test module


def scores_from_preferences(anchor_m: np.ndarray, p_test: np.ndarray, link: str = "normal", solver: str = "newton",
                            minmax: bool = False, adam_steps: int = 50) -> np.ndarray:  # fmt: skip
    """(B,) quality scores of the test videos: the last entry of each MAP of :func:`test_matrices` (Eq. 35).

    ``solver``: ``"newton"`` (exact, all B at once: :func:`thurstone.map_scores_batched`), ``"lbfgs"`` (exact,
    one matrix at a time: :func:`thurstone.map_scores`) or ``"adam"`` (the authors' recipe, ``adam_steps`` steps;
    use ``link="sigmoid"`` to match it fully). ``minmax``: the authors' 0-100 scaling of each MAP before taking
    the test's entry.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    m = test_matrices(anchor_m, p_test)
    if solver == "newton":
        q = thurstone.map_scores_batched(m, link)
    elif solver == "lbfgs":
        q = np.stack([thurstone.map_scores(x, link) for x in m])
    else:
        q = thurstone.adam_recipe(m, link=link, steps=adam_steps)
    if minmax:
        q = thurstone.minmax_0_100(q)
    return q[:, -1]
