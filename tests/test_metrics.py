"""SRCC and PLCC after the VQEG 4-parameter logistic (SPEC "Evaluation")."""

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
