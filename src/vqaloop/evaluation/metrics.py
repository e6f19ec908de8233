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


# ---------------------------------------------------------------------------------------------- many sets at once
# The random-draw nulls of the MDS-VQA replay (``vqaloop mds-replay``) evaluate 10,000s of 64-video subsets; one
# ``fit_logistic4`` costs about 30 ms there (about 200 residual evaluations: small, tie-heavy sets often have no
# finite least-squares optimum, the parameters run off along a valley), so the subsets are fitted together: the
# same model, the same standardised start and the same fallbacks as ``fit_logistic4``, solved by a
# Levenberg-Marquardt iteration vectorised over the sets (numpy, float64, a fixed sequence of operations: the same
# inputs give the same bits). Where a set has one proper optimum both solvers reach it (PLCC equal to 1e-7); where
# the valley runs off, each solver stops at another point of it, and a few tie-heavy sets have step-like local
# minima (b4 near 0) that one solver enters and the other does not: there the PLCC differs, by up to about 0.03 on
# random 64-video subsets of the authors' SDR pool (median 1e-9; measured in the README, "MDS-VQA on the authors'
# outputs"). tests/test_replay_metrics.py checks both cases.

LM_MAX_ITERATIONS = 200  # about the residual evaluations fit_logistic4's solver spends on such sets
LM_TOLERANCE = 1e-12  # relative cost decrease and relative step below which a set has converged


def srcc_rows(pred, mos) -> np.ndarray:
    """Spearman's rho of every row of (B, n) ``pred`` with the same row of ``mos`` (average ranks for ties, as
    ``scipy.stats.spearmanr``); NaN for a row without variance."""
    pred, mos = _paired_rows(pred, mos)
    return _pearson_rows(stats.rankdata(pred, axis=1), stats.rankdata(mos, axis=1))


def plcc_rows(pred, mos) -> np.ndarray:
    """``plcc`` of every row of (B, n) ``pred`` against the same row of ``mos``: Pearson's r after the
    4-parameter logistic fitted per row (a least-squares line where ``fit_logistic4`` would take one)."""
    pred, mos = _paired_rows(pred, mos)
    return _pearson_rows(apply_logistic4_rows(pred, mos), mos)


def apply_logistic4_rows(pred: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """(B, n) predictions mapped to the MOS scale by the logistic fitted on each row (``fit_logistic4``'s model,
    start and fallbacks: fewer than 5 points or constant predictions give a line, a failed fit too)."""
    b, n = pred.shape
    centre = pred.mean(axis=1, keepdims=True)
    scale = pred.std(axis=1, keepdims=True)
    out = np.empty_like(pred)
    usable = (scale[:, 0] > 0) & (n >= MIN_POINTS_LOGISTIC)
    for i in np.flatnonzero(~usable):  # rare: the per-set fallback line (or a constant)
        out[i] = apply_logistic4(_linear_fit(pred[i], mos[i], "fallback"), pred[i])
    if not usable.any():
        return out
    u = (pred[usable] - centre[usable]) / scale[usable]
    y = mos[usable]
    params = _levenberg_marquardt_rows(u, y, _start_rows(u, y))
    mapped = _logistic4_rows(u, params)
    bad = ~np.all(np.isfinite(params), axis=1) | ~np.all(np.isfinite(mapped), axis=1)
    for k in np.flatnonzero(bad):  # as fit_logistic4: a fit that failed falls back to a line
        i = np.flatnonzero(usable)[k]
        mapped[k] = apply_logistic4(_linear_fit(pred[i], mos[i], "logistic fit failed"), pred[i])
    out[usable] = mapped
    return out


def _start_rows(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(B, 4) starts (max MOS, min MOS, 0, 1), the first two swapped where prediction and MOS anti-correlate."""
    high, low = y.max(axis=1), y.min(axis=1)
    negative = _pearson_rows(u, y) < 0
    b1, b2 = np.where(negative, low, high), np.where(negative, high, low)
    return np.stack([b1, b2, np.zeros_like(b1), np.ones_like(b1)], axis=1)


def _logistic4_rows(u: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _sigmoid_rows(u, b)[0] * (b[:, 0:1] - b[:, 1:2]) + b[:, 1:2]


def _sigmoid_rows(u: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s, width): s = 1 / (1 + exp(-(u - b3) / |b4|)) of ``logistic4`` per row, and |b4| + 1e-12."""
    width = np.abs(b[:, 3:4]) + 1e-12
    z = np.clip(-(u - b[:, 2:3]) / width, -500.0, 500.0)
    return 1.0 / (1.0 + np.exp(z)), width


def _residuals_and_jacobian(u: np.ndarray, y: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, n) residuals of ``_logistic4_rows`` and their (B, n, 4) derivatives (``_logistic4_jacobian`` per row),
    from one evaluation of the sigmoid."""
    s, width = _sigmoid_rows(u, b)
    r = s * (b[:, 0:1] - b[:, 1:2]) + b[:, 1:2] - y
    slope = (b[:, 0:1] - b[:, 1:2]) * s * (1.0 - s)
    j = np.stack([s, 1.0 - s, -slope / width, -slope * (u - b[:, 2:3]) * np.sign(b[:, 3:4]) / width**2], axis=2)
    return r, j


def _levenberg_marquardt_rows(u: np.ndarray, y: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Least-squares logistic parameters of every row: damped Gauss-Newton steps (J'J + mu diag(J'J)) d = -J'r,
    mu divided by 3 after a step that lowers the cost and multiplied by 4 after one that does not; a row stops
    when an accepted step lowers its cost by less than ``LM_TOLERANCE`` relatively (or moves its parameters by
    less than that) or its gradient vanishes, else after ``LM_MAX_ITERATIONS`` (a set whose optimum runs off
    along a valley keeps the point reached)."""
    b = start.copy()
    cost = np.sum((_logistic4_rows(u, b) - y) ** 2, axis=1)
    mu = np.full(len(b), 1.0)  # cautious first steps, as a trust region's
    active = np.ones(len(b), dtype=bool)
    eye = np.eye(4)
    for _ in range(LM_MAX_ITERATIONS):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        bu, uu, yu = b[rows], u[rows], y[rows]
        r, j = _residuals_and_jacobian(uu, yu, bu)
        jt = np.swapaxes(j, 1, 2)
        jtj = jt @ j
        grad = (jt @ r[:, :, None])[:, :, 0]
        flat = np.max(np.abs(grad), axis=1) <= LM_TOLERANCE * (1.0 + cost[rows])
        diag = np.diagonal(jtj, axis1=1, axis2=2)
        damped = jtj + mu[rows, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
        try:
            step = -np.linalg.solve(damped, grad[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -np.stack([np.linalg.lstsq(m, g, rcond=None)[0] for m, g in zip(damped, grad, strict=True)])
        trial = bu + step
        new_cost = np.sum((_logistic4_rows(uu, trial) - yu) ** 2, axis=1)
        better = np.isfinite(new_cost) & (new_cost < cost[rows])
        small = (cost[rows] - new_cost <= LM_TOLERANCE * cost[rows]) | (
            np.max(np.abs(step), axis=1) <= LM_TOLERANCE * (1.0 + np.max(np.abs(bu), axis=1))
        )
        b[rows[better]] = trial[better]
        cost[rows[better]] = new_cost[better]
        mu[rows] = np.where(better, mu[rows] / 3.0, mu[rows] * 4.0)
        done = flat | (better & small) | (mu[rows] > 1e16)
        active[rows[done]] = False
    return b


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denominator = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, np.sum(a * b, axis=1) / np.where(denominator > 0, denominator, 1.0), np.nan)


def _paired_rows(pred, mos) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    mos = np.asarray(mos, dtype=np.float64)
    if pred.ndim != 2 or pred.shape != mos.shape:
        raise ValueError(f"pred and mos must be (B, n) arrays of one shape, got {pred.shape} and {mos.shape}")
    if pred.shape[1] < 2:
        raise ValueError(f"need at least 2 pairs per row, got {pred.shape[1]}")
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(mos))):
        raise ValueError("pred and mos must be finite (NaN or inf found)")
    return pred, mos
