"""SRCC and PLCC after the VQEG 4-parameter logistic fit of predictions to MOS (SPEC "Evaluation").

    y = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

The fit uses scipy.optimize.curve_fit from b1 = max MOS, b2 = min MOS (swapped when prediction and MOS are
negatively correlated), b3 = mean prediction, b4 = std of the predictions. When it does not converge (or too
few points, or a non-finite result) a least-squares line is used instead, and the fit records which.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

MIN_POINTS_LOGISTIC = 5  # fewer points than this cannot pin four parameters down


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
    """Fit the 4-parameter logistic from predictions to MOS; fall back to a line if it fails."""
    pred, mos = _paired_arrays(pred, mos)
    if len(pred) < MIN_POINTS_LOGISTIC:
        return _linear_fit(pred, mos, f"only {len(pred)} points")
    if np.std(pred) == 0:
        return _linear_fit(pred, mos, "constant predictions")
    high, low = float(np.max(mos)), float(np.min(mos))
    if np.corrcoef(pred, mos)[0, 1] < 0:
        high, low = low, high
    start = [high, low, float(np.mean(pred)), float(np.std(pred))]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            params, _ = optimize.curve_fit(logistic4, pred, mos, p0=start, maxfev=20000)
    except (RuntimeError, ValueError) as err:
        return _linear_fit(pred, mos, f"logistic fit failed: {err}")
    if not np.all(np.isfinite(params)):
        return _linear_fit(pred, mos, "logistic fit gave non-finite parameters")
    return LogisticFit(kind="logistic4", params=tuple(float(b) for b in params))


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
