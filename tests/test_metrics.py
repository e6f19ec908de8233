"""SRCC and PLCC after the VQEG 4-parameter logistic (SPEC "Evaluation")."""

import sys

import numpy as np
import pytest
from scipy import stats

from vqaloop.evaluation.metrics import apply_logistic4, fit_logistic4, logistic4, plcc, srcc


def test_srcc_matches_scipy():
    rng = np.random.default_rng(0)
    pred, mos = rng.normal(size=50), rng.normal(size=50)
    assert srcc(pred, mos) == pytest.approx(stats.spearmanr(pred, mos).statistic)
    assert srcc(pred, pred**3) == pytest.approx(1.0)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_plcc_is_one_when_mos_is_a_logistic_of_the_prediction(sign):
    rng = np.random.default_rng(1)
    pred = rng.normal(size=200)
    mos = logistic4(sign * pred, 4.8, 1.2, 0.3, 0.6)  # MOS = a monotone (maybe decreasing) logistic of pred
    fit = fit_logistic4(pred, mos)
    assert fit.kind == "logistic4"
    assert plcc(pred, mos) == pytest.approx(1.0, abs=1e-6)  # the fit maps predictions onto the MOS direction
    assert abs(stats.pearsonr(pred, mos).statistic) < 0.99  # raw predictions are not linear in MOS


def test_plcc_is_pearson_on_the_fitted_values():
    rng = np.random.default_rng(2)
    mos = rng.uniform(1, 5, size=120)
    pred = np.tanh(mos - 3) + rng.normal(scale=0.3, size=120)
    fit = fit_logistic4(pred, mos)
    mapped = apply_logistic4(fit, pred)
    assert plcc(pred, mos) == pytest.approx(stats.pearsonr(mapped, mos).statistic)
    assert fit.kind == "logistic4"
    assert np.sum((mapped - mos) ** 2) <= np.sum((np.polyval(np.polyfit(pred, mos, 1), pred) - mos) ** 2) + 1e-9


def test_fallback_to_linear_is_recorded():
    fit = fit_logistic4([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])  # too few points for four parameters
    assert fit.kind == "linear" and "points" in fit.message
    np.testing.assert_allclose(apply_logistic4(fit, [4.0]), [8.0])
    assert fit_logistic4(np.ones(10), np.arange(10.0)).kind == "linear"


@pytest.mark.parametrize("fn", [srcc, plcc, fit_logistic4])
def test_bad_inputs_raise(fn):
    with pytest.raises(ValueError, match="NaN"):
        fn([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="NaN"):
        fn([1.0, 2.0, 3.0], [1.0, 2.0, np.inf])
    with pytest.raises(ValueError, match="length"):
        fn([1.0, 2.0], [1.0, 2.0, 3.0])


# f's raw scores and the MOS of the tiny config's six source-training videos (a fine-tuned f of the workflow
# tests): a step-like set whose optimum is a flat valley, where scipy's curve_fit gave a different fit in
# different processes of two identical runs
STEP_PRED = [0.47526130080223083, 0.7831581234931946, 1.0930806398391724, -2.0573372840881348, -2.161285161972046,
             -1.8634755611419678]  # fmt: skip
STEP_MOS = [3.6793, 5.0, 4.9877, 1.3632, 1.0, 1.0559]


def _fit_on_a_dirty_heap(pred, mos, rng: np.random.Generator):
    """``fit_logistic4`` after filling the memory its arrays will get with random bytes: numpy's cache of
    small blocks is drained (held arrays), then malloc'd blocks of every small size are filled and freed.

    scipy 1.17.1's MINPACK reads 8 bytes past the end of its (m, n) Jacobian array (valgrind: "Invalid read of
    size 8 at enorm, by qrfac, by LMDIF ... 0 bytes after a block of size 192 alloc'd" for 6 points): with
    curve_fit the fit then depended on what the heap held there.
    """
    import ctypes

    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = (
        ctypes.c_void_p,
        [ctypes.c_size_t],
        [ctypes.c_void_p],
    )
    held = [np.empty(n) for n in range(1, 129) for _ in range(8)]  # numpy serves the next arrays from malloc
    blocks = []
    for size in range(8, 1032, 8):
        for _ in range(8):
            block = libc.malloc(size)
            ctypes.memmove(block, rng.bytes(size), size)
            blocks.append(block)
    for block in blocks:
        libc.free(block)
    fit = fit_logistic4(pred, mos)
    del held
    return fit


@pytest.mark.skipif(sys.platform != "linux", reason="drives glibc's allocator")
def test_fit_does_not_depend_on_heap_contents():
    """The same inputs give the same bits whatever the heap holds (scipy 1.17.1's curve_fit did not: 2 fits)."""
    data = np.random.default_rng(0)
    mos = data.uniform(1, 5, 300)
    sets = [
        (np.array(STEP_PRED), np.array(STEP_MOS, dtype=np.float32)),
        (np.tanh(mos - 3) + data.normal(0, 0.3, 300), mos),
    ]
    heap = np.random.default_rng(1)
    for pred, mos in sets:
        fits = {_fit_on_a_dirty_heap(pred, mos, heap).params for _ in range(40)}
        assert len(fits) == 1, fits
    fit = fit_logistic4(*sets[0])
    assert fit.kind == "logistic4"
    # the two plateaux of the step are the means of the MOS on each side (3 low, 2 high; 3.6793 sits on the slope)
    assert fit.params[0] == pytest.approx((5.0 + 4.9877) / 2, abs=1e-6)
    assert fit.params[1] == pytest.approx((1.0 + 1.3632 + 1.0559) / 3, abs=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_fit_reaches_the_least_squares_optimum(seed):
    """The fit's squared error equals that of an independent solver (scipy's curve_fit, MINPACK) from the same
    start; the parameters themselves are weakly determined along a valley, the mapped values are not."""
    from scipy import optimize

    rng = np.random.default_rng(seed)
    mos = rng.uniform(1, 5, 200)
    pred = np.tanh(rng.uniform(0.3, 2) * (mos - 3)) + rng.normal(scale=0.2, size=200)
    ours = apply_logistic4(fit_logistic4(pred, mos), pred)
    start = [mos.max(), mos.min(), pred.mean(), pred.std()]
    reference = logistic4(pred, *optimize.curve_fit(logistic4, pred, mos, p0=start, maxfev=20000)[0])
    assert np.sum((ours - mos) ** 2) == pytest.approx(np.sum((reference - mos) ** 2), rel=1e-7)
    np.testing.assert_allclose(ours, reference, atol=1e-3)
