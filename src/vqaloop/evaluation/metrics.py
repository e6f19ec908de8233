"""SRCC and PLCC after the VQEG 4-parameter logistic fit of predictions to MOS (SPEC "Evaluation").

    y = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

The fit is scipy's trust-region reflective least squares (``least_squares(method="trf")``) with the analytic
Jacobian, on standardised predictions, from b1 = max MOS, b2 = min MOS (swapped when prediction and MOS are
negatively correlated), b3 = 0, b4 = 1 (that is: the mean and the std of the raw predictions). When it does
not converge (or too few points, or a non-finite result) a least-squares line is used instead, and the fit
records which.

Why not ``scipy.optimize.curve_fit``: its Levenberg-Marquardt (the C MINPACK ``lmdif`` of scipy 1.17.1) reads
8 bytes past the end of its (m, n) Jacobian array (valgrind: "Invalid read of size 8 at enorm, by qrfac, by
LMDIF ... 0 bytes after a block of size 192 alloc'd" for m = 6, n = 4), so the same inputs gave different
parameters in different processes, depending on what the heap held after that array
(``tests/test_metrics.py::test_fit_does_not_depend_on_heap_contents`` fails with curve_fit; ``least_squares(
method="lm")`` runs the same code). On a small or step-like set (a handful of points, four parameters) the optimum is a flat valley and that difference reached
1e-7 in the parameters, hence in the mapping stored in checkpoints. The "trf" solver is numpy and LAPACK on an
(N, 4) Jacobian: the same inputs give the same bits whatever the heap, the timing or the thread count (1 or 2,
tested). Its fits match curve_fit's (median |PLCC difference| 6e-12 over 300 random sets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

MIN_POINTS_LOGISTIC = 5  # fewer points than this cannot pin four parameters down
MAX_EVALUATIONS = 20000  # of the residuals (curve_fit's maxfev was 20000 too)


@dataclass(frozen=True)
class LogisticFit:
    """A fitted mapping from predictions to the MOS scale: ``kind`` is "logistic4" or "linear"."""

    kind: str
    params: tuple[float, ...]  # (b1, b2, b3, b4) for logistic4, (slope, intercept) for linear
    message: str = ""  # why the fallback was taken, empty for a converged logistic


def logistic4(x: np.ndarray, b1: float, b2: float, b3: float, b4: float) -> np.ndarray:
    """VQEG 4-parameter logistic."""
    z = np.clip(-(x - b3) / (abs(b4) + 1e-12), -500.0, 500.0)
    return (b1 - b2) / (1.0 + np.exp(z)) + b2


def srcc(pred, mos) -> float:
    """Spearman rank correlation between predictions and MOS."""
    pred, mos = _paired_arrays(pred, mos)
    return float(stats.spearmanr(pred, mos).statistic)


def fit_logistic4(pred, mos) -> LogisticFit:
    """Fit the 4-parameter logistic from predictions to MOS; fall back to a line if it fails.

    Deterministic to the bit: the same (pred, mos) always give the same parameters (module docstring).
    """
    pred, mos = _paired_arrays(pred, mos)
    if len(pred) < MIN_POINTS_LOGISTIC:
        return _linear_fit(pred, mos, f"only {len(pred)} points")
    centre, scale = float(np.mean(pred)), float(np.std(pred))
    if scale == 0:
        return _linear_fit(pred, mos, "constant predictions")
    high, low = float(np.max(mos)), float(np.min(mos))
    if np.corrcoef(pred, mos)[0, 1] < 0:
        high, low = low, high
    # on standardised predictions u = (pred - centre) / scale the start is (high, low, 0, 1)
    params, why = _least_squares((pred - centre) / scale, mos, np.array([high, low, 0.0, 1.0]))
    if why:
        return _linear_fit(pred, mos, f"logistic fit failed: {why}")
    b1, b2, b3, b4 = (float(b) for b in params)
    params = (b1, b2, centre + scale * b3, scale * abs(b4))
    if not np.all(np.isfinite(params)):
        return _linear_fit(pred, mos, "logistic fit gave non-finite parameters")
    return LogisticFit(kind="logistic4", params=params)


def _logistic4_jacobian(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) derivatives of ``logistic4(x, *b)`` with respect to b1..b4."""
    b1, b2, b3, b4 = b
    width = abs(b4) + 1e-12
    z = np.clip(-(x - b3) / width, -500.0, 500.0)
    s = 1.0 / (1.0 + np.exp(z))
    slope = (b1 - b2) * s * (1.0 - s)  # d logistic / d((x - b3) / width)
    return np.stack([s, 1.0 - s, -slope / width, -slope * (x - b3) * np.sign(b4) / (width * width)], axis=1)


def _least_squares(x: np.ndarray, y: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, str]:
    """Least-squares ``logistic4`` parameters from ``start``: scipy's trust-region reflective solver with the
    analytic Jacobian; (params, "") or (params, why it failed)."""
    try:
        result = optimize.least_squares(
            lambda b: logistic4(x, *b) - y,
            start,
            jac=lambda b: _logistic4_jacobian(x, b),
            method="trf",
            x_scale="jac",
            max_nfev=MAX_EVALUATIONS,
        )
    except (ValueError, np.linalg.LinAlgError) as err:
        return start, str(err)
    return result.x, "" if result.status > 0 else str(result.message)


def apply_logistic4(fit: LogisticFit, pred) -> np.ndarray:
    """Map predictions to the MOS scale with a ``fit_logistic4`` fit (logistic or linear fallback)."""
    pred = np.asarray(pred, dtype=np.float64)
    if fit.kind == "logistic4":
        return logistic4(pred, *fit.params)
    slope, intercept = fit.params
    return slope * pred + intercept


def plcc(pred, mos) -> float:
    """Pearson correlation between the logistic-mapped predictions and MOS (nan for constant predictions)."""
    pred, mos = _paired_arrays(pred, mos)
    mapped = apply_logistic4(fit_logistic4(pred, mos), pred)
    return float(stats.pearsonr(mapped, mos).statistic)


def _linear_fit(pred: np.ndarray, mos: np.ndarray, why: str) -> LogisticFit:
    if np.std(pred) == 0:
        return LogisticFit(kind="linear", params=(0.0, float(np.mean(mos))), message=why)
    slope, intercept = np.polyfit(pred, mos, 1)
    return LogisticFit(kind="linear", params=(float(slope), float(intercept)), message=why)


def _paired_arrays(pred, mos) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64).ravel()
    mos = np.asarray(mos, dtype=np.float64).ravel()
    if pred.shape != mos.shape:
        raise ValueError(f"pred and mos differ in length: {pred.size} vs {mos.size}")
    if pred.size < 2:
        raise ValueError(f"need at least 2 pairs, got {pred.size}")
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(mos))):
        raise ValueError("pred and mos must be finite (NaN or inf found)")
    return pred, mos
